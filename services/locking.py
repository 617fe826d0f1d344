"""Row locks for the transactions that hold or free spots, always taken in the same order.

Ticket types first (by id), then the order: checkout, fulfillment, refunds and releases all
lock this way, so two of them never wait on each other in a circle. Postgres takes real row
locks (`SELECT … FOR NO KEY UPDATE` of the types, `FOR UPDATE` of the order); SQLite has none,
so a no-op UPDATE takes its database-wide write lock, which serializes writers just the same.

A ticket type is locked `FOR NO KEY UPDATE`: it excludes every other lock of this protocol (and
any write of the row) as `FOR UPDATE` would, but not the key-share lock that inserting a ticket
takes on its type for the foreign key. Adding tickets to a cart locks the cart's order and then
inserts them (services/cart.py): under `FOR UPDATE` that insert waited for a checkout holding the
type, while the checkout waited for the order, and Postgres ended one of the two as a deadlock.
Now the add goes through, and the checkout, once it has the order, finds the cart changed and
says so (services/checkout.py): it takes the order's lock in a statement of its own and reads the
tickets after it (`lock_order_before_reading`), so it sees the add's tickets.

Deleting a race takes the same two locks in the same order (services/race_editing.py). The one exception: a
payment for an order its buyer changed while the payment waited (released back to a cart, a ticket of another type
added) locks that type after the order (services/fulfillment.py, `_tickets_now`); Postgres ends such a rare circle
as a deadlock, and the payment is recorded again.
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
    if _postgres(session):  # Core: checkout runs it first in its locked part, where the ORM's overhead is every buyer's wait
        session.connection().execute(_lock_types_statement(), {"ids": ids})
    else:
        session.execute(update(TicketType).where(TicketType.id.in_(ids)).values(position=TicketType.position))


@cache
def _lock_types_statement():
    """Built once (`ids` bound at each run): checkout runs it at the head of its locked part (issue 17)."""
    return (select(TicketType.id).where(TicketType.id.in_(bindparam("ids", expanding=True)))
            .order_by(TicketType.id).with_for_update(key_share=True))


def lock_order_row(session: Session, order_id) -> None:
    """Before a statement that reads the order `FOR UPDATE`: on SQLite, which ignores that, the no-op write that
    takes its write lock instead; on Postgres nothing, the statement's own lock is the one."""
    if not _postgres(session):
        session.execute(update(Order).where(Order.id == order_id).values(status=Order.status))


def lock_order_before_reading(session: Session, order_id) -> None:
    """The order's row lock, in a statement of its own, for a transaction whose next statement reads the order's
    tickets: that statement's snapshot is then taken once the lock is held, so it sees every ticket committed by
    whoever held the order before (adding tickets to a cart locks it: services/cart.py). A statement that both
    locks the order and joins its tickets sees, after waiting for the lock, the order as its holder left it but
    the tickets as they were when it started. On SQLite the no-op write (`lock_order_row`)."""
    if _postgres(session):
        session.connection().execute(_lock_order_statement(), {"order_id": order_id})
    else:
        lock_order_row(session, order_id)


@cache
def _lock_order_statement():
    return select(Order.id).where(Order.id == bindparam("order_id")).with_for_update()


def lock_order(session: Session, order_id) -> Order | None:
    """The order, re-read under a row lock (a no-op write on SQLite)."""
    lock_order_row(session, order_id)
    return session.scalar(select(Order).where(Order.id == order_id).with_for_update()
                          .execution_options(populate_existing=True))


def lock_order_and_its_types(session: Session, order_id) -> Order | None:
    """The order under its lock, its tickets' types locked before it: for the paths that start from an
    order (refunds, and every release of a hold: the buyer back from the payment page, the sweep, Stripe's expired
    event), so they take the locks in the same order as checkout and fulfillment. The types are read before the
    locks: an order released, changed and held again with a ticket of another type in between has that type
    written after the order's lock, as `fulfillment._tickets_now` may; Postgres ends such a rare circle as a
    deadlock."""
    lock_ticket_types(session, session.scalars(select(Registration.ticket_type_id)
                                               .where(Registration.order_id == order_id)))
    return lock_order(session, order_id)
