"""What a buyer saw at checkout, a nearest-rank percentile, and the ledger: what the database says after
a spike (bench/spike.py) about the orders, the tickets and the spots left.
"""
from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Order, OrderStatus, Registration, TicketType
from services import inventory


@dataclass
class Attempt:
    checkout_status: int | None = None
    checkout_ms: float | None = None
    outcome: str = ""            # reached stripe | sold out | error
    detail: str = ""             # the Checkout Session's id, or what went wrong


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil
    return sorted_values[int(rank) - 1]


@dataclass(frozen=True)
class Ledger:
    """What the database says after a spike."""

    paid_orders: int
    tickets: int
    pending_orders: int
    sold_in_race: int
    capacity: int
    spots_left: int


def ledger(session: Session, ticket_type_id: int, order_ids: list[str], now) -> Ledger:
    ids = [uuid.UUID(i) for i in order_ids]
    statuses = Counter(dict(session.execute(
        select(Order.status, func.count()).where(Order.id.in_(ids)).group_by(Order.status)).all()))
    tickets = session.scalar(select(func.count(Registration.id)).join(Order, Order.id == Registration.order_id)
                             .where(Order.id.in_(ids), Order.status == OrderStatus.PAID,
                                    Registration.ticket_code.is_not(None)))
    ticket_type = session.get(TicketType, ticket_type_id)
    sold = session.scalar(select(func.count(Registration.id)).join(Order, Order.id == Registration.order_id)
                          .where(Registration.ticket_type_id == ticket_type_id, Order.status == OrderStatus.PAID))
    left = inventory.spots_left(session, [ticket_type], now)[ticket_type_id]
    return Ledger(paid_orders=statuses.get(OrderStatus.PAID, 0), tickets=tickets,
                  pending_orders=statuses.get(OrderStatus.PENDING, 0), sold_in_race=sold,
                  capacity=ticket_type.capacity, spots_left=left)
