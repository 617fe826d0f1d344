"""Pricing: exact integer totals for discounts and taxes, and the invariants that always hold."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import DiscountCode, DiscountKind, Order, OrderStatus, Registration, TaxMode
from services.pricing import Discount, Line, quote, quote_order, round_half_up, store_totals
from tests.factories import make_code, make_order, make_profile, make_race

FIVE_K, TEN_K, KIDS = 1, 2, 3


def five_k(price, qty=1):
    return Line(FIVE_K, "5K", price, qty)


def ten_k(price, qty=1):
    return Line(TEN_K, "10K", price, qty)


def kids(price, qty=1):
    return Line(KIDS, "Kids", price, qty)


def pct(percent, ticket_type_id=None):
    return Discount(percent_off=percent, ticket_type_id=ticket_type_id, code="PCT")


def off(amount, ticket_type_id=None):
    return Discount(amount_off=amount, ticket_type_id=ticket_type_id, code="OFF")


NONE, INC, EXC, STRIPE = TaxMode.NONE, TaxMode.INCLUSIVE, TaxMode.EXCLUSIVE, TaxMode.STRIPE

# (lines, currency, tax mode, rate in bps, discount,
#  (subtotal, discount, tax, total), line discounts, line taxes)
CASES = {
    "several items, no code, no tax": (
        [five_k(2500, 2), ten_k(4000)], "USD", NONE, 0, None,
        (9000, 0, 0, 9000), [0, 0], [0, 0]),
    "33 % off 999 rounds 329.67 up to 330": (
        [five_k(999)], "USD", NONE, 0, pct(33),
        (999, 330, 0, 669), [330], [0]),
    "50 % off 333 rounds the half up": (
        [five_k(333)], "USD", NONE, 0, pct(50),
        (333, 167, 0, 166), [167], [0]),
    "percent is rounded per line, so two halves make 2 not 1": (
        [five_k(5), ten_k(5)], "USD", NONE, 0, pct(10),
        (10, 2, 0, 8), [1, 1], [0, 0]),
    "percent off one ticket type only": (
        [five_k(2500), ten_k(4000)], "USD", NONE, 0, pct(20, TEN_K),
        (6500, 800, 0, 5700), [0, 800], [0, 0]),
    "percent code for a type not in the cart takes nothing off": (
        [five_k(2500)], "USD", NONE, 0, pct(20, KIDS),
        (2500, 0, 0, 2500), [0], [0]),
    "fixed amount spread by line size, leftover cent on the largest line": (
        [five_k(2500), ten_k(4000), kids(1000)], "USD", NONE, 0, off(1000),
        (7500, 1000, 0, 6500), [333, 534, 133], [0, 0, 0]),
    "fixed amount capped at the subtotal": (
        [five_k(2500, 2)], "USD", NONE, 0, off(10000),
        (5000, 5000, 0, 0), [5000], [0]),
    "fixed amount off one ticket type only": (
        [five_k(2500), ten_k(4000, 2)], "USD", NONE, 0, off(1500, TEN_K),
        (10500, 1500, 0, 9000), [0, 1500], [0, 0]),
    "type-restricted fixed amount capped at that type's lines": (
        [five_k(2500), kids(1000, 2)], "USD", NONE, 0, off(5000, KIDS),
        (4500, 2000, 0, 2500), [0, 2000], [0, 0]),
    "leftover spills past a line that is already free": (
        [kids(1), five_k(1), ten_k(1)], "USD", NONE, 0, off(2),
        (3, 2, 0, 1), [1, 1, 0], [0, 0, 0]),
    "exclusive 8.25 % on 3333 is 274.9725, so 275": (
        [five_k(3333)], "USD", EXC, 825, None,
        (3333, 0, 275, 3608), [0], [275]),
    "inclusive 8.25 % in 3333 is 254.02, so 254, total unchanged": (
        [five_k(3333)], "USD", INC, 825, None,
        (3333, 0, 254, 3333), [0], [254]),
    "exclusive 10 % on 5 is 0.5, rounded up": (
        [kids(5)], "USD", EXC, 1000, None,
        (5, 0, 1, 6), [0], [1]),
    "three tickets on one line are taxed once, on the line": (
        [ten_k(3333, 3)], "USD", EXC, 825, None,
        (9999, 0, 825, 10824), [0], [825]),
    "exclusive tax on each line after a percent discount": (
        [five_k(999), ten_k(3333)], "USD", EXC, 825, pct(33),
        (4332, 1430, 239, 3141), [330, 1100], [55, 184]),
    "inclusive tax inside each line after a fixed discount": (
        [five_k(2500), ten_k(4000)], "EUR", INC, 2000, off(500),
        (6500, 500, 1000, 6000), [192, 308], [385, 615]),
    "zero-priced tickets beside paid ones": (
        [kids(0, 3), five_k(2500)], "USD", EXC, 1000, off(1000),
        (2500, 1000, 150, 1650), [0, 1000], [0, 150]),
    "a fixed code on free tickets takes nothing and costs nothing": (
        [kids(0, 2)], "USD", EXC, 1000, off(500),
        (0, 0, 0, 0), [0], [0]),
    "100 % off costs 0, and so does the tax": (
        [five_k(2500, 2), ten_k(4000)], "USD", EXC, 825, pct(100),
        (9000, 9000, 0, 0), [5000, 4000], [0, 0]),
    "100 % off costs 0 with inclusive tax too": (
        [five_k(3333)], "GBP", INC, 2000, pct(100),
        (3333, 3333, 0, 0), [3333], [0]),
    "JPY has no decimals: 15 % off 5997 yen and 10 % tax": (
        [five_k(1999, 3)], "JPY", EXC, 1000, pct(15),
        (5997, 900, 510, 5607), [900], [510]),
    "JPY fixed amount with inclusive tax": (
        [five_k(3000), ten_k(5000)], "JPY", INC, 1000, off(1001),
        (8000, 1001, 637, 6999), [375, 626], [239, 398]),
    "Stripe Tax leaves tax to checkout": (
        [five_k(2500)], "USD", STRIPE, 0, pct(10),
        (2500, 250, 0, 2250), [250], [0]),
    "a rate with tax mode none is ignored": (
        [five_k(2500)], "USD", NONE, 825, None,
        (2500, 0, 0, 2500), [0], [0]),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_quote_gives_exact_integers(case):
    lines, currency, mode, bps, discount, totals, line_discounts, line_taxes = case
    q = quote(lines, currency=currency, tax_mode=mode, tax_rate_bps=bps, discount=discount)
    assert (q.subtotal, q.discount, q.tax, q.total) == totals
    assert [line.discount for line in q.lines] == line_discounts
    assert [line.tax for line in q.lines] == line_taxes
    assert q.currency == currency


def test_quote_lines_keep_their_order_and_add_up():
    q = quote([five_k(999), ten_k(3333)], currency="USD", tax_mode=EXC, tax_rate_bps=825, discount=pct(33))
    assert [(line.name, line.subtotal, line.discounted, line.total) for line in q.lines] == [
        ("5K", 999, 669, 724), ("10K", 3333, 2233, 2417)]
    assert q.total == 724 + 2417
    assert q.discount_code == "PCT"


@pytest.mark.parametrize("mode, bps, included, pending", [
    (NONE, 0, False, False), (INC, 825, True, False), (INC, 0, False, False),
    (EXC, 825, False, False), (STRIPE, 0, False, True), ("exclusive", 825, False, False),
])
def test_quote_says_how_tax_is_shown(mode, bps, included, pending):
    q = quote([five_k(1000)], currency="USD", tax_mode=mode, tax_rate_bps=bps)
    assert (q.tax_included, q.tax_pending) == (included, pending)


def test_an_empty_cart_costs_nothing():
    q = quote([], currency="USD", tax_mode=EXC, tax_rate_bps=825, discount=off(500))
    assert (q.subtotal, q.discount, q.tax, q.total, q.lines) == (0, 0, 0, 0, ())
    assert q.is_free


@pytest.mark.parametrize("numerator, denominator, rounded", [
    (0, 100, 0), (49, 100, 0), (50, 100, 1), (51, 100, 1), (149, 100, 1), (150, 100, 2), (2749725, 10000, 275),
])
def test_round_half_up(numerator, denominator, rounded):
    assert round_half_up(numerator, denominator) == rounded


@pytest.mark.parametrize("kw", [{}, {"percent_off": 10, "amount_off": 100}, {"percent_off": 0},
                                {"percent_off": 101}, {"amount_off": 0}, {"amount_off": -5}])
def test_a_discount_is_exactly_one_sensible_kind(kw):
    with pytest.raises(ValueError):
        Discount(**kw)


@pytest.mark.parametrize("kw", [{"tax_rate_bps": -1}, {"tax_rate_bps": 10001}, {"tax_mode": "vat"}])
def test_quote_refuses_impossible_tax_settings(kw):
    args = {"currency": "USD", "tax_mode": EXC, "tax_rate_bps": 825} | kw
    with pytest.raises(ValueError):
        quote([five_k(1000)], **args)


@pytest.mark.parametrize("line", [five_k(-1), five_k(100, -1)])
def test_quote_refuses_negative_prices_and_quantities(line):
    with pytest.raises(ValueError):
        quote([line], currency="USD", tax_mode=NONE, tax_rate_bps=0)


def test_discount_from_a_code_keeps_kind_value_and_ticket_type():
    percent = DiscountCode(code=" Friends ", kind=DiscountKind.PERCENT, percent_off=15, ticket_type_id=7)
    amount = DiscountCode(code="tenoff", kind=DiscountKind.AMOUNT, amount_off=1000)
    assert Discount.from_code(percent) == Discount(percent_off=15, ticket_type_id=7, code="Friends")
    assert Discount.from_code(amount) == Discount(amount_off=1000, code="tenoff")
    assert (percent.code_normalized, amount.code_normalized) == ("FRIENDS", "TENOFF")


# --- properties that hold for any cart -------------------------------------------------------

lines_strategy = st.lists(
    st.builds(Line, ticket_type_id=st.integers(1, 4), name=st.just("T"),
              unit_price=st.one_of(st.just(0), st.integers(0, 200_000)), quantity=st.integers(0, 12)),
    max_size=6)
discount_strategy = st.one_of(
    st.none(),
    st.builds(Discount, percent_off=st.integers(1, 100), ticket_type_id=st.one_of(st.none(), st.integers(1, 5))),
    st.builds(Discount, amount_off=st.integers(1, 3_000_000), ticket_type_id=st.one_of(st.none(), st.integers(1, 5))),
)
tax_strategy = st.tuples(st.sampled_from(list(TaxMode)), st.integers(0, 10000))


@settings(max_examples=400, deadline=None)
@given(lines=lines_strategy, discount=discount_strategy, tax=tax_strategy,
       currency=st.sampled_from(["USD", "JPY", "EUR"]))
def test_quote_invariants(lines, discount, tax, currency):
    mode, bps = tax
    q = quote(lines, currency=currency, tax_mode=mode, tax_rate_bps=bps, discount=discount)

    assert min(q.subtotal, q.discount, q.tax, q.total) >= 0
    assert q.discount <= q.subtotal
    assert sum(line.discount for line in q.lines) == q.discount
    assert sum(line.tax for line in q.lines) == q.tax
    assert sum(line.subtotal for line in q.lines) == q.subtotal
    assert sum(line.total for line in q.lines) == q.total
    for line in q.lines:
        assert 0 <= line.discount <= line.subtotal
        assert line.tax >= 0 and line.total >= 0
        if discount is not None and not discount.applies_to(line.ticket_type_id):
            assert line.discount == 0

    if mode == TaxMode.EXCLUSIVE:
        assert q.total == q.subtotal - q.discount + q.tax
    else:
        assert q.total == q.subtotal - q.discount
    if mode == TaxMode.INCLUSIVE:
        assert q.tax <= q.total
    if mode in (TaxMode.NONE, TaxMode.STRIPE):
        assert q.tax == 0

    eligible = sum(line.subtotal for line in q.lines if discount is not None and discount.applies_to(line.ticket_type_id))
    assert q.discount <= eligible
    if discount is not None and discount.amount_off is not None:
        assert q.discount == min(discount.amount_off, eligible)
    if discount is not None and discount.percent_off is not None:
        # Per-line rounding moves the sum by at most half a unit per line.
        exact = eligible * discount.percent_off / 100
        assert abs(q.discount - exact) <= len(q.lines) / 2
    if discount is not None and discount.percent_off == 100 and discount.ticket_type_id is None:
        assert q.total == 0


@settings(max_examples=200, deadline=None)
@given(lines=lines_strategy, discount=discount_strategy, bps=st.integers(0, 10000))
def test_exclusive_tax_is_the_rate_of_each_discounted_line(lines, discount, bps):
    q = quote(lines, currency="USD", tax_mode=EXC, tax_rate_bps=bps, discount=discount)
    for line in q.lines:
        assert abs(line.tax - line.discounted * bps / 10000) <= 0.5


@settings(max_examples=200, deadline=None)
@given(lines=lines_strategy, discount=discount_strategy, bps=st.integers(0, 10000))
def test_inclusive_tax_is_the_part_of_each_discounted_line_that_is_tax(lines, discount, bps):
    q = quote(lines, currency="USD", tax_mode=INC, tax_rate_bps=bps, discount=discount)
    for line in q.lines:
        exact = line.discounted - line.discounted / (1 + bps / 10000)
        assert abs(line.tax - exact) <= 0.5 + 1e-9


# --- pricing a stored order -------------------------------------------------------------------

def test_quote_order_groups_registrations_by_type_and_price_and_applies_the_code(db):
    race = make_race(db, tickets=[("5K", 2500, 100), ("10K", 3333, 100)], tax_mode=TaxMode.EXCLUSIVE,
                     tax_rate_bps=825)
    five, ten = race.ticket_types
    code = make_code(db, race, code="TEN", percent_off=10, ticket_type_id=ten.id)
    order = make_order(db, race, ten, 2, status=OrderStatus.CART)
    # A 5K added before a price change keeps the price it was added at.
    db.session.add_all([Registration(order_id=order.id, race_id=race.id, ticket_type_id=five.id, price=p)
                        for p in (2500, 2000, 2500)])
    order.discount_code_id = code.id
    db.session.commit()

    q = quote_order(db.session, order)

    assert [(line.name, line.unit_price, line.quantity, line.discount) for line in q.lines] == [
        ("5K", 2000, 1, 0), ("5K", 2500, 2, 0), ("10K", 3333, 2, 667)]
    # Tax: 2000 → 165, 5000 → 412.5 → 413, 6666 − 667 = 5999 → 494.9175 → 495.
    assert (q.subtotal, q.discount, q.tax, q.total) == (13666, 667, 1073, 14072)
    assert q.discount_code == "TEN"

    store_totals(order, q)
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Order, order.id)
    assert (stored.subtotal, stored.discount, stored.tax, stored.total) == (13666, 667, 1073, 14072)


def test_quote_order_without_a_code_or_tickets(db):
    race = make_race(db, currency="JPY", tickets=[("5K", 3000, 10)])
    order = Order(race_id=race.id, buyer_id=make_profile(db).id, currency="JPY")
    db.session.add(order)
    db.session.commit()
    q = quote_order(db.session, order)
    assert (q.currency, q.subtotal, q.total, q.lines, q.discount_code) == ("JPY", 0, 0, (), None)


def test_quote_order_takes_one_query_when_race_and_code_are_loaded(db, count_queries):
    race = make_race(db, tickets=[("5K", 2500, 100), ("10K", 4000, 100)])
    code = make_code(db, race, amount_off=1000)
    order = make_order(db, race, race.ticket_types[1], 3, status=OrderStatus.CART)
    order.discount_code_id = code.id
    db.session.commit()
    assert (order.race_id, race.currency, code.amount_off) == (race.id, "USD", 1000)  # loaded, as in a view

    with count_queries() as seen:
        q = quote_order(db.session, order)
    assert seen.count == 1
    assert (q.subtotal, q.discount, q.total) == (12000, 1000, 11000)
