"""Row locks for the transactions that hold or free spots, always taken in the same order.

Ticket types first (by id), then the order: checkout, fulfillment, refunds and releases all
lock this way, so two of them never wait on each other in a circle. Postgres takes real row
locks (`SELECT … FOR UPDATE`); SQLite has none, so a no-op UPDATE takes its database-wide
write lock, which serializes writers just the same.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import Order, Registration, TicketType


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lock_ticket_types(session: Session, ticket_type_ids: Iterable[int]) -> None:
    """Serialize everyone reserving, fulfilling or releasing these ticket types until this transaction ends."""
    ids = sorted(set(ticket_type_ids))
    if not ids:
        return
    if _postgres(session):
        session.execute(select(TicketType.id).where(TicketType.id.in_(ids)).order_by(TicketType.id).with_for_update())
    else:
        session.execute(update(TicketType).where(TicketType.id.in_(ids)).values(position=TicketType.position))


def lock_order(session: Session, order_id) -> Order | None:
    """The order, re-read under a row lock (a no-op write on SQLite)."""
    if not _postgres(session):
        session.execute(update(Order).where(Order.id == order_id).values(status=Order.status))
    return session.scalar(select(Order).where(Order.id == order_id).with_for_update()
                          .execution_options(populate_existing=True))


def lock_order_and_its_types(session: Session, order_id) -> Order | None:
    """The order under its lock, its tickets' types locked before it: for the paths that start from an
    order (refunds), so they take the locks in the same order as checkout and fulfillment."""
    lock_ticket_types(session, session.scalars(select(Registration.ticket_type_id)
                                               .where(Registration.order_id == order_id)))
    return lock_order(session, order_id)
