"""Offline check-in: the roster a phone keeps, and the batch of taps it sends back when it has signal again.

The rule. Every check-in or undo is an event with the device's time; a runner's state is the fold of
their applied events sorted by (device time, check-in before undo, client id): a check-in sets the time
when nobody has, an undo clears it. So the first check-in wins, an undo later than it wins over it, an
earlier undo never undoes a later check-in, and the state is the same whatever order the events arrive
in: two phones' batches converge. An item is kept by its client-made id, unique within its race, so the
same item sent twice to the race counts once and gets the same answer (the same id in another race is another
item: no race can take up another's ids). Refused items (refunded, unknown code, waiver missing) are kept
too, and never take part in the fold. Desk taps are events as well (services/registrants/checkin.py).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import CheckInEvent, Order, OrderStatus, Race, Registration, RegistrationAudit, TicketType
from services.ages import local_today, race_day
from services.registrants.checkin import REFUSALS, already_checked_in, waiver_missing
from services.registrants.edits import audit_row
from services.registrants.query import registrant_status, registrants_query
from services.runners import waiver_to_sign

ACTIONS = ("check_in", "undo")
MAX_ITEMS = 500                       # a phone offline all morning at one desk sends a few hundred at most
MAX_CODE = 100
FUTURE_SKEW = timedelta(minutes=2)    # a device clock a little ahead is believed; further ahead, the server's time
KEEP_DAYS = 2                         # the roster stays on a device until race day + 2 days
# What an item did, as the device is told (and as kept on its event).
OUTCOMES = ("checked_in", "already_checked_in", "undone", "not_checked_in", "refused")


class BadBatch(ValueError):
    """A batch the server can't read; `status` is 413 for one too big, 422 otherwise."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Item:
    id: uuid.UUID
    ticket_code: str
    action: str
    at: datetime


def parse_items(payload: object) -> list[Item]:
    """The items of a posted batch ({"items": [...]}) or BadBatch saying what is wrong, by item number."""
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise BadBatch(_('Send a JSON object with a list of "items".'))
    raw = payload["items"]
    if len(raw) > MAX_ITEMS:
        raise BadBatch(_("Send at most %(max)d items at a time.", max=MAX_ITEMS), status=413)
    items, seen = [], set()
    for number, entry in enumerate(raw, start=1):
        if not isinstance(entry, dict):
            raise BadBatch(_("Item %(number)d is not an object.", number=number))
        try:
            client_id = uuid.UUID(str(entry.get("id", "")))
        except ValueError:
            raise BadBatch(_('Item %(number)d needs an "id": a UUID made on the device.', number=number)) from None
        code = entry.get("ticket_code")
        if not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE:
            raise BadBatch(_('Item %(number)d needs a "ticket_code".', number=number))
        if entry.get("action") not in ACTIONS:
            raise BadBatch(_('Item %(number)d\'s "action" must be "check_in" or "undo".', number=number))
        at = _parse_time(entry.get("at"))
        if at is None:
            raise BadBatch(_('Item %(number)d\'s "at" must be an ISO-8601 time with its offset, like 2030-05-04T07:12:00Z.',
                             number=number))
        if client_id in seen:  # the same item twice in one batch counts once, like twice in two batches
            continue
        seen.add(client_id)
        items.append(Item(client_id, code.strip(), entry["action"], at))
    return items


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str) or len(text) > 40:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    try:
        return at.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first moment a datetime holds
        return None


# --- the rule ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    client_id: uuid.UUID
    action: str
    at: datetime


def _order_key(event: Event):
    return event.at, ACTIONS.index(event.action), str(event.client_id)


def fold(events: Iterable[Event]) -> tuple[datetime | None, dict[uuid.UUID, str]]:
    """A runner's check-in time after these applied events (in any order), and what each one did."""
    state: datetime | None = None
    effects: dict[uuid.UUID, str] = {}
    for event in sorted(events, key=_order_key):
        if event.action == "check_in":
            effects[event.client_id] = "already_checked_in" if state is not None else "checked_in"
            state = state if state is not None else event.at
        else:
            effects[event.client_id] = "undone" if state is not None else "not_checked_in"
            state = None
    return state, effects


def clamp(at: datetime, signed_up: datetime | None, now: datetime) -> datetime:
    """The device's time, believed within a sane window: never before the ticket existed, never later than a
    small skew ahead of the server (a clock further ahead is wrong, and the server's time is the best guess)."""
    if at > now + FUTURE_SKEW:
        return now
    if signed_up is not None and at < signed_up:
        return signed_up
    return at


# --- the roster ----------------------------------------------------------------------------------

_ROSTER_COLUMNS = (Registration.id, Registration.ticket_code, Registration.first_name, Registration.last_name,
                   Registration.bib, Registration.refunded_at, Registration.waiver_signed_at,
                   Registration.checked_in_at, TicketType.name, Order.status)


def _roster_rows(session: Session, race: Race, *conditions):
    """The roster's columns alone (not whole registrations: 5,000 of those cost more to load than to send)."""
    return session.execute(
        registrants_query(race.id, *_ROSTER_COLUMNS)
        .where(Registration.ticket_code.is_not(None), Order.status != OrderStatus.PENDING, *conditions)
        .order_by(Registration.name_key, Registration.id)).all()  # the registrant list's order


def _runner(row, waiver_needed: bool) -> dict:
    (registration_id, code, first_name, last_name, bib, refunded_at, waiver_signed_at, checked_in_at,
     ticket_name, order_status) = row
    return {"id": registration_id, "code": code, "name": f"{first_name} {last_name}".strip(),
            "bib": bib, "ticket": ticket_name, "status": registrant_status(order_status, refunded_at),
            "waiver": "missing" if waiver_needed and waiver_signed_at is None else "ok",
            "checked_in_at": _iso(checked_in_at)}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at is not None else None


def roster(session: Session, race: Race) -> dict:
    """Every ticket of the race a phone needs offline (paid ones, and refunded ones to turn away), with the
    messages the desk shows and the day the device should forget it; `etag` changes when any of it does."""
    waiver_needed = waiver_to_sign(session, race.id) is not None
    runners = [_runner(row, waiver_needed) for row in _roster_rows(session, race)]
    body = {"race": {"id": race.id, "title": race.title, "timezone": race.timezone,
                     "race_day": race_day(race).isoformat(),
                     "keep_until": (race_day(race) + timedelta(days=KEEP_DAYS)).isoformat()},
            "messages": {"refunded": str(REFUSALS["refunded"]), "not_paid": str(REFUSALS["not_paid"]),
                         "unknown": str(REFUSALS["no_such_ticket"]), "waiver_missing": waiver_missing("{name}")},
            "runners": runners}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return {**body, "etag": digest}


def desk_race(races: Iterable[Race], now: datetime) -> Race | None:
    """The race whose check-in desk the app's Check-in shortcut opens: of `races`, those a device still keeps the
    roster of (until race day + KEEP_DAYS where the race is run), the one starting nearest to `now`."""
    open_desks = [race for race in races if local_today(race, now) <= race_day(race) + timedelta(days=KEEP_DAYS)]
    return min(open_desks, key=lambda race: abs(race.starts_at - now), default=None)

# --- applying a batch ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    id: uuid.UUID
    ticket_code: str
    outcome: str
    message: str
    duplicate: bool = False

    def as_json(self) -> dict:
        return {"id": str(self.id), "ticket_code": self.ticket_code, "outcome": self.outcome,
                "message": self.message, "duplicate": self.duplicate}


@dataclass(frozen=True)
class BatchResult:
    outcomes: list[Outcome]
    runners: list[dict]   # the current state of the runners the batch named, as in the roster

    def as_json(self) -> dict:
        return {"results": [outcome.as_json() for outcome in self.outcomes], "runners": self.runners}


def apply_batch(session: Session, race: Race, actor_id: uuid.UUID, items: Sequence[Item], now: datetime) -> BatchResult:
    """Apply a phone's taps (see the module's rule), each change in the audit trail. Commits.

    A duplicate id is skipped, never an error (`_insert_events`); should a batch racing its own retry still
    trip a constraint, it is applied again, when the first one's items count as already seen.
    """
    try:
        return _apply(session, race, actor_id, items, now)
    except IntegrityError:
        session.rollback()
        return _apply(session, race, actor_id, items, now)


def _apply(session: Session, race: Race, actor_id: uuid.UUID, items: Sequence[Item], now: datetime) -> BatchResult:
    codes = sorted({item.ticket_code for item in items})
    # Lock the named tickets (in id order, as every lock here is taken) so two phones' batches take turns.
    registrations = {registration.ticket_code: registration for registration in session.scalars(
        select(Registration).where(Registration.race_id == race.id, Registration.ticket_code.in_(codes))
        .order_by(Registration.id).with_for_update())}
    statuses = dict(session.execute(
        select(Registration.id, Order.status).join(Order, Order.id == Registration.order_id)
        .where(Registration.id.in_([r.id for r in registrations.values()]))).all())
    known = {event.client_id: event for event in session.scalars(
        select(CheckInEvent).where(CheckInEvent.race_id == race.id, CheckInEvent.client_id.in_([item.id for item in items])))}
    events = _events_by_registration(session, race, list(registrations.values()), now)
    waiver_needed = waiver_to_sign(session, race.id) is not None

    outcomes: list[Outcome] = []
    new_rows: list[dict] = []
    audits: list[dict] = []
    answered: dict[uuid.UUID, Outcome] = {}
    for item in items:
        if item.id in known or item.id in answered:
            seen = answered.get(item.id) or _answer(known[item.id], race, registrations.get(item.ticket_code))
            outcomes.append(Outcome(item.id, item.ticket_code, seen.outcome, seen.message, duplicate=True))
            continue
        registration = registrations.get(item.ticket_code)
        refusal = _refusal(item, registration, statuses, waiver_needed)
        at = clamp(item.at, registration.created_at if registration else None, now)
        row = {"client_id": item.id, "race_id": race.id, "registration_id": registration.id if registration else None,
               "ticket_code": item.ticket_code[:MAX_CODE], "action": item.action, "device_at": at, "received_at": now,
               "profile_id": actor_id, "source": "sync"}
        if refusal is not None:
            new_rows.append({**row, "outcome": "refused", "message": refusal})
            outcomes.append(answered.setdefault(item.id, Outcome(
                item.id, item.ticket_code, "refused", describe("refused", refusal, race, registration))))
            continue
        runner_events = events[registration.id]
        runner_events.append(Event(item.id, item.action, at))
        state, effects = fold(runner_events)
        effect = effects[item.id]
        kept = (_iso(state) or "") if effect == "already_checked_in" else ""
        new_rows.append({**row, "outcome": effect, "message": kept})
        outcomes.append(answered.setdefault(item.id, Outcome(
            item.id, item.ticket_code, effect, describe(effect, kept, race, registration))))
        if state != registration.checked_in_at:
            audits.append(audit_row(registration.id, actor_id, now, "checked_in", registration.checked_in_at, state))
            registration.checked_in_at = state
    if new_rows:
        _insert_events(session, new_rows)
    if audits:
        session.execute(insert(RegistrationAudit), audits)
    session.commit()
    return BatchResult(outcomes, runners_by_code(session, race, codes))


def _events_by_registration(session: Session, race: Race, registrations: list[Registration],
                            now: datetime) -> dict[int, list[Event]]:
    """Each named ticket's applied events; a check-in older than the events (made before they were kept) is
    written as one first, so it takes part in the fold."""
    events: dict[int, list[Event]] = {registration.id: [] for registration in registrations}
    for event in session.scalars(select(CheckInEvent).where(
            CheckInEvent.registration_id.in_(list(events)), CheckInEvent.outcome != "refused")):
        events[event.registration_id].append(Event(event.client_id, event.action, event.device_at))
    before = [registration for registration in registrations
              if not events[registration.id] and registration.checked_in_at is not None]
    for registration in before:
        client_id = _before_id(race, registration)
        _insert_events(session, [{
            "client_id": client_id, "race_id": race.id, "registration_id": registration.id,
            "ticket_code": registration.ticket_code or "", "action": "check_in", "device_at": registration.checked_in_at,
            "received_at": now, "profile_id": None, "source": "before", "outcome": "checked_in", "message": ""}])
        events[registration.id].append(Event(client_id, "check_in", registration.checked_in_at))
    return events


def _before_id(race: Race, registration: Registration) -> uuid.UUID:
    """The id of a check-in made before events were kept: the same for the same ticket (two batches racing to
    write it write one), and no device can guess it (it is signed with the app's secret) to take it up first."""
    secret = current_app.config["SECRET_KEY"]
    digest = hmac.new(secret.encode() if isinstance(secret, str) else secret,
                      f"checked-in-before:{race.id}:{registration.id}".encode(), hashlib.sha256).digest()
    return uuid.UUID(bytes=digest[:16], version=4)


def _insert_events(session: Session, rows: list[dict]) -> None:
    """Insert events, skipping any whose id the race already holds (a retry racing this batch wrote it first):
    a duplicate id is never an error."""
    dialect = {"postgresql": postgresql, "sqlite": sqlite}.get(session.get_bind().dialect.name)
    if dialect is None:
        session.execute(insert(CheckInEvent), rows)
        return
    session.execute(dialect.insert(CheckInEvent).on_conflict_do_nothing(index_elements=["race_id", "client_id"]), rows)


def _refusal(item: Item, registration: Registration | None, statuses: dict, waiver_needed: bool) -> str | None:
    """Why this item can't be applied, as a code (a key of REFUSALS, or "waiver_missing"); None when it can. An
    undo is refused only for a ticket that isn't this race's. The answer depends on the ticket alone, never on
    what arrived before."""
    if registration is None:
        return "no_such_ticket"
    if item.action == "undo":
        return None
    status = registrant_status(statuses[registration.id], registration.refunded_at)
    if status == "refunded":
        return "refunded"
    if status != "paid":
        return "not_paid"
    if waiver_needed and registration.waiver_signed_at is None:
        return "waiver_missing"
    return None


def describe(outcome: str, kept: str, race: Race, registration: Registration | None) -> str:
    """What the device is told about an item, in the reader's language, from what its event keeps: the outcome,
    and in `message` the refusal's code or the earlier check-in's time. An event kept before the codes holds
    its English sentence, said as it is."""
    if outcome == "refused":
        if kept == "waiver_missing":
            return waiver_missing(registration.runner_name if registration else None)
        return str(REFUSALS[kept]) if kept in REFUSALS else kept
    if outcome == "already_checked_in":
        at = _kept_time(kept)
        return already_checked_in(at, race) if at is not None else kept
    return {"checked_in": _("Checked in."), "undone": _("Check-in taken back."),
            "not_checked_in": _("Wasn't checked in.")}.get(outcome, kept)


def _kept_time(kept: str) -> datetime | None:
    try:
        return datetime.fromisoformat(kept.replace("Z", "+00:00"))
    except ValueError:
        return None


def _answer(event: CheckInEvent, race: Race, registration: Registration | None) -> Outcome:
    """The answer a kept event gave, said again (in this reader's language)."""
    return Outcome(event.client_id, event.ticket_code, event.outcome,
                   describe(event.outcome, event.message, race, registration))


def runners_by_code(session: Session, race: Race, codes: Sequence[str]) -> list[dict]:
    """The roster entries of these tickets, as they are now."""
    waiver_needed = waiver_to_sign(session, race.id) is not None
    return [_runner(row, waiver_needed) for row in _roster_rows(session, race, Registration.ticket_code.in_(list(codes)))]
