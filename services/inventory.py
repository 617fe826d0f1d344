"""Spots left per ticket type: capacity minus paid tickets, unexpired reservations and live waitlist offers.

The waitlist's two rules live here, beside the one they bend: an offered, unexpired waitlist spot
holds its place exactly like a pending order; and while anyone waits for a ticket type, a buyer
sees no spots left in it (a freed spot goes to the line through the offer job in
services/waitlist.py, never to a walk-in), except the spots an offer holds for their own cart.

Tickets are not counted per request: each ticket type stores `sold_count` (paid, not refunded) and `held_count`
(at the payment step: pending and not refunded, whether or not the hold has run out yet), changed by `keeping_counts`
(or, in checkout's locked part, by the statement that makes the order pending) in the same locked transaction as
whatever changes them. A hold also ends with time, with nothing written: so the rule reads the two counts, takes
off the holds that ran out and that the sweep has not released yet (the few pending orders past their end, through
their partial index), and adds the live waitlist offers: one statement whatever the race's size, and at a
registration opening none of it walks the hundreds of orders at the payment step. `flask inventory-check` compares
the stored counts with a recount, and each ticket's copy of its order's status (Registration.order_status) with
the order's.
"""
from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy import and_, bindparam, case, false, func, literal, or_, select, update
from sqlalchemy.orm import Session

from models import Order, OrderStatus, Race, Registration, TicketType, WaitlistEntry, WaitlistStatus
from models.order import hold_ran_out, holding_at
from services.locking import lock_ticket_types
from services.stored_sentences import say


def sold_for_good():
    """SQL condition: this registration holds its spot for good (paid, not refunded): what `sold_count` counts.

    An order that needs a refund (the money came for a race that had filled up) holds nothing, and an order
    paying a ticket change holds no registrations of its own.
    """
    return and_(Registration.refunded_at.is_(None), Order.status == OrderStatus.PAID)


def at_payment_step():
    """SQL condition: this registration's order is at the payment step, and it is not refunded: what `held_count`
    counts, whether or not the hold has run out (`held_for_now` is those whose hold has not)."""
    return and_(Registration.refunded_at.is_(None), Order.status == OrderStatus.PENDING)


def lapsed_at(now: datetime):
    """SQL condition: this registration is counted in `held_count` but holds no spot at `now`: its order's hold ran
    out and the sweep has not released it yet."""
    return and_(Registration.refunded_at.is_(None), hold_ran_out(now))


def held_for_now(now: datetime):
    """SQL condition: this registration is reserved at the payment step and its hold has not run out."""
    return and_(Registration.refunded_at.is_(None), holding_at(now))


def holding_spot(now: datetime):
    """SQL condition: this registration occupies a spot (paid, or reserved and not expired)."""
    return or_(sold_for_good(), held_for_now(now))


def offer_holding(now: datetime):
    """SQL condition: this waitlist entry's offer holds its `offered_spots` (offered and not expired)."""
    return and_(WaitlistEntry.status == WaitlistStatus.OFFERED, WaitlistEntry.offer_expires_at > now)


STORED_COUNTS = ("sold_count", "held_count")


def expire_stored_counts(session: Session, ids: Iterable[int]) -> None:
    """Loaded ticket types read their new stored counts from the database when next asked."""
    for type_id in ids:
        loaded = session.identity_map.get(session.identity_key(TicketType, type_id))
        if loaded is not None:
            session.expire(loaded, list(STORED_COUNTS))


def _counted_in_order(session: Session, order_id: uuid.UUID) -> dict[int, tuple[int, int]]:
    """Per ticket type id, the order's tickets that `sold_count` and `held_count` count."""
    rows = session.execute(
        select(Registration.ticket_type_id, func.count(case((sold_for_good(), 1))),
               func.count(case((at_payment_step(), 1))))
        .join(Order, Order.id == Registration.order_id)
        .where(Registration.order_id == order_id, Registration.refunded_at.is_(None),
               Order.status.in_((OrderStatus.PAID, OrderStatus.PENDING)))
        .group_by(Registration.ticket_type_id))
    return {type_id: (int(sold), int(held)) for type_id, sold, held in rows}


@contextmanager
def keeping_counts(session: Session, order_id: uuid.UUID) -> Iterator[None]:
    """Around any change to an order or its tickets (held at the payment step, released, paid, refunded, a ticket
    moved to another type): what the change did to each ticket type's `sold_count` and `held_count`, added in the
    same transaction. No commit.

    The order's tickets each count counts are counted, per type, before and after the change, and the difference
    added with `sold_count = sold_count + n`: a cost in the order's own tickets, whatever the race's size (a
    recount costs all of a big type's tickets, see `recount`), and no caller does any arithmetic. Call under the
    locks the change takes anyway (services.locking: the ticket types, then the order), so nobody changes these
    tickets between the two counts. A block inside another for the same order adds nothing: the outer one counts it.
    """
    kept = session.info.setdefault("counts_kept", set())
    if order_id in kept:
        yield
        return
    kept.add(order_id)
    try:
        before = _counted_in_order(session, order_id)
        yield
        after = _counted_in_order(session, order_id)
    finally:
        kept.discard(order_id)
    for type_id in sorted(before.keys() | after.keys()):
        (sold_before, held_before), (sold, held) = before.get(type_id, (0, 0)), after.get(type_id, (0, 0))
        if (sold, held) != (sold_before, held_before):
            session.execute(update(TicketType).where(TicketType.id == type_id)
                            .values(sold_count=TicketType.sold_count + (sold - sold_before),
                                    held_count=TicketType.held_count + (held - held_before)),
                            execution_options={"synchronize_session": False})
    expire_stored_counts(session, before.keys() | after.keys())


def counting_held(order_id):
    """The UPDATE that counts an order's tickets in their types' `held_count` as it becomes pending from a cart,
    which held nothing (`order_id`: a value or a bound parameter): checkout's locked part writes it with the order
    itself, one statement (services/checkout.py), where `keeping_counts` would count the tickets before and after.
    On Postgres, run in the same WITH as the write of the tickets' status, it reads the tickets as they were."""
    return (update(TicketType)
            .where(TicketType.id.in_(select(Registration.ticket_type_id).where(Registration.order_id == order_id)))
            .values(held_count=TicketType.held_count + (
                select(func.count(Registration.id))
                .where(Registration.order_id == order_id, Registration.ticket_type_id == TicketType.id,
                       Registration.refunded_at.is_(None))
                .scalar_subquery())))


def _recount(condition):
    """Per ticket type row: its registrations meeting `condition`, counted (correlated with ticket_types)."""
    return (select(func.count(Registration.id)).join(Order, Order.id == Registration.order_id)
            .where(Registration.ticket_type_id == TicketType.id, condition)
            .correlate(TicketType).scalar_subquery())


def _recounts() -> dict[str, object]:
    """Each stored count's recount from the registrations."""
    return {"sold_count": _recount(sold_for_good()), "held_count": _recount(at_payment_step())}


def recount(session: Session, ticket_type_ids: Iterable[int]) -> None:
    """Recount these ticket types' stored counts from all their registrations, under their locks. No commit.

    For data written in bulk (bench/seed.py, test set-up) and `flask inventory-check --fix`; the use cases
    keep the counts with `keeping_counts`. The lock comes first, in a statement of its own, so on
    Postgres the recount reads every change committed before it.
    """
    ids = sorted(set(ticket_type_ids))
    if not ids:
        return
    session.flush()
    lock_ticket_types(session, ids)
    session.execute(update(TicketType).where(TicketType.id.in_(ids)).values(_recounts()),
                    execution_options={"synchronize_session": False})
    expire_stored_counts(session, ids)


@dataclass(frozen=True)
class Drift:
    """A ticket type whose stored count (`count`: "sold_count" or "held_count") is not what its registrations say."""

    race_slug: str
    ticket_type_id: int
    ticket_type_name: str
    count: str
    stored: int
    actual: int


def count_drift(session: Session) -> list[Drift]:
    """Every stored count of a ticket type that differs from a recount, for `flask inventory-check`."""
    found = []
    for name, actual in _recounts().items():
        stored = getattr(TicketType, name)
        found.extend(session.execute(
            select(Race.slug, TicketType.position, TicketType.id, TicketType.name, literal(name), stored, actual)
            .join(Race, Race.id == TicketType.race_id)
            .where(stored != actual)))
    # By race, then as the race lists its types, sold before held.
    return [Drift(slug, type_id, type_name, name, stored, actual)
            for slug, _position, type_id, type_name, name, stored, actual in sorted(found, key=lambda row: row[:3])]


def _orders_status():
    """Per registration row: its order's status (correlated with registrations)."""
    return select(Order.status).where(Order.id == Registration.order_id).correlate(Registration).scalar_subquery()


def order_status_drift(session: Session) -> int:
    """How many registrations carry a status other than their order's (Registration.order_status), for `flask
    inventory-check`."""
    return session.scalar(select(func.count(Registration.id)).where(Registration.order_status != _orders_status()))


def copy_order_statuses(session: Session) -> int:
    """Give every registration whose copy drifted its order's status again (`flask inventory-check --fix`); returns
    how many. No commit."""
    return session.execute(update(Registration).where(Registration.order_status != _orders_status())
                           .values(order_status=_orders_status()),
                           execution_options={"synchronize_session": False}).rowcount


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


@dataclass(frozen=True)
class Held:
    """What holds spots in one ticket type right now: tickets for good, live reservations, live waitlist
    offers (and those of them held for one order's cart), and whether anyone waits."""

    tickets: int
    offers: int
    offers_for_order: int
    waiting: bool

    @property
    def taken(self) -> int:
        return self.tickets + self.offers


def lapsed_holds(now: datetime, race_id=None):
    """Per ticket type with any, the registrations `held_count` counts whose hold ran out by `now` unreleased
    (`lapsed_at`), as a subquery (`ticket_type_id`, `lapsed`) to outer-join on the ticket types: one pass over the
    few pending orders past their end (through the pending orders' own index) whatever the number of ticket types
    (the race list's dozens). `race_id` (a value or a bound parameter): only that race's, through its own pending
    orders."""
    scope = (Order.race_id == race_id,) if race_id is not None else ()
    return (select(Registration.ticket_type_id, func.count(Registration.id).label("lapsed"))
            .join(Order, Order.id == Registration.order_id).where(lapsed_at(now), *scope)
            .group_by(Registration.ticket_type_id).subquery("lapsed_holds"))


def held_columns(now: datetime, order_id: uuid.UUID | None = None, lapsed=None) -> tuple:
    """The columns of a `Held`, correlated with the ticket type's row of the enclosing SELECT: the stored
    `sold_count` and `held_count`, less the holds that ran out unreleased (through the pending orders' own index),
    plus the live waitlist offers, and whether anyone waits. For `held_counts`, and for a page that reads its
    ticket types and their availability in one statement (services/page_cache.py). `lapsed`: a `lapsed_holds`
    subquery the statement outer-joins on the ticket type, read instead of a subquery per type."""
    if lapsed is not None:
        ran_out = func.coalesce(lapsed.c.lapsed, 0)
    else:
        # Through the type's race's own pending orders past their end (ix_orders_race_pending_until): a race opening
        # elsewhere, with hundreds of buyers at the payment step, costs this count nothing; nor does this race's.
        ran_out = (select(func.count(Registration.id)).join(Order, Order.id == Registration.order_id)
                   .where(Registration.ticket_type_id == TicketType.id, Order.race_id == TicketType.race_id,
                          lapsed_at(now))
                   .correlate(TicketType).scalar_subquery())

    def offered(*conditions):
        return (select(func.coalesce(func.sum(WaitlistEntry.offered_spots), 0))
                .where(WaitlistEntry.ticket_type_id == TicketType.id, offer_holding(now), *conditions)
                .correlate(TicketType).scalar_subquery())

    waiting = (select(WaitlistEntry.id)
               .where(WaitlistEntry.ticket_type_id == TicketType.id, WaitlistEntry.status == WaitlistStatus.WAITING)
               .correlate(TicketType).exists())
    mine = offered(WaitlistEntry.order_id == order_id) if order_id is not None else literal(0)
    return TicketType.sold_count + TicketType.held_count - ran_out, offered(), mine, waiting


def held_from(tickets, offers, offers_for_order, waiting) -> Held:
    """A `Held` from the values of `held_columns`."""
    return Held(int(tickets), int(offers), int(offers_for_order), bool(waiting))


def held_counts(session: Session, ids: list[int], now: datetime,
                order_id: uuid.UUID | None = None) -> dict[int, Held]:
    """Per ticket type id, in one statement whatever the data (see `held_columns`)."""
    if not ids:
        return {}
    params = {"now": now, "ids": ids} | ({"order_id": order_id} if order_id is not None else {})
    rows = session.execute(_held_counts_statement(order_id is not None), params)
    return {type_id: held_from(*values) for type_id, *values in rows}


@cache
def _held_counts_statement(for_order: bool):
    """`held_counts`' statement, built once (its values are bound: `now`, `ids`, `order_id`): building it took
    as long as running it, on every cart page and race page (issue 17)."""
    order_id = bindparam("order_id") if for_order else None
    return (select(TicketType.id, *held_columns(bindparam("now"), order_id))
            .where(TicketType.id.in_(bindparam("ids", expanding=True))))


def taken_counts(session: Session, ticket_type_ids: Iterable[int], now: datetime) -> dict[int, int]:
    """Spots taken per ticket type id: tickets holding a spot plus the spots live waitlist offers hold."""
    held = held_counts(session, list(ticket_type_ids), now)
    return {type_id: h.taken for type_id, h in held.items() if h.taken}


def free_spots(session: Session, ticket_types: Iterable[TicketType], now: datetime) -> dict[int, int]:
    """Spots nobody holds, per ticket type id, whoever waits: what the waitlist's offers hand out."""
    types = list(ticket_types)
    taken = taken_counts(session, (t.id for t in types), now)
    return {t.id: max(t.capacity - taken.get(t.id, 0), 0) for t in types}


def left_for_buyer(ticket_type: TicketType, held: Held) -> int:
    """Spots left in one ticket type for a buyer (never negative): none while people wait for it, except
    those a waitlist offer holds for the buyer's own cart."""
    mine = held.offers_for_order
    free = ticket_type.capacity - held.taken + mine
    return max(min(free, mine) if held.waiting else free, 0)


def spots_left(session: Session, ticket_types: Iterable[TicketType], now: datetime, *,
               order_id: uuid.UUID | None = None) -> dict[int, int]:
    """Spots left per ticket type id for a buyer (`left_for_buyer`), `order_id` being the buyer's cart.
    One statement."""
    types = list(ticket_types)
    held = held_counts(session, [t.id for t in types], now, order_id)
    return {t.id: left_for_buyer(t, held[t.id]) for t in types}


def spots_problem(ticket_type: TicketType, wanted: int, left: int) -> str | None:
    """The one wording for "not enough spots": the cart, the race page and checkout all say this."""
    if wanted <= left:
        return None
    if left <= 0:
        return say("sold_out", name=ticket_type.name)
    return say("spots_left", name=ticket_type.name, num=left)
