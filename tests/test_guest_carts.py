"""A visitor's cart without HTTP: its owner key, the 20-ticket bound, the merge into an account at
sign-in (runners kept, code rules, the per-type limit) and the expiry after a week."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from models import Order, OrderStatus, Registration
from services import cart as cart_service
from services import clock
from services.cart import MAX_GUEST_TICKETS, CartOwner, CartRefused
from services.cart_status import cart_count, view_cart
from services.guest_carts import (
    expire_guest_carts,
    guest_key_hash,
    guest_owner,
    merge_guest_carts,
    new_guest_key,
)
from services.runners import RunnerDetails, save_runner
from tests.factories import make_cart, make_code, make_profile, make_race

NOW = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock(app):
    clock.freeze(NOW)


@pytest.fixture
def race(db):
    return make_race(db, slug="lake", starts_at=NOW + timedelta(days=60),
                     tickets=[("10K", 4500, 50), ("5K", 3000, 80), ("Kids", 1000, 20)])


@pytest.fixture
def buyer(db):
    return make_profile(db, full_name="Ana López", email="ana@example.com")


def guest_cart(db, race, quantities: dict, *, key: str | None = None, named: int = 0,
               now: datetime = NOW) -> tuple[str, Order]:
    """A visitor's cart made as the race page makes it; the first `named` tickets get a runner's name."""
    key = key or new_guest_key()
    order, _ = cart_service.add_tickets(db.session, guest_owner(key), race,
                                        {t.id: n for t, n in quantities.items()}, now)
    for registration in cart_service.cart_registrations(db.session, order)[:named]:
        registration.first_name, registration.last_name = "Guest", f"Runner {registration.id}"
    db.session.commit()
    return guest_key_hash(key), order


def tickets_of(db, order_id) -> list[Registration]:
    db.session.expire_all()
    return list(db.session.scalars(select(Registration).where(Registration.order_id == order_id)
                                   .order_by(Registration.id)))


def account_cart(db, buyer, race) -> Order | None:
    db.session.expire_all()
    return cart_service.find_cart(db.session, CartOwner(profile_id=buyer.id), race.id)


def test_the_database_keeps_only_the_hash_of_the_visitor_s_key(db, race):
    key = new_guest_key()
    hashed, order = guest_cart(db, race, {race.ticket_types[0]: 1}, key=key)
    assert len(key) == 43 and order.guest_key == hashed != key and len(hashed) == 64
    assert order.buyer_id is None and order.status == OrderStatus.CART
    assert cart_count(db.session, guest_owner(key), NOW).tickets == 1
    assert cart_count(db.session, guest_owner(new_guest_key()), NOW).tickets == 0


def test_a_cart_belongs_to_a_profile_or_a_guest_never_both_or_neither(buyer):
    with pytest.raises(ValueError):
        CartOwner()
    with pytest.raises(ValueError):
        CartOwner(profile_id=buyer.id, guest_key="x" * 64)


def test_a_guest_cart_holds_at_most_20_tickets_in_all(db, race):
    ten_k, five_k, kids = race.ticket_types
    key = new_guest_key()
    guest_cart(db, race, {ten_k: 10, five_k: 8}, key=key)
    with pytest.raises(CartRefused) as refused:
        cart_service.add_tickets(db.session, guest_owner(key), race, {kids.id: 3}, NOW)
    assert refused.value.message == (f"A cart holds at most {MAX_GUEST_TICKETS} tickets until you sign in. "
                                     "Sign in or create an account to add more.")
    cart_service.add_tickets(db.session, guest_owner(key), race, {kids.id: 2}, NOW)  # exactly 20 is fine
    assert cart_count(db.session, guest_owner(key), NOW).tickets == 20


def test_an_account_s_cart_has_no_such_bound(db, race, buyer):
    ten_k, five_k, kids = race.ticket_types
    owner = CartOwner(profile_id=buyer.id)
    cart_service.add_tickets(db.session, owner, race, {ten_k.id: 10, five_k.id: 10, kids.id: 1}, NOW)
    assert cart_count(db.session, owner, NOW).tickets == 21


# --- the merge ---------------------------------------------------------------------------------

def test_a_guest_cart_for_a_race_the_account_has_no_cart_for_becomes_the_account_s(db, race, buyer):
    hashed, order = guest_cart(db, race, {race.ticket_types[0]: 2}, named=1)
    notices = merge_guest_carts(db.session, hashed, buyer.id, NOW)
    merged = account_cart(db, buyer, race)
    assert notices == [] and merged.id == order.id
    assert (merged.buyer_id, merged.guest_key) == (buyer.id, None)
    assert [t.first_name for t in tickets_of(db, merged.id)] == ["Guest", ""]
    assert merged.subtotal == 9000


def test_two_carts_for_one_race_merge_without_losing_a_runner(db, race, buyer):
    ten_k, five_k, _ = race.ticket_types
    mine = make_cart(db, race, {ten_k: 1}, buyer=buyer)
    hashed, guest = guest_cart(db, race, {ten_k: 2, five_k: 1}, named=2)
    other_race = make_race(db, slug="hill", starts_at=NOW + timedelta(days=60), tickets=[("Hill", 2000, 10)])
    guest_cart(db, other_race, {other_race.ticket_types[0]: 1})  # another visitor's: untouched

    merge_guest_carts(db.session, hashed, buyer.id, NOW)

    merged = account_cart(db, buyer, race)
    assert merged.id == mine.id
    names = sorted(t.first_name for t in tickets_of(db, merged.id))
    assert names == ["", "Ada", "Guest", "Guest"]
    assert db.session.get(Order, guest.id) is None  # the guest's cart is gone, its tickets moved
    assert merged.subtotal == 3 * 4500 + 3000 and merged.total == merged.subtotal
    assert db.session.scalar(select(func.count(Order.id)).where(Order.guest_key.is_not(None))) == 1


def test_an_account_cart_made_in_another_browser_during_the_merge_is_joined_not_a_500(db, race, buyer, monkeypatch):
    ten_k = race.ticket_types[0]
    mine = make_cart(db, race, {ten_k: 1}, buyer=buyer)  # made by the other browser just before our flush
    hashed, guest = guest_cart(db, race, {ten_k: 1}, named=1)
    looked = []

    def find_cart_racing(session, owner, race_id, *, lock=False):  # our first look came before the other browser's insert
        looked.append(race_id)
        return None if len(looked) == 1 else cart_service.find_cart(session, owner, race_id, lock=lock)

    monkeypatch.setattr("services.guest_carts.find_cart", find_cart_racing)
    assert merge_guest_carts(db.session, hashed, buyer.id, NOW) == []
    merged = account_cart(db, buyer, race)
    assert merged.id == mine.id and sorted(t.first_name for t in tickets_of(db, merged.id)) == ["Ada", "Guest"]
    assert db.session.get(Order, guest.id) is None


def test_every_cart_of_the_visitor_is_merged_race_by_race(db, race, buyer):
    other_race = make_race(db, slug="hill", starts_at=NOW + timedelta(days=60), tickets=[("Hill", 2000, 10)])
    key = new_guest_key()
    hashed, _ = guest_cart(db, race, {race.ticket_types[0]: 1}, key=key)
    guest_cart(db, other_race, {other_race.ticket_types[0]: 2}, key=key)
    merge_guest_carts(db.session, hashed, buyer.id, NOW)
    assert cart_count(db.session, CartOwner(profile_id=buyer.id), NOW).tickets == 3
    assert cart_count(db.session, CartOwner(profile_id=buyer.id), NOW).races == 2


def test_the_account_s_own_code_is_kept(db, race, buyer):
    ten_k = race.ticket_types[0]
    theirs, guests = make_code(db, race, code="MINE", percent_off=10), make_code(db, race, code="GUEST", percent_off=50)
    make_cart(db, race, {ten_k: 1}, buyer=buyer, code=theirs)
    hashed, guest = guest_cart(db, race, {ten_k: 1})
    cart_service.apply_code(db.session, guest, race, "GUEST", NOW)

    assert merge_guest_carts(db.session, hashed, buyer.id, NOW) == []
    merged = account_cart(db, buyer, race)
    assert merged.discount_code_id == theirs.id != guests.id
    assert merged.discount == 900


def test_the_guest_s_code_comes_along_when_it_still_applies(db, race, buyer):
    ten_k = race.ticket_types[0]
    code = make_code(db, race, code="FRIENDS", percent_off=20)
    make_cart(db, race, {ten_k: 1}, buyer=buyer)
    hashed, guest = guest_cart(db, race, {ten_k: 1})
    cart_service.apply_code(db.session, guest, race, "FRIENDS", NOW)

    assert merge_guest_carts(db.session, hashed, buyer.id, NOW) == []
    merged = account_cart(db, buyer, race)
    assert merged.discount_code_id == code.id and merged.discount == 2 * 4500 // 5


def test_a_guest_code_that_no_longer_applies_is_dropped_and_the_buyer_told(db, race, buyer):
    ten_k = race.ticket_types[0]
    code = make_code(db, race, code="EARLY", percent_off=20, ends_at=NOW + timedelta(hours=1))
    hashed, guest = guest_cart(db, race, {ten_k: 1})
    cart_service.apply_code(db.session, guest, race, "EARLY", NOW)
    later = NOW + timedelta(hours=2)

    notices = merge_guest_carts(db.session, hashed, buyer.id, later)

    merged = account_cart(db, buyer, race)
    assert merged.discount_code_id is None and merged.discount == 0 and merged.total == 4500
    assert len(notices) == 1 and notices[0].startswith("The code EARLY no longer applies to your cart, so it was taken off:")
    assert code.code in notices[0] and "expired" in notices[0]


def test_blank_tickets_go_first_when_a_type_would_pass_the_limit(db, race, buyer):
    ten_k = race.ticket_types[0]
    make_cart(db, race, {ten_k: 6}, buyer=buyer, complete=False)  # six blank
    hashed, _ = guest_cart(db, race, {ten_k: 7}, named=3)          # three named, four blank

    notices = merge_guest_carts(db.session, hashed, buyer.id, NOW)

    tickets = tickets_of(db, account_cart(db, buyer, race).id)
    assert len(tickets) == 10 and sum(1 for t in tickets if t.first_name == "Guest") == 3
    assert notices == ["Your carts together had more than 10 10K tickets, so we took out 3 that had no runner yet."]


def test_runners_with_details_are_never_dropped_even_past_the_limit(db, race, buyer):
    ten_k = race.ticket_types[0]
    make_cart(db, race, {ten_k: 8}, buyer=buyer)           # eight complete runners
    hashed, _ = guest_cart(db, race, {ten_k: 5}, named=4)  # four named, one blank

    merge_guest_carts(db.session, hashed, buyer.id, NOW)

    merged = account_cart(db, buyer, race)
    tickets = tickets_of(db, merged.id)
    assert len(tickets) == 12 and all(t.first_name for t in tickets)
    view = view_cart(db.session, merged, NOW)
    assert not view.ready
    assert ("You can buy at most 10 tickets for the 10K in one order; your cart has 12. Remove some to continue."
            in view.problems)


def test_a_key_with_no_cart_merges_nothing(db, race, buyer):
    assert merge_guest_carts(db.session, guest_key_hash(new_guest_key()), buyer.id, NOW) == []
    assert account_cart(db, buyer, race) is None


# --- expiry ------------------------------------------------------------------------------------

def test_guest_carts_unchanged_for_a_week_are_deleted_with_their_runners(db, race, buyer):
    ten_k = race.ticket_types[0]
    _, stale = guest_cart(db, race, {ten_k: 2}, named=2)
    _, fresh = guest_cart(db, race, {ten_k: 1}, now=NOW + timedelta(days=3))
    account = make_cart(db, race, {ten_k: 1}, buyer=buyer)
    account.updated_at = NOW - timedelta(days=30)
    db.session.commit()
    stale_id, fresh_id, account_id = stale.id, fresh.id, account.id

    assert expire_guest_carts(db.session, NOW + timedelta(days=7, seconds=-1)) == 0
    assert expire_guest_carts(db.session, NOW + timedelta(days=7, seconds=1)) == 1

    db.session.expire_all()
    assert db.session.get(Order, stale_id) is None and tickets_of(db, stale_id) == []
    assert db.session.get(Order, fresh_id) is not None
    assert db.session.get(Order, account_id) is not None  # an account's cart is theirs to keep


def test_a_change_to_a_guest_cart_starts_its_week_again(db, race):
    ten_k = race.ticket_types[0]
    key = new_guest_key()
    _, order = guest_cart(db, race, {ten_k: 1}, key=key)
    cart_service.set_quantity(db.session, order, race, ten_k.id, 2, NOW + timedelta(days=6))
    assert expire_guest_carts(db.session, NOW + timedelta(days=8)) == 0
    assert expire_guest_carts(db.session, NOW + timedelta(days=13, hours=1)) == 1


def test_filling_in_a_runner_starts_a_guest_cart_s_week_again(db, race):
    ten_k = race.ticket_types[0]
    _, order = guest_cart(db, race, {ten_k: 1})
    ticket = tickets_of(db, order.id)[0]
    save_runner(db.session, ticket, RunnerDetails(first_name="Ana", last_name="López", email="ana@example.com",
                                                  runner_fills_in=True),
                race=race, ticket_type=ten_k, waiver=None, now=NOW + timedelta(days=6), ip="")
    assert expire_guest_carts(db.session, NOW + timedelta(days=8)) == 0
    assert expire_guest_carts(db.session, NOW + timedelta(days=13, hours=1)) == 1
