"""The languages Startline speaks: English, plus one for each catalog under translations/ (adding a language
is adding its catalog), and the language a message for someone is written in."""
from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path

from babel import Locale
from babel.core import get_global
from babel.support import NullTranslations
from flask import g, has_app_context
from flask_babel import get_locale, get_translations

DEFAULT_LANGUAGE = "en"
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"


@lru_cache(maxsize=1)
def languages() -> tuple[str, ...]:
    """English first, then every language with a catalog, in code order: ("en", "es")."""
    found = sorted(path.parent.parent.name for path in TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.po"))
    return (DEFAULT_LANGUAGE, *(code for code in found if code != DEFAULT_LANGUAGE))


@cache
def language_name(code: str) -> str:
    """A language's name in itself, as a switcher shows it: "English", "Español"."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def supported(code: str | None) -> str | None:
    """`code` as one of ours ("es-MX" and "ES" are "es"), or None."""
    if not code:
        return None
    primary = code.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in languages() else None


@cache
def og_locale(code: str) -> str:
    """A language as OpenGraph's og:locale writes it, with its likeliest country: "es" → "es_ES", "en" → "en_US"."""
    likely = get_global("likely_subtags").get(code, code)
    parts = likely.split("_")
    return f"{parts[0]}_{parts[-1]}" if len(parts) > 1 and parts[-1].isupper() else code


def current_language() -> str:
    """The language being written now: the page's, an email's (under flask_babel.force_locale), else English."""
    written = _written_now()
    return written[0] if written is not None else DEFAULT_LANGUAGE


def remember_language(session, profile, code: str) -> None:
    """Keep `code` as `profile`'s language (the switcher, signed in): their emails and other devices follow."""
    if profile.language != code:
        profile.language = code
        session.commit()


def language_for(*choices: str | None) -> str:
    """The first of `choices` we speak (a person's chosen language, then the race's), else English: the
    language an email to someone is written in, chosen when it is queued."""
    for choice in choices:
        code = supported(choice)
        if code:
            return code
    return DEFAULT_LANGUAGE


# --- messages: Flask-Babel's gettext, the catalog read once per request ---------------------------------

def translations() -> NullTranslations:
    """The catalog of the language being written now (see `_written_now`)."""
    written = _written_now()
    return written[1] if written is not None else get_translations()


def _written_now() -> tuple[str, NullTranslations] | None:
    """The language being written now and its catalog, looked up once while that language stays the same (None
    outside an app context): kept with the locale they are for, so `force_locale` (an email in its reader's
    language) still gets its own. Flask-Babel's state is read past the `g` proxy, where every attribute is first
    missed, an AttributeError raised and caught: a cart page asks some sixty times (issue 17)."""
    if not has_app_context():
        return None
    state = g._get_current_object().get("_flask_babel")  # Flask-Babel's own: the locale it settled on (or forced)
    kept = getattr(state, "page_language", None)
    if kept is not None and kept[0] is getattr(state, "babel_locale", None):  # gone after flask_babel.refresh()
        return kept[1]
    locale = get_locale()
    found = (str(locale) if locale is not None else DEFAULT_LANGUAGE, get_translations())
    state = g._flask_babel  # there now, with the locale the catalog is for
    state.page_language = (getattr(state, "babel_locale", None) or object(), found)
    return found


def gettext(string: str, /, **variables) -> str:
    """flask_babel.gettext, reading the catalog through `translations`."""
    text = translations().ugettext(string)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, count: int, /, **variables) -> str:
    """flask_babel.ngettext (`num` filled in), reading the catalog through `translations`."""
    variables.setdefault("num", count)
    return translations().ungettext(singular, plural, count) % variables
