"""The race editor's field groups: what each shows, the rules it keeps, and saving one as the organizer types.

A field group is one field, or a few that belong together (day, start and timezone). Its form in
blueprints/manage/forms.py checks the shape of what was typed; here each group reads the race's
current values (as strings, for the page and the conflict check), refuses what breaks a rule that
needs the database or the rest of the race, and writes the race. `save_field_group` is the one use
case the autosave route and the no-JavaScript fallback both call.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import SOCIAL_KINDS, Order, OrderStatus, Race, RaceSocialLink, TaxMode
from services import race_texts
from services.languages import languages
from services.money import money_text, to_minor
from services.race_editing import (
    current_waiver,
    deadline_problem,
    local_to_utc,
    set_social_link,
    set_waiver_text,
    touch,
)
from services.race_texts import change_race_language, set_description

Values = Mapping[str, object]  # a group's submitted values, parsed by its form (str, date, time, bool)


class FieldsRefused(Exception):
    """The values break at least one rule; `problems` maps each field to its message. Nothing changed."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(next(iter(problems.values())))
        self.problems = problems


class EditConflict(Exception):
    """The field changed in another tab (or by a co-organizer) since this page loaded."""

    def __init__(self, field: str, changed_at: datetime):
        super().__init__(field)
        self.field, self.changed_at = field, changed_at


@dataclass(frozen=True)
class FieldGroup:
    name: str
    current: Callable[[Session, Race], dict[str, str]]
    apply: Callable[[Session, Race, Values], datetime | None]  # returns a sign-up deadline it moved
    rules: Callable[[Session, Race, Values], dict[str, str]] = lambda session, race, values: {}


@dataclass(frozen=True)
class FieldsSaved:
    values: dict[str, str]                  # what the group holds now
    deadline_moved_to: datetime | None = None  # the start moved, and the sign-up deadline with it


# --- what each group shows ---------------------------------------------------------------

def _local(race: Race, value: datetime | None) -> datetime | None:
    return value.astimezone(ZoneInfo(race.timezone)) if value else None


def _rate_text(bps: int) -> str:
    return f"{Decimal(bps) / 100:f}".rstrip("0").rstrip(".") if bps else ""


def _attributes(*names: str) -> Callable[[Session, Race], dict[str, str]]:
    return lambda session, race: {name: getattr(race, name) for name in names}


def _current_when(session: Session, race: Race) -> dict[str, str]:
    local = _local(race, race.starts_at)
    return {"day": local.date().isoformat(), "start": local.strftime("%H:%M"), "timezone": race.timezone}


def _current_closes(session: Session, race: Race) -> dict[str, str]:
    local = _local(race, race.registration_closes_at)
    if local is None:
        return {"closes_day": "", "closes_time": ""}
    return {"closes_day": local.date().isoformat(), "closes_time": local.strftime("%H:%M")}


def _current_tax(session: Session, race: Race) -> dict[str, str]:
    return {"tax_mode": race.tax_mode.value, "tax_rate": _rate_text(race.tax_rate_bps), "tax_label": race.tax_label}


def _current_waiver(session: Session, race: Race) -> dict[str, str]:
    waiver = current_waiver(session, race.id)
    return {"waiver": waiver.text if waiver else ""}


def _current_runner_questions(session: Session, race: Race) -> dict[str, str]:
    return {"tshirt_sizes": race.tshirt_sizes, "ask_gender": "y" if race.ask_gender else ""}


def _current_social(kind: str) -> Callable[[Session, Race], dict[str, str]]:
    def current(session: Session, race: Race) -> dict[str, str]:
        url = session.scalar(select(RaceSocialLink.url).where(RaceSocialLink.race_id == race.id,
                                                              RaceSocialLink.kind == kind))
        return {"url": url or ""}
    return current


def _local_pair(race: Race, value: datetime | None, prefix: str) -> dict[str, str]:
    local = _local(race, value)
    return {f"{prefix}_day": local.date().isoformat() if local else "",
            f"{prefix}_time": local.strftime("%H:%M") if local else ""}


def _current_transfers(session: Session, race: Race) -> dict[str, str]:
    return {"transfers_enabled": "y" if race.transfers_enabled else "", **_local_pair(race, race.transfers_until, "transfers"),
            "transfer_fee": money_text(race.transfer_fee, race.currency) if race.transfer_fee else "",
            "transfer_keeps_bib": "y" if race.transfer_keeps_bib else ""}


def _current_distance_changes(session: Session, race: Race) -> dict[str, str]:
    return {"distance_changes_enabled": "y" if race.distance_changes_enabled else "",
            **_local_pair(race, race.distance_changes_until, "distance"),
            "distance_refund_difference": "y" if race.distance_refund_difference else ""}


# --- the rules that need more than the typed value -----------------------------------------

def _slug_rules(session: Session, race: Race, values: Values) -> dict[str, str]:
    taken = session.scalar(select(Race.id).where(Race.slug == values["slug"], Race.id != race.id))
    return {"slug": _("Another race already uses this address.")} if taken else {}


def _currency_rules(session: Session, race: Race, values: Values) -> dict[str, str]:
    if values["currency"] != race.currency and session.scalar(
            select(Order.id).where(Order.race_id == race.id, Order.status != OrderStatus.CART).limit(1)):
        return {"currency": _("Tickets were sold in this currency already, so it can't change.")}
    return {}


def _new_start(values: Values) -> datetime:
    return local_to_utc(values["day"], values["start"], values["timezone"])


def _moved_deadline(race: Race, new_start: datetime) -> datetime | None:
    """A set deadline keeps its distance before the start when the start moves."""
    if race.registration_closes_at is None:
        return None
    return race.registration_closes_at + (new_start - race.starts_at)


def _when_rules(session: Session, race: Race, values: Values) -> dict[str, str]:
    new_start = _new_start(values)
    problem = deadline_problem(new_start, _moved_deadline(race, new_start))
    return {"start": problem} if problem else {}


def _new_deadline(race: Race, values: Values) -> datetime | None:
    if values.get("closes_day") and values.get("closes_time"):
        return local_to_utc(values["closes_day"], values["closes_time"], race.timezone)
    return None


def _closes_rules(session: Session, race: Race, values: Values) -> dict[str, str]:
    problem = deadline_problem(race.starts_at, _new_deadline(race, values))
    return {"closes_day": problem} if problem else {}


def _until(race: Race, values: Values, prefix: str) -> datetime | None:
    day, at = values.get(f"{prefix}_day"), values.get(f"{prefix}_time")
    return local_to_utc(day, at, race.timezone) if day and at else None


def _until_rules(prefix: str) -> Callable[[Session, Race, Values], dict[str, str]]:
    def rules(session: Session, race: Race, values: Values) -> dict[str, str]:
        if bool(values.get(f"{prefix}_day")) != bool(values.get(f"{prefix}_time")):
            return {f"{prefix}_day": _("Give both a date and a time, or leave both empty for the sign-up deadline.")}
        until = _until(race, values, prefix)
        if until is not None and until > race.starts_at:
            return {f"{prefix}_day": _("Pick a moment before the race starts.")}
        return {}
    return rules


def _transfer_fee(race: Race, values: Values) -> int:
    """The fee as typed, in minor units; ValueError for anything but a plain amount."""
    text = str(values.get("transfer_fee") or "").strip()
    return to_minor(text, race.currency) if text else 0


def _transfers_rules(session: Session, race: Race, values: Values) -> dict[str, str]:
    problems = _until_rules("transfers")(session, race, values)
    try:
        if _transfer_fee(race, values) < 0:
            problems["transfer_fee"] = _("The fee can't be negative.")
    except ValueError:
        problems["transfer_fee"] = _("Enter the fee as an amount in %(currency)s, like 5.00, or leave it empty.",
                                      currency=race.currency)
    return problems


# --- how each group writes the race ------------------------------------------------------

def _copy(*names: str) -> Callable[[Session, Race, Values], None]:
    """Copy submitted values to race attributes of the same name, text trimmed."""
    def apply(session: Session, race: Race, values: Values) -> None:
        for name in names:
            value = values[name]
            setattr(race, name, value.strip() if isinstance(value, str) else value)
    return apply


def _apply_description(session: Session, race: Race, values: Values) -> None:
    """The Markdown as typed, and its sanitized HTML for the race page (rendered once, here, not per view)."""
    set_description(race, None, str(values["description"] or ""))


def _apply_when(session: Session, race: Race, values: Values) -> datetime | None:
    new_start = _new_start(values)
    moved = _moved_deadline(race, new_start)
    race.timezone = values["timezone"]
    race.starts_at = new_start
    if moved is not None and moved != race.registration_closes_at:
        race.registration_closes_at = moved
        return moved
    return None


def _apply_closes(session: Session, race: Race, values: Values) -> None:
    race.registration_closes_at = _new_deadline(race, values)


def _apply_tax(session: Session, race: Race, values: Values) -> None:
    race.tax_mode = TaxMode(values["tax_mode"])
    fixed = race.tax_mode in (TaxMode.INCLUSIVE, TaxMode.EXCLUSIVE)
    race.tax_rate_bps = int(Decimal(str(values["tax_rate"]).strip().rstrip("%")) * 100) if fixed else 0
    race.tax_label = str(values["tax_label"] or "").strip()


def _apply_waiver(session: Session, race: Race, values: Values) -> None:
    set_waiver_text(session, race, str(values["waiver"] or ""))


def _apply_runner_questions(session: Session, race: Race, values: Values) -> None:
    race.tshirt_sizes = ",".join(s.strip() for s in str(values["tshirt_sizes"] or "").split(",") if s.strip())
    race.ask_gender = bool(values["ask_gender"])


def _apply_waitlist(session: Session, race: Race, values: Values) -> None:
    race.waitlist_hold_hours = int(values["waitlist_hold_hours"])
def _apply_transfers(session: Session, race: Race, values: Values) -> None:
    race.transfers_enabled = bool(values["transfers_enabled"])
    race.transfers_until = _until(race, values, "transfers")
    race.transfer_fee = _transfer_fee(race, values)
    race.transfer_keeps_bib = bool(values["transfer_keeps_bib"])


def _apply_distance_changes(session: Session, race: Race, values: Values) -> None:
    race.distance_changes_enabled = bool(values["distance_changes_enabled"])
    race.distance_changes_until = _until(race, values, "distance")
    race.distance_refund_difference = bool(values["distance_refund_difference"])


def _apply_social(kind: str) -> Callable[[Session, Race, Values], None]:
    def apply(session: Session, race: Race, values: Values) -> None:
        set_social_link(session, race, kind, str(values["url"] or "").strip())
    return apply


# --- the race's language, and its description and waiver in each of its other languages ------------

def _apply_language(session: Session, race: Race, values: Values) -> None:
    change_race_language(session, race, str(values["language"]))


GROUPS: dict[str, FieldGroup] = {group.name: group for group in [
    FieldGroup("title", _attributes("title"), _copy("title")),
    FieldGroup("slug", _attributes("slug"), _copy("slug"), _slug_rules),
    FieldGroup("summary", _attributes("summary"), _copy("summary")),
    FieldGroup("description", _attributes("description"), _apply_description),
    FieldGroup("when", _current_when, _apply_when, _when_rules),
    FieldGroup("closes", _current_closes, _apply_closes, _closes_rules),
    FieldGroup("where", _attributes("location_name", "address"), _copy("location_name", "address")),
    FieldGroup("currency", _attributes("currency"), _copy("currency"), _currency_rules),
    FieldGroup("tax", _current_tax, _apply_tax),
    FieldGroup("waiver", _current_waiver, _apply_waiver),
    FieldGroup("runner-questions", _current_runner_questions, _apply_runner_questions),
    FieldGroup("waitlist", lambda session, race: {"waitlist_hold_hours": str(race.waitlist_hold_hours)}, _apply_waitlist),
    FieldGroup("transfers", _current_transfers, _apply_transfers, _transfers_rules),
    FieldGroup("distance-changes", _current_distance_changes, _apply_distance_changes, _until_rules("distance")),
    *[FieldGroup(f"social-{kind}", _current_social(kind), _apply_social(kind)) for kind in SOCIAL_KINDS],
    FieldGroup("language", _attributes("language"), _apply_language),
    *[FieldGroup(f"description-{code}", race_texts.current_description_in(code), race_texts.write_description_in(code),
                 race_texts.has_language_rule(code, "description")) for code in languages()],
    *[FieldGroup(f"waiver-{code}", race_texts.current_waiver_in(code), race_texts.write_waiver_in(code),
                 race_texts.has_language_rule(code, "waiver")) for code in languages()],
]}


# --- reading and saving --------------------------------------------------------------------

def current_values(session: Session, race: Race, group_name: str) -> dict[str, str]:
    """What one group holds now, as the strings the page shows."""
    return GROUPS[group_name].current(session, race)


def all_current_values(session: Session, race: Race,
                       languages_shown: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
    """Every group's current values, for the editor page: the description's and waiver's in the languages the
    race has (`languages_shown`), or in all of ours."""
    shown = {f"{part}-{code}" for part in ("description", "waiver") for code in (languages_shown or languages())}
    return {name: group.current(session, race) for name, group in GROUPS.items()
            if name in shown or not name.startswith(("description-", "waiver-"))}


def as_text(values: Values) -> dict[str, str]:
    """Submitted values as the strings `current` gives, for the conflict check."""
    text = {}
    for name, value in values.items():
        if isinstance(value, bool):
            text[name] = "y" if value else ""
        elif isinstance(value, time):
            text[name] = value.strftime("%H:%M")
        elif isinstance(value, date):
            text[name] = value.isoformat()
        elif isinstance(value, str):
            text[name] = value.strip()
        else:
            text[name] = "" if value is None else str(value)
    return text


def check_unchanged(race: Race, originals: Mapping[str, str], current: Mapping[str, str],
                    submitted: Mapping[str, str]) -> None:
    """Refuse to overwrite a value someone else changed since the editor loaded it.

    `originals` are the values the page showed; `current` what the database holds now. A value
    that already equals what is being submitted is no conflict (two tabs typing the same thing).
    """
    for name, shown in originals.items():
        now_value = current.get(name)
        if name in current and now_value != shown and now_value != submitted.get(name):
            raise EditConflict(name, race.updated_at)


def save_field_group(session: Session, race: Race, group_name: str, values: Values,
                     originals: Mapping[str, str]) -> FieldsSaved:
    """Save one field group: its rules, then the conflict check, then the race. Commits.

    Raises FieldsRefused (a rule) or EditConflict (changed elsewhere since `originals` were shown);
    either way nothing is saved.
    """
    group = GROUPS[group_name]
    problems = group.rules(session, race, values)
    if problems:
        session.rollback()
        raise FieldsRefused(problems)
    try:
        check_unchanged(race, originals, group.current(session, race), as_text(values))
    except EditConflict:
        session.rollback()
        raise
    moved = group.apply(session, race, values)
    touch(race)
    session.commit()
    return FieldsSaved(group.current(session, race), moved)
