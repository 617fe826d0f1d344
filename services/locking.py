"""Row locks for the transactions that hold or free spots, always taken in the same order.

Ticket types first (by id), then the order: checkout, fulfillment, refunds and releases all
lock this way, so two of them never wait on each other in a circle. Postgres takes real row
locks (`SELECT … FOR UPDATE`); SQLite has none, so a no-op UPDATE takes its database-wide
write lock, which serializes writers just the same.
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from sqlalchemy import bindparam, select, update
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
        session.execute(_lock_types_statement(), {"ids": ids})
    else:
        session.execute(update(TicketType).where(TicketType.id.in_(ids)).values(position=TicketType.position))


@cache
def _lock_types_statement():
    """Built once (`ids` bound at each run): checkout runs it at the head of its locked part (issue 17)."""
    return (select(TicketType.id).where(TicketType.id.in_(bindparam("ids", expanding=True)))
            .order_by(TicketType.id).with_for_update())


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


def lock_order_with_tickets(session: Session, order_id) -> tuple[Order | None, list[Registration]]:
    """`lock_order`, and the order's tickets as they are now (loaded ones refreshed), in id order: one statement.
    Checkout runs it with the ticket types locked, where each round trip adds to every queued buyer's wait."""
    if not _postgres(session):
        session.execute(update(Order).where(Order.id == order_id).values(status=Order.status))
    rows = session.execute(_order_with_tickets_statement(), {"order_id": order_id}).all()
    if not rows:
        return None, []
    return rows[0][0], [registration for _, registration in rows if registration is not None]


@cache
def _order_with_tickets_statement():
    return (select(Order, Registration).outerjoin(Registration, Registration.order_id == Order.id)
            .where(Order.id == bindparam("order_id")).order_by(Registration.id)
            .with_for_update(of=Order).execution_options(populate_existing=True))
