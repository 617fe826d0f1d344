"""On real Postgres: spots freed (refunds, a capacity raise) while the offer job runs in several workers at
once, offers are accepted, reserved and paid in parallel, and walk-ins try to check out. Never oversold,
and no walk-in gets a spot while people wait."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from extensions import db as database
from models import Order, OrderStatus, Registration, TicketType, WaitlistEntry, WaitlistStatus
from services.cart import CartOwner
from services.checkout import SoldOut, reserve
from services.fulfillment import Payment, fulfill
from services.inventory import holding_spot, offer_holding, recount
from services.waitlist import accept
from services.waitlist_offers import run_offers
from tests.factories import make_cart, make_profile
from tests.waitlist_factories import fill_runners, in_line, sold_out_race

CAPACITY, RAISED_BY, PEOPLE = 10, 3, 20


def in_parallel(app, engine, work: list) -> list:
    """Run each (function, argument) in its own thread and connection, all starting together; their results."""
    barrier = threading.Barrier(len(work))
    results: list = [None] * len(work)

    def run(index, function, argument):
        with app.app_context(), Session(engine) as session:
            barrier.wait()
            results[index] = function(session, argument)

    threads = [threading.Thread(target=run, args=(i, f, a)) for i, (f, a) in enumerate(work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def holding(session, ticket_type_id, now) -> int:
    """Spots held right now: tickets paid or in checkout, and live waitlist offers."""
    tickets = session.scalar(select(func.count(Registration.id)).join(Order, Order.id == Registration.order_id)
                             .where(Registration.ticket_type_id == ticket_type_id, holding_spot(now)))
    offers = session.scalar(select(func.coalesce(func.sum(WaitlistEntry.offered_spots), 0))
                            .where(WaitlistEntry.ticket_type_id == ticket_type_id, offer_holding(now)))
    return tickets + offers


@pytest.mark.postgres
def test_spots_freed_while_offers_are_accepted_and_paid_in_parallel_never_exceed_capacity(app, db):
    now = datetime.now(UTC)
    race, ten_k, orders = sold_out_race(db, capacity=CAPACITY)
    people = {in_line(db, race, ten_k, now.replace(microsecond=i), email=f"wait{i}@example.com").id: make_profile(db).id
              for i in range(PEOPLE)}
    walk_ins = [make_cart(db, race, {ten_k: 1}).id for _ in range(5)]
    refundable = [db.session.scalar(select(Registration.id).where(Registration.order_id == o.id)) for o in orders]
    engine = database.engine

    def refund(session, registration_id):
        session.execute(update(Registration).where(Registration.id == registration_id).values(refunded_at=now))
        recount(session, [ten_k.id])  # as a refund keeps the stored count, under the ticket type's lock
        session.commit()

    def raise_capacity(session, _):
        session.execute(update(TicketType).where(TicketType.id == ten_k.id).values(capacity=TicketType.capacity + RAISED_BY))
        session.commit()

    def offers(session, _):
        return run_offers(session, now).offered

    def walk_in(session, order_id):
        try:
            reserve(session, session.get(Order, order_id), now)
            return "reserved"
        except SoldOut:
            return "sold out"

    def take_offer(session, entry_id):
        entry = session.get(WaitlistEntry, entry_id)
        if entry.status != WaitlistStatus.OFFERED:
            return None
        order = accept(session, entry, CartOwner(profile_id=people[entry_id]), now)
        fill_runners(session, order)
        try:
            reserve(session, session.get(Order, order.id), now)
        except SoldOut:
            return "sold out"
        fulfill(session, order.id, Payment(order.total, "USD", f"pi_{order.id.hex[:12]}"), now)
        session.commit()
        return "paid"

    # Round 1: eight tickets refunded and the capacity raised while three workers run the offer job.
    in_parallel(app, engine, [(refund, r) for r in refundable[:8]] + [(raise_capacity, None)] + [(offers, None)] * 3)
    with app.app_context(), Session(engine) as session:
        run_offers(session, now)   # whatever freed after the last job's look is offered now
        assert holding(session, ten_k.id, now) == CAPACITY + RAISED_BY
        offered = list(session.scalars(select(WaitlistEntry.id).where(WaitlistEntry.status == WaitlistStatus.OFFERED)))
    assert len(offered) == 8 + RAISED_BY

    # Round 2: everyone offered accepts and pays, while two more refunds land, the job runs again, and
    # walk-ins (carts filled before the sell-out) try to check out.
    work = ([(take_offer, e) for e in people] + [(refund, r) for r in refundable[8:]] + [(offers, None)] * 3
            + [(walk_in, o) for o in walk_ins])
    results = in_parallel(app, engine, work)
    assert "reserved" not in results                                   # no walk-in while people wait
    assert results.count("paid") >= len(offered)   # and maybe someone offered a spot freed during the round
    assert "sold out" not in results[:PEOPLE]      # an offer accepted in time always gets its spot
    with app.app_context(), Session(engine) as session:
        run_offers(session, now)
        assert holding(session, ten_k.id, now) == CAPACITY + RAISED_BY   # the last two refunds went to the line
        for entry_id in list(session.scalars(select(WaitlistEntry.id).where(WaitlistEntry.status == WaitlistStatus.OFFERED))):
            assert take_offer(session, entry_id) == "paid"
        paid = session.scalar(select(func.count(Registration.id)).join(Order, Order.id == Registration.order_id)
                              .where(Registration.ticket_type_id == ten_k.id, Order.status == OrderStatus.PAID,
                                     Registration.refunded_at.is_(None)))
        assert paid == CAPACITY + RAISED_BY
        assert holding(session, ten_k.id, now) == CAPACITY + RAISED_BY
