"""Spots left per ticket type: capacity minus paid tickets, unexpired reservations and live waitlist offers.

The waitlist's two rules live here, beside the one they bend: an offered, unexpired waitlist spot
holds its place exactly like a pending order; and while anyone waits for a ticket type, a buyer
sees no spots left in it (a freed spot goes to the line through the offer job in
services/waitlist.py, never to a walk-in), except the spots an offer holds for their own cart.
"""
from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.orm import Session

from models import Order, OrderStatus, Registration, TicketType, WaitlistEntry, WaitlistStatus


def holding_spot(now: datetime):
    """SQL condition: this registration occupies a spot (paid, or reserved and not expired)."""
    return and_(
        Registration.refunded_at.is_(None),
        or_(Order.status == OrderStatus.PAID,
            and_(Order.status == OrderStatus.PENDING, Order.reserved_until > now)),
    )


def offer_holding(now: datetime):
    """SQL condition: this waitlist entry's offer holds its `offered_spots` (offered and not expired)."""
    return and_(WaitlistEntry.status == WaitlistStatus.OFFERED, WaitlistEntry.offer_expires_at > now)


@dataclass
class WaitlistCounts:
    """Per ticket type id: spots live offers hold, those held for one order's cart, and people waiting
    (only types someone waits for are in `waiting`)."""

    held: Counter = field(default_factory=Counter)
    held_for_order: Counter = field(default_factory=Counter)
    waiting: Counter = field(default_factory=Counter)


def waitlist_counts(session: Session, ids: list[int], now: datetime,
                    order_id: uuid.UUID | None = None) -> WaitlistCounts:
    """What the waitlist holds and who waits, in one query whatever the number of types."""
    counts = WaitlistCounts()
    if not ids:
        return counts
    live = offer_holding(now)
    mine = and_(live, WaitlistEntry.order_id == order_id) if order_id is not None else false()
    rows = session.execute(
        select(WaitlistEntry.ticket_type_id,
               func.sum(case((live, WaitlistEntry.offered_spots), else_=0)),
               func.sum(case((mine, WaitlistEntry.offered_spots), else_=0)),
               func.sum(case((WaitlistEntry.status == WaitlistStatus.WAITING, 1), else_=0)))
        .where(WaitlistEntry.ticket_type_id.in_(ids),
               WaitlistEntry.status.in_((WaitlistStatus.WAITING, WaitlistStatus.OFFERED)))
        .group_by(WaitlistEntry.ticket_type_id))
    for type_id, held, held_for_order, waiting in rows:
        counts.held[type_id] = int(held or 0)
        counts.held_for_order[type_id] = int(held_for_order or 0)
        if waiting:
            counts.waiting[type_id] = int(waiting)
    return counts


def _ticket_counts(session: Session, ids: list[int], now: datetime) -> dict[int, int]:
    rows = session.execute(
        select(Registration.ticket_type_id, func.count(Registration.id))
        .join(Order, Order.id == Registration.order_id)
        .where(Registration.ticket_type_id.in_(ids), holding_spot(now))
        .group_by(Registration.ticket_type_id)
    )
    return {ticket_type_id: count for ticket_type_id, count in rows}


def taken_counts(session: Session, ticket_type_ids: Iterable[int], now: datetime) -> dict[int, int]:
    """Spots taken per ticket type id: tickets holding a spot plus the spots live waitlist offers hold."""
    ids = list(ticket_type_ids)
    if not ids:
        return {}
    taken = Counter(_ticket_counts(session, ids, now))
    taken.update(waitlist_counts(session, ids, now).held)
    return {type_id: n for type_id, n in taken.items() if n}


def free_spots(session: Session, ticket_types: Iterable[TicketType], now: datetime) -> dict[int, int]:
    """Spots nobody holds, per ticket type id, whoever waits: what the waitlist's offers hand out."""
    types = list(ticket_types)
    taken = taken_counts(session, (t.id for t in types), now)
    return {t.id: max(t.capacity - taken.get(t.id, 0), 0) for t in types}


def spots_left(session: Session, ticket_types: Iterable[TicketType], now: datetime, *,
               order_id: uuid.UUID | None = None) -> dict[int, int]:
    """Spots left per ticket type id for a buyer (never negative): none while people wait for the type,
    except those a waitlist offer holds for `order_id`'s own cart."""
    types = list(ticket_types)
    ids = [t.id for t in types]
    if not ids:
        return {}
    tickets = _ticket_counts(session, ids, now)
    waitlist = waitlist_counts(session, ids, now, order_id)
    left = {}
    for t in types:
        mine = waitlist.held_for_order[t.id]
        free = t.capacity - tickets.get(t.id, 0) - waitlist.held[t.id] + mine
        left[t.id] = max(min(free, mine) if t.id in waitlist.waiting else free, 0)
    return left


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
    itself holding spots (the spots a waitlist offer holds for that order are its own to take).
    """
    wanted = Counter(r.ticket_type_id for r in registrations)
    types = list(session.scalars(select(TicketType).where(TicketType.id.in_(wanted)).order_by(TicketType.id)))
    order_ids = {r.order_id for r in registrations}
    left = spots_left(session, types, now, order_id=order_ids.pop() if len(order_ids) == 1 else None)
    problems = []
    for ticket_type in types:
        count = wanted[ticket_type.id]
        if count > left[ticket_type.id]:
            problems.append(spots_problem(ticket_type, count, left[ticket_type.id]))
    return problems
