"""Paid twice: an order's two payment pages (two tabs, or a retry that opened a new Checkout Session)
both paid. The first payment taken keeps the order; the other is recorded, refunded at once through
Stripe with reason "duplicate", shown to the organizer until it is back with the buyer, and settled
by its refund events in whatever order they come. Never lost silently (DESIGN.md, invariant 2)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models import DuplicatePayment, DuplicatePaymentStatus, Order, OrderStatus, OutboxMessage, Registration
from services import clock
from services.stored_sentences import worded
from tests.doubles.stripe_api import StripeServer
from tests.factories import login, make_cart, make_paid_order, make_profile, make_race
from tests.http import csrf_token
from tests.manage_access import EXPECTED_GET, VISITORS, assert_answer, visitor_client
from tests.test_payments import deliver, pay, stripe_app, stripe_server  # noqa: F401  (fixtures)
from tests.test_refunds import order_url, text_of


@pytest.fixture
def organizer(db):
    return make_profile(db, full_name="Olga Organizer", email="olga@example.com")


@pytest.fixture
def race(db, organizer):
    return make_race(db, organizer=organizer, slug="lake-run", title="Lake Run", tickets=[("10K", 4500, 10)])


@pytest.fixture
def organizer_client(app, organizer):
    client = app.test_client()
    login(client, organizer)
    return client


def fresh(db, order_id) -> Order:
    db.session.expire_all()
    return db.session.get(Order, order_id)


def open_two_payment_pages(app, db, stripe: StripeServer, race, buyer=None) -> tuple[Order, str, str]:
    """The buyer opens checkout, comes back, and opens it again: two open Checkout Sessions of one order."""
    buyer = buyer or make_profile(db, full_name="Bea Buyer")
    order = make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer)
    client = app.test_client()
    login(client, buyer)
    assert pay(client, order).status_code == 303
    first = fresh(db, order.id).stripe_session_id
    assert client.get(f"/orders/{order.id}/cancel").status_code == 303
    stripe.sessions[first]["status"] = "open"  # the first tab's page is still on screen, and gets paid
    clock.advance(timedelta(seconds=30))  # a moment later: a new reservation, so a new Checkout Session
    assert pay(client, order).status_code == 303
    second = fresh(db, order.id).stripe_session_id
    assert second != first
    return fresh(db, order.id), first, second


def intent_of(stripe: StripeServer, session_id: str) -> str:
    return stripe.sessions[session_id]["payment_intent"]


def duplicates(db, order_id) -> list[DuplicatePayment]:
    db.session.expire_all()
    return list(db.session.scalars(select(DuplicatePayment).where(DuplicatePayment.order_id == order_id)))


def emails(db, order_id, kind) -> int:
    return db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.order_id == order_id,
                                                                         OutboxMessage.kind == kind))


def stripe_refunds_of(stripe: StripeServer, intent: str) -> list[dict]:
    return [r for r in stripe.refunds.values() if r["payment_intent"] == intent]


# --- both paid, in either order ----------------------------------------------------------------

@pytest.mark.parametrize("first_to_arrive", ["first page", "second page"])
def test_both_payment_pages_paid_keeps_one_payment_and_refunds_the_other(stripe_app, stripe_server, app, db, race,
                                                                          first_to_arrive):
    order, first, second = open_two_payment_pages(app, db, stripe_server, race)
    completed = {"first page": stripe_server.pay_session(first), "second page": stripe_server.pay_session(second)}
    kept, extra = (first, second) if first_to_arrive == "first page" else (second, first)
    webhook = app.test_client()

    assert deliver(webhook, completed[first_to_arrive]).json["outcome"] == "paid"
    other = "second page" if first_to_arrive == "first page" else "first page"
    assert deliver(webhook, completed[other]).json["outcome"] == "duplicate_payment"

    saved = fresh(db, order.id)
    assert saved.status == OrderStatus.PAID and saved.payment_intent_id == intent_of(stripe_server, kept)
    tickets = db.session.scalars(select(Registration.ticket_code).where(Registration.order_id == order.id)).all()
    assert len(tickets) == 2 and all(tickets)
    assert emails(db, order.id, "order_confirmation") == 1
    (duplicate,) = duplicates(db, order.id)
    assert (duplicate.payment_intent_id, duplicate.checkout_session_id, duplicate.amount, duplicate.currency) == (
        intent_of(stripe_server, extra), extra, 9000, "USD")
    # Sent back at once, whole, as a duplicate; the kept payment is untouched.
    (sent_back,) = stripe_refunds_of(stripe_server, intent_of(stripe_server, extra))
    assert sent_back["amount"] == 9000 and sent_back["reason"] == "duplicate"
    assert stripe_refunds_of(stripe_server, intent_of(stripe_server, kept)) == []
    assert duplicate.status == DuplicatePaymentStatus.PENDING and duplicate.gateway_refund_id == sent_back["id"]


def test_each_delivery_of_the_second_payment_records_and_refunds_it_once(stripe_app, stripe_server, app, db, race):
    order, first, second = open_two_payment_pages(app, db, stripe_server, race)
    webhook = app.test_client()
    deliver(webhook, stripe_server.pay_session(first))
    second_completed = stripe_server.pay_session(second)

    outcomes = [deliver(webhook, second_completed).json["outcome"], deliver(webhook, second_completed).json["outcome"],
                deliver(webhook, stripe_server.event("checkout.session.completed",
                                                     stripe_server.sessions[second])).json["outcome"]]

    assert outcomes == ["duplicate_payment", "duplicate", "duplicate_payment"]
    assert len(duplicates(db, order.id)) == 1
    assert len(stripe_refunds_of(stripe_server, intent_of(stripe_server, second))) == 1
    assert emails(db, order.id, "order_confirmation") == 1


# --- its refund events -------------------------------------------------------------------------

def test_the_second_payments_refund_events_settle_its_record_and_tell_the_buyer(stripe_app, stripe_server, app, db,
                                                                                race):
    order, first, second = open_two_payment_pages(app, db, stripe_server, race)
    webhook = app.test_client()
    deliver(webhook, stripe_server.pay_session(first))
    already = {e["id"] for e in stripe_server.events.values()}
    deliver(webhook, stripe_server.pay_session(second))
    refund_events = [e for e in stripe_server.payment_events(intent_of(stripe_server, second))
                     if e["id"] not in already and e["type"] in ("refund.created", "charge.refunded")]

    outcomes = [deliver(webhook, event).json["outcome"] for event in refund_events]

    assert outcomes == ["duplicate payment refunded", "duplicate payment refunded"]
    (duplicate,) = duplicates(db, order.id)
    assert duplicate.status == DuplicatePaymentStatus.REFUNDED and duplicate.refunded_at is not None
    assert emails(db, order.id, "duplicate_refund_notice") == 1
    notice = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "duplicate_refund_notice"))
    assert "$90.00" in notice.text_body and "paid twice" in notice.text_body
    saved = fresh(db, order.id)
    assert saved.status == OrderStatus.PAID and emails(db, order.id, "refund_notice") == 0


@pytest.mark.parametrize("delivered", ["as created", "reversed", "as they happen"])
def test_a_second_payments_refund_that_fails_after_stripe_accepted_it_is_shown_to_the_organizer(
        stripe_app, stripe_server, app, db, race, organizer_client, delivered):
    order, first, second = open_two_payment_pages(app, db, stripe_server, race)
    webhook = app.test_client()
    deliver(webhook, stripe_server.pay_session(first))
    already = {e["id"] for e in stripe_server.events.values()}
    deliver(webhook, stripe_server.pay_session(second))  # refunded at once
    (accepted,) = stripe_refunds_of(stripe_server, intent_of(stripe_server, second))

    def new_events():
        found = [e for e in stripe_server.payment_events(intent_of(stripe_server, second))
                 if e["id"] not in already and e["type"] != "checkout.session.completed"]
        already.update(e["id"] for e in found)
        return found

    if delivered == "as they happen":  # Stripe first reports the money back, then that it failed
        for event in new_events():
            assert deliver(webhook, event).json["outcome"] == "duplicate payment refunded"
        assert emails(db, order.id, "duplicate_refund_notice") == 1
    stripe_server.fail_refund(accepted["id"])
    events = new_events()
    for event in reversed(events) if delivered == "reversed" else events:
        assert deliver(webhook, event).status_code == 200

    (duplicate,) = duplicates(db, order.id)
    assert duplicate.status == DuplicatePaymentStatus.FAILED and duplicate.refunded_at is None
    assert "the card has expired or was cancelled" in worded(duplicate.error)
    dashboard = text_of(organizer_client.get(f"/manage/races/{race.id}/dashboard"))
    assert "1 payment to refund" in dashboard and "the card has expired" in dashboard
    assert fresh(db, order.id).status == OrderStatus.PAID


def _second_payment_refunded_in_the_dashboard(app, db, stripe: StripeServer, order_of_delivery):
    """The first payment is taken; the second is refunded in Stripe's Dashboard; its events come in this order."""
    race = make_race(db, tickets=[("10K", 4500, 10)])  # a fresh race and order each time
    order, first, second = open_two_payment_pages(app, db, stripe, race)
    webhook = app.test_client()
    assert deliver(webhook, stripe.pay_session(first)).json["outcome"] == "paid"
    already = {e["id"] for e in stripe.events.values()}
    stripe.pay_session(second)
    stripe.refund_payment(intent_of(stripe, second))
    events = [e for e in stripe.payment_events(intent_of(stripe, second)) if e["id"] not in already
              and e["type"] in ("checkout.session.completed", "refund.created", "charge.refunded")]
    for position in order_of_delivery or range(len(events)):
        response = deliver(webhook, events[position])
        assert response.status_code == 200, response.get_data(as_text=True)
    saved = fresh(db, order.id)
    (duplicate,) = duplicates(db, order.id)
    return {
        "order": (saved.status.value, saved.payment_intent_id == intent_of(stripe, first)),
        "tickets": [bool(code) for code in db.session.scalars(
            select(Registration.ticket_code).where(Registration.order_id == order.id))],
        "duplicate": (duplicate.status.value, duplicate.amount, duplicate.error),
        "refunds in stripe": [r["amount"] for r in stripe_refunds_of(stripe, intent_of(stripe, second))
                              if r["status"] == "succeeded"],
        "emails": sorted(m.kind for m in db.session.scalars(select(OutboxMessage)
                                                            .where(OutboxMessage.order_id == order.id))),
    }, len(events)


def test_the_second_payments_events_end_the_same_in_any_order(stripe_app, stripe_server, app, db):
    natural, count = _second_payment_refunded_in_the_dashboard(app, db, stripe_server, None)
    assert natural["duplicate"] == ("refunded", 9000, "") and natural["refunds in stripe"] == [9000]
    assert natural["order"] == ("paid", True) and natural["tickets"] == [True, True]

    for order_of_delivery in StripeServer.every_delivery_order(count, twice=(0, 2)):
        ended, _ = _second_payment_refunded_in_the_dashboard(app, db, stripe_server, order_of_delivery)
        assert ended == natural, f"delivered in the order {order_of_delivery}"


# --- when Stripe refuses, the organizer sees it and refunds it with one click ---------------------

def test_a_refund_stripe_refuses_is_shown_and_sent_again_with_one_click(stripe_app, stripe_server, app, db, race,
                                                                        organizer_client):
    order, first, second = open_two_payment_pages(app, db, stripe_server, race)
    webhook = app.test_client()
    deliver(webhook, stripe_server.pay_session(first))
    stripe_server.fail_next("POST", "/v1/refunds", status=500, times=3)  # the client tries three times

    response = deliver(webhook, stripe_server.pay_session(second))

    assert response.status_code == 200 and response.json["outcome"] == "duplicate_payment"
    (duplicate,) = duplicates(db, order.id)
    assert duplicate.status == DuplicatePaymentStatus.FAILED and "nothing was sent back" in worded(duplicate.error)
    dashboard = text_of(organizer_client.get(f"/manage/races/{race.id}/dashboard"))
    assert "1 payment to refund" in dashboard and "Paid twice" in dashboard and "$90.00" in dashboard
    page = organizer_client.get(order_url(race, order))
    assert "Paid twice" in text_of(page) and intent_of(stripe_server, second) in text_of(page)

    clicked = organizer_client.post(order_url(race, order) + f"/duplicates/{duplicate.id}/refund",
                                    data={"csrf_token": csrf_token(organizer_client, order_url(race, order))})

    assert clicked.status_code == 303
    (duplicate,) = duplicates(db, order.id)
    assert duplicate.status == DuplicatePaymentStatus.PENDING and duplicate.requested_by_id is not None
    assert len(stripe_refunds_of(stripe_server, intent_of(stripe_server, second))) == 1
    again = organizer_client.post(order_url(race, order) + f"/duplicates/{duplicate.id}/refund",
                                  data={"csrf_token": csrf_token(organizer_client, order_url(race, order))})
    assert again.status_code == 409 and "on its way already" in text_of(again)
    assert len(stripe_refunds_of(stripe_server, intent_of(stripe_server, second))) == 1


def test_someone_elses_duplicate_payment_is_404(stripe_app, stripe_server, app, db, race, organizer_client):
    other_race = make_race(db, tickets=[("10K", 4500, 10)])
    order, first, second = open_two_payment_pages(app, db, stripe_server, other_race)
    webhook = app.test_client()
    deliver(webhook, stripe_server.pay_session(first))
    stripe_server.fail_next("POST", "/v1/refunds", status=500, times=3)
    deliver(webhook, stripe_server.pay_session(second))
    (duplicate,) = duplicates(db, order.id)

    response = organizer_client.post(f"/manage/races/{race.id}/orders/{order.id}/duplicates/{duplicate.id}/refund",
                                     data={"csrf_token": csrf_token(organizer_client,
                                                                    f"/manage/races/{race.id}/dashboard")})

    assert response.status_code == 404
    assert duplicates(db, order.id)[0].status == DuplicatePaymentStatus.FAILED


# --- the reconcile command finds it -------------------------------------------------------------

def test_reconcile_finds_a_second_payment_whose_webhooks_never_came_and_refunds_it(stripe_app, stripe_server, app, db,
                                                                                   race, runner):
    order, first, second = open_two_payment_pages(app, db, stripe_server, race)
    stripe_server.pay_session(first)
    stripe_server.pay_session(second)

    result = runner.invoke(args=["stripe-reconcile", "--since", "1h"])

    assert result.exit_code == 0, result.output
    assert "1 paid twice" in result.output and f"Order {order.id} was paid twice" in result.output
    assert fresh(db, order.id).status == OrderStatus.PAID
    (duplicate,) = duplicates(db, order.id)
    assert duplicate.payment_intent_id != fresh(db, order.id).payment_intent_id
    assert duplicate.status == DuplicatePaymentStatus.PENDING
    assert len(stripe_refunds_of(stripe_server, duplicate.payment_intent_id)) == 1

    again = runner.invoke(args=["stripe-reconcile", "--since", "1h"])
    assert "0 fixed" in again.output and "0 paid twice" in again.output
    assert len(stripe_refunds_of(stripe_server, duplicate.payment_intent_id)) == 1


# --- the organizer's pages, with the embedded test gateway ----------------------------------------

def _paid_twice_on_record(db, race, status=DuplicatePaymentStatus.FAILED) -> tuple[Order, DuplicatePayment]:
    order = make_paid_order(db, race, {race.ticket_types[0]: 2})
    duplicate = DuplicatePayment(order_id=order.id, race_id=race.id, payment_intent_id="test_pi_second",
                                 checkout_session_id="test_second_tab", amount=order.total, currency=order.currency,
                                 status=status, error="Stripe didn't accept the refund, so nothing was sent back.")
    db.session.add(duplicate)
    db.session.commit()
    return order, duplicate


def test_the_order_page_and_its_fragment_show_the_payment_made_twice(organizer_client, db, race):
    order, duplicate = _paid_twice_on_record(db, race)

    page = organizer_client.get(order_url(race, order))
    fragment = organizer_client.get(order_url(race, order), headers={"HX-Request": "true"})

    for response in (page, fragment):
        body = text_of(response)
        assert response.status_code == 200
        assert "Paid twice" in body and "Refund failed" in body and "payment test_pi_second" in body
        assert "checkout test_second_tab" in body and "nothing was sent back" in body
    assert "<html" not in fragment.get_data(as_text=True)


@pytest.mark.parametrize("who", VISITORS)
def test_only_the_races_organizers_refund_a_payment_made_twice(app, db, race, who):
    order, duplicate = _paid_twice_on_record(db, race)
    client, token = visitor_client(app, db, race, who)

    response = client.post(order_url(race, order) + f"/duplicates/{duplicate.id}/refund", data={"csrf_token": token})

    db.session.expire_all()
    if who in ("owner", "co-organizer"):
        # The test gateway moves no money and sends no webhook: the refund is done at once, the buyer told.
        assert response.status_code == 303 and response.headers["Location"].endswith("#paid-twice")
        assert db.session.get(DuplicatePayment, duplicate.id).status == DuplicatePaymentStatus.REFUNDED
        assert emails(db, order.id, "duplicate_refund_notice") == 1
        return
    assert_answer(response, EXPECTED_GET[who], "refund duplicate")
    assert db.session.get(DuplicatePayment, duplicate.id).status == DuplicatePaymentStatus.FAILED


def test_refunding_a_payment_made_twice_needs_the_csrf_token(organizer_client, db, race):
    order, duplicate = _paid_twice_on_record(db, race)

    response = organizer_client.post(order_url(race, order) + f"/duplicates/{duplicate.id}/refund")

    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(DuplicatePayment, duplicate.id).status == DuplicatePaymentStatus.FAILED


def test_a_payment_made_twice_of_another_order_is_404(organizer_client, db, race):
    order, duplicate = _paid_twice_on_record(db, race)
    other = make_paid_order(db, race, {race.ticket_types[0]: 1})

    response = organizer_client.post(order_url(race, other) + f"/duplicates/{duplicate.id}/refund",
                                     data={"csrf_token": csrf_token(organizer_client, order_url(race, other))})

    assert response.status_code == 404 and "isn't one of this order's" in text_of(response)


def test_a_refunded_payment_made_twice_leaves_the_dashboards_panel(organizer_client, db, race):
    order, duplicate = _paid_twice_on_record(db, race, status=DuplicatePaymentStatus.REFUNDED)

    dashboard = text_of(organizer_client.get(f"/manage/races/{race.id}/dashboard"))

    assert "to refund" not in dashboard and "Paid twice" not in dashboard
    assert "Refunded" in text_of(organizer_client.get(order_url(race, order)))
