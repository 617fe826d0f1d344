"""Discount codes: who may use which code when, and the precise message when they may not."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from models import DiscountCode, DiscountKind, Order, OrderStatus, Race
from services.discounts import CodeRefused, check_code, normalize, uses_held
from services.pricing import Line
from tests.factories import make_code, make_order, make_race

# 20 Feb 2027, 12:00 UTC; the races below run on New York time (UTC−5 in winter).
NOW = datetime(2027, 2, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def race(db):
    return make_race(db, tickets=[("5K", 2500, 100), ("10K", 4000, 100)])


def cart_of(race, *names):
    types = {t.name: t for t in race.ticket_types}
    return [Line(types[name].id, name, types[name].price, 1) for name in names]


def refusal(db, race, text, cart=None, now=NOW) -> str:
    with pytest.raises(CodeRefused) as refused:
        check_code(db.session, race, text, cart if cart is not None else cart_of(race, "5K"), now)
    return refused.value.message


def order_using(db, race, code, status, reserved_until=None):
    order = make_order(db, race, race.ticket_types[0], status=status, reserved_until=reserved_until)
    order.discount_code_id = code.id
    db.session.commit()
    return order


@pytest.mark.parametrize("typed, normalized", [
    ("FRIENDS", "FRIENDS"), ("  friends ", "FRIENDS"), ("Friends\n", "FRIENDS"), ("\tsummer 10 ", "SUMMER 10"),
    ("ＦＲＩＥＮＤＳ", "FRIENDS"),  # full-width letters from a phone keyboard
])
def test_normalize_trims_and_ignores_case(typed, normalized):
    assert normalize(typed) == normalized


@pytest.mark.parametrize("typed", ["friends", "  FRIENDS  ", "Friends\n", "fRiEnDs"])
def test_a_code_is_found_whatever_its_case_and_surrounding_space(db, race, typed):
    code = make_code(db, race, code="Friends", percent_off=20)
    assert check_code(db.session, race, typed, cart_of(race, "5K"), NOW).id == code.id


def test_a_code_is_stored_as_entered_and_matched_normalized(db, race):
    code = make_code(db, race, code="  Spring-Sale ")
    assert (code.code, code.code_normalized) == ("Spring-Sale", "SPRING-SALE")


@pytest.mark.parametrize("typed", ["", "   ", "\n", None])
def test_an_empty_code_asks_for_one(db, race, typed):
    assert refusal(db, race, typed) == "Enter a code."


def test_an_unknown_code_is_named_in_the_message(db, race):
    make_code(db, race, code="FRIENDS")
    assert refusal(db, race, " xyz ") == "We don't know the code XYZ."


def test_a_code_of_another_race_says_so(db, race):
    other = make_race(db)
    make_code(db, other, code="Friends")
    assert refusal(db, race, "friends") == "FRIENDS isn't a code for this race."


def test_the_same_code_in_two_races_is_each_race_s_own(db, race):
    other = make_race(db)
    mine = make_code(db, race, code="FRIENDS", percent_off=10)
    make_code(db, other, code="FRIENDS", percent_off=50)
    assert check_code(db.session, race, "friends", cart_of(race, "5K"), NOW).id == mine.id


def test_an_inactive_code_is_refused(db, race):
    make_code(db, race, code="FRIENDS", active=False)
    assert refusal(db, race, "friends") == "FRIENDS is no longer active."


@pytest.mark.parametrize("starts_at, message", [
    (datetime(2027, 3, 3, 5, 0, tzinfo=UTC), "FRIENDS works from 3 Mar."),           # midnight in New York
    (datetime(2027, 3, 3, 23, 30, tzinfo=UTC), "FRIENDS works from 3 Mar, 18:30."),
    (datetime(2028, 1, 5, 5, 0, tzinfo=UTC), "FRIENDS works from 5 Jan 2028."),
    (datetime(2027, 2, 21, 4, 59, tzinfo=UTC), "FRIENDS works from 20 Feb, 23:59."),  # still the 20th locally
])
def test_a_code_before_its_window_says_when_it_starts(db, race, starts_at, message):
    make_code(db, race, code="FRIENDS", starts_at=starts_at)
    assert refusal(db, race, "friends") == message


@pytest.mark.parametrize("ends_at, message", [
    # Ending at midnight on 4 Mar local time means it was good through 3 Mar.
    (datetime(2027, 2, 4, 5, 0, tzinfo=UTC), "FRIENDS expired on 3 Feb."),
    (datetime(2027, 2, 3, 22, 0, tzinfo=UTC), "FRIENDS expired on 3 Feb, 17:00."),
    (datetime(2026, 12, 1, 5, 0, tzinfo=UTC), "FRIENDS expired on 30 Nov 2026."),
    (NOW, "FRIENDS expired on 20 Feb, 07:00."),  # the end itself is already outside the window
])
def test_an_expired_code_says_when_it_ended(db, race, ends_at, message):
    make_code(db, race, code="FRIENDS", ends_at=ends_at)
    assert refusal(db, race, "friends") == message


def test_a_code_works_from_the_first_moment_of_its_window(db, race):
    code = make_code(db, race, code="FRIENDS", starts_at=NOW, ends_at=NOW + timedelta(seconds=1))
    assert check_code(db.session, race, "FRIENDS", cart_of(race, "5K"), NOW).id == code.id


def test_a_code_for_one_ticket_type_needs_that_type_in_the_cart(db, race):
    ten_k = race.ticket_types[1]
    code = make_code(db, race, code="TENNER", amount_off=1000, ticket_type_id=ten_k.id)
    assert refusal(db, race, "tenner", cart_of(race, "5K")) == "TENNER only applies to 10K tickets."
    assert refusal(db, race, "tenner", []) == "TENNER only applies to 10K tickets."
    assert check_code(db.session, race, "tenner", cart_of(race, "5K", "10K"), NOW).id == code.id


def test_a_ticket_type_code_is_checked_against_an_order_s_registrations(db, race):
    five_k, ten_k = race.ticket_types
    make_code(db, race, code="TENNER", percent_off=10, ticket_type_id=ten_k.id)
    five_only = make_order(db, race, five_k, 2, status=OrderStatus.CART)
    with_ten = make_order(db, race, ten_k, 1, status=OrderStatus.CART)
    assert refusal(db, race, "tenner", five_only) == "TENNER only applies to 10K tickets."
    assert check_code(db.session, race, "tenner", with_ten, NOW).code == "TENNER"


def test_two_unexpired_pending_orders_use_up_a_two_use_code(db, race):
    code = make_code(db, race, code="FRIENDS", max_uses=2)
    for _ in range(2):
        order_using(db, race, code, OrderStatus.PENDING, reserved_until=NOW + timedelta(minutes=10))
    assert refusal(db, race, "friends") == "FRIENDS has been used up."


def test_paid_orders_hold_their_uses(db, race):
    code = make_code(db, race, code="FRIENDS", max_uses=2)
    order_using(db, race, code, OrderStatus.PAID)
    order_using(db, race, code, OrderStatus.PENDING, reserved_until=NOW + timedelta(minutes=1))
    assert refusal(db, race, "friends") == "FRIENDS has been used up."


def test_carts_expired_reservations_and_dead_orders_hold_no_use(db, race):
    code = make_code(db, race, code="FRIENDS", max_uses=1)
    order_using(db, race, code, OrderStatus.CART)
    order_using(db, race, code, OrderStatus.CART)
    order_using(db, race, code, OrderStatus.PENDING, reserved_until=NOW)  # ran out exactly now
    order_using(db, race, code, OrderStatus.PENDING, reserved_until=NOW - timedelta(minutes=5))
    for status in (OrderStatus.EXPIRED, OrderStatus.CANCELED, OrderStatus.REFUNDED):
        order_using(db, race, code, status)
    assert uses_held(db.session, [code.id], NOW) == {}
    assert check_code(db.session, race, "friends", cart_of(race, "5K"), NOW).id == code.id


def test_the_same_orders_stop_holding_uses_when_their_reservation_runs_out(db, race):
    code = make_code(db, race, code="FRIENDS", max_uses=1)
    order_using(db, race, code, OrderStatus.PENDING, reserved_until=NOW + timedelta(minutes=30))
    assert refusal(db, race, "friends") == "FRIENDS has been used up."
    later = NOW + timedelta(minutes=31)
    assert check_code(db.session, race, "friends", cart_of(race, "5K"), later).id == code.id


def test_a_zero_use_code_is_used_up_from_the_start(db, race):
    make_code(db, race, code="FRIENDS", max_uses=0)
    assert refusal(db, race, "friends") == "FRIENDS has been used up."


def test_checking_an_order_again_does_not_count_its_own_use(db, race):
    code = make_code(db, race, code="FRIENDS", max_uses=1)
    mine = order_using(db, race, code, OrderStatus.PENDING, reserved_until=NOW + timedelta(minutes=10))
    someone_else = make_order(db, race, race.ticket_types[0], status=OrderStatus.CART)
    assert check_code(db.session, race, "friends", mine, NOW, lock=True).id == code.id
    assert refusal(db, race, "friends", someone_else) == "FRIENDS has been used up."


def test_checking_another_race_s_order_is_a_programming_error(db, race):
    other = make_race(db)
    make_code(db, race, code="FRIENDS")
    order = make_order(db, other, other.ticket_types[0], status=OrderStatus.CART)
    with pytest.raises(ValueError):
        check_code(db.session, race, "friends", order, NOW)


def test_uses_held_counts_several_codes_in_one_query(db, race, count_queries):
    a = make_code(db, race, code="A", max_uses=5)
    b = make_code(db, race, code="B", max_uses=5)
    c = make_code(db, race, code="C", max_uses=5)
    soon = NOW + timedelta(minutes=5)
    for code, n in ((a, 3), (b, 1)):
        for _ in range(n):
            order_using(db, race, code, OrderStatus.PENDING, reserved_until=soon)
    ids = [a.id, b.id, c.id]
    with count_queries() as seen:
        held = uses_held(db.session, ids, NOW)
    assert held == {a.id: 3, b.id: 1}
    assert seen.count == 1
    assert uses_held(db.session, [], NOW) == {}


@pytest.mark.parametrize("typed, message", [
    ("A" * 65, "That is too long for a code (codes have at most 64 characters)."),
    ("X" * 10_000, "That is too long for a code (codes have at most 64 characters)."),
    ("FRI\x00ENDS", "Codes contain only letters, digits, spaces and punctuation."),
    ("FRIENDS\x1b[31m", "Codes contain only letters, digits, spaces and punctuation."),
    ("FRI\u200bENDS", "Codes contain only letters, digits, spaces and punctuation."),  # zero-width space
    ("A" * 64, f"We don't know the code {'A' * 64}."),
    ("'; DROP TABLE discount_codes; --", "We don't know the code '; DROP TABLE DISCOUNT_CODES; --."),
])
def test_junk_is_refused_politely(db, race, typed, message):
    make_code(db, race, code="FRIENDS")
    assert refusal(db, race, typed) == message
    assert db.session.scalar(select(DiscountCode.code)) == "FRIENDS"


def test_codes_equal_once_normalized_cannot_coexist_in_a_race(db, race):
    make_code(db, race, code="friends")
    with pytest.raises(IntegrityError):
        make_code(db, race, code=" FRIENDS")
    db.session.rollback()


@pytest.mark.parametrize("kw", [
    {"kind": DiscountKind.PERCENT, "percent_off": 0},
    {"kind": DiscountKind.PERCENT, "percent_off": 101},
    {"kind": DiscountKind.PERCENT, "percent_off": None},
    {"kind": DiscountKind.AMOUNT, "amount_off": 0},
    {"kind": DiscountKind.AMOUNT, "amount_off": 500, "percent_off": 10},
    {"kind": DiscountKind.PERCENT, "percent_off": None, "amount_off": 500},
    {"starts_at": NOW, "ends_at": NOW},
    {"max_uses": -1},
])
def test_the_database_refuses_codes_that_make_no_sense(db, race, kw):
    with pytest.raises(IntegrityError):
        make_code(db, race, code="BAD", **kw)
    db.session.rollback()


@pytest.mark.postgres  # SQLite here does not enforce foreign keys, so it cascades nothing
def test_deleting_a_race_deletes_its_codes(db):
    race = make_race(db)
    make_code(db, race, code="FRIENDS", ticket_type_id=race.ticket_types[0].id)
    db.session.execute(delete(Race).where(Race.id == race.id))
    db.session.commit()
    assert db.session.scalars(select(DiscountCode)).all() == []


def test_an_order_remembers_its_code(db, race):
    code = make_code(db, race, code="FRIENDS")
    order = order_using(db, race, code, OrderStatus.CART)
    db.session.expire_all()
    assert db.session.get(Order, order.id).discount_code_id == code.id
