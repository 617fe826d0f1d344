"""Each ticket type's stored `sold_count` equals a count of its paid, unrefunded tickets after every kind of
change, made the way the app makes it; the spots rule reads it; `flask inventory-check` finds and fixes drift.
The last test pays and refunds in parallel on real Postgres."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from extensions import db as database
from models import Order, OrderStatus, Profile, Registration, TicketType, WaitlistEntry
from services.cart import CartOwner
from services.checkout import SoldOut, cancel_checkout, expire_reservations, reserve, start_checkout
from services.fulfillment import Payment, fulfill, pay_on_test_gateway
from services.inventory import holding_spot, offer_holding, spots_left, taken_counts
from services.payments import PaymentUnavailable, gateway_for
from services.refunds import request_refund
from services.registration_changes.start import Actor, start_distance_change, start_transfer
from services.waitlist import accept
from services.waitlist_offers import run_offers
from tests.change_factories import buyer_actor, make_change_race, paid_ticket, ticket_type, urls
from tests.factories import login, make_cart, make_code, make_order, make_profile, make_race
from tests.registrant_factories import many_paid_runners
from tests.test_payments import deliver, pay, stripe_app, stripe_server  # noqa: F401  (fixtures)
from tests.test_registration_changes import BO
from tests.waitlist_factories import fill_runners, in_line, sold_out_race


def now() -> datetime:
    return datetime.now(UTC)


def sold(db, race) -> dict[str, int]:
    """The stored sold counts of the race's ticket types by name, after checking both stored counts (sold, and held
    at the payment step) of every type in the database against a count of its registrations made here, in Python,
    from the rows themselves."""
    db.session.expire_all()
    stored = {type_id: (sold_count, held_count) for type_id, sold_count, held_count
              in db.session.execute(select(TicketType.id, TicketType.sold_count, TicketType.held_count))}
    rows = db.session.execute(select(Registration.ticket_type_id, Order.status, Registration.refunded_at)
                              .join(Order, Order.id == Registration.order_id)).all()
    actual = Counter(type_id for type_id, status, refunded_at in rows
                     if status == OrderStatus.PAID and refunded_at is None)
    pending = Counter(type_id for type_id, status, refunded_at in rows
                      if status == OrderStatus.PENDING and refunded_at is None)
    assert stored == {type_id: (actual[type_id], pending[type_id]) for type_id in stored}
    stored = {type_id: sold_count for type_id, (sold_count, _held) in stored.items()}
    names = dict(db.session.execute(select(TicketType.id, TicketType.name).where(TicketType.race_id == race.id)).all())
    return {name: stored[type_id] for type_id, name in names.items()}


def holding_counted(db, race, at: datetime) -> dict[str, int]:
    """Spots held per type name, counted over every registration and offer (the rule before the stored counts)."""
    types = dict(db.session.execute(select(TicketType.id, TicketType.name).where(TicketType.race_id == race.id)).all())
    tickets = dict(db.session.execute(
        select(Registration.ticket_type_id, func.count(Registration.id)).join(Order, Order.id == Registration.order_id)
        .where(Registration.race_id == race.id, holding_spot(at)).group_by(Registration.ticket_type_id)).all())
    offers = dict(db.session.execute(
        select(WaitlistEntry.ticket_type_id, func.sum(WaitlistEntry.offered_spots))
        .where(WaitlistEntry.race_id == race.id, offer_holding(at)).group_by(WaitlistEntry.ticket_type_id)).all())
    return {name: tickets.get(type_id, 0) + int(offers.get(type_id, 0)) for type_id, name in types.items()}


def assert_rule_agrees(db, race, at: datetime) -> None:
    """The spots rule (stored counts plus live holds) says what a count over all the rows says."""
    types = list(db.session.scalars(select(TicketType).where(TicketType.race_id == race.id)))
    taken = taken_counts(db.session, [t.id for t in types], at)
    assert {t.name: taken.get(t.id, 0) for t in types} == holding_counted(db, race, at)


def refund_with_the_test_gateway(db, app, order_id, registration_id=None):
    organizer = make_profile(db)
    return request_refund(db.session, gateway_for(app), order_id, registration_id, organizer, now())


def tickets(db, order_id) -> list[Registration]:
    return list(db.session.scalars(select(Registration).where(Registration.order_id == order_id).order_by(Registration.id)))


# --- reserve, pay, expire, cancel, refund ----------------------------------------------------------

def test_reserving_holds_spots_without_selling_them_and_paying_sells_them(db, app):
    race = make_race(db, tickets=[("10K", 4500, 10), ("5K", 3000, 10)])
    ten_k, five_k = race.ticket_types
    order = make_cart(db, race, {ten_k: 2, five_k: 1})
    reserve(db.session, db.session.get(Order, order.id), now())
    assert sold(db, race) == {"10K": 0, "5K": 0}
    assert_rule_agrees(db, race, now())
    assert spots_left(db.session, [ten_k, five_k], now()) == {ten_k.id: 8, five_k.id: 9}

    pay_on_test_gateway(db.session, db.session.get(Order, order.id), now())
    assert sold(db, race) == {"10K": 2, "5K": 1}
    assert_rule_agrees(db, race, now())
    assert spots_left(db.session, [ten_k, five_k], now()) == {ten_k.id: 8, five_k.id: 9}


def test_an_expired_or_cancelled_reservation_sold_nothing_and_frees_its_spots(db, app):
    race = make_race(db, tickets=[("10K", 4500, 10)])
    ten_k = race.ticket_types[0]
    expiring, leaving = make_cart(db, race, {ten_k: 2}), make_cart(db, race, {ten_k: 1})
    for order in (expiring, leaving):
        reserve(db.session, db.session.get(Order, order.id), now())
    cancel_checkout(db.session, gateway_for(app), db.session.get(Order, leaving.id))
    assert sold(db, race) == {"10K": 0}
    assert spots_left(db.session, [ten_k], now())[ten_k.id] == 8
    later = now() + timedelta(hours=1)
    assert expire_reservations(db.session, gateway_for(app), later) == 1
    assert sold(db, race) == {"10K": 0}
    assert_rule_agrees(db, race, later)
    assert spots_left(db.session, [ten_k], later)[ten_k.id] == 10


def test_a_hold_that_ran_out_frees_its_spots_before_the_sweep_releases_it(db, app):
    """The stored held count still counts it until the sweep; the rule takes it off from the moment it ends, and a
    payment that comes for it then takes a spot only if one is free."""
    race = make_race(db, tickets=[("10K", 4500, 3)])
    ten_k = race.ticket_types[0]
    lapsing, other = make_cart(db, race, {ten_k: 2}), make_cart(db, race, {ten_k: 1})
    reserve(db.session, db.session.get(Order, lapsing.id), now())
    ends = db.session.get(Order, lapsing.id).reserved_until
    assert spots_left(db.session, [ten_k], ends - timedelta(seconds=1))[ten_k.id] == 1
    assert spots_left(db.session, [ten_k], ends)[ten_k.id] == 3   # ran out: nobody has swept it yet
    assert db.session.get(TicketType, ten_k.id).held_count == 2
    assert_rule_agrees(db, race, ends)

    reserve(db.session, db.session.get(Order, other.id), ends)    # takes one of the spots it freed
    assert spots_left(db.session, [ten_k], ends)[ten_k.id] == 2
    late = fulfill(db.session, lapsing.id, Payment(lapsing.total, "USD", "pi_late"), ends)
    db.session.commit()
    assert late.result == "paid"                                    # two spots were still free
    assert sold(db, race) == {"10K": 2}
    assert spots_left(db.session, [ten_k], ends)[ten_k.id] == 0
    assert_rule_agrees(db, race, ends)


def test_a_payment_page_that_cannot_open_gives_the_hold_back(db, app, monkeypatch):
    race = make_race(db, tickets=[("10K", 4500, 3)])
    ten_k = race.ticket_types[0]
    order = make_cart(db, race, {ten_k: 2})
    gateway = gateway_for(app)

    def unavailable(request):
        raise PaymentUnavailable("down")

    monkeypatch.setattr(gateway, "open_checkout", unavailable)
    with current_app.test_request_context(), pytest.raises(PaymentUnavailable):
        start_checkout(db.session, db.session.get(Order, order.id), gateway, now(), customer_email="a@example.com",
                       success_url="http://localhost/done", cancel_url="http://localhost/cart")
    assert db.session.get(Order, order.id, populate_existing=True).status == OrderStatus.CART
    assert sold(db, race) == {"10K": 0}
    assert spots_left(db.session, [ten_k], now())[ten_k.id] == 3


def test_a_free_order_is_sold_at_once(db, app):
    race = make_race(db, tickets=[("10K", 4500, 10)])
    order = make_cart(db, race, {race.ticket_types[0]: 3}, code=make_code(db, race, code="COMP", percent_off=100))
    with current_app.test_request_context():
        start_checkout(db.session, db.session.get(Order, order.id), gateway_for(app), now(),
                       customer_email="ann@example.com", success_url="http://localhost/done",
                       cancel_url="http://localhost/cart")
    assert db.session.get(Order, order.id, populate_existing=True).status == OrderStatus.PAID
    assert sold(db, race) == {"10K": 3}


def test_refunding_one_ticket_then_the_rest_of_the_order_gives_the_spots_back(db, app):
    race = make_race(db, tickets=[("10K", 4500, 10), ("5K", 3000, 10)])
    ten_k, five_k = race.ticket_types
    order = make_cart(db, race, {ten_k: 2, five_k: 1})
    reserve(db.session, db.session.get(Order, order.id), now())
    pay_on_test_gateway(db.session, db.session.get(Order, order.id), now())
    first = tickets(db, order.id)[0]

    refund_with_the_test_gateway(db, app, order.id, first.id)
    assert sold(db, race) == {"10K": 1, "5K": 1}
    refund_with_the_test_gateway(db, app, order.id)
    assert db.session.get(Order, order.id, populate_existing=True).status == OrderStatus.REFUNDED
    assert sold(db, race) == {"10K": 0, "5K": 0}
    assert_rule_agrees(db, race, now())


def test_money_for_a_race_that_filled_up_sells_nothing_and_its_refund_changes_nothing(db, app):
    race = make_race(db, tickets=[("10K", 4500, 1)])
    ten_k = race.ticket_types[0]
    late = make_cart(db, race, {ten_k: 1})
    reserve(db.session, db.session.get(Order, late.id), now())
    expire_reservations(db.session, gateway_for(app), now() + timedelta(hours=1))
    taker = make_cart(db, race, {ten_k: 1})
    reserve(db.session, db.session.get(Order, taker.id), now())
    pay_on_test_gateway(db.session, db.session.get(Order, taker.id), now())

    outcome = fulfill(db.session, late.id, Payment(late.total, "USD", "pi_late"), now())
    db.session.commit()
    assert outcome.result == "needs_refund"
    assert sold(db, race) == {"10K": 1}
    refund_with_the_test_gateway(db, app, late.id)
    assert db.session.get(Order, late.id, populate_existing=True).status == OrderStatus.REFUNDED
    assert sold(db, race) == {"10K": 1}


def test_a_payment_through_the_stripe_webhook_and_a_refund_from_the_dashboard(stripe_app, stripe_server, client,  # noqa: F811
                                                                              db):
    race = make_race(db, tickets=[("10K", 4500, 10)])
    buyer = make_profile(db)
    order = make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer)
    buyer_client = stripe_app.test_client()
    login(buyer_client, buyer)
    assert pay(buyer_client, order).status_code == 303
    assert sold(db, race) == {"10K": 0}
    session_id = db.session.get(Order, order.id, populate_existing=True).stripe_session_id
    completed = stripe_server.pay_session(session_id)
    assert deliver(client, completed).json["outcome"] == "paid"
    assert sold(db, race) == {"10K": 2}
    assert deliver(client, completed).json["outcome"] == "duplicate"
    assert sold(db, race) == {"10K": 2}

    intent = db.session.get(Order, order.id, populate_existing=True).payment_intent_id
    assert deliver(client, stripe_server.refund_event(intent)).json["outcome"] == "refunded"  # all of it, in Stripe
    assert sold(db, race) == {"10K": 0}


# --- transfers and distance changes ----------------------------------------------------------------

def test_a_transfer_keeps_the_spot_where_it_is(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    with current_app.test_request_context():
        start_transfer(db.session, gateway_for(app), ticket, BO, buyer_actor(db, ticket), now(), urls)
    assert sold(db, race) == {"10K": 1, "Half": 0, "5K": 0}


def test_a_cheaper_distance_moves_the_spot_at_once_and_a_dearer_one_once_paid(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    with current_app.test_request_context():
        cheaper = start_distance_change(db.session, gateway_for(app), ticket, ticket_type(db, race, "5K").id,
                                        buyer_actor(db, ticket), now(), urls)
    assert cheaper.payment_url is None
    assert sold(db, race) == {"10K": 0, "Half": 0, "5K": 1}

    ticket = db.session.get(Registration, ticket.id)
    with current_app.test_request_context():
        dearer = start_distance_change(db.session, gateway_for(app), ticket, ticket_type(db, race, "Half").id,
                                       buyer_actor(db, ticket), now(), urls)
    assert dearer.payment_url is not None
    assert sold(db, race) == {"10K": 0, "Half": 0, "5K": 1}   # not moved before its difference is paid
    pay_on_test_gateway(db.session, db.session.get(Order, dearer.change.order_id), now())
    assert sold(db, race) == {"10K": 0, "Half": 1, "5K": 0}
    assert_rule_agrees(db, race, now())


def test_an_organizer_moving_a_ticket_and_refunding_it_keeps_the_counts(db, app):
    race = make_change_race(db)
    ticket, other = paid_ticket(db, race), paid_ticket(db, race, buyer=make_profile(db))
    organizer = db.session.get(Profile, race.organizer_id)
    with current_app.test_request_context():
        start_distance_change(db.session, gateway_for(app), ticket, ticket_type(db, race, "Half").id,
                              Actor(organizer.id, organizer.email, by_organizer=True), now(), urls)
    assert sold(db, race) == {"10K": 1, "Half": 1, "5K": 0}
    request_refund(db.session, gateway_for(app), other.order_id, other.id, organizer, now())
    assert sold(db, race) == {"10K": 0, "Half": 1, "5K": 0}


# --- the waitlist ----------------------------------------------------------------------------------

def test_a_waitlist_offer_accepted_and_paid_is_sold_like_any_ticket(db, app):
    at = now()
    race, ten_k, orders = sold_out_race(db, capacity=2)
    assert sold(db, race) == {"10K": 2}
    ann = in_line(db, race, ten_k, at, email="ann@example.com")
    refund_with_the_test_gateway(db, app, orders[0].id)
    assert sold(db, race) == {"10K": 1}
    assert run_offers(db.session, at).offered == 1
    assert_rule_agrees(db, race, at)

    order = accept(db.session, db.session.get(WaitlistEntry, ann.id), CartOwner(profile_id=make_profile(db).id), at)
    fill_runners(db.session, order)
    reserve(db.session, db.session.get(Order, order.id), at)
    assert sold(db, race) == {"10K": 1}
    assert_rule_agrees(db, race, at)
    pay_on_test_gateway(db.session, db.session.get(Order, order.id), at)
    assert sold(db, race) == {"10K": 2}
    assert_rule_agrees(db, race, at)
    assert spots_left(db.session, [ten_k], at)[ten_k.id] == 0


# --- flask inventory-check -------------------------------------------------------------------------

def test_inventory_check_is_quiet_when_the_counts_match(db, runner):
    race = make_race(db, tickets=[("10K", 4500, 10)])
    many_paid_runners(db, race, race.ticket_types[0], 3)
    result = runner.invoke(args=["inventory-check"])
    assert result.exit_code == 0, result.output
    assert "matches" in result.output


def test_inventory_check_finds_drift_and_fix_rewrites_it(db, runner):
    race = make_race(db, slug="lake-run", tickets=[("10K", 4500, 10), ("5K", 3000, 10)])
    ten_k, five_k = race.ticket_types
    many_paid_runners(db, race, ten_k, 3)
    db.session.execute(update(TicketType).where(TicketType.id == ten_k.id).values(sold_count=7))  # a drift
    db.session.commit()

    found = runner.invoke(args=["inventory-check"])
    assert found.exit_code == 1
    assert f"lake-run / 10K (ticket type {ten_k.id}): stored 7, actual 3" in found.output
    assert "5K" not in found.output
    assert spots_left(db.session, [ten_k], now())[ten_k.id] == 3   # the rule trusts the stored count

    fixed = runner.invoke(args=["inventory-check", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert "Fixed 1 ticket type(s)." in fixed.output
    assert sold(db, race) == {"10K": 3, "5K": 0}
    assert runner.invoke(args=["inventory-check"]).exit_code == 0


def test_inventory_check_finds_a_drifting_held_count_and_fix_rewrites_it(db, runner):
    race = make_race(db, slug="lake-run", tickets=[("10K", 4500, 10)])
    ten_k = race.ticket_types[0]
    make_order(db, race, ten_k, 2, status=OrderStatus.PENDING, reserved_until=now() + timedelta(minutes=30))
    db.session.execute(update(TicketType).where(TicketType.id == ten_k.id).values(held_count=5))  # a drift
    db.session.commit()

    found = runner.invoke(args=["inventory-check"])
    assert found.exit_code == 1
    assert f"lake-run / 10K (ticket type {ten_k.id}): stored 5, actual 2 (held at the payment step)" in found.output
    assert spots_left(db.session, [ten_k], now())[ten_k.id] == 5   # the rule trusts the stored count

    fixed = runner.invoke(args=["inventory-check", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert "Fixed 1 ticket type(s)." in fixed.output
    assert sold(db, race) == {"10K": 0}
    assert spots_left(db.session, [ten_k], now())[ten_k.id] == 8


# --- on Postgres, in parallel ----------------------------------------------------------------------

def _reserved(session: Session, order_id, at: datetime, results: dict) -> bool:
    """Checkout's hold for the order; False, with "sold out" in `results`, when it is refused as sold out."""
    try:
        reserve(session, session.get(Order, order_id), at)
    except SoldOut:
        results[order_id] = "sold out"
        return False
    return True

@pytest.mark.postgres
def test_parallel_checkouts_payments_and_refunds_leave_the_stored_count_equal_to_the_tickets(app, db):
    at = now()
    race = make_race(db, tickets=[("10K", 4500, 12), ("5K", 3000, 50)])
    ten_k, five_k = race.ticket_types
    paid_before = []
    for _ in range(4):
        order = make_cart(db, race, {ten_k: 1, five_k: 1})
        reserve(db.session, db.session.get(Order, order.id), at)
        pay_on_test_gateway(db.session, db.session.get(Order, order.id), at)
        paid_before.append(order.id)
    buyers = [make_cart(db, race, {ten_k: 1, five_k: 1}).id for _ in range(16)]
    organizer = make_profile(db).id
    with app.app_context():
        engine, gateway = database.engine, gateway_for(app)
    barrier = threading.Barrier(len(buyers) + len(paid_before))
    results: dict = {}

    def checkout_and_pay(order_id):
        with app.app_context(), Session(engine) as session:
            barrier.wait()
            if not _reserved(session, order_id, at, results):
                return
            pay_on_test_gateway(session, session.get(Order, order_id), at)
            results[order_id] = "paid"

    def refund(order_id):
        with app.app_context(), Session(engine) as session:
            barrier.wait()
            request_refund(session, gateway, order_id, None, session.get(Profile, organizer), at)
            results[order_id] = "refunded"

    threads = ([threading.Thread(target=checkout_and_pay, args=(o,)) for o in buyers]
               + [threading.Thread(target=refund, args=(o,)) for o in paid_before])
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert list(results.values()).count("refunded") == len(paid_before)
    paid = list(results.values()).count("paid")
    assert 12 - len(paid_before) <= paid <= 12 and paid + list(results.values()).count("sold out") == len(buyers)
    counts = sold(db, race)
    assert counts == {"10K": paid, "5K": paid}
    assert spots_left(db.session, [ten_k], at)[ten_k.id] == 12 - paid


@pytest.mark.postgres
def test_parallel_holds_paid_cancelled_and_swept_leave_the_held_count_equal_to_the_tickets(app, db):
    """Holds made, paid (some before their end, some after it, racing the sweep), cancelled and swept, all at once:
    the stored counts are a count of the tickets whatever the order, and no more than the capacity is sold."""
    at = now()
    later = at + timedelta(hours=1)  # past every hold made at `at`
    race = make_race(db, tickets=[("10K", 4500, 10), ("5K", 3000, 50)])
    ten_k, five_k = race.ticket_types
    buyers = [make_cart(db, race, {ten_k: 1, five_k: 1}).id for _ in range(16)]
    with app.app_context():
        engine, gateway = database.engine, gateway_for(app)
    barrier = threading.Barrier(len(buyers) + 2)
    results: dict = {}

    def buyer(n, order_id):
        with app.app_context(), Session(engine) as session:
            barrier.wait()
            if not _reserved(session, order_id, at, results):
                return
            order = session.get(Order, order_id)
            if n % 4 == 0:  # pays in time
                pay_on_test_gateway(session, order, at)
            elif n % 4 == 1:  # comes back without paying
                cancel_checkout(session, gateway, order)
            elif n % 4 == 2:  # pays after the hold ran out, racing the sweep
                fulfill(session, order_id, Payment(order.total, order.currency, f"pi_late_{n}"), later)
                session.commit()
            results[order_id] = "done"  # n % 4 == 3: walks away; the sweep releases the hold

    def sweeper():
        with app.app_context(), Session(engine) as session:
            barrier.wait()
            for _ in range(20):
                expire_reservations(session, gateway, later)

    threads = ([threading.Thread(target=buyer, args=(n, o)) for n, o in enumerate(buyers)]
               + [threading.Thread(target=sweeper) for _ in range(2)])
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert len(results) == len(buyers)
    counts = sold(db, race)  # both stored counts equal the tickets
    assert counts["10K"] <= 10 and counts["10K"] == counts["5K"]
    for moment in (at, later):
        assert_rule_agrees(db, race, moment)
    expire_reservations(db.session, gateway, later)
    sold(db, race)
    assert db.session.scalar(select(func.sum(TicketType.held_count)).where(TicketType.race_id == race.id)) == 0


# --- the migration ---------------------------------------------------------------------------------

def test_the_migration_fills_the_counts_from_the_tickets_already_sold(app, db):
    from alembic.script import ScriptDirectory
    from flask_migrate import downgrade, upgrade

    race = make_race(db, tickets=[("10K", 4500, 10), ("5K", 3000, 10), ("Kids", 1000, 10)])
    ten_k, five_k, _ = race.ticket_types
    many_paid_runners(db, race, ten_k, 3)
    refunded = make_cart(db, race, {ten_k: 1, five_k: 2})
    reserve(db.session, db.session.get(Order, refunded.id), now())
    pay_on_test_gateway(db.session, db.session.get(Order, refunded.id), now())
    refund_with_the_test_gateway(db, app, refunded.id, tickets(db, refunded.id)[1].id)   # one 5K back
    held = make_cart(db, race, {five_k: 4})
    reserve(db.session, db.session.get(Order, held.id), now())                            # held, not sold
    expected = sold(db, race)
    assert expected == {"10K": 4, "5K": 1, "Kids": 0}
    db.session.remove()

    with app.app_context():
        scripts = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
        downgrade(revision=scripts.get_revision("perf_sold_counts").down_revision)
        upgrade(revision="heads")
        database.engine.dispose()
    assert sold(db, race) == expected


@pytest.mark.parametrize("write", ["insert", "update status", "update end"])
def test_the_database_refuses_a_pending_order_without_an_end(db, write):
    """A pending order without `reserved_until` would hold its spots for ever (the rule takes a hold off only once
    its end has passed): Postgres's check and SQLite's triggers refuse it (perf_pending_end_sqlite)."""
    race, buyer = make_race(db, tickets=[("10K", 4500, 10)]), make_profile(db)
    order = {"race_id": race.id, "buyer_id": buyer.id, "currency": "USD"}  # no tickets: no stored count moves
    cart = Order(**order, status=OrderStatus.CART)
    held = Order(**order, status=OrderStatus.PENDING, reserved_until=now())
    db.session.add_all([cart, held])
    db.session.commit()
    statement = {
        "insert": Order.__table__.insert().values(**order, status=OrderStatus.PENDING),
        "update status": update(Order).where(Order.id == cart.id).values(status=OrderStatus.PENDING),
        "update end": update(Order).where(Order.id == held.id).values(reserved_until=None),
    }[write]
    with pytest.raises(IntegrityError, match="pending_until_an_end"):
        db.session.execute(statement)
    db.session.rollback()
    # What the app writes passes: a hold with its end; the end cleared as the order leaves the payment step.
    db.session.execute(update(Order).where(Order.id == cart.id).values(status=OrderStatus.PENDING,
                                                                       reserved_until=now()))
    db.session.execute(update(Order).where(Order.id == held.id).values(status=OrderStatus.EXPIRED,
                                                                       reserved_until=None))
    db.session.commit()


def test_inventory_check_finds_a_ticket_whose_status_is_not_its_orders_and_fix_copies_it(db, runner):
    race = make_race(db, slug="lake-run", tickets=[("10K", 4500, 10)])
    many_paid_runners(db, race, race.ticket_types[0], 3)
    stray = db.session.scalars(select(Registration.id).order_by(Registration.id)).first()
    db.session.execute(update(Registration).where(Registration.id == stray).values(order_status=OrderStatus.PENDING))
    db.session.commit()

    found = runner.invoke(args=["inventory-check"])
    assert found.exit_code == 1
    assert "1 ticket(s) carry a status other than their order's." in found.output

    fixed = runner.invoke(args=["inventory-check", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert "Gave 1 ticket(s) their order's status again." in fixed.output
    db.session.expire_all()
    assert db.session.get(Registration, stray).order_status == OrderStatus.PAID
    assert runner.invoke(args=["inventory-check"]).exit_code == 0
