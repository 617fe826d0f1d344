"""Bib numbers: one runner's typed in place, or a whole ticket type numbered from a range at once.

A bib is unique within its race (a database constraint backs the check here), and each change is a
line in the registrant's audit trail.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from flask_babel import format_number, ngettext
from flask_babel import gettext as _
from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import OrderStatus, Registration, RegistrationAudit, TicketType
from services.registrants.edits import audit_row
from services.registrants.query import (
    Registrant,
    is_whole_number,
    race_ticket_types,
    registrants_query,
    status_condition,
)

BIB_MAX = 999_999
BIB_RANGE_MAX = 100_000


class BibRefused(Exception):
    """A bib that can't be given; the message says why, for the organizer. Nothing changed."""


def parse_bib(text: str) -> int | None:
    """"" → None (no bib); "1042" → 1042; anything else raises BibRefused."""
    text = (text or "").strip().lstrip("#")
    if not text:
        return None
    if not is_whole_number(text) or not 1 <= int(text) <= BIB_MAX:
        raise BibRefused(_("A bib is a whole number from 1 to %(max)s.", max=format_number(BIB_MAX)))
    return int(text)


def bib_holder(session: Session, race_id: int, bib: int, except_id: int | None = None) -> Registration | None:
    query = registrants_query(race_id, listed_only=False).where(Registration.bib == bib)
    if except_id is not None:
        query = query.where(Registration.id != except_id)
    return session.scalar(query)


def set_bib(session: Session, race_id: int, registrant: Registrant, typed: str, editor_id: uuid.UUID,
            now: datetime) -> bool:
    """Give one registrant the bib typed (or take it away when empty). Returns whether anything changed.

    Commits, or rolls back and raises BibRefused.
    """
    try:
        changed = _set_bib(session, race_id, registrant, parse_bib(typed), editor_id, now)
    except BibRefused:
        session.rollback()
        raise
    session.commit()
    return changed


def _set_bib(session: Session, race_id: int, registrant: Registrant, bib: int | None, editor_id: uuid.UUID,
             now: datetime) -> bool:
    registration = registrant.registration
    if registration.bib == bib:
        return False
    if bib is not None:
        if registrant.status == "refunded":
            raise BibRefused(_("This ticket was refunded, so it gets no bib."))
        holder = bib_holder(session, race_id, bib, except_id=registration.id)
        if holder is not None:
            raise BibRefused(_("Bib %(bib)d is already taken by %(name)s.", bib=bib,
                                   name=holder.runner_name or _("another runner")))
    old = registration.bib
    registration.bib = bib
    try:
        session.flush()
    except IntegrityError:  # taken a moment ago by someone else
        raise BibRefused(_("Bib %(bib)d was just taken by another runner. Pick another number.", bib=bib)) from None
    session.execute(insert(RegistrationAudit), [audit_row(registration.id, editor_id, now, "bib", old, bib)])
    return True


@dataclass(frozen=True)
class BibAssignment:
    ticket_type: TicketType
    count: int
    first: int | None
    last: int | None


def assign_bibs(session: Session, race_id: int, typed: Mapping[str, str], editor_id: uuid.UUID,
                now: datetime) -> BibAssignment:
    """Number every paid runner of one ticket type without a bib from the range typed (ticket_type, first, last).

    All or nothing: commits, or rolls back and raises BibRefused saying why, with nothing assigned.
    """
    try:
        ticket_type = {str(t.id): t for t in race_ticket_types(session, race_id)}.get(typed.get("ticket_type", ""))
        if ticket_type is None:
            raise BibRefused(_("Pick the ticket type to number."))
        first, last = typed.get("first", ""), typed.get("last", "")
        if not (is_whole_number(first) and is_whole_number(last)):
            raise BibRefused(_("Enter the first and last bib of the range as whole numbers, like 1000 and 1999."))
        done = _assign_bibs(session, race_id, ticket_type, int(first), int(last), editor_id, now)
    except BibRefused:
        session.rollback()
        raise
    session.commit()
    return done


def _assign_bibs(session: Session, race_id: int, ticket_type: TicketType, first: int, last: int,
                 editor_id: uuid.UUID, now: datetime) -> BibAssignment:
    """Give the paid runners of `ticket_type` without a bib the free numbers of first…last, by name."""
    if not (1 <= first <= BIB_MAX and 1 <= last <= BIB_MAX):
        raise BibRefused(_("Bibs are whole numbers from 1 to %(max)s.", max=format_number(BIB_MAX)))
    if last < first:
        raise BibRefused(_("The range goes from the smaller number to the bigger one, like 1000 to 1999."))
    if last - first + 1 > BIB_RANGE_MAX:
        raise BibRefused(_("Use a range of at most %(max)s numbers.", max=format_number(BIB_RANGE_MAX)))
    waiting = list(session.scalars(
        registrants_query(race_id, Registration.id, now=now)
        .where(status_condition("paid"), Registration.ticket_type_id == ticket_type.id, Registration.bib.is_(None))
        .order_by(Registration.name_key, Registration.id)))
    if not waiting:
        raise BibRefused(_("Every paid %(type)s runner already has a bib.", type=ticket_type.name))
    used = set(session.scalars(registrants_query(race_id, Registration.bib, listed_only=False)
                               .where(Registration.bib.between(first, last))))
    free_count = (last - first + 1) - len(used)
    if free_count < len(waiting):
        free = ngettext("%(num)d free number", "%(num)d free numbers", free_count)
        if used:
            free = _("%(free)s (%(num)d already used)", free=free, num=len(used))
        raise BibRefused(ngettext(
            "%(num)d %(type)s runner needs a bib, but %(first)d–%(last)d has only %(free)s. Widen the range; nothing "
            "was assigned.",
            "%(num)d %(type)s runners need a bib, but %(first)d–%(last)d has only %(free)s. Widen the range; nothing "
            "was assigned.", len(waiting), type=ticket_type.name, first=first, last=last, free=free))
    numbers = (n for n in range(first, last + 1) if n not in used)
    assigned = [(registration_id, next(numbers)) for registration_id in waiting]
    # Each ticket numbered only while still as read: paid, not refunded, of this type and without a bib (a refund,
    # a transfer, a distance change or a bib typed in that committed since is seen by its statement, which waits
    # for one under way). In the order of the tickets' ids, as a refund and the check-in sync lock tickets.
    still_waiting = (update(Registration)
                     .where(Registration.id == bindparam("rid"), Registration.bib.is_(None),
                            Registration.refunded_at.is_(None), Registration.ticket_type_id == ticket_type.id,
                            Registration.order_status == bindparam("paid", type_=Registration.order_status.type))
                     .values(bib=bindparam("number")))
    try:
        numbered = session.connection().execute(still_waiting, [{"rid": rid, "number": bib, "paid": OrderStatus.PAID}
                                                                for rid, bib in sorted(assigned)])
    except IntegrityError:
        raise BibRefused(_("Someone gave out bibs in that range at the same moment. Try again.")) from None
    if numbered.rowcount != len(assigned):
        raise BibRefused(_("Some of these runners changed a moment ago (a refund, or a bib given by hand). Try again."))
    session.execute(insert(RegistrationAudit),
                    [audit_row(rid, editor_id, now, "bib", None, bib) for rid, bib in assigned])
    return BibAssignment(ticket_type, len(assigned), assigned[0][1], assigned[-1][1])
