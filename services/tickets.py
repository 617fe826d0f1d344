"""A person's tickets and orders: what the tickets page shows, and what the API lists."""
from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, and_, or_, select
from sqlalchemy.orm import Session

from models import Order, OrderKind, OrderStatus, Race, Registration, TicketType

# The orders a buyer sees: past the cart (a cart is the cart page's), tickets rather than a change's fee.
SHOWN_ORDER_STATUSES = (OrderStatus.PENDING, OrderStatus.PAID, OrderStatus.EXPIRED, OrderStatus.CANCELED,
                        OrderStatus.REFUNDED, OrderStatus.NEEDS_REFUND)


def ticket_rows(session: Session, *conditions) -> list[Row]:
    """(Registration, TicketType, Race, Order) rows matching `conditions`, soonest race first."""
    return list(session.execute(
        select(Registration, TicketType, Race, Order)
        .join(TicketType, TicketType.id == Registration.ticket_type_id)
        .join(Race, Race.id == Registration.race_id)
        .join(Order, Order.id == Registration.order_id)
        .where(*conditions)
        .order_by(Race.starts_at, Registration.id)).all())


def tickets_of(session: Session, profile_id: uuid.UUID) -> list[Row]:
    """Every ticket this person bought or runs on (one moved into their account), soonest race first."""
    return ticket_rows(session, or_(Order.buyer_id == profile_id, Registration.runner_profile_id == profile_id),
                       Order.status.in_([OrderStatus.PAID, OrderStatus.REFUNDED]),
                       Registration.ticket_code.is_not(None))


@dataclass(frozen=True)
class BoughtOrder:
    order: Order
    race: Race
    tickets: list[Row]  # (Registration, TicketType, Race, Order), those with a ticket code


def orders_of(session: Session, profile_id: uuid.UUID, *, limit: int,
              after: tuple[datetime, uuid.UUID] | None = None) -> tuple[list[BoughtOrder], bool]:
    """This buyer's orders, newest first, `limit` of them after the order `after` (created, id); and whether
    more follow. Two queries."""
    query = (select(Order, Race).join(Race, Race.id == Order.race_id)
             .where(Order.buyer_id == profile_id, Order.kind == OrderKind.TICKETS,
                    Order.status.in_(SHOWN_ORDER_STATUSES))
             .order_by(Order.created_at.desc(), Order.id.desc()))
    if after:
        query = query.where(or_(Order.created_at < after[0], and_(Order.created_at == after[0], Order.id < after[1])))
    rows = list(session.execute(query.limit(limit + 1)).all())
    tickets = defaultdict(list)
    if rows[:limit]:
        for row in ticket_rows(session, Registration.order_id.in_([order.id for order, _ in rows[:limit]]),
                               Registration.ticket_code.is_not(None)):
            tickets[row.Order.id].append(row)
    return [BoughtOrder(order, race, tickets[order.id]) for order, race in rows[:limit]], len(rows) > limit
