"""A race's texts in more languages than its own: which languages it has, its description and waiver in each.

The race is written in `Race.language`: its `description` and its newest waiver in that language are the main
ones. An organizer adds another language (one of services.languages.languages()) to write the description
(a RaceText row) and the waiver (WaiverVersions in that language, immutable like every version) in it too. A
visitor reading a language the race has gets those texts; any other visitor, or one whose text is still empty,
gets the race's own.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from flask_babel import gettext as _
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from models import Race, RaceText, WaiverVersion
from services.languages import current_language, language_name, languages
from services.markdown import render_markdown
from services.race_editing import current_waiver, newest_waiver_in, set_waiver_text, touch


class LanguageRefused(Exception):
    """A language the race can't have (not one of ours); the message says so. Nothing changed."""


def race_texts(session: Session, race_id: int) -> list[RaceText]:
    """The race's descriptions in its other languages, by language code."""
    return list(session.scalars(select(RaceText).where(RaceText.race_id == race_id).order_by(RaceText.language)))


def enabled_languages(race: Race, texts: Iterable[RaceText]) -> list[str]:
    """The languages the race is written in: its own first, then each one added, in code order."""
    others = sorted({t.language for t in texts if t.language != race.language and t.language in languages()})
    return [race.language, *others]


def addable_languages(race: Race, texts: Iterable[RaceText]) -> list[str]:
    """The languages an organizer may still add to the race."""
    enabled = set(enabled_languages(race, texts))
    return [code for code in languages() if code not in enabled]


def _known(code: str) -> str:
    if code not in languages():
        raise LanguageRefused(_("We don't have that language. Choose one of the languages in the list."))
    return code


def add_language(session: Session, race: Race, code: str) -> None:
    """Give the race a description and waiver tab in `code` (empty until written). Commits; raises
    LanguageRefused for a language we don't have. Adding one it has already changes nothing."""
    _known(code)
    if code == race.language or session.scalar(select(RaceText.id).where(RaceText.race_id == race.id,
                                                                       RaceText.language == code)):
        session.rollback()
        return
    session.add(RaceText(race_id=race.id, language=code, description="", description_html=""))
    touch(race)
    session.commit()


def remove_language(session: Session, race: Race, code: str) -> None:
    """Stop showing the race in `code`: its description there goes; its waiver versions stay, as every signed
    version does, but nobody is offered them. Commits; the race's own language can't be removed."""
    _known(code)
    if code == race.language:
        session.rollback()
        raise LanguageRefused(_("%(language)s is the race's own language. Choose another race language first.",
                                language=language_name(code)))
    text = session.scalar(select(RaceText).where(RaceText.race_id == race.id, RaceText.language == code))
    if text is None:
        session.rollback()
        return
    session.delete(text)
    touch(race)
    session.commit()


def text_in(session: Session, race: Race, code: str) -> RaceText | None:
    """The race's RaceText in `code`, or None when the race doesn't have that language."""
    return session.scalar(select(RaceText).where(RaceText.race_id == race.id, RaceText.language == code))


def set_description(race: Race, text: RaceText | None, markdown: str) -> None:
    """Write a description, the race's own (`text` None) or one language's, with its sanitized HTML. No commit."""
    markdown = (markdown or "").strip()
    target = race if text is None else text
    target.description = markdown
    target.description_html = str(render_markdown(markdown)) if markdown else ""


def change_race_language(session: Session, race: Race, code: str) -> None:
    """The race is written in `code` now. When it had `code` as another language, that description becomes the
    main one and the old main one stays as the old language's, so nothing written is lost. No commit."""
    old = race.language
    if code == old:
        return
    text = text_in(session, race, code)
    if text is not None:
        race.description, text.description = text.description, race.description
        race.description_html, text.description_html = text.description_html, race.description_html
        text.language = old
        session.flush()
    race.language = code


# --- the editor's field groups of each language's tab (services/race_fields.GROUPS) ---------------

def has_language_rule(code: str, field: str) -> Callable[[Session, Race, Mapping], dict[str, str]]:
    def rules(session: Session, race: Race, values: Mapping) -> dict[str, str]:
        if code != race.language and text_in(session, race, code) is None:
            return {field: _("Add %(language)s to the race's languages first.", language=language_name(code))}
        return {}
    return rules


def current_description_in(code: str) -> Callable[[Session, Race], dict[str, str]]:
    def current(session: Session, race: Race) -> dict[str, str]:
        if code == race.language:
            return {"description": race.description}
        text = text_in(session, race, code)
        return {"description": text.description if text else ""}
    return current


def write_description_in(code: str) -> Callable[[Session, Race, Mapping], None]:
    def apply(session: Session, race: Race, values: Mapping) -> None:
        set_description(race, None if code == race.language else text_in(session, race, code),
                        str(values["description"] or ""))
    return apply


def current_waiver_in(code: str) -> Callable[[Session, Race], dict[str, str]]:
    def current(session: Session, race: Race) -> dict[str, str]:
        waiver = current_waiver(session, race.id) if code == race.language else newest_waiver_in(session, race.id, code)
        return {"waiver": waiver.text if waiver else ""}
    return current


def write_waiver_in(code: str) -> Callable[[Session, Race, Mapping], None]:
    def apply(session: Session, race: Race, values: Mapping) -> None:
        set_waiver_text(session, race, str(values["waiver"] or ""), language=code)
    return apply


def waiver_in(session: Session, race_id: int, language: str) -> WaiverVersion | None:
    """The race's newest waiver version in `language` when the race is written in it (its own language, or one it
    has a description tab for) and the text isn't empty; else None."""
    written_in = select(Race.id).where(Race.id == race_id, Race.language == language).exists()
    has_tab = exists().where(RaceText.race_id == race_id, RaceText.language == language)
    version = session.scalar(select(WaiverVersion).where(WaiverVersion.race_id == race_id,
                                                         WaiverVersion.language == language,
                                                         or_(written_in, has_tab))
                             .order_by(WaiverVersion.number.desc()).limit(1))
    return version if version is not None and version.text.strip() else None


def still_current(session: Session, race_id: int, version_ids: Iterable[int]) -> frozenset[int]:
    """Of `version_ids` (versions runners signed), those a signature still counts for: each is the newest version
    of its language, in a language the race is written in, with text. A friend who signed the Spanish waiver
    has signed, whatever language the buyer pays in."""
    wanted = set(version_ids)
    if not wanted:
        return frozenset()
    race_language = session.scalar(select(Race.language).where(Race.id == race_id))
    tabs = set(session.scalars(select(RaceText.language).where(RaceText.race_id == race_id)))
    newest: dict[str, WaiverVersion] = {}
    for version in session.scalars(select(WaiverVersion).where(WaiverVersion.race_id == race_id)
                                   .order_by(WaiverVersion.number.desc())):
        newest.setdefault(version.language, version)
    return frozenset(v.id for language, v in newest.items()
                     if v.id in wanted and v.text.strip() and (language == race_language or language in tabs))


def waiver_to_sign(session: Session, race_id: int, language: str | None = None) -> WaiverVersion | None:
    """The waiver a reader of `language` (the one being written now) signs: the race's newest version in that
    language when the race is written in it, else its current waiver; None when it has none (or it is empty)."""
    return in_reader_language(session, race_id, signable(current_waiver(session, race_id)), language)


def in_reader_language(session: Session, race_id: int, waiver: WaiverVersion | None,
                       language: str | None = None) -> WaiverVersion | None:
    """`waiver` (the race's current one), or its version in the reader's language when the race has one: one
    more statement only for a reader whose language isn't the waiver's."""
    language = language or current_language()
    if waiver is None or waiver.language == language:
        return waiver
    return waiver_in(session, race_id, language) or waiver


def signable(waiver: WaiverVersion | None) -> WaiverVersion | None:
    """The waiver, unless there is none to sign (the organizer emptied its text)."""
    return waiver if waiver is not None and waiver.text.strip() else None


def waiver_languages(session: Session, race: Race) -> list[str]:
    """The languages a runner can read the race's waiver in (the check-in desk offers them): each language the race
    is written in that has a waiver text, the race's own first."""
    return [code for code in enabled_languages(race, race_texts(session, race.id)) if waiver_in(session, race.id, code)]
