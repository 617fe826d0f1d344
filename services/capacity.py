"""Checkout's capacity check: whether these tickets fit in what is left of their types (services.inventory's rule),
with what else checkout needs of the types, in one statement; and the order, its tickets and that check together.
"""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from functools import cache
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from models import Order, PriceTier, Registration, TicketType
from services.inventory import held_columns, held_from, left_for_buyer, spots_problem
from services.locking import lock_order_before_reading


def capacity_problems(session: Session, registrations: list[Registration], now: datetime) -> list[str]:
    """Which ticket types cannot take these registrations on top of what is already held.

    Call with the ticket types locked (services.locking), and with the registrations' order not
    itself holding spots (the spots a waitlist offer holds for that order are its own to take).
    """
    return capacity_check(session, registrations, now).problems


class Capacity(NamedTuple):
    """What `capacity_check` read of the registrations' ticket types."""

    types: list[TicketType]   # by id, as they are now
    problems: list[str]       # `capacity_problems`
    offered_to_order: int     # spots live waitlist offers hold for the registrations' order, in these types
    stepped: set[int]         # the types priced by date or sales steps (services/price_tiers.py)


def capacity_check(session: Session, registrations: list[Registration], now: datetime) -> Capacity:
    """`capacity_problems`, with what else checkout needs of the registrations' ticket types: one statement reads
    each type's row (its capacity, refreshed), what holds its spots, and whether it has price steps."""
    wanted = Counter(r.ticket_type_id for r in registrations)
    if not wanted:
        return Capacity([], [], 0, set())
    order_ids = {r.order_id for r in registrations}
    order_id = order_ids.pop() if len(order_ids) == 1 else None
    params = {"now": now, "ids": sorted(wanted)} | ({"order_id": order_id} if order_id is not None else {})
    return _capacity(session.execute(_capacity_statement(order_id is not None), params).all(), wanted)


class OrderCapacity(NamedTuple):
    """What `order_capacity` read: an order, its tickets, and `capacity_check` of them."""

    order: Order | None
    tickets: list[Registration]
    capacity: Capacity


def order_capacity(session: Session, order_id: uuid.UUID, now: datetime, *, lock: bool = False) -> OrderCapacity:
    """An order, its tickets as they are now (in id order, loaded ones refreshed, each with its ticket type attached)
    and `capacity_check` of them: one statement, where checkout ran two, with the ticket types locked, where each
    round trip adds to the wait of every buyer queued behind (issue 17).

    `lock`: the order is read under its row lock (services.locking), as the last of the locks checkout takes, taken
    in a statement of its own just before (`lock_order_before_reading`): this statement's snapshot then follows every
    lock, so it sees the tickets whoever held the order before added (a statement that locked the order itself and
    waited for it would see them as they were when it started, and checkout would hold spots for tickets it never
    checked), and every reservation committed before the ticket types' locks is counted."""
    if lock:
        lock_order_before_reading(session, order_id)
    rows = session.execute(_order_capacity_statement(), {"now": now, "order_id": order_id}).all()
    if not rows:
        return OrderCapacity(None, [], Capacity([], [], 0, set()))
    tickets = [registration for _, registration, *_ in rows if registration is not None]
    checked = {row[2].id: row[2:] for row in rows if row[1] is not None}
    for registration in tickets:
        set_committed_value(registration, "ticket_type", checked[registration.ticket_type_id][0])
    wanted = Counter(r.ticket_type_id for r in tickets)
    return OrderCapacity(rows[0][0], tickets, _capacity([checked[type_id] for type_id in sorted(checked)], wanted))


@cache
def _order_capacity_statement():
    """A row per ticket; each type's counts computed once, in a CTE of its own (materialized: inlined, Postgres ran
    the counts again for each ticket of the type, a walk over the pending orders each)."""
    order_id = bindparam("order_id")
    checked = (select(TicketType.id.label("type_id"),
                      *(column.label(f"checked_{n}") for n, column in enumerate(_checked_columns(order_id))))
               .where(TicketType.id.in_(select(Registration.ticket_type_id).where(Registration.order_id == order_id)))
               .cte("checked").prefix_with("MATERIALIZED"))
    statement = (select(Order, Registration, TicketType, *list(checked.c)[1:])
                 .select_from(Order).outerjoin(Registration, Registration.order_id == Order.id)
                 .outerjoin(TicketType, TicketType.id == Registration.ticket_type_id)
                 .outerjoin(checked, checked.c.type_id == Registration.ticket_type_id)
                 .where(Order.id == order_id).order_by(Registration.id)
                 .execution_options(populate_existing=True))
    return statement


def _checked_columns(order_id):
    """What `capacity_check` reads of each ticket type beside its row: whether it has price steps, and `held_columns`."""
    stepped = select(PriceTier.id).where(PriceTier.ticket_type_id == TicketType.id).correlate(TicketType).exists()
    return stepped, *held_columns(bindparam("now"), order_id)


def _capacity(rows, wanted: Counter) -> Capacity:
    """A `Capacity` from each ticket type's row and `_checked_columns`, for `wanted` tickets per type id."""
    types, problems, offered, stepped = [], [], 0, set()
    for ticket_type, has_steps, *values in rows:
        held = held_from(*values)
        types.append(ticket_type)
        offered += held.offers_for_order
        if has_steps:
            stepped.add(ticket_type.id)
        left = left_for_buyer(ticket_type, held)
        if wanted[ticket_type.id] > left:
            problems.append(spots_problem(ticket_type, wanted[ticket_type.id], left))
    return Capacity(types, problems, offered, stepped)


@cache
def _capacity_statement(for_order: bool):
    """`capacity_check`'s statement, built once (its values are bound: `now`, `ids`, `order_id`): building it
    took 1 ms of CPU, more than the rest of the call, twice per checkout at a registration opening (issue 17)."""
    return (select(TicketType, *_checked_columns(bindparam("order_id") if for_order else None))
            .where(TicketType.id.in_(bindparam("ids", expanding=True)))
            .order_by(TicketType.id).execution_options(populate_existing=True))
