"""Spots left per ticket type: capacity minus paid tickets and unexpired reservations."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from models import Order, OrderStatus, Registration, TicketType


def holding_spot(now: datetime):
    """SQL condition: this registration occupies a spot (paid, or reserved and not expired)."""
    return and_(
        Registration.refunded_at.is_(None),
        or_(Order.status == OrderStatus.PAID,
            and_(Order.status == OrderStatus.PENDING, Order.reserved_until > now)),
    )


def taken_counts(session: Session, ticket_type_ids: Iterable[int], now: datetime) -> dict[int, int]:
    """Spots taken per ticket type id, in one query whatever the number of types."""
    ids = list(ticket_type_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Registration.ticket_type_id, func.count(Registration.id))
        .join(Order, Order.id == Registration.order_id)
        .where(Registration.ticket_type_id.in_(ids), holding_spot(now))
        .group_by(Registration.ticket_type_id)
    )
    return {ticket_type_id: count for ticket_type_id, count in rows}


def spots_left(session: Session, ticket_types: Iterable[TicketType], now: datetime) -> dict[int, int]:
    """Spots left per ticket type id (never negative)."""
    types = list(ticket_types)
    taken = taken_counts(session, (t.id for t in types), now)
    return {t.id: max(t.capacity - taken.get(t.id, 0), 0) for t in types}


def spots_problem(ticket_type: TicketType, wanted: int, left: int) -> str | None:
    """The one wording for "not enough spots": the cart, the race page and checkout all say this."""
    if wanted <= left:
        return None
    if left <= 0:
        return f"The {ticket_type.name} is sold out."
    return f"Only {left} spot{'s' if left != 1 else ''} left in the {ticket_type.name}."


def capacity_problems(session: Session, registrations: list[Registration], now: datetime) -> list[str]:
    """Which ticket types cannot take these registrations on top of what is already held.

    Call with the ticket types locked (services.locking), and with the registrations' order not
    itself holding spots.
    """
    wanted = Counter(r.ticket_type_id for r in registrations)
    types = list(session.scalars(select(TicketType).where(TicketType.id.in_(wanted)).order_by(TicketType.id)))
    left = spots_left(session, types, now)
    problems = []
    for ticket_type in types:
        count = wanted[ticket_type.id]
        if count > left[ticket_type.id]:
            problems.append(spots_problem(ticket_type, count, left[ticket_type.id]))
    return problems
