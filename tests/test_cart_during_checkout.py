"""Tickets added in one tab while a checkout in another makes the cart an order at the payment step (Postgres: the
two on their own connections) go to a new cart, never into the order already priced and sent to the payment page."""
from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from extensions import db as database
from models import Order, OrderStatus, Race, Registration, TicketType
from models.order import tickets_touched
from services import clock
from services.cart import CartOwner, add_tickets
from services.inventory import counting_held
from tests.concurrency import finished, in_a_thread, waiting_for, waits_for
from tests.factories import make_cart, make_profile, make_race


def _checkout_making_a_payment(engine, order_id, now):
    """The other tab's checkout, uncommitted: the cart's row locked, the order PENDING with its tickets, as checkout
    writes them; the cart's row stays locked until it commits."""
    checkout = engine.connect()
    checkout.execute(select(Order.id).where(Order.id == order_id).with_for_update())
    checkout.execute(update(Order).where(Order.id == order_id)
                     .values(status=OrderStatus.PENDING, reserved_until=now + timedelta(minutes=30)))
    checkout.execute(tickets_touched(order_id, OrderStatus.PENDING, now))
    checkout.execute(counting_held(order_id))
    return checkout


@pytest.mark.postgres
def test_tickets_added_while_a_checkout_makes_the_cart_a_payment_go_to_a_new_cart(app, db):
    race = make_race(db, tickets=[("10K", 4500, 10)])
    ten_k, buyer, now = race.ticket_types[0], make_profile(db), clock.now()
    cart = make_cart(db, race, {ten_k: 1}, buyer=buyer)
    with app.app_context():
        engine = database.engine
    checkout = _checkout_making_a_payment(engine, cart.id, now)
    added = {}

    def add():
        with app.app_context(), Session(engine) as session:
            order, _ = add_tickets(session, CartOwner(profile_id=buyer.id), session.get(Race, race.id), {ten_k.id: 2},
                                   now)
            added["order"] = order.id

    waits_for(checkout, add)

    assert added["order"] != cart.id
    tickets = dict(db.session.execute(select(Registration.order_id, func.count()).group_by(Registration.order_id)).all())
    assert tickets == {cart.id: 1, added["order"]: 2}
    assert db.session.get(Order, added["order"]).status == OrderStatus.CART


@pytest.mark.postgres
def test_tickets_added_while_a_checkout_holds_the_types_go_through_and_the_checkout_finds_the_cart_changed(app, db):
    """A checkout between its two locks (the tickets' types held, the order not yet): the add, which locks the order
    and then inserts tickets of those types, does not wait for the checkout's type locks, so the two never wait on
    each other in a circle (a deadlock: Postgres ends one of them). The checkout then gets the order and refuses the
    changed cart, as it does any cart changed during it."""
    from services.capacity import order_capacity
    from services.locking import lock_ticket_types

    race = make_race(db, tickets=[("10K", 4500, 10)])
    ten_k, buyer, now = race.ticket_types[0], make_profile(db), clock.now()
    cart = make_cart(db, race, {ten_k: 1}, buyer=buyer)
    with app.app_context():
        engine = database.engine
    checkout = Session(engine)  # the other tab's checkout, between its two locks
    lock_ticket_types(checkout, [ten_k.id])
    added = {}

    def add():
        with app.app_context(), Session(engine) as session:
            order, _ = add_tickets(session, CartOwner(profile_id=buyer.id), session.get(Race, race.id), {ten_k.id: 2},
                                   now)
            session.commit()
            added["order"] = order.id

    tab = threading.Thread(target=add)
    tab.start()
    try:
        tab.join(10)
        assert not tab.is_alive(), "the add waited for the checkout's lock on the ticket type"
        assert added["order"] == cart.id  # not yet paying: the tickets joined the cart
        # The checkout's second lock, the order, is free again, and under it the cart holds three tickets where the
        # checkout read one before its locks: it refuses the changed cart (services/checkout.py, CART_CHANGED).
        locked, tickets, _capacity = order_capacity(checkout, cart.id, now, lock=True)
        assert locked.status == OrderStatus.CART and len(tickets) == 3
    finally:
        checkout.rollback()
        checkout.close()
        tab.join(30)


@pytest.mark.postgres
@pytest.mark.parametrize("same_type", [True, False], ids=["same ticket type", "another ticket type"])
def test_a_checkout_that_waited_for_an_add_to_its_cart_sees_the_added_tickets_and_refuses(app, db, same_type):
    """A checkout waiting for the cart's order while an add holds it (the add has inserted its tickets, not yet
    committed) reads the tickets once it has the lock, so it finds the cart changed. Read in the statement that waited
    for the lock, they were as that statement began: without the add's, so checkout checked one ticket and held spots
    for three."""
    from services.cart import _add_tickets
    from services.checkout import CART_CHANGED, CheckoutRefused, reserve

    race = make_race(db, tickets=[("10K", 4500, 10), ("5K", 3000, 10)])
    ten_k, five_k, buyer, now = *race.ticket_types[:2], make_profile(db), clock.now()
    cart = make_cart(db, race, {ten_k: 1}, buyer=buyer)
    with app.app_context():
        engine = database.engine
    adding = Session(engine)  # the other tab's add, its tickets inserted, not yet committed
    _add_tickets(adding, CartOwner(profile_id=buyer.id), adding.get(Race, race.id), {(ten_k if same_type else five_k).id: 2},
                 now)
    outcome = {}

    def check_out():
        with app.app_context(), Session(engine) as session:
            try:
                reserve(session, session.get(Order, cart.id), now)
                session.commit()
                outcome["reserved"] = True
            except CheckoutRefused as refused:
                session.rollback()
                outcome["refused"] = str(refused)

    waits_for(adding, check_out)  # the checkout waits for the order the add holds
    assert outcome == {"refused": str(CART_CHANGED)}
    assert db.session.get(Order, cart.id).status == OrderStatus.CART
    held = db.session.execute(select(func.count()).where(Registration.order_id == cart.id,
                                                         Registration.order_status != OrderStatus.CART)).scalar_one()
    assert held == 0


@pytest.mark.postgres
@pytest.mark.parametrize("change", ["/races/{slug}/cart/tickets/{ticket}/remove", "/cart/runners/{ticket}"],
                         ids=["a ticket removed", "a runner saved"])
def test_a_cart_changed_while_a_checkout_makes_it_a_payment_is_no_cart_and_the_order_stays(app, db, client, change):
    """The other changes of a cart (removing a ticket, its quantity, its code, a runner's details) wait for a
    checkout of it too, and then find no cart: the order being paid for keeps the tickets and the totals it was
    priced with."""
    from tests.factories import login

    race = make_race(db, tickets=[("10K", 4500, 10)])
    ten_k, buyer, now = race.ticket_types[0], make_profile(db), clock.now()
    cart = make_cart(db, race, {ten_k: 2}, buyer=buyer)
    first, total = min(r.id for r in cart.registrations), cart.total
    login(client, buyer)
    page = client.get("/", headers={"HX-Request": "false"}).get_data(as_text=True)
    csrf = re.search(r'"X-CSRFToken": "([^"]+)"', page)[1]
    with app.app_context():
        engine = database.engine
    checkout = _checkout_making_a_payment(engine, cart.id, now)
    answered = {}

    def remove():
        answered["status"] = client.post(change.format(slug=race.slug, ticket=first),
                                         data={"csrf_token": csrf, "first_name": "Changed"}).status_code

    waits_for(checkout, remove)

    assert answered == {"status": 404}  # no cart, no ticket in an open cart
    db.session.expire_all()
    order = db.session.get(Order, cart.id)
    assert order.status == OrderStatus.PENDING and order.total == total
    assert db.session.execute(select(func.count()).where(Registration.order_id == cart.id)).scalar_one() == 2
    assert "Changed" not in set(db.session.scalars(select(Registration.first_name)
                                                   .where(Registration.order_id == cart.id)))


@pytest.mark.postgres
def test_a_guest_cart_merged_at_sign_in_while_a_checkout_of_the_account_s_cart_makes_it_a_payment_stays_a_cart(app, db):
    """Signing in on a phone with a guest cart while the account's cart for the same race goes to the payment page in
    another browser: the merge waits for that checkout and then finds no account cart, so the guest's tickets become
    the account's new cart; the order being paid for keeps its tickets and its total."""
    from services.guest_carts import guest_key_hash, guest_owner, merge_guest_carts, new_guest_key

    race = make_race(db, tickets=[("10K", 4500, 10), ("5K", 3000, 10)])
    ten_k, five_k = race.ticket_types[:2]
    buyer, now = make_profile(db), clock.now()
    cart = make_cart(db, race, {ten_k: 1}, buyer=buyer)
    total = cart.total
    key = new_guest_key()
    guest, _ = add_tickets(db.session, guest_owner(key), race, {five_k.id: 2}, now)
    db.session.commit()
    with app.app_context():
        engine = database.engine
    checkout = _checkout_making_a_payment(engine, cart.id, now)

    def sign_in():
        with app.app_context(), Session(engine) as session:
            merge_guest_carts(session, guest_key_hash(key), buyer.id, now)

    waits_for(checkout, sign_in)

    db.session.expire_all()
    order = db.session.get(Order, cart.id)
    assert order.status == OrderStatus.PENDING and order.total == total
    tickets = dict(db.session.execute(select(Registration.order_id, func.count()).group_by(Registration.order_id)).all())
    assert tickets == {cart.id: 1, guest.id: 2}
    merged = db.session.get(Order, guest.id)
    assert (merged.status, merged.buyer_id, merged.guest_key) == (OrderStatus.CART, buyer.id, None)


@pytest.mark.postgres
def test_a_waitlist_offer_accepted_while_a_checkout_makes_the_cart_a_payment_goes_to_a_new_cart_with_its_hold(app, db):
    """Accepting a waitlist offer while the same account's cart goes to the payment page in another tab: the offer's
    tickets and its hold go to a new cart together (its spot stays this cart's to take), never into the order being
    paid for, and not one cart holding the tickets while the offer points at the other."""
    from models import WaitlistEntry
    from services.waitlist import accept
    from services.waitlist_offers import run_offers
    from tests.factories import make_paid_order
    from tests.waitlist_factories import in_line, refund_one

    now = clock.now()
    race = make_race(db, tickets=[("10K", 4500, 1), ("5K", 3000, 10)])
    ten_k, five_k, buyer = *race.ticket_types[:2], make_profile(db)
    sold = make_paid_order(db, race, {ten_k: 1})
    offer = in_line(db, race, ten_k, now, email="ann@example.com")
    refund_one(db, sold)
    run_offers(db.session, now)  # the 10K's one spot is held for the offer
    cart = make_cart(db, race, {five_k: 1}, buyer=buyer)
    total = cart.total
    with app.app_context():
        engine = database.engine
    checkout = _checkout_making_a_payment(engine, cart.id, now)
    accepted = {}

    def accept_the_offer():
        with app.app_context(), Session(engine) as session:
            accepted["order"] = accept(session, session.get(WaitlistEntry, offer.id), CartOwner(profile_id=buyer.id),
                                       now).id

    waits_for(checkout, accept_the_offer)

    db.session.expire_all()
    assert accepted["order"] != cart.id
    order = db.session.get(Order, cart.id)
    assert order.status == OrderStatus.PENDING and order.total == total
    tickets = dict(db.session.execute(select(Registration.order_id, func.count())
                                      .where(Registration.race_id == race.id, Registration.refunded_at.is_(None))
                                      .group_by(Registration.order_id)).all())
    assert tickets[cart.id] == 1 and tickets[accepted["order"]] == 1
    assert db.session.get(WaitlistEntry, offer.id).order_id == accepted["order"]


def _deleting_the_race(app, engine, race_id, outcome: dict):
    """The organizer deleting the race on a connection of their own: `outcome` says "deleted" or "refused"."""
    from services.race_editing import RaceHasSales, delete_race

    def delete():
        with app.app_context(), Session(engine) as session:
            try:
                delete_race(session, None, session.get(Race, race_id))
                outcome["deleted"] = True
            except RaceHasSales:
                outcome["refused"] = True
    return delete


@pytest.mark.postgres
def test_a_race_deleted_while_a_checkout_makes_a_cart_a_payment_is_refused_and_the_order_stays(app, db):
    """The organizer deletes a race that has only carts while a buyer's checkout makes one of them a payment: the
    deletion waits for the checkout, then finds a sale and deletes nothing, so the payment page's order survives."""
    race = make_race(db, tickets=[("10K", 4500, 10)])
    cart = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=make_profile(db))
    other = make_cart(db, race, {race.ticket_types[0]: 2}, buyer=make_profile(db))
    with app.app_context():
        engine = database.engine
    checkout = _checkout_making_a_payment(engine, cart.id, clock.now())
    outcome = {}
    delete = _deleting_the_race(app, engine, race.id, outcome)

    waits_for(checkout, delete)

    assert outcome == {"refused": True}
    db.session.expire_all()
    assert db.session.get(Order, cart.id).status == OrderStatus.PENDING
    assert db.session.get(Order, other.id) is not None  # nothing deleted
    assert db.session.execute(select(func.count()).where(Registration.race_id == race.id)).scalar_one() == 3


@pytest.mark.postgres
def test_a_race_deleted_while_a_checkout_holds_its_ticket_types_waits_for_it_and_never_deadlocks(app, db):
    """A checkout between its two locks (the tickets' types held, the order not yet) when the organizer deletes the
    race: the deletion takes the types first too, so it waits, and the checkout gets its order and makes it a
    payment; the deletion then finds the sale. Locking the carts first, each would wait for the other (a deadlock)."""
    from services.locking import lock_order_before_reading, lock_ticket_types

    race = make_race(db, tickets=[("10K", 4500, 10)])
    ten_k, now = race.ticket_types[0], clock.now()
    cart = make_cart(db, race, {ten_k: 1}, buyer=make_profile(db))
    with app.app_context():
        engine = database.engine
    checkout = Session(engine)
    lock_ticket_types(checkout, [ten_k.id])
    outcome = {}
    delete = _deleting_the_race(app, engine, race.id, outcome)

    organizer, raised = in_a_thread(delete)
    try:
        assert waiting_for(checkout)  # the deletion waits for the checkout's hold on the ticket type
        lock_order_before_reading(checkout, cart.id)
        checkout.execute(update(Order).where(Order.id == cart.id)
                         .values(status=OrderStatus.PENDING, reserved_until=now + timedelta(minutes=30)))
        checkout.execute(tickets_touched(cart.id, OrderStatus.PENDING, now))
        checkout.execute(counting_held(cart.id))
        checkout.commit()
    finally:
        checkout.close()
        finished(organizer, raised)

    assert outcome == {"refused": True}
    db.session.expire_all()
    assert db.session.get(Order, cart.id).status == OrderStatus.PENDING


@pytest.mark.postgres
def test_a_guest_cart_merged_into_an_account_just_as_it_expires_is_kept_with_its_runners(app, db):
    """A visitor signs in a week after their last change, just as the expiry job runs: the job skips the cart the
    sign-in holds, which becomes the account's cart, tickets and runners with it (they were deleted under it)."""
    from services.guest_carts import GUEST_CART_LIFETIME, expire_guest_carts, guest_owner, new_guest_key

    race = make_race(db, tickets=[("10K", 4500, 10)])
    buyer, now = make_profile(db), clock.now()
    guest, _ = add_tickets(db.session, guest_owner(new_guest_key()), race, {race.ticket_types[0].id: 2},
                           now - GUEST_CART_LIFETIME - timedelta(minutes=1))
    db.session.commit()
    with app.app_context():
        engine = database.engine
    sign_in = engine.connect()  # the merge, uncommitted: the guest's cart becomes the account's
    sign_in.execute(select(Order.id).where(Order.id == guest.id).with_for_update())
    sign_in.execute(update(Order).where(Order.id == guest.id).values(guest_key=None, buyer_id=buyer.id))
    try:
        with app.app_context(), Session(engine) as job:  # the job does not wait for the sign-in: it skips its cart
            assert expire_guest_carts(job, now) == 0
        sign_in.commit()
    finally:
        sign_in.close()

    db.session.expire_all()
    assert db.session.get(Order, guest.id).buyer_id == buyer.id
    assert db.session.execute(select(func.count()).where(Registration.order_id == guest.id)).scalar_one() == 2


@pytest.mark.postgres
@pytest.mark.parametrize("paying_again", [False, True], ids=["a cart again", "paying again"])
def test_a_late_payment_for_an_order_changed_while_it_arrives_issues_every_ticket_the_order_holds(app, db,
                                                                                                  paying_again):
    """A payment arrives after the order's hold ran out (released, a cart again) while its buyer adds a free ticket
    to it, and perhaps goes to pay again: the payment waits for them, then issues the tickets the order holds now,
    each checked for room and given its code, not only the ones it read before the add."""
    from services.cart import _add_tickets
    from services.fulfillment import Payment, fulfill
    from services.locking import lock_ticket_types

    race = make_race(db, tickets=[("10K", 4500, 10), ("Kids", 0, 10)])
    ten_k, kids, buyer, now = *race.ticket_types[:2], make_profile(db), clock.now()
    cart = make_cart(db, race, {ten_k: 1}, buyer=buyer)  # released back to a cart, its payment page still open
    with app.app_context():
        engine = database.engine
    buyer_s_tab = Session(engine)  # the buyer adding a kids' ticket, inserted, not yet committed
    if paying_again:  # and checking out again: the types held, then the order made a payment with its tickets
        lock_ticket_types(buyer_s_tab, [ten_k.id, kids.id])
    _add_tickets(buyer_s_tab, CartOwner(profile_id=buyer.id), buyer_s_tab.get(Race, race.id), {kids.id: 1}, now)
    if paying_again:
        buyer_s_tab.execute(update(Order).where(Order.id == cart.id)
                            .values(status=OrderStatus.PENDING, reserved_until=now + timedelta(minutes=30)))
        buyer_s_tab.execute(tickets_touched(cart.id, OrderStatus.PENDING, now))
        buyer_s_tab.execute(counting_held(cart.id))
    outcome = {}

    def webhook():
        with app.app_context(), Session(engine) as session:
            outcome["paid"] = fulfill(session, cart.id, Payment(cart.total, cart.currency, "pi_late"), now).result
            session.commit()

    waits_for(buyer_s_tab, webhook)

    assert outcome == {"paid": "paid"}
    db.session.expire_all()
    tickets = list(db.session.scalars(select(Registration).where(Registration.order_id == cart.id)))
    assert len(tickets) == 2 and all(t.ticket_code for t in tickets)
    assert dict(db.session.execute(select(TicketType.id, TicketType.sold_count).where(TicketType.race_id == race.id))
                .all()) == {ten_k.id: 1, kids.id: 1}


@pytest.mark.postgres
def test_a_code_deleted_while_a_checkout_pays_with_it_is_refused_as_used(app, db):
    """The organizer deletes a code nobody has paid with yet, while a checkout makes a cart with it a payment: the
    deletion waits for the checkout and then refuses, as for any used code (it failed at the order's foreign key)."""
    from models import DiscountCode
    from services.discount_codes import CodeInUse, delete_code
    from tests.factories import make_code

    race = make_race(db, tickets=[("10K", 4500, 10)])
    code = make_code(db, race, code="EARLY")
    cart = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=make_profile(db), code=code)
    with app.app_context():
        engine = database.engine
    checkout = _checkout_making_a_payment(engine, cart.id, clock.now())
    outcome = {}

    def delete():
        with app.app_context(), Session(engine) as session:
            try:
                delete_code(session, session.get(DiscountCode, code.id))
                outcome["deleted"] = True
            except CodeInUse:
                outcome["refused"] = True

    waits_for(checkout, delete)

    assert outcome == {"refused": True}
    db.session.expire_all()
    assert db.session.get(Order, cart.id).discount_code_id == code.id
