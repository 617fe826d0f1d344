"""The waitlist's rules: joining and merging, the offer job's order, holds counted like pending orders,
no walk-in while people wait, expiry, pause, accept into the cart, decline and leave."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models import Order, OrderStatus, Registration, WaitlistEntry, WaitlistStatus
from services.capacity import capacity_problems
from services.cart import CartOwner, CartRefused, add_tickets
from services.checkout import SoldOut, release, reserve
from services.inventory import free_spots, spots_left, taken_counts, waitlist_counts
from services.waitlist import (
    LinkRefused,
    WaitlistRefused,
    accept,
    decline,
    entry_for_offer,
    entry_to_leave,
    join,
    leave,
    offer_by_hand,
    position_of,
    race_lines,
    set_paused,
    waitlist_recipients,
)
from services.waitlist_emails import LEAVE_SALT, OFFER_SALT, link_token
from services.waitlist_offers import run_offers
from tests.factories import forged, make_cart, make_profile
from tests.waitlist_factories import emails_to, fill_runners, in_line, refund_one, sold_out_race


@pytest.fixture
def now():
    return datetime.now(UTC).replace(microsecond=0)


def entry(db, entry_id) -> WaitlistEntry:
    return db.session.get(WaitlistEntry, entry_id, populate_existing=True)


def tickets_of(db, order_id) -> list[Registration]:
    return list(db.session.scalars(select(Registration).where(Registration.order_id == order_id)))


# --- joining ----------------------------------------------------------------------------------

def test_joining_a_sold_out_type_puts_you_in_line_and_emails_the_link_to_leave(db, now):
    race, ten_k, _ = sold_out_race(db)
    joined = join(db.session, race, ten_k.id, name="Ann Wait", email="Ann@Example.com", spots=2, now=now)
    assert (joined.entry.email, joined.entry.spots, joined.entry.status) == ("ann@example.com", 2, WaitlistStatus.WAITING)
    assert joined.position == 1 and not joined.merged
    [mail] = emails_to(db, "ann@example.com", "waitlist_joined")
    assert "/waitlist/leave/" in mail.text_body and "2 spots" in mail.text_body


def test_joining_twice_merges_keeping_the_earlier_place(db, now):
    race, ten_k, _ = sold_out_race(db)
    first = in_line(db, race, ten_k, now, email="ann@example.com", spots=1)
    in_line(db, race, ten_k, now + timedelta(minutes=1), email="bob@example.com")
    again = join(db.session, race, ten_k.id, name="Ann B. Wait", email="ANN@example.com", spots=3,
                 now=now + timedelta(minutes=2))
    assert again.merged and again.entry.id == first.id and again.position == 1
    assert (entry(db, first.id).name, entry(db, first.id).spots) == ("Ann B. Wait", 3)
    assert len(db.session.scalars(select(WaitlistEntry)).all()) == 2


def test_a_type_with_spots_left_has_no_waitlist(db, now):
    race, ten_k, orders = sold_out_race(db)
    refund_one(db, orders[0])
    with pytest.raises(WaitlistRefused) as refused:
        join(db.session, race, ten_k.id, name="Ann", email="ann@example.com", spots=1, now=now)
    assert "isn't sold out" in refused.value.problems[None]


@pytest.mark.parametrize(("name", "email", "spots", "field"), [
    ("", "ann@example.com", 1, "name"), ("A" * 121, "ann@example.com", 1, "name"),
    ("Ann", "not-an-address", 1, "email"), ("Ann", "", 1, "email"),
    ("Ann", "ann@example.com", 0, "spots"), ("Ann", "ann@example.com", 5, "spots"),
    ("Ann", "ann@example.com", None, "spots"),
])
def test_bad_join_values_are_refused_by_field_and_nothing_is_saved(db, now, name, email, spots, field):
    race, ten_k, _ = sold_out_race(db)
    with pytest.raises(WaitlistRefused) as refused:
        join(db.session, race, ten_k.id, name=name, email=email, spots=spots, now=now)
    assert field in refused.value.problems
    assert db.session.scalars(select(WaitlistEntry)).all() == []


def test_a_ticket_type_of_another_race_is_refused(db, now):
    race, _, _ = sold_out_race(db)
    _, other_type, _ = sold_out_race(db)
    with pytest.raises(WaitlistRefused) as refused:
        join(db.session, race, other_type.id, name="Ann", email="ann@example.com", spots=1, now=now)
    assert "isn't part of this race" in refused.value.problems[None]


# --- the offer job and the inventory rule ----------------------------------------------------

def test_a_freed_spot_goes_to_the_head_of_the_line_never_to_a_walk_in(db, now):
    race, ten_k, orders = sold_out_race(db)
    ann = in_line(db, race, ten_k, now, email="ann@example.com")
    refund_one(db, orders[0])
    assert free_spots(db.session, [ten_k], now)[ten_k.id] == 1
    assert spots_left(db.session, [ten_k], now)[ten_k.id] == 0          # the public sees none
    walk_in = CartOwner(profile_id=make_profile(db).id)
    with pytest.raises(CartRefused):
        add_tickets(db.session, walk_in, race, {ten_k.id: 1}, now)
    assert run_offers(db.session, now).offered == 1
    assert entry(db, ann.id).status == WaitlistStatus.OFFERED
    assert entry(db, ann.id).offer_expires_at == now + timedelta(hours=24)
    [offer] = emails_to(db, "ann@example.com", "waitlist_offer")
    assert "1 spot in the 10K" in offer.subject and "/waitlist/offer/" in offer.text_body


def test_a_live_offer_counts_against_capacity_like_a_pending_order(db, now):
    race, ten_k, orders = sold_out_race(db)
    in_line(db, race, ten_k, now, email="ann@example.com")
    refund_one(db, orders[0])
    run_offers(db.session, now)
    assert taken_counts(db.session, [ten_k.id], now)[ten_k.id] == 2
    assert free_spots(db.session, [ten_k], now)[ten_k.id] == 0
    # a walk-in's cart made before the sell-out can't take it at checkout either
    cart = make_cart(db, race, {ten_k: 1})
    assert capacity_problems(db.session, tickets_of(db, cart.id), now) == ["The 10K is sold out."]
    # and once the hold is over, the spot counts as free again
    assert free_spots(db.session, [ten_k], now + timedelta(hours=25))[ten_k.id] == 1


def test_offers_go_in_order_and_the_head_wanting_more_gets_what_is_free(db, now):
    race, ten_k, orders = sold_out_race(db, capacity=3)
    ann = in_line(db, race, ten_k, now, email="ann@example.com", spots=3)
    bob = in_line(db, race, ten_k, now + timedelta(seconds=1), email="bob@example.com", spots=1)
    refund_one(db, orders[0])
    run_offers(db.session, now)
    assert (entry(db, ann.id).status, entry(db, ann.id).offered_spots) == (WaitlistStatus.OFFERED, 1)
    assert entry(db, bob.id).status == WaitlistStatus.WAITING       # never skipped ahead of the head
    [offer] = emails_to(db, "ann@example.com", "waitlist_offer")
    assert "You asked for 3, but only 1 is free" in offer.text_body
    refund_one(db, orders[1])
    refund_one(db, orders[2])
    run_offers(db.session, now)
    assert (entry(db, bob.id).status, entry(db, bob.id).offered_spots) == (WaitlistStatus.OFFERED, 1)


def test_raising_the_capacity_offers_the_new_spots(db, now):
    race, ten_k, _ = sold_out_race(db)
    ann = in_line(db, race, ten_k, now, email="ann@example.com", spots=2)
    bob = in_line(db, race, ten_k, now + timedelta(seconds=1), email="bob@example.com", spots=2)
    ten_k = db.session.get(type(ten_k), ten_k.id)
    ten_k.capacity = 6
    db.session.commit()
    assert run_offers(db.session, now).offered == 2
    assert entry(db, ann.id).offered_spots == 2 and entry(db, bob.id).offered_spots == 2
    # nobody waits any more: the public sees what is left
    assert spots_left(db.session, [ten_k], now)[ten_k.id] == 0
    ten_k.capacity = 7
    db.session.commit()
    assert spots_left(db.session, [ten_k], now)[ten_k.id] == 1


def test_a_lapsed_offer_passes_to_the_next_and_says_so(db, now):
    race, ten_k, orders = sold_out_race(db)
    ann = in_line(db, race, ten_k, now, email="ann@example.com")
    bob = in_line(db, race, ten_k, now + timedelta(seconds=1), email="bob@example.com")
    refund_one(db, orders[0])
    run_offers(db.session, now)
    assert run_offers(db.session, now + timedelta(hours=23)).offered == 0    # still held
    later = now + timedelta(hours=24)
    result = run_offers(db.session, later)
    assert (result.lapsed, result.offered) == (1, 1)
    assert entry(db, ann.id).status == WaitlistStatus.EXPIRED
    assert entry(db, bob.id).status == WaitlistStatus.OFFERED
    assert len(emails_to(db, "ann@example.com", "waitlist_lapsed")) == 1


def test_paused_offers_wait_and_the_spot_still_is_not_sold_to_walk_ins(db, now):
    race, ten_k, orders = sold_out_race(db)
    ann = in_line(db, race, ten_k, now, email="ann@example.com")
    refund_one(db, orders[0])
    set_paused(db.session, race, True)
    assert run_offers(db.session, now).offered == 0
    assert spots_left(db.session, [ten_k], now)[ten_k.id] == 0
    assert offer_by_hand(db.session, entry(db, ann.id), now) == 1        # by hand, even while paused
    set_paused(db.session, race, False)
    assert run_offers(db.session, now).offered == 0                       # nothing left to offer


def test_hold_time_is_the_races_setting(db, now):
    race, ten_k, orders = sold_out_race(db, waitlist_hold_hours=6)
    ann = in_line(db, race, ten_k, now, email="ann@example.com")
    refund_one(db, orders[0])
    run_offers(db.session, now)
    assert entry(db, ann.id).offer_expires_at == now + timedelta(hours=6)


def test_offer_by_hand_needs_a_free_spot(db, now):
    race, ten_k, _ = sold_out_race(db)
    ann = in_line(db, race, ten_k, now, email="ann@example.com")
    with pytest.raises(Exception, match="raise its capacity first"):
        offer_by_hand(db.session, entry(db, ann.id), now)
    assert entry(db, ann.id).status == WaitlistStatus.WAITING



def test_someone_who_left_the_line_a_moment_ago_is_not_offered_spots_by_hand(db, now):
    """The organizer's page still showed Ann waiting when she left by her link: the offer by hand finds her gone."""
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    race, ten_k, orders = sold_out_race(db)
    ann = in_line(db, race, ten_k, now, email="ann@example.com")
    refund_one(db, orders[0])
    on_the_page = entry(db, ann.id)
    with Session(db.engine) as her_link:  # her own request, on a connection of its own
        her_link.execute(update(WaitlistEntry).where(WaitlistEntry.id == ann.id).values(status=WaitlistStatus.LEFT))
        her_link.commit()
    with pytest.raises(Exception, match="isn't waiting"):
        offer_by_hand(db.session, on_the_page, now)
    assert entry(db, ann.id).status == WaitlistStatus.LEFT and entry(db, ann.id).offered_spots in (0, None)

# --- the offer link: accept, decline, expiry --------------------------------------------------

def offered(db, now, *, spots=1, capacity=2):
    race, ten_k, orders = sold_out_race(db, capacity=capacity)
    ann = in_line(db, race, ten_k, now, email="ann@example.com", spots=spots)
    bob = in_line(db, race, ten_k, now + timedelta(seconds=1), email="bob@example.com")
    for order in orders[:spots]:
        refund_one(db, order)
    run_offers(db.session, now)
    return race, ten_k, entry(db, ann.id), bob


def test_accepting_within_the_hold_fills_the_cart_and_reserve_takes_the_held_spot(db, now):
    race, ten_k, ann, bob = offered(db, now)
    token = link_token(ann, OFFER_SALT)
    buyer = make_profile(db)
    order = accept(db.session, entry_for_offer(db.session, token, now), CartOwner(profile_id=buyer.id), now)
    assert [r.ticket_type_id for r in tickets_of(db, order.id)] == [ten_k.id]
    assert entry(db, ann.id).order_id == order.id
    # the walk-in rule still holds for everyone else, but this cart may take its own held spot
    assert spots_left(db.session, [ten_k], now)[ten_k.id] == 0
    assert spots_left(db.session, [ten_k], now, order_id=order.id)[ten_k.id] == 1
    fill_runners(db.session, order)
    reserve(db.session, db.session.get(Order, order.id), now + timedelta(hours=1))
    assert db.session.get(Order, order.id, populate_existing=True).status == OrderStatus.PENDING
    assert entry(db, ann.id).status == WaitlistStatus.ACCEPTED
    # the pending order holds the spot now, once: nothing is free for Bob
    assert run_offers(db.session, now + timedelta(hours=1)).offered == 0
    assert entry(db, bob.id).status == WaitlistStatus.WAITING


def test_backing_out_of_the_payment_page_keeps_the_offers_hold_until_its_own_end(db, now):
    """Cancel on the payment page (or its hold running out) releases the order, not the offer: the runner's
    spot stays theirs until the offer expires, and they can still pay for it."""
    race, ten_k, ann, bob = offered(db, now)
    buyer = make_profile(db)
    order = accept(db.session, entry_for_offer(db.session, link_token(ann, OFFER_SALT), now),
                   CartOwner(profile_id=buyer.id), now)
    fill_runners(db.session, order)
    reserve(db.session, db.session.get(Order, order.id), now + timedelta(minutes=1))
    pending = db.session.get(Order, order.id, populate_existing=True)
    release(db.session, pending, reason=OrderStatus.CANCELED, now=now + timedelta(minutes=2))
    db.session.commit()
    assert pending.status == OrderStatus.CART and entry(db, ann.id).status == WaitlistStatus.OFFERED
    assert run_offers(db.session, now + timedelta(minutes=3)).offered == 0   # nothing free for Bob
    assert entry(db, bob.id).status == WaitlistStatus.WAITING
    reserve(db.session, db.session.get(Order, order.id), now + timedelta(minutes=4))   # Ann pays after all
    assert db.session.get(Order, order.id, populate_existing=True).status == OrderStatus.PENDING


def test_a_release_after_the_offer_ended_passes_the_spot_on(db, now):
    race, ten_k, ann, bob = offered(db, now)
    order = accept(db.session, entry_for_offer(db.session, link_token(ann, OFFER_SALT), now),
                   CartOwner(profile_id=make_profile(db).id), now)
    fill_runners(db.session, order)
    reserve(db.session, db.session.get(Order, order.id), now + timedelta(minutes=1))
    late = now + timedelta(hours=25)   # past the 24-hour offer, and past the order's own hold
    release(db.session, db.session.get(Order, order.id, populate_existing=True), now=late)
    db.session.commit()
    assert entry(db, ann.id).status == WaitlistStatus.ACCEPTED
    assert run_offers(db.session, late).offered == 1 and entry(db, bob.id).status == WaitlistStatus.OFFERED


def test_a_second_accept_opens_the_same_cart(db, now):
    race, ten_k, ann, _ = offered(db, now)
    owner = CartOwner(profile_id=make_profile(db).id)
    first = accept(db.session, ann, owner, now)
    second = accept(db.session, entry(db, ann.id), owner, now)
    assert first.id == second.id and len(tickets_of(db, first.id)) == 1


def test_accepting_after_the_hold_is_refused_as_gone(db, now):
    race, ten_k, ann, _ = offered(db, now)
    token = link_token(ann, OFFER_SALT)
    with pytest.raises(LinkRefused) as refused:
        entry_for_offer(db.session, token, now + timedelta(hours=24))
    assert refused.value.status == 410 and "expired" in refused.value.title


def test_the_cart_of_an_offer_that_lapsed_cannot_be_reserved_when_the_line_has_it(db, now):
    race, ten_k, ann, bob = offered(db, now)
    order = accept(db.session, ann, CartOwner(profile_id=make_profile(db).id), now)
    fill_runners(db.session, order)
    later = now + timedelta(hours=25)
    run_offers(db.session, later)                       # Ann lapsed; Bob holds the spot
    assert entry(db, bob.id).status == WaitlistStatus.OFFERED
    with pytest.raises(SoldOut):
        reserve(db.session, db.session.get(Order, order.id), later)



def test_an_offer_accepted_a_moment_ago_is_not_declined(db, now):
    """Ann accepted on her phone while the decline button was pressed on her laptop: the decline leaves the accepted
    offer and its cart as they are, and says so (False)."""
    from sqlalchemy.orm import Session

    race, ten_k, ann, bob = offered(db, now)
    on_the_laptop = entry(db, ann.id)
    with Session(db.engine) as phone:
        accept(phone, phone.get(WaitlistEntry, ann.id), CartOwner(profile_id=make_profile(db).id), now)
    assert decline(db.session, on_the_laptop, now) is False
    assert entry(db, ann.id).status == WaitlistStatus.OFFERED and entry(db, ann.id).order_id is not None
    assert entry(db, bob.id).status == WaitlistStatus.WAITING

def test_declining_passes_the_spot_on_at_once(db, now):
    race, ten_k, ann, bob = offered(db, now)
    decline(db.session, ann, now)
    assert entry(db, ann.id).status == WaitlistStatus.DECLINED
    assert entry(db, bob.id).status == WaitlistStatus.OFFERED
    with pytest.raises(LinkRefused) as refused:
        entry_for_offer(db.session, link_token(ann, OFFER_SALT), now)
    assert refused.value.status == 410


def test_a_forged_or_wrong_purpose_link_is_not_found(db, now):
    race, ten_k, ann, _ = offered(db, now)
    for token in ["nonsense", link_token(ann, LEAVE_SALT), forged(link_token(ann, OFFER_SALT))]:
        with pytest.raises(LinkRefused) as refused:
            entry_for_offer(db.session, token, now)
        assert refused.value.status == 404


def test_leaving_by_the_link_frees_a_held_offer_and_confirms(db, now):
    race, ten_k, ann, bob = offered(db, now)
    found = entry_to_leave(db.session, link_token(ann, LEAVE_SALT), now)
    assert leave(db.session, found, now) is True
    assert leave(db.session, entry(db, ann.id), now) is False           # twice is harmless
    assert len(emails_to(db, "ann@example.com", "waitlist_left")) == 1
    run_offers(db.session, now)
    assert entry(db, bob.id).status == WaitlistStatus.OFFERED


def test_the_leave_link_expires_when_the_race_starts(db, now):
    race, ten_k, ann, _ = offered(db, now)
    with pytest.raises(LinkRefused) as refused:
        entry_to_leave(db.session, link_token(ann, LEAVE_SALT), race.starts_at)
    assert refused.value.status == 410


# --- what the organizer and other features read --------------------------------------------

def test_lines_lengths_and_recipients(db, now):
    race, ten_k, ann, bob = offered(db, now)
    carl = in_line(db, race, ten_k, now + timedelta(seconds=2), email="carl@example.com")
    [line] = race_lines(db.session, race, now)
    assert [e.email for e in line.entries] == ["ann@example.com", "bob@example.com", "carl@example.com"]
    assert line.waiting == 2 and line.free == 0
    assert waitlist_counts(db.session, [ten_k.id], now).waiting[ten_k.id] == 2
    assert waitlist_recipients(db.session, race.id) == [
        ("ann@example.com", "Ann"), ("bob@example.com", "Bob"), ("carl@example.com", "Carl")]
    assert waitlist_recipients(db.session, race.id, ten_k.id + 999) == []
    assert position_of(db.session, carl) == 3


def test_a_guest_cart_merged_at_sign_in_keeps_the_offers_hold(db, now):
    from services.guest_carts import guest_owner, merge_guest_carts, new_guest_key
    race, ten_k, ann, _ = offered(db, now)
    guest = guest_owner(new_guest_key())
    order = accept(db.session, ann, guest, now)
    buyer = make_profile(db)
    make_cart(db, race, {}, buyer=buyer)          # the account has its own (empty) cart for this race
    merge_guest_carts(db.session, guest.guest_key, buyer.id, now)
    account_cart = db.session.scalar(select(Order).where(Order.buyer_id == buyer.id, Order.status == OrderStatus.CART))
    assert account_cart.id != order.id
    assert entry(db, ann.id).order_id == account_cart.id
    assert spots_left(db.session, [ten_k], now, order_id=account_cart.id)[ten_k.id] == 1
