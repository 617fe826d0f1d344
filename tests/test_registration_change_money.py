"""A ticket change's money and pages after a review: a dearer distance's difference is its change order's (refunded
from that order, never from the other runners' share), a cheaper distance sends back what was actually paid, a refused
refund stays on record to be sent again, the status page shows the ticket only to who may act and expires, the payment
page's Cancel closes the change, and a ticket transferred after sign-up gives its runner a link that works."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import current_app
from sqlalchemy import select

from blueprints.ticket_changes import _urls as change_urls
from models import (
    ChangeStatus,
    Order,
    OrderKind,
    OrderStatus,
    Profile,
    Race,
    Refund,
    RefundStatus,
    Registration,
    RegistrationChange,
)
from services import clock
from services.fulfillment import pay_on_test_gateway
from services.order_accounts import order_account
from services.payments import PaymentUnavailable, gateway_for
from services.payments import TestGateway as EmbeddedGateway
from services.refunds import RefundRefused, plan_refund, request_refund
from services.registration_changes.links import status_token
from services.registration_changes.rules import ChangeRefused, ticket_value
from services.registration_changes.start import Actor, NewRunner, start_distance_change, start_transfer
from services.runner_invites import LinkRefused, link_token, open_invitation
from tests.change_factories import buyer_actor, make_change_race, outbox, paid_ticket, ticket_type, urls
from tests.factories import login, make_code, make_paid_order, make_profile
from tests.http import csrf_token


class RefusingGateway(EmbeddedGateway):
    """The test gateway, except that the provider refuses every refund."""

    def refund(self, payment_intent, amount=None, refund_id=None, *, reason="requested_by_customer"):
        raise PaymentUnavailable("the card's bank declined it")


def now() -> datetime:
    return datetime.now(UTC)


def change_distance(db, gateway, registration, name, actor=None):
    new_type = ticket_type(db, db.session.get(Race, registration.race_id), name)
    with current_app.test_request_context():
        return start_distance_change(db.session, gateway, registration, new_type.id,
                                     actor or buyer_actor(db, registration), now(), urls)


def fresh(db, model, key):
    db.session.expire_all()
    return db.session.get(model, key)


def two_tickets(db, race, *, code=None) -> tuple[Order, Registration, Registration]:
    """Ana buys two 10Ks, for Ada and Cy."""
    buyer = make_profile(db, full_name="Ana Buyer", email="ana@example.com")
    order = make_paid_order(db, race, {ticket_type(db, race, "10K"): 2}, buyer=buyer, code=code,
                            runners=[{"first_name": "Ada", "last_name": "L", "email": "ada@example.com"},
                                     {"first_name": "Cy", "last_name": "P", "email": "cy@example.com"}])
    ada, cy = db.session.scalars(select(Registration).where(Registration.order_id == order.id)
                                 .order_by(Registration.id))
    return order, ada, cy


# --- 1. a dearer distance's difference is its change order's money ----------------------------------

def test_refunding_an_upgraded_ticket_takes_only_its_own_share_and_the_change_order_refunds_on_its_own(db, app):
    race = make_change_race(db)
    order, ada, cy = two_tickets(db, race)
    change_order = db.session.get(Order, change_distance(db, gateway_for(app), ada, "Half").change.order_id)
    pay_on_test_gateway(db.session, change_order, now())
    assert fresh(db, Registration, ada.id).ticket_type_id == ticket_type(db, race, "Half").id

    # Ada's ticket on the original order is worth what that order charged for it: $45 of $90, not $60.
    plan = plan_refund(db.session, fresh(db, Order, order.id), ada.id)
    assert plan.amount == 4500
    organizer = db.session.get(Profile, race.organizer_id)
    request_refund(db.session, gateway_for(app), order.id, ada.id, organizer, now())
    # Cy's share is whole.
    assert plan_refund(db.session, fresh(db, Order, order.id), cy.id).amount == 4500

    # The $15 paid for the change goes back from its own order, which then closes; the ticket stays a Half.
    change_order = fresh(db, Order, change_order.id)
    assert change_order.kind == OrderKind.CHANGE
    assert plan_refund(db.session, change_order, None).amount == 1500
    refund = request_refund(db.session, gateway_for(app), change_order.id, None, organizer, now())
    assert (refund.amount, refund.status) == (1500, RefundStatus.COMPLETED)
    assert fresh(db, Order, change_order.id).status == OrderStatus.REFUNDED
    with pytest.raises(RefundRefused, match="refunded already"):
        plan_refund(db.session, fresh(db, Order, change_order.id), None)


def test_the_change_orders_page_offers_its_refund(db, app, client):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    change_order = db.session.get(Order, change_distance(db, gateway_for(app), ticket, "Half").change.order_id)
    pay_on_test_gateway(db.session, change_order, now())
    login(client, db.session.get(Profile, race.organizer_id))
    page = client.get(f"/manage/races/{race.id}/orders/{change_order.id}/refund")
    assert page.status_code == 200
    assert "paid for this ticket change ($15.00)" in page.get_data(as_text=True)


def test_after_an_upgrade_a_second_change_counts_what_was_paid_on_both_orders(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    change_order = db.session.get(Order, change_distance(db, gateway_for(app), ticket, "Half").change.order_id)
    pay_on_test_gateway(db.session, change_order, now())
    ticket = fresh(db, Registration, ticket.id)
    assert ticket_value(db.session, ticket) == 6000
    started = change_distance(db, gateway_for(app), ticket, "5K")  # $60 paid in all, the 5K is $25
    assert started.change.amount == -3500



def test_a_move_while_a_dearer_distances_payment_is_being_refunded_waits_until_it_went_through(db, app):
    """The organizer refunds the $15 paid for the Half, and before Stripe says it is done the runner asks to move back
    to the 10K: what the ticket is worth depends on how that refund ends, so the move is refused until it has (it
    sent the $15 back a second time, from the ticket's order). Once the refund is done, the move sends nothing."""
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    change_order = db.session.get(Order, change_distance(db, gateway_for(app), ticket, "Half").change.order_id)
    pay_on_test_gateway(db.session, change_order, now())
    asked = Refund(order_id=change_order.id, race_id=race.id, status=RefundStatus.PENDING, whole_order=True,
                   amount=1500, tax=0, created_at=now())  # asked of Stripe, its event not yet come
    db.session.add(asked)
    db.session.commit()
    with pytest.raises(ChangeRefused, match="refund for an earlier change of this ticket is on its way"):
        change_distance(db, gateway_for(app), fresh(db, Registration, ticket.id), "10K")

    asked = fresh(db, Refund, asked.id)
    asked.status = RefundStatus.COMPLETED
    db.session.commit()
    ticket = fresh(db, Registration, ticket.id)
    assert ticket_value(db.session, ticket) == 4500
    started = change_distance(db, gateway_for(app), ticket, "10K")
    assert started.change.amount == 0 and started.change.refund_id is None


def test_a_dearer_distances_payment_cannot_be_refunded_after_a_cheaper_move_sent_it_back(db, app):
    """The runner went up to the Half ($15 on its own order), then down to the 5K ($35 back from the ticket's order,
    the $15 included): refunding the Half's order too would send the $15 back twice."""
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    change_order = db.session.get(Order, change_distance(db, gateway_for(app), ticket, "Half").change.order_id)
    pay_on_test_gateway(db.session, change_order, now())
    assert change_distance(db, gateway_for(app), fresh(db, Registration, ticket.id), "5K").change.amount == -3500
    with pytest.raises(RefundRefused, match="moved to a cheaper distance"):
        plan_refund(db.session, fresh(db, Order, change_order.id), None)

# --- 2. a cheaper distance sends back what was paid ----------------------------------------------------

def test_a_cheaper_distance_refunds_the_difference_at_the_discounted_price(db, app):
    """A 10K bought at 50 % off for $22.50, moved to the 5K ($20.00 cheaper at list prices): $10.00 goes back."""
    race = make_change_race(db)
    code = make_code(db, race, percent_off=50)
    order, ada, cy = two_tickets(db, race, code=code)
    assert fresh(db, Order, order.id).total == 4500
    change_distance(db, gateway_for(app), ada, "5K")
    refund = db.session.scalar(select(Refund).where(Refund.order_id == order.id))
    assert (refund.amount, refund.status) == (1000, RefundStatus.COMPLETED)
    # What is left of the order still covers both tickets' shares exactly: $12.50 and $22.50.
    organizer = db.session.get(Profile, race.organizer_id)
    assert plan_refund(db.session, fresh(db, Order, order.id), ada.id).amount == 1250
    request_refund(db.session, gateway_for(app), order.id, ada.id, organizer, now())
    assert plan_refund(db.session, fresh(db, Order, order.id), cy.id).amount == 2250


def test_a_cheaper_distance_on_a_free_ticket_sends_nothing_back_and_says_so(db, app, client):
    race = make_change_race(db)
    code = make_code(db, race, percent_off=100)
    order, ada, _ = two_tickets(db, race, code=code)
    started = change_distance(db, gateway_for(app), ada, "5K")
    assert db.session.scalar(select(Refund.id)) is None
    with current_app.test_request_context():
        token = status_token(started.change, clock.now())
    page = client.get(f"/ticket-changes/done/{token}").get_data(as_text=True)
    assert "no money goes back" in page and "went back" not in page


# --- 3. a refused difference refund stays on record, shown and sent again ------------------------------------

def test_a_refused_difference_refund_is_shown_and_the_organizer_sends_it_again(db, app, client):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    started = change_distance(db, RefusingGateway("http://localhost"), ticket, "5K")
    assert "declined" in started.refund_problem
    change = fresh(db, RegistrationChange, started.change.id)
    failed = db.session.get(Refund, change.refund_id)
    assert (failed.amount, failed.status) == (2000, RefundStatus.FAILED)
    assert fresh(db, Registration, ticket.id).ticket_type_id == ticket_type(db, race, "5K").id

    with current_app.test_request_context():
        token = status_token(change, clock.now())
    page = client.get(f"/ticket-changes/done/{token}").get_data(as_text=True)
    assert "couldn't be sent back yet" in page and "went back" not in page

    order = fresh(db, Order, ticket.order_id)
    assert [line.refund.id for line in order_account(db.session, order).failed] == [failed.id]
    login(client, db.session.get(Profile, race.organizer_id))
    order_path = f"/manage/races/{race.id}/orders/{order.id}"
    assert "Send $20.00 again" in client.get(order_path).get_data(as_text=True)
    sent = client.post(f"{order_path}/refunds/{failed.id}/again", data={"csrf_token": csrf_token(client, order_path)})
    assert sent.status_code == 303
    change = fresh(db, RegistrationChange, change.id)
    again = db.session.get(Refund, change.refund_id)
    assert again.id != failed.id and (again.amount, again.status) == (2000, RefundStatus.COMPLETED)
    assert order_account(db.session, fresh(db, Order, order.id)).failed == []
    assert "went back to the card" in client.get(f"/ticket-changes/done/{token}").get_data(as_text=True)
    # Once sent, there is nothing to send again.
    twice = client.post(f"{order_path}/refunds/{failed.id}/again", data={"csrf_token": csrf_token(client, order_path)})
    assert twice.status_code == 404


# --- 4. the status page: the ticket only for who may act on it, and it expires ----------------------------------

def test_the_status_page_links_the_ticket_only_for_its_buyer_and_expires_after_two_days(db, app, client):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    started = change_distance(db, gateway_for(app), ticket, "5K")
    with current_app.test_request_context():
        token = status_token(started.change, clock.now())
    path = f"/ticket-changes/done/{token}"
    code = fresh(db, Registration, ticket.id).ticket_code
    anonymous = client.get(path).get_data(as_text=True)
    assert "now for the 5K" in anonymous and code not in anonymous
    login(client, db.session.get(Profile, db.session.get(Order, ticket.order_id).buyer_id))
    assert code in client.get(path).get_data(as_text=True)
    clock.advance(timedelta(days=2, minutes=1))
    try:
        expired = client.get(path)
    finally:
        clock.reset()
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)


# --- 5. a ticket transferred after sign-up closed ------------------------------------------------------------

def test_an_organizers_transfer_after_sign_up_closed_gives_a_link_that_works_until_the_start(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    after_close = race.registration_closes_at + timedelta(days=1)
    organizer = Actor(race.organizer_id, "olga@example.com", by_organizer=True)
    with current_app.test_request_context():
        start_transfer(db.session, gateway_for(app), ticket, NewRunner("Bo", "Lee", "bo@example.com"), organizer,
                       after_close, urls)
    ticket = fresh(db, Registration, ticket.id)
    assert [m.to_address for m in outbox(db, "runner_invite")] == ["Bo Lee <bo@example.com>"]
    with current_app.test_request_context():
        token = link_token(ticket)
    invitation = open_invitation(db.session, token, after_close + timedelta(hours=1))
    assert invitation.registration.id == ticket.id and invitation.deadline == race.starts_at
    with pytest.raises(LinkRefused) as late:
        open_invitation(db.session, token, race.starts_at)
    assert late.value.status == 410


def test_a_ticket_never_transferred_keeps_the_sign_up_deadline(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race, runner_fills_in=True)
    with current_app.test_request_context():
        token = link_token(ticket)
    with pytest.raises(LinkRefused):
        open_invitation(db.session, token, race.registration_closes_at + timedelta(hours=1))


# --- 6. Cancel on the payment page closes the change ----------------------------------------------------------

LINK = re.compile(r'href="[^"]*/test-gateway/[^"]+"')


def test_cancel_on_the_payment_page_closes_the_change_and_it_may_be_tried_again(db, client):
    race = make_change_race(db, fee=500)
    ticket = paid_ticket(db, race)
    login(client, db.session.get(Profile, db.session.get(Order, ticket.order_id).buyer_id))
    path = f"/tickets/{ticket.ticket_code}/change"
    to_pay = client.post(f"{path}/transfer", data={"csrf_token": csrf_token(client, path), "first_name": "Bo",
                                                   "last_name": "Lee", "email": "bo@example.com"})
    assert to_pay.status_code == 303 and "/test-gateway/" in to_pay.location
    change = db.session.scalar(select(RegistrationChange))
    order = db.session.get(Order, change.order_id)
    gateway_page = to_pay.location.replace("http://localhost", "")
    back = client.post(gateway_page, data={"csrf_token": csrf_token(client, gateway_page), "action": "cancel"})
    assert back.status_code == 303 and "/ticket-changes/cancelled/" in back.location
    page = client.get(back.location)
    assert "Not changed; you may try again" in page.get_data(as_text=True)
    assert fresh(db, RegistrationChange, change.id).status == ChangeStatus.CANCELED
    assert fresh(db, Order, order.id).status == OrderStatus.CANCELED
    again = client.post(f"{path}/transfer", data={"csrf_token": csrf_token(client, path), "first_name": "Bo",
                                                  "last_name": "Lee", "email": "bo@example.com"})
    assert again.status_code == 303 and "/test-gateway/" in again.location


def test_stripes_cancel_address_closes_the_change(db, app, client):
    """Stripe sends the payer back to the cancel URL the change gave it; that address closes the change."""
    race = make_change_race(db, fee=500)
    ticket = paid_ticket(db, race)
    seen = {}

    def capture(change):
        seen["urls"] = change_urls(change)
        return seen["urls"]

    with current_app.test_request_context():
        started = start_transfer(db.session, gateway_for(app), ticket, NewRunner("Bo", "Lee", "bo@example.com"),
                                 buyer_actor(db, ticket), clock.now(), capture)
    success, cancel = seen["urls"]
    assert success != cancel and "/ticket-changes/cancelled/" in cancel
    page = client.get(cancel.replace("http://localhost", ""))
    assert page.status_code == 200 and "Not changed; you may try again" in page.get_data(as_text=True)
    assert fresh(db, RegistrationChange, started.change.id).status == ChangeStatus.CANCELED
    assert fresh(db, Registration, ticket.id).email == "ada@example.com"
