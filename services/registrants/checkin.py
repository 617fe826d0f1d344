"""Race-morning check-in: finding a runner at the desk, checking them in (once), taking it back, the counter."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from babel.dates import format_time
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, aliased

from models import CheckInEvent, Order, OrderStatus, Profile, Race, Registration, RegistrationAudit, TicketType, WaiverVersion
from services.languages import current_language
from services.registrants.edits import audit_row
from services.registrants.query import Registrant, registrants_query, search_condition, search_text, status_condition
from services.runners import waiver_to_sign

# The refusals, worded once: the desk, the offline sync and the scanner say the same, in the reader's language.
# A refused check-in event keeps the refusal's code (checkin_events.message), worded when it is shown.
REFUNDED = _l("This ticket was refunded, so it can't be checked in.")
NOT_PAID = _l("This ticket isn't paid, so it can't be checked in.")
NO_SUCH_TICKET = _l("There's no ticket with that code for this race.")
CHANGED = _l("This ticket changed a moment ago (it was transferred): look the runner up again.")
WAIVER_MISSING = _l("%(name)s hasn't signed the waiver: have them sign it on this phone first.")
REFUSALS = {"refunded": REFUNDED, "not_paid": NOT_PAID, "no_such_ticket": NO_SUCH_TICKET}


def waiver_missing(name: str | None) -> str:
    """The waiver refusal for a runner called `name`."""
    return _("%(name)s hasn't signed the waiver: have them sign it on this phone first.", name=name or _("This runner"))


def already_checked_in(at: datetime, race: Race) -> str:
    """"Already checked in at 7:12 AM.", the time in the race's timezone and the reader's language."""
    return _("Already checked in at %(time)s.", time=format_time(at, "h:mm a", tzinfo=race.tz, locale=current_language()))


def event_row(registration: Registration, action: str, editor_id: uuid.UUID | None, now: datetime) -> dict:
    """A desk tap as a check-in event (services/registrants/checkin_sync.py folds them with the phones' ones)."""
    return {"client_id": uuid.uuid4(), "race_id": registration.race_id, "registration_id": registration.id,
            "ticket_code": registration.ticket_code or "", "action": action, "device_at": now, "received_at": now,
            "profile_id": editor_id, "source": "desk", "outcome": "checked_in" if action == "check_in" else "undone",
            "message": ""}


class CheckInRefused(Exception):
    """This ticket can't be checked in (refunded, not paid); the message says why."""


class AlreadyCheckedIn(Exception):
    def __init__(self, at: datetime):
        super().__init__(f"already checked in at {at.isoformat()}")
        self.at = at


def unsigned(registration: Registration, waiver: WaiverVersion | None) -> bool:
    """The race has a waiver and this runner hasn't signed it (their own details are pending, say): they sign
    at the desk before they start."""
    return waiver is not None and registration.waiver_signed_at is None


def refuse_unless_valid(session: Session, registrant: Registrant) -> None:
    """Roll back and raise CheckInRefused unless the ticket is paid and not refunded."""
    status = registrant.status
    if status == "refunded":
        session.rollback()
        raise CheckInRefused(str(REFUNDED))
    if status != "paid" or registrant.registration.ticket_code is None:
        session.rollback()
        raise CheckInRefused(str(NOT_PAID))


def still_as_looked_up(registration: Registration) -> tuple:
    """SQL conditions for a check-in's write: the ticket is still the one the desk looked up, paid, not refunded,
    its code the same. A refund or a transfer committed since is seen by the statement, which waits for one under
    way (it holds the ticket's row)."""
    return (Registration.id == registration.id, Registration.order_status == OrderStatus.PAID,
            Registration.refunded_at.is_(None), Registration.ticket_code == registration.ticket_code)


def refuse_as_it_is_now(session: Session, registration: Registration) -> NoReturn:
    """A check-in's write found no such ticket: roll back and raise why, as the ticket is now (AlreadyCheckedIn,
    or CheckInRefused: refunded, not paid, or transferred). Another reason the caller's own write had (a waiver
    signed meanwhile) is its to tell: this raises only for these."""
    at, refunded, paid, code = session.execute(
        select(Registration.checked_in_at, Registration.refunded_at, Registration.order_status == OrderStatus.PAID,
               Registration.ticket_code).where(Registration.id == registration.id)).one()
    session.rollback()
    if at is not None:
        raise AlreadyCheckedIn(at)
    if refunded is not None or not paid or code != registration.ticket_code:
        raise CheckInRefused(str(REFUNDED if refunded is not None else NOT_PAID if not paid else CHANGED))


def check_in(session: Session, registrant: Registrant, editor_id: uuid.UUID, now: datetime) -> None:
    """Mark a runner as arrived. Two volunteers tapping at once: the first wins, the second is told.
    A runner who hasn't signed the race's waiver signs it first (services.registrants.desk_waiver).

    Commits, or rolls back and raises CheckInRefused or AlreadyCheckedIn.
    """
    registration = registrant.registration
    refuse_unless_valid(session, registrant)
    if registration.checked_in_at is None and unsigned(registration, waiver_to_sign(session, registration.race_id)):
        session.rollback()
        raise CheckInRefused(waiver_missing(registration.runner_name))
    done = session.execute(update(Registration)
                           .where(*still_as_looked_up(registration), Registration.checked_in_at.is_(None))
                           .values(checked_in_at=now)
                           .execution_options(synchronize_session=False))
    if done.rowcount == 0:
        refuse_as_it_is_now(session, registration)
    registration.checked_in_at = now
    session.execute(insert(RegistrationAudit), [audit_row(registration.id, editor_id, now, "checked_in", None, now)])
    session.execute(insert(CheckInEvent), [event_row(registration, "check_in", editor_id, now)])
    session.commit()


def undo_check_in(session: Session, registrant: Registrant, editor_id: uuid.UUID, now: datetime) -> bool:
    """Take a check-in back (a tap on the wrong runner). Returns whether there was one. Commits."""
    registration = registrant.registration
    if registration.checked_in_at is None:
        return False
    old = registration.checked_in_at
    registration.checked_in_at = None
    session.execute(insert(RegistrationAudit), [audit_row(registration.id, editor_id, now, "checked_in", old, None)])
    session.execute(insert(CheckInEvent), [event_row(registration, "undo", editor_id, now)])
    session.commit()
    return True


@dataclass(frozen=True)
class CheckInCounts:
    checked_in: int
    total: int


def checkin_counts(session: Session, race_id: int, now: datetime) -> CheckInCounts:
    """How many valid tickets have arrived, and how many there are, in one query."""
    total, arrived = session.execute(
        registrants_query(race_id, func.count(Registration.id), func.count(Registration.checked_in_at), now=now)
        .where(status_condition("paid"))).one()
    return CheckInCounts(arrived, total)


def checkin_search(session: Session, race_id: int, q: str, now: datetime, limit: int = 25) -> list[Registrant]:
    """Tickets matching a name or bib, for the check-in desk: paid first, then the ones to turn away."""
    q = search_text(q, limit=100)
    if not q:
        return []
    buyer = aliased(Profile)
    rows = session.execute(
        registrants_query(race_id, Registration, TicketType, Order, buyer, WaiverVersion, now=now)
        .join(buyer, buyer.id == Order.buyer_id)
        .outerjoin(WaiverVersion, WaiverVersion.id == Registration.waiver_version_id)
        .where(Order.status != OrderStatus.PENDING, search_condition(q))
        .order_by(Registration.name_key, Registration.id)
        .limit(limit))
    return [Registrant(*row) for row in rows]
