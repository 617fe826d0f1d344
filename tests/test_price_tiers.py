"""Prices by date (early bird, regular, late): the rule, what runners see, and the price fixed at payment."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from models import Order, OrderStatus, PriceTier, Registration
from services import clock
from services.checkout import reserve
from services.demo import seed_demo
from services.fulfillment import Payment, fulfill
from services.price_tiers import Step, assign, local_day, price_now, step_index
from tests.concurrency import reserve_all_at_once
from tests.factories import login, make_cart, make_code, make_profile, make_race, recount_race
from tests.http import csrf_token
from tests.test_payments import deliver, stripe_app, stripe_server  # noqa: F401 (fixtures)

JAN_15 = datetime(2027, 1, 15, 17, 0, tzinfo=UTC)
RACE_DAY = datetime(2027, 3, 6, 13, 0, tzinfo=UTC)  # 8 AM in New York


def steps(*specs) -> list[Step]:
    """(price, starts_on, until_sold) tuples as steps with ids 1, 2, 3…"""
    return [Step(i + 1, price, starts_on, until) for i, (price, starts_on, until) in enumerate(specs)]


EARLY_REGULAR_LATE = steps((4000, None, None), (5000, date(2027, 2, 1), None), (6000, date(2027, 3, 1), None))


# --- the rule ----------------------------------------------------------------------------------

def test_a_ticket_type_without_steps_costs_its_plain_price():
    assert price_now(2500, [], date(2027, 1, 1), {}).price == 2500
    assert assign(2500, [], date(2027, 1, 1), {}, 2) == [(2500, None), (2500, None)]


@pytest.mark.parametrize("today, price", [
    (date(2026, 12, 1), 4000), (date(2027, 1, 31), 4000), (date(2027, 2, 1), 5000),
    (date(2027, 2, 28), 5000), (date(2027, 3, 1), 6000), (date(2027, 3, 6), 6000)])
def test_each_price_starts_on_its_day_and_holds_until_the_next(today, price):
    assert price_now(9999, EARLY_REGULAR_LATE, today, {}).price == price


def test_the_next_step_says_the_last_day_at_this_price_and_what_comes_after():
    now = price_now(9999, EARLY_REGULAR_LATE, date(2027, 1, 10), {})
    assert (now.price, now.next_price, now.last_day, now.left_at_price) == (4000, 5000, date(2027, 1, 31), None)
    last = price_now(9999, EARLY_REGULAR_LATE, date(2027, 3, 2), {})
    assert (last.price, last.next_price, last.last_day) == (6000, None, None)


def test_the_first_100_at_the_early_price_then_the_next_price_even_before_its_day():
    early = steps((4000, None, 100), (5000, date(2027, 2, 1), None))
    assert price_now(0, early, date(2027, 1, 10), {1: 77}).left_at_price == 23
    assert price_now(0, early, date(2027, 1, 10), {1: 99}).price == 4000
    assert price_now(0, early, date(2027, 1, 10), {1: 100}).price == 5000
    # Whichever comes first: the day ends the early price too, with tickets left at it.
    assert price_now(0, early, date(2027, 2, 1), {1: 3}).price == 5000


def test_tickets_taken_together_cross_a_count_step_one_by_one():
    early = steps((4000, None, 100), (5000, date(2027, 2, 1), None))
    assert assign(0, early, date(2027, 1, 10), {1: 98}, 4) == [(4000, 1), (4000, 1), (5000, 2), (5000, 2)]


def test_when_every_count_is_used_up_the_last_price_stays():
    counted = steps((4000, None, 1), (4500, None, 1))
    assert price_now(0, counted, date(2027, 1, 1), {1: 1, 2: 1}).price == 4500


@st.composite
def step_lists(draw):
    """Step lists the editor accepts: the first without a day, days increasing, no limit on the last."""
    n = draw(st.integers(1, 5))
    days = sorted(draw(st.sets(st.integers(1, 120), min_size=n - 1, max_size=n - 1)))
    base = date(2027, 1, 1)
    specs = []
    for i in range(n):
        starts_on = None if i == 0 else date.fromordinal(base.toordinal() + days[i - 1])
        until = draw(st.one_of(st.none(), st.integers(1, 50))) if i < n - 1 else None
        specs.append((draw(st.integers(0, 100_000_00)), starts_on, until))
    return steps(*specs)


days = st.integers(-30, 150).map(lambda n: date.fromordinal(date(2027, 1, 1).toordinal() + n))


@settings(max_examples=300, deadline=None)
@given(tiers=step_lists(), today=days, sold=st.lists(st.integers(0, 60), min_size=5, max_size=5))
def test_the_price_is_always_one_of_the_steps_and_never_negative(tiers, today, sold):
    counts = {s.id: sold[i] for i, s in enumerate(tiers)}
    now = price_now(123, tiers, today, counts)
    assert now.price in [s.price for s in tiers] and now.price >= 0
    assert now.step == tiers[step_index(tiers, today, counts)]
    if now.left_at_price is not None:
        assert 0 < now.left_at_price <= now.step.until_sold


@settings(max_examples=300, deadline=None)
@given(tiers=step_lists(), today=days, later=st.integers(1, 60), sold=st.lists(st.integers(0, 60), min_size=5,
                                                                             max_size=5))
def test_the_price_changes_only_on_a_step_s_day(tiers, today, later, sold):
    counts = {s.id: sold[i] for i, s in enumerate(tiers)}
    then = date.fromordinal(today.toordinal() + later)
    starts_between = any(s.starts_on and today < s.starts_on <= then for s in tiers)
    if not starts_between:
        assert price_now(0, tiers, today, counts).step == price_now(0, tiers, then, counts).step


@settings(max_examples=300, deadline=None)
@given(tiers=step_lists(), today=days, sold=st.lists(st.integers(0, 60), min_size=5, max_size=5),
       more=st.lists(st.integers(0, 60), min_size=5, max_size=5))
def test_the_price_changes_only_when_a_step_s_count_is_used_up(tiers, today, sold, more):
    before = {s.id: sold[i] for i, s in enumerate(tiers)}
    after = {s.id: sold[i] + more[i] for i, s in enumerate(tiers)}
    used_up = [s.until_sold is not None and before[s.id] >= s.until_sold for s in tiers]
    if used_up == [s.until_sold is not None and after[s.id] >= s.until_sold for s in tiers]:
        assert price_now(0, tiers, today, before).step == price_now(0, tiers, today, after).step


@settings(max_examples=200, deadline=None)
@given(tiers=step_lists(), today=days, count=st.integers(0, 40))
def test_tickets_taken_one_after_another_never_exceed_a_step_s_count(tiers, today, count):
    taken = assign(0, tiers, today, {}, count)
    assert len(taken) == count
    for step in tiers[:-1]:
        if step.until_sold is not None:
            assert sum(1 for _, step_id in taken if step_id == step.id) <= step.until_sold


def test_a_step_starts_at_the_beginning_of_its_day_in_the_race_s_timezone(db):
    race = make_race(db, timezone="America/New_York", starts_at=RACE_DAY)
    assert local_day(race, datetime(2027, 2, 1, 4, 59, tzinfo=UTC)) == date(2027, 1, 31)  # 11:59 PM the 31st
    assert local_day(race, datetime(2027, 2, 1, 5, 0, tzinfo=UTC)) == date(2027, 2, 1)    # midnight


# --- in the app ----------------------------------------------------------------------------------

def add_steps(db, ticket_type, *specs):
    """Store (price, starts_on, until_sold, label) steps on a ticket type; the first is its price."""
    tiers = [PriceTier(ticket_type_id=ticket_type.id, position=i, price=price, starts_on=starts_on,
                       until_sold=until, label=label) for i, (price, starts_on, until, label) in enumerate(specs)]
    db.session.add_all(tiers)
    db.session.commit()
    return tiers


@pytest.fixture
def race(db):
    clock.freeze(JAN_15)
    race = make_race(db, slug="lake-run", title="Lake Run", starts_at=RACE_DAY,
                     tickets=[("10K", 4000, 100), ("5K", 2500, 100)])
    add_steps(db, race.ticket_types[0], (4000, None, None, "Early bird"), (5000, date(2027, 2, 1), None, ""))
    return race


def test_the_race_page_shows_today_s_price_and_the_next_step(client, race):
    page = client.get("/races/lake-run").get_data(as_text=True)
    assert "$40.00" in page and "Early bird: $40.00 until 1 Feb" not in page
    assert "Early bird: $40.00 until 31 Jan, then $50.00" in page
    assert "$25.00" in page  # a ticket type without steps is as it was

    clock.freeze(datetime(2027, 2, 1, 5, 0, tzinfo=UTC))  # midnight in New York
    page = client.get("/races/lake-run").get_data(as_text=True)
    assert "$50.00" in page and "until 31 Jan" not in page and "$40.00" not in page


def test_the_race_list_says_from_today_s_lowest_price(client, db, race):
    db.session.get(type(race.ticket_types[1]), race.ticket_types[1].id).hidden = True
    db.session.commit()
    assert "From <strong>$40.00</strong>" in client.get("/").get_data(as_text=True)
    clock.freeze(datetime(2027, 2, 2, tzinfo=UTC))
    assert "From <strong>$50.00</strong>" in client.get("/").get_data(as_text=True)


def test_a_count_step_says_how_many_are_left_at_its_price(client, db):
    clock.freeze(JAN_15)
    race = make_race(db, slug="count-run", starts_at=RACE_DAY, tickets=[("Half", 4000, 500)])
    add_steps(db, race.ticket_types[0], (4000, None, 3, ""), (5000, date(2027, 2, 1), None, ""))
    order = make_cart(db, race, {race.ticket_types[0]: 1})
    reserve(db.session, order, clock.now())
    page = client.get("/races/count-run").get_data(as_text=True)
    assert "first 3 at $40.00, 2 left at this price (until 31 Jan), then $50.00" in page


def test_the_cart_shows_today_s_price_until_the_spots_are_reserved(client, db, race):
    buyer = make_profile(db)
    login(client, buyer)
    order = make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer)
    page = client.get("/races/lake-run/cart").get_data(as_text=True)
    assert "2 × $40.00" in page and "$40.00 until 31 Jan, then $50.00" in page

    clock.freeze(datetime(2027, 2, 3, tzinfo=UTC))  # the early price ended while the cart sat
    page = client.get("/races/lake-run/cart").get_data(as_text=True)
    assert "2 × $50.00" in page and "$100.00" in page

    reserve(db.session, order, clock.now())
    tickets = db.session.scalars(select(Registration).where(Registration.order_id == order.id)).all()
    assert [(t.price, t.price_tier_id) for t in tickets] == [(5000, tickets[0].price_tier_id)] * 2
    assert db.session.get(PriceTier, tickets[0].price_tier_id).position == 1
    assert db.session.get(Order, order.id).total == 10000


def test_the_reserved_price_is_honoured_when_the_step_ends_before_the_payment_lands(db, race):
    order = make_cart(db, race, {race.ticket_types[0]: 2})
    reserve(db.session, order, datetime(2027, 2, 1, 4, 55, tzinfo=UTC))  # 11:55 PM on the last early day
    assert db.session.get(Order, order.id).total == 8000

    clock.freeze(datetime(2027, 2, 1, 5, 20, tzinfo=UTC))  # paid at 12:20 AM: the regular price has begun
    outcome = fulfill(db.session, order.id, Payment(8000, "USD", "pi_early"), clock.now())
    db.session.commit()
    assert outcome.result == "paid"
    assert {t.price for t in db.session.scalars(select(Registration).where(Registration.order_id == order.id))} \
        == {4000}


def test_a_payment_at_the_new_price_for_an_early_reservation_is_flagged(db, race):
    order = make_cart(db, race, {race.ticket_types[0]: 1})
    reserve(db.session, order, clock.now())
    clock.freeze(datetime(2027, 2, 3, tzinfo=UTC))
    assert fulfill(db.session, order.id, Payment(5000, "USD", "pi_late"), clock.now()).result == "needs_refund"


def test_a_discount_code_applies_on_top_of_the_step_s_price(db, race):
    code = make_code(db, race, percent_off=10)
    order = make_cart(db, race, {race.ticket_types[0]: 1}, code=code)
    reserve(db.session, order, clock.now())
    saved = db.session.get(Order, order.id)
    assert (saved.subtotal, saved.discount, saved.total) == (4000, 400, 3600)


def test_an_order_crossing_a_count_step_pays_each_ticket_its_own_price(db):
    clock.freeze(JAN_15)
    race = make_race(db, starts_at=RACE_DAY, tickets=[("Half", 4000, 500)])
    add_steps(db, race.ticket_types[0], (4000, None, 2, ""), (5000, date(2027, 2, 1), None, ""))
    order = make_cart(db, race, {race.ticket_types[0]: 3})
    reserve(db.session, order, clock.now())
    saved = db.session.get(Order, order.id)
    assert saved.subtotal == 4000 + 4000 + 5000


def test_adding_to_the_cart_stores_today_s_price_and_step(client, db, race):
    buyer = make_profile(db)
    login(client, buyer)
    response = client.post("/races/lake-run/cart", data={"csrf_token": csrf_token(client),
                                                         f"qty-{race.ticket_types[0].id}": "1"})
    assert response.status_code in (200, 303)
    ticket = db.session.scalar(select(Registration).where(Registration.ticket_type_id == race.ticket_types[0].id))
    assert ticket.price == 4000 and ticket.price_tier_id is not None


@pytest.mark.postgres
def test_two_checkouts_at_once_never_both_get_the_last_early_ticket(app, db):
    clock.freeze(JAN_15)
    race = make_race(db, starts_at=RACE_DAY, tickets=[("Half", 4000, 500)])
    half = race.ticket_types[0]
    early, regular = add_steps(db, half, (4000, None, 5, ""), (5000, date(2027, 2, 1), None, ""))
    early_id, regular_id = early.id, regular.id
    orders = [make_cart(db, race, {half: 1}).id for _ in range(20)]

    results = reserve_all_at_once(app, orders, clock.now())

    assert list(results.values()).count("reserved") == 20
    db.session.expire_all()
    prices = [r.price_tier_id for r in db.session.scalars(select(Registration).join(Order).where(
        Order.status == OrderStatus.PENDING, Registration.ticket_type_id == half.id))]
    assert prices.count(early_id) == 5 and prices.count(regular_id) == 15


def test_a_step_before_race_day_and_a_refund_frees_an_early_ticket(db):
    """A refunded early ticket no longer holds a spot, so it counts no more against "the first N"."""
    clock.freeze(JAN_15)
    race = make_race(db, starts_at=RACE_DAY, tickets=[("Half", 4000, 500)])
    early, _ = add_steps(db, race.ticket_types[0], (4000, None, 1, ""), (5000, date(2027, 2, 1), None, ""))
    first = make_cart(db, race, {race.ticket_types[0]: 1})
    reserve(db.session, first, clock.now())
    second = make_cart(db, race, {race.ticket_types[0]: 1})
    ticket = db.session.scalar(select(Registration).where(Registration.order_id == first.id))
    ticket.refunded_at = clock.now() + timedelta(seconds=1)
    recount_race(db, race)
    db.session.commit()
    reserve(db.session, second, clock.now())
    assert db.session.scalar(select(Registration.price_tier_id).where(Registration.order_id == second.id)) == early.id


# --- the organizer's dashboard -----------------------------------------------------------------

def _sell(db, race, tt, n, when):
    """n paid tickets bought at `when` (each priced as checkout prices it then)."""
    for _ in range(n):
        order = make_cart(db, race, {tt: 1})
        reserve(db.session, order, when)
        fulfill(db.session, order.id, Payment(db.session.get(Order, order.id).total, "USD", f"pi_{uuid.uuid4().hex}"),
                when)
        db.session.commit()


def test_the_dashboard_shows_tickets_and_revenue_per_price(client, db, race):
    organizer = db.session.get(type(make_profile(db)), race.organizer_id)
    login(client, organizer)
    ten_k = race.ticket_types[0]
    _sell(db, race, ten_k, 3, JAN_15)
    _sell(db, race, ten_k, 2, datetime(2027, 2, 2, tzinfo=UTC))
    page = client.get(f"/manage/races/{race.id}/dashboard").get_data(as_text=True)
    assert "<tr><th scope=\"row\">Early bird · $40.00</th>\n                <td>3</td><td>$120.00</td></tr>" in page
    assert "From 1 Feb · $50.00</th>\n                <td>2</td><td>$100.00</td></tr>" in page


def test_pages_run_the_same_statements_with_one_price_step_or_many(client, db, count_queries):
    clock.freeze(JAN_15)
    organizer = make_profile(db)
    login(client, organizer)
    plain = make_race(db, organizer=organizer, slug="plain", starts_at=RACE_DAY, tickets=[("10K", 4000, 100)])
    stepped = make_race(db, organizer=organizer, slug="stepped", starts_at=RACE_DAY,
                        tickets=[(f"T{i}", 4000, 100) for i in range(4)])
    for tt in stepped.ticket_types:
        add_steps(db, tt, (4000, None, 5, "Early"), (5000, date(2027, 2, 1), None, ""),
                  (6000, date(2027, 3, 1), None, ""))
        _sell(db, stepped, tt, 2, JAN_15)
    _sell(db, plain, plain.ticket_types[0], 1, JAN_15)

    def statements(path):
        with count_queries() as counter:
            assert client.get(path).status_code == 200
        return counter.count

    for template in ("/races/{slug}", "/manage/races/{id}/dashboard", "/manage/races/{id}"):
        assert statements(template.format(slug="plain", id=plain.id)) == \
            statements(template.format(slug="stepped", id=stepped.id)), template


def test_the_demo_race_has_an_early_bird_price(client, db):
    clock.freeze(datetime(2026, 12, 5, 9, 0, tzinfo=UTC))
    seed_demo(db.session, clock.now())
    db.session.commit()
    page = client.get("/races/lakeside-spring-5k-10k").get_data(as_text=True)
    # Race day is Saturday 3 April 2027; the regular price starts three weeks before, on 13 March.
    assert "Early bird: first 150 at $40.00, 150 left at this price (until 12 Mar), then $50.00" in page


def test_stripe_s_webhook_after_the_step_ended_pays_the_reserved_price(stripe_app, stripe_server, client, db):
    """Through Stripe Checkout (the real library, a loopback Stripe): reserved at $40 at 11:50 PM, the
    regular price begins at midnight, the webhook lands at 12:05 AM and the order is paid, not flagged."""
    real_now = datetime.now(UTC).replace(microsecond=0)
    race = make_race(db, slug="night-run", tickets=[("10K", 4000, 100)])
    tomorrow = local_day(race, real_now) + timedelta(days=1)
    midnight = datetime.combine(tomorrow, datetime.min.time(), tzinfo=race.tz).astimezone(UTC)
    add_steps(db, race.ticket_types[0], (4000, None, None, ""), (5000, tomorrow, None, ""))
    buyer = make_profile(db)
    login(client, buyer)
    order = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=buyer)

    clock.freeze(midnight - timedelta(minutes=10))
    assert client.post(f"/orders/{order.id}/checkout", data={"csrf_token": csrf_token(client)}).status_code == 303
    db.session.expire_all()
    pending = db.session.get(Order, order.id)
    assert pending.status == OrderStatus.PENDING and pending.total == 4000

    clock.freeze(midnight + timedelta(minutes=5))
    response = deliver(client, stripe_server.pay_session(pending.stripe_session_id))
    assert response.status_code == 200 and response.json["outcome"] == "paid"
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == OrderStatus.PAID
