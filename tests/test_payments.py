"""Paying: reservations, Stripe Checkout (the real library against a loopback Stripe), the
webhook, the success page, reconcile, tickets, and the embedded test gateway."""
from __future__ import annotations

import html
import json
import re
import time
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from extensions import db as database
from models import CheckoutSession, Order, OrderStatus, OutboxMessage, Registration, StripeEvent, TaxMode, TicketType
from models.order import tickets_touched
from services import clock
from services.checkout import expire_reservations
from services.fulfillment import Payment, fulfill
from services.inventory import recount, spots_left
from services.payments import gateway_for, gateway_page_token
from services.stored_sentences import worded
from services.worker import Worker
from tests.concurrency import reserve_all_at_once
from tests.doubles.stripe_api import StripeServer, sign_payload
from tests.factories import login, make_cart, make_code, make_order, make_profile, make_race
from tests.http import csrf_token

WEBHOOK_SECRET = "whsec_test_startline"


@pytest.fixture(scope="session")
def stripe_server():
    with StripeServer() as server:
        yield server


@pytest.fixture
def stripe_app(app, stripe_server):
    app.config.update(STRIPE_SECRET_KEY=stripe_server.api_key, STRIPE_API_BASE=stripe_server.url,
                      STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    app.extensions.pop("startline_gateway", None)
    return app


@pytest.fixture
def buyer(db):
    return make_profile(db, email="buyer@example.com", full_name="Bea Buyer")


@pytest.fixture
def race(db):
    return make_race(db, slug="lake-run", title="Lake Run", tickets=[("10K", 4500, 10), ("5K", 3000, 50)])


@pytest.fixture
def client_as_buyer(client, buyer):
    login(client, buyer)
    return client


def pay(client, order, htmx=False):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/orders/{order.id}/checkout", data={"csrf_token": csrf_token(client)}, headers=headers)


def fresh_order(db, order_id):
    db.session.expire_all()
    return db.session.get(Order, order_id)


def deliver(client, event: dict, *, secret=WEBHOOK_SECRET, timestamp=None, payload=None):
    body = payload if payload is not None else json.dumps(event)
    headers = {"Stripe-Signature": sign_payload(body, secret, timestamp), "Content-Type": "application/json"}
    return client.post("/webhooks/stripe", data=body, headers=headers)


def last_session_request(stripe_server):
    return stripe_server.requests_to("POST", "/v1/checkout/sessions")[-1]


# --- starting checkout --------------------------------------------------------------------

def test_pay_reserves_and_opens_checkout_with_everything_stripe_needs(stripe_app, stripe_server, client_as_buyer, db,
                                                                      race, buyer):
    race.tax_mode, race.tax_rate_bps, race.tax_label = TaxMode.EXCLUSIVE, 825, "Sales tax"
    db.session.commit()
    code = make_code(db, race, code="FRIENDS", percent_off=20)
    ten_k, five_k = race.ticket_types
    order = make_cart(db, race, {ten_k: 2, five_k: 1}, buyer=buyer, code=code)
    before = datetime.now(UTC)

    response = pay(client_as_buyer, order)

    saved = fresh_order(db, order.id)
    assert response.status_code == 303
    assert response.headers["Location"] == stripe_server.sessions[saved.stripe_session_id]["url"]
    assert saved.status == OrderStatus.PENDING
    sent = last_session_request(stripe_server)
    params = sent["params"]
    assert params["mode"] == "payment"
    assert params["client_reference_id"] == str(order.id)
    assert params["customer_email"] == "buyer@example.com"
    assert params["metadata"] == {"order_id": str(order.id), "app_env": "test"}
    # The page stays open 31 minutes from its creation (the double stamps `created` in whole seconds when the request
    # reaches it, which on a loaded machine can be a second after the app counted from); the spots are held 5
    # minutes beyond it.
    stripe_session = stripe_server.sessions[saved.stripe_session_id]
    assert stripe_session["expires_at"] - stripe_session["created"] >= 31 * 60 - 2
    assert saved.reserved_until == datetime.fromtimestamp(int(params["expires_at"]), UTC) + timedelta(minutes=5)
    assert before + timedelta(minutes=36, seconds=-1) <= saved.reserved_until <= datetime.now(UTC) + timedelta(minutes=36)
    items = [(i["price_data"]["product_data"]["name"], int(i["price_data"]["unit_amount"]), int(i["quantity"]))
             for i in params["line_items"]]
    assert items == [("Lake Run: 10K", 4500, 2), ("Lake Run: 5K", 3000, 1)]
    assert all(len(i["tax_rates"]) == 1 for i in params["line_items"])
    coupon_id = params["discounts"][0]["coupon"]
    assert stripe_server.coupons[coupon_id]["percent_off"] in (20, 20.0, "20")
    assert sent["headers"]["Idempotency-Key"].startswith(f"sl-checkout-{order.id}-")
    assert params["success_url"].startswith("http://localhost/orders/")
    assert params["cancel_url"] == f"http://localhost/orders/{order.id}/cancel"
    # Stripe's totals and ours agree: 12000 − 20 % = 9600, + 8.25 % per line.
    assert (saved.subtotal, saved.discount, saved.total) == (12000, 2400, 9600 + saved.tax)
    assert stripe_server.sessions[saved.stripe_session_id]["amount_total"] == saved.total
    assert db.session.get(CheckoutSession, saved.stripe_session_id).order_id == order.id


def test_tax_rates_and_coupons_are_created_once(stripe_app, stripe_server, client_as_buyer, db, race, buyer):
    race.tax_mode, race.tax_rate_bps = TaxMode.INCLUSIVE, 1800
    db.session.commit()
    code = make_code(db, race, code="TEAM", amount_off=500)
    ten_k = race.ticket_types[0]
    rates_before = len(stripe_server.requests_to("POST", "/v1/tax_rates"))
    coupons_before = len(stripe_server.requests_to("POST", "/v1/coupons"))
    for _ in range(2):
        other = make_profile(db)
        login(client_as_buyer, other)
        order = make_cart(db, race, {ten_k: 1}, buyer=other, code=code)
        assert pay(client_as_buyer, order).status_code == 303
        assert fresh_order(db, order.id).status == OrderStatus.PENDING
    # The tax rate is remembered on the race after the first checkout; the coupon has a fixed id.
    assert len(stripe_server.requests_to("POST", "/v1/tax_rates")) - rates_before == 1
    coupon_posts = stripe_server.requests_to("POST", "/v1/coupons")[coupons_before:]
    assert len({p["params"]["id"] for p in coupon_posts}) == 1
    assert stripe_server.coupons[coupon_posts[0]["params"]["id"]]["amount_off"] in (500, "500")


def test_htmx_pay_redirects_with_hx_redirect(stripe_app, client_as_buyer, db, race, buyer):
    order = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=buyer)
    response = pay(client_as_buyer, order, htmx=True)
    assert response.status_code == 200 and response.headers["HX-Redirect"].startswith("http://127.0.0.1")


def test_a_second_click_reuses_the_same_payment_page(stripe_app, stripe_server, client_as_buyer, db, race, buyer):
    order = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=buyer)
    first = pay(client_as_buyer, order).headers["Location"]
    count = len(stripe_server.requests_to("POST", "/v1/checkout/sessions"))
    assert pay(client_as_buyer, order).headers["Location"] == first
    assert len(stripe_server.requests_to("POST", "/v1/checkout/sessions")) == count


def test_stripe_error_releases_the_reservation_and_says_so(stripe_app, stripe_server, client_as_buyer, db, race, buyer):
    order = make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer)
    stripe_server.fail_next("POST", "/v1/checkout/sessions", status=500, times=5)

    response = pay(client_as_buyer, order)

    assert response.status_code == 503
    assert "nothing was charged" in response.get_data(as_text=True)
    saved = fresh_order(db, order.id)
    assert saved.status == OrderStatus.CART and saved.reserved_until is None
    assert "10 spots left" in client_as_buyer.get("/races/lake-run").get_data(as_text=True)


def test_sold_out_at_this_moment_reserves_and_charges_nothing(stripe_app, stripe_server, client_as_buyer, db, race,
                                                              buyer):
    ten_k = race.ticket_types[0]
    make_cart_paid(db, race, ten_k, 9)
    order = make_cart(db, race, {ten_k: 2}, buyer=buyer)
    count = len(stripe_server.requests_to("POST", "/v1/checkout/sessions"))

    response = pay(client_as_buyer, order)

    assert response.status_code == 409
    assert "Only 1 spot left in the 10K." in response.get_data(as_text=True)
    assert fresh_order(db, order.id).status == OrderStatus.CART
    assert len(stripe_server.requests_to("POST", "/v1/checkout/sessions")) == count


def make_cart_paid(db, race, ticket_type, quantity):
    return make_order(db, race, ticket_type, quantity, status=OrderStatus.PAID)


def test_a_free_order_is_completed_without_stripe(stripe_app, stripe_server, client_as_buyer, db, race, buyer):
    code = make_code(db, race, code="COMP", percent_off=100)
    order = make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer, code=code)
    count = len(stripe_server.requests_to("POST", "/v1/checkout/sessions"))

    response = pay(client_as_buyer, order)

    saved = fresh_order(db, order.id)
    assert response.status_code == 303 and saved.status == OrderStatus.PAID and saved.total == 0
    assert len(stripe_server.requests_to("POST", "/v1/checkout/sessions")) == count
    assert all(r.ticket_code for r in db.session.scalars(select(Registration).where(Registration.order_id == order.id)))


def test_incomplete_runner_details_are_refused(stripe_app, client_as_buyer, db, race, buyer):
    order = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=buyer, complete=False)
    response = pay(client_as_buyer, order)
    assert response.status_code == 409
    assert fresh_order(db, order.id).status == OrderStatus.CART


def _sign_up_closed(db, race):
    race.registration_closes_at = datetime.now(UTC) - timedelta(minutes=1)


def _sales_ended(db, race):
    race.ticket_types[0].sales_end = datetime.now(UTC) - timedelta(minutes=1)


def _not_on_sale_yet(db, race):
    race.ticket_types[0].sales_start = datetime.now(UTC) + timedelta(days=1)


@pytest.mark.parametrize("arrange, message", [
    (_sign_up_closed, "Sign-up for this race is closed."),
    (_sales_ended, "Sales for the 10K have ended."),
    (_not_on_sale_yet, "The 10K isn't on sale yet."),
])
def test_checkout_refuses_in_the_words_the_cart_uses(stripe_app, client_as_buyer, db, race, buyer, arrange, message):
    order = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=buyer)
    arrange(db, race)
    db.session.commit()

    response = pay(client_as_buyer, order)

    assert response.status_code == 409 and message in html.unescape(response.get_data(as_text=True))
    assert fresh_order(db, order.id).status == OrderStatus.CART
    assert message in html.unescape(client_as_buyer.get("/races/lake-run/cart").get_data(as_text=True))


def test_someone_elses_order_is_404(stripe_app, client_as_buyer, db, race):
    order = make_cart(db, race, {race.ticket_types[0]: 1})
    assert pay(client_as_buyer, order).status_code == 404
    assert client_as_buyer.get(f"/orders/{order.id}").status_code == 404


# --- the webhook ---------------------------------------------------------------------------

@pytest.fixture
def pending(stripe_app, client_as_buyer, db, race, buyer):
    order = make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer)
    assert pay(client_as_buyer, order).status_code == 303
    return fresh_order(db, order.id)


def tickets_of(db, order_id):
    db.session.expire_all()
    return [r.ticket_code for r in db.session.scalars(select(Registration).where(Registration.order_id == order_id))]


def emails(db, order_id):
    return db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.order_id == order_id))


def test_completed_payment_issues_tickets_and_queues_the_confirmation(stripe_server, client, db, pending):
    event = stripe_server.pay_session(pending.stripe_session_id)

    response = deliver(client, event)

    assert response.status_code == 200 and response.json["outcome"] == "paid"
    saved = fresh_order(db, pending.id)
    assert saved.status == OrderStatus.PAID and saved.payment_intent_id.startswith("pi_")
    codes = tickets_of(db, pending.id)
    assert len(codes) == 2 and all(len(c) >= 16 for c in codes) and len(set(codes)) == 2
    assert emails(db, pending.id) == 1
    assert db.session.get(StripeEvent, event["id"]).order_id == pending.id


@pytest.mark.parametrize("tamper", ["bad signature", "stale timestamp", "missing header", "not json"])
def test_unverifiable_webhooks_are_400_and_change_nothing(stripe_server, client, db, pending, tamper):
    event = stripe_server.pay_session(pending.stripe_session_id)
    if tamper == "bad signature":
        response = deliver(client, event, secret="whsec_wrong")
    elif tamper == "stale timestamp":
        response = deliver(client, event, timestamp=int(time.time()) - 3600)
    elif tamper == "missing header":
        response = client.post("/webhooks/stripe", data=json.dumps(event), content_type="application/json")
    else:
        response = deliver(client, event, payload="this is not json {")
    assert response.status_code == 400
    assert fresh_order(db, pending.id).status == OrderStatus.PENDING
    assert db.session.scalar(select(func.count(StripeEvent.id))) == 0


def test_the_same_event_twice_changes_nothing_the_second_time(stripe_server, client, db, pending):
    event = stripe_server.pay_session(pending.stripe_session_id)
    assert deliver(client, event).json["outcome"] == "paid"
    codes = tickets_of(db, pending.id)

    again = deliver(client, event)

    assert again.status_code == 200 and again.json["outcome"] == "duplicate"
    assert tickets_of(db, pending.id) == codes and emails(db, pending.id) == 1


def test_two_different_events_for_the_same_session_issue_tickets_once(stripe_server, client, db, pending):
    completed = stripe_server.pay_session(pending.stripe_session_id, async_pending=True)
    assert deliver(client, completed).json["outcome"].startswith("waiting")
    assert fresh_order(db, pending.id).status == OrderStatus.PENDING
    succeeded = stripe_server.async_result(pending.stripe_session_id, True)
    assert deliver(client, succeeded).json["outcome"] == "paid"
    # A replay of the completion with the session now paid must not issue more.
    replay = stripe_server.event("checkout.session.completed", stripe_server.sessions[pending.stripe_session_id])
    assert deliver(client, replay).json["outcome"] == "already_done"
    assert len(tickets_of(db, pending.id)) == 2 and emails(db, pending.id) == 1


def test_async_payment_failure_releases_the_spots(stripe_server, client, db, pending):
    deliver(client, stripe_server.pay_session(pending.stripe_session_id, async_pending=True))
    failed = stripe_server.async_result(pending.stripe_session_id, False)
    assert deliver(client, failed).json["outcome"] == "released"
    assert fresh_order(db, pending.id).status in (OrderStatus.CART, OrderStatus.CANCELED)


def test_completed_before_the_order_is_pending_still_finds_its_order(stripe_server, client, client_as_buyer, db,
                                                                      pending):
    # The runner cancelled (the order is a cart again), then Stripe's completion arrives late.
    client_as_buyer.get(f"/orders/{pending.id}/cancel")
    assert fresh_order(db, pending.id).status == OrderStatus.CART
    session = stripe_server.sessions[pending.stripe_session_id]
    session["status"] = "open"  # let the double take the payment as a slow browser tab would
    event = stripe_server.pay_session(pending.stripe_session_id)
    assert deliver(client, event).json["outcome"] == "paid"
    assert fresh_order(db, pending.id).status == OrderStatus.PAID


def _ten_k_left(db, race) -> tuple[int, int, int]:
    """The 10K's stored counts (sold, held at the payment step) and its spots left now."""
    db.session.expire_all()
    ten_k = db.session.scalar(select(TicketType).where(TicketType.race_id == race.id, TicketType.name == "10K"))
    return ten_k.sold_count, ten_k.held_count, spots_left(db.session, [ten_k], clock.now())[ten_k.id]


def test_an_expiry_delivered_again_frees_the_spots_once(stripe_server, client, db, race, pending):
    assert _ten_k_left(db, race) == (0, 2, 8)
    session = stripe_server.sessions[pending.stripe_session_id]
    assert deliver(client, stripe_server.expire_session(pending.stripe_session_id)).json["outcome"] == "released"
    assert _ten_k_left(db, race) == (0, 0, 10)
    again = stripe_server.event("checkout.session.expired", session)  # a second event of the same expiry
    assert deliver(client, again).json["outcome"] == "nothing held"
    assert _ten_k_left(db, race) == (0, 0, 10)


def test_an_expiry_delivered_after_the_payment_frees_nothing(stripe_server, client, db, race, pending):
    session = stripe_server.sessions[pending.stripe_session_id]
    assert deliver(client, stripe_server.pay_session(pending.stripe_session_id)).json["outcome"] == "paid"
    assert _ten_k_left(db, race) == (2, 0, 8)
    late = stripe_server.event("checkout.session.expired", session)  # out of order: Stripe promises none
    assert deliver(client, late).json["outcome"] == "nothing held"
    assert _ten_k_left(db, race) == (2, 0, 8)
    assert fresh_order(db, pending.id).status == OrderStatus.PAID


def test_expired_then_completed_takes_the_spots_when_there_is_room(stripe_server, client, db, pending):
    assert deliver(client, stripe_server.expire_session(pending.stripe_session_id)).json["outcome"] == "released"
    stripe_server.sessions[pending.stripe_session_id]["status"] = "open"
    assert deliver(client, stripe_server.pay_session(pending.stripe_session_id)).json["outcome"] == "paid"


def test_expired_then_completed_when_the_race_filled_up_needs_a_refund_and_is_never_dropped(
        stripe_server, client, db, race, pending):
    deliver(client, stripe_server.expire_session(pending.stripe_session_id))
    ten_k = db.session.scalar(select(TicketType).where(TicketType.race_id == race.id, TicketType.name == "10K"))
    make_cart_paid(db, race, ten_k, 9)  # someone else took the spots meanwhile
    stripe_server.sessions[pending.stripe_session_id]["status"] = "open"

    response = deliver(client, stripe_server.pay_session(pending.stripe_session_id))

    saved = fresh_order(db, pending.id)
    assert response.status_code == 200 and response.json["outcome"] == "needs_refund"
    assert saved.status == OrderStatus.NEEDS_REFUND and "filled up" in worded(saved.problem)
    assert saved.payment_intent_id is not None
    notice = db.session.scalar(select(OutboxMessage).where(OutboxMessage.order_id == pending.id))
    assert notice.kind == "capacity_refund_notice"
    assert tickets_of(db, pending.id) == [None, None]


def test_a_session_this_database_never_created_is_acknowledged_and_ignored(stripe_server, client, db, pending):
    foreign = stripe_server.event("checkout.session.completed", {
        "id": "cs_test_from_someone_elses_laptop", "object": "checkout.session", "payment_status": "paid",
        "amount_total": 9000, "currency": "usd", "client_reference_id": str(pending.id),
        "metadata": {"order_id": str(pending.id), "app_env": "test"}})
    response = deliver(client, foreign)
    assert response.status_code == 200 and response.json["outcome"].startswith("ignored")
    assert fresh_order(db, pending.id).status == OrderStatus.PENDING


def test_an_event_from_another_environment_is_ignored(stripe_server, client, db, pending):
    event = stripe_server.pay_session(pending.stripe_session_id)
    event["data"]["object"]["metadata"]["app_env"] = "production"
    response = deliver(client, event)
    assert response.status_code == 200 and response.json["outcome"].startswith("ignored")
    assert fresh_order(db, pending.id).status == OrderStatus.PENDING


def test_amount_mismatch_is_flagged_for_refund(stripe_server, client, db, pending):
    event = stripe_server.pay_session(pending.stripe_session_id)
    event["data"]["object"]["amount_total"] = 100
    assert deliver(client, event).json["outcome"] == "needs_refund"
    saved = fresh_order(db, pending.id)
    assert saved.status == OrderStatus.NEEDS_REFUND and "$1.00" in worded(saved.problem)


def test_a_database_error_answers_500_and_the_retry_succeeds_once(stripe_server, client, db, pending):
    event = stripe_server.pay_session(pending.stripe_session_id)
    error = OperationalError("UPDATE orders", {}, Exception("server closed the connection"))
    with mock.patch("services.stripe_events.fulfill", side_effect=error):
        assert deliver(client, event).status_code == 500
    assert db.session.scalar(select(func.count(StripeEvent.id))) == 0  # nothing half-saved

    assert deliver(client, event).json["outcome"] == "paid"
    assert deliver(client, event).json["outcome"] == "duplicate"
    assert len([c for c in tickets_of(db, pending.id) if c]) == 2 and emails(db, pending.id) == 1


def test_refund_webhook_marks_the_order_refunded_and_frees_the_spots(stripe_server, client, db, race, pending):
    deliver(client, stripe_server.pay_session(pending.stripe_session_id))
    intent = fresh_order(db, pending.id).payment_intent_id
    assert "8 spots left" in client.get("/races/lake-run").get_data(as_text=True)

    assert deliver(client, stripe_server.refund_event(intent)).json["outcome"] == "refunded"

    assert fresh_order(db, pending.id).status == OrderStatus.REFUNDED
    assert "10 spots left" in client.get("/races/lake-run").get_data(as_text=True)


# --- the success page, cancel, reconcile ----------------------------------------------------

def test_success_page_waits_then_shows_tickets(stripe_server, client_as_buyer, db, pending):
    page = client_as_buyer.get(f"/orders/{pending.id}")
    body = page.get_data(as_text=True)
    assert "Confirming your payment" in body and 'hx-trigger="every 2s"' in body

    stripe_server.pay_session(pending.stripe_session_id)  # paid, but the webhook never comes
    poll = client_as_buyer.get(f"/orders/{pending.id}", headers={"HX-Request": "true"})

    body = poll.get_data(as_text=True)
    assert "You&#39;re in!" in body or "You're in!" in body
    assert "every 2s" not in body and "<html" not in body
    assert fresh_order(db, pending.id).status == OrderStatus.PAID


def test_cancel_releases_the_spots_and_returns_to_the_cart(stripe_server, client_as_buyer, db, pending):
    response = client_as_buyer.get(f"/orders/{pending.id}/cancel")
    assert response.status_code == 303
    assert fresh_order(db, pending.id).status == OrderStatus.CART
    assert stripe_server.sessions[pending.stripe_session_id]["status"] == "expired"


def test_reconcile_fulfills_a_paid_session_whose_webhook_never_came(stripe_server, runner, db, pending):
    stripe_server.pay_session(pending.stripe_session_id)

    first = runner.invoke(args=["stripe-reconcile", "--since", "1h"])

    assert first.exit_code == 0, first.output
    assert f"Fixed order {pending.id}" in first.output
    assert fresh_order(db, pending.id).status == OrderStatus.PAID
    second = runner.invoke(args=["stripe-reconcile", "--since", "1h"])
    assert "0 fixed" in second.output and emails(db, pending.id) == 1


def test_reconcile_rejects_a_bad_window(stripe_app, runner):
    assert runner.invoke(args=["stripe-reconcile", "--since", "forever"]).exit_code != 0


def test_expire_reservations_releases_holds_whose_time_is_up(stripe_server, runner, db, pending):
    clock.freeze(pending.reserved_until + timedelta(seconds=1))
    result = runner.invoke(args=["expire-reservations"])
    assert "Released 1" in result.output
    assert fresh_order(db, pending.id).status == OrderStatus.CART


def _sweep_after_the_hold_ends(stripe_app, pending, after_each_statement) -> int:
    """The sweep of lapsed holds, a second after `pending`'s hold ended, with `after_each_statement` (SQLAlchemy's
    "after_execute" listener) seeing each of its statements, and those of anything it runs, as they are executed."""
    clock.freeze(pending.reserved_until + timedelta(seconds=1))
    event.listen(Engine, "after_execute", after_each_statement)
    try:
        with stripe_app.app_context():
            return expire_reservations(database.session, gateway_for(stripe_app), clock.now())
    finally:
        event.remove(Engine, "after_execute", after_each_statement)


@pytest.mark.postgres
def test_a_payment_that_lands_while_holds_are_expiring_is_never_turned_back_into_a_cart(stripe_app, db, pending):
    """The expiry job reads the due orders, then a late webhook pays one before the job releases it."""
    state = {"paid": False}

    def pay_right_after_the_due_orders_are_read(conn, clauseelement, multiparams, params, execution_options, result):
        statement = str(clauseelement)
        if not state["paid"] and "reserved_until <=" in statement and "FOR UPDATE" not in statement.upper():
            state["paid"] = True
            with conn.engine.connect() as other:  # the webhook, on another connection
                other.execute(update(Order).where(Order.id == pending.id).values(status=OrderStatus.PAID))
                other.execute(tickets_touched(pending.id, OrderStatus.PAID, clock.now()))  # as a flush does
                with Session(bind=other) as paying:  # and the stored counts, as the payment keeps them
                    recount(paying, paying.scalars(select(Registration.ticket_type_id)
                                                   .where(Registration.order_id == pending.id)))
                other.commit()

    released = _sweep_after_the_hold_ends(stripe_app, pending, pay_right_after_the_due_orders_are_read)

    assert state["paid"] and released == 0
    assert fresh_order(db, pending.id).status == OrderStatus.PAID


@pytest.mark.postgres  # two sessions, one between the other's statements: SQLite's reader keeps the writer out
def test_a_sweep_skips_a_hold_another_sweep_released_since_it_read_the_due_ones_without_waiting_for_the_types(
        stripe_app, db, pending):
    """Every payment page sweeps: two that read the same hold as due do not both queue for its ticket types' locks,
    the ones every checkout of the race waits for. The second finds it released and moves on."""
    state = {"other": False, "type_locks": 0}

    def other_sweep_right_after_the_due_orders_are_read(conn, clauseelement, multiparams, params, execution_options,
                                                        result):
        statement = " ".join(str(clauseelement.compile(dialect=conn.dialect)).split())
        if statement.startswith("SELECT ticket_types.id") and "FOR NO KEY UPDATE" in statement:
            state["type_locks"] += 1
        if not state["other"] and "orders.reserved_until <=" in statement and "orders.id =" not in statement:
            state["other"] = True
            with Session(conn.engine) as other:  # another payment page's sweep, done first
                assert expire_reservations(other, gateway_for(stripe_app), clock.now()) == 1

    released = _sweep_after_the_hold_ends(stripe_app, pending, other_sweep_right_after_the_due_orders_are_read)

    assert state["other"] and released == 0
    assert state["type_locks"] == 1  # the other sweep's, once
    assert fresh_order(db, pending.id).status == OrderStatus.CART


def test_the_worker_releases_expired_holds_every_few_minutes_with_no_cron(stripe_server, stripe_app, db, pending):
    stripe_app.config["SCHEDULE_EXPIRE_RESERVATIONS_SECONDS"] = 300
    worker = Worker(stripe_app)
    clock.freeze(fresh_order(db, pending.id).reserved_until - timedelta(minutes=1))
    worker.run_round()
    assert fresh_order(db, pending.id).status == OrderStatus.PENDING  # its hold is not up

    clock.advance(timedelta(minutes=2))
    worker.run_round()
    assert fresh_order(db, pending.id).status == OrderStatus.PENDING  # up, but the job ran 2 minutes ago

    clock.advance(timedelta(minutes=3))
    _, runs = worker.run_round()
    assert [(run.name, run.result) for run in runs] == [("expire-reservations", "Released 1 expired reservation(s).")]
    assert fresh_order(db, pending.id).status == OrderStatus.CART
    assert stripe_server.sessions[pending.stripe_session_id]["status"] == "expired"


def test_the_worker_reconciles_a_paid_session_whose_webhook_never_came_within_the_hour(stripe_server, stripe_app, db,
                                                                                        pending):
    stripe_app.config["SCHEDULE_STRIPE_RECONCILE_SECONDS"] = 3600
    stripe_server.pay_session(pending.stripe_session_id)

    _, runs = Worker(stripe_app).run_round()

    assert [run.name for run in runs] == ["stripe-reconcile"] and runs[0].succeeded
    assert f"Fixed order {pending.id}" in runs[0].result and "1 fixed" in runs[0].result
    assert fresh_order(db, pending.id).status == OrderStatus.PAID and emails(db, pending.id) == 1


# --- tickets -------------------------------------------------------------------------------

def test_tickets_page_lists_tickets_with_qr_codes(stripe_server, client, client_as_buyer, db, pending):
    deliver(client, stripe_server.pay_session(pending.stripe_session_id))
    page = client_as_buyer.get("/tickets/").get_data(as_text=True)
    assert page.count("<svg") >= 2 and "Lake Run" in page and "Ada Runner1" in page
    code = tickets_of(db, pending.id)[0]
    one = client_as_buyer.get(f"/tickets/{code}")
    assert one.status_code == 200 and "<svg" in one.get_data(as_text=True)
    assert client.get("/tickets/not-a-real-code-1234").status_code == 404
    assert client.get("/tickets/%00").status_code == 404


# --- the embedded test gateway --------------------------------------------------------------

def test_test_gateway_pays_through_the_same_fulfillment(client_as_buyer, db, race, buyer):
    order = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=buyer)
    response = pay(client_as_buyer, order)
    gateway = response.headers["Location"].removeprefix("http://localhost")
    assert gateway == f"/test-gateway/{order.id}?page={gateway_page_token(order.id)}"
    page = client_as_buyer.get(gateway).get_data(as_text=True)
    assert "Test mode: no card is charged." in page
    # The hold's end with its date and the race's zone (New York), not a bare "10:36 PM".
    assert re.search(r"Spots held until \w{3} \d{1,2} \w{3} \d{4}, \d{1,2}:\d\d [AP]M E[SD]T\.", page)

    paid = client_as_buyer.post(gateway, data={"csrf_token": csrf_token(client_as_buyer), "action": "pay"})
    assert paid.status_code == 303
    assert fresh_order(db, order.id).status == OrderStatus.PAID and emails(db, order.id) == 1


def test_the_test_gateway_page_opens_by_its_address_alone_like_stripes(app, client_as_buyer, db, race, buyer):
    """The signed `page` part of the address is what opens it, for that order only; without it, or with
    another order's, there is no page (as no one can guess a Stripe Checkout URL)."""
    order = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=buyer)
    gateway = pay(client_as_buyer, order).headers["Location"].removeprefix("http://localhost")
    other = make_cart(db, race, {race.ticket_types[1]: 1}, buyer=make_profile(db))
    with app.test_client() as stranger:
        assert "Test mode: no card is charged." in stranger.get(gateway).get_data(as_text=True)
        assert stranger.get(f"/test-gateway/{order.id}").status_code == 404
        assert stranger.get(f"/test-gateway/{order.id}?page=forged").status_code == 404
        assert stranger.get(f"/test-gateway/{order.id}?page={gateway_page_token(other.id)}").status_code == 404


def test_test_gateway_page_expires_and_cancel_works(client_as_buyer, db, race, buyer):
    order = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=buyer)
    gateway = pay(client_as_buyer, order).headers["Location"].removeprefix("http://localhost")
    clock.freeze(datetime.now(UTC) + timedelta(minutes=45))
    assert "This payment page has expired" in client_as_buyer.get(gateway).get_data(as_text=True)
    clock.reset()
    other = make_cart(db, race, {race.ticket_types[1]: 1}, buyer=make_profile(db))
    login(client_as_buyer, db.session.get(type(buyer), other.buyer_id))
    gateway = pay(client_as_buyer, other).headers["Location"].removeprefix("http://localhost")
    cancelled = client_as_buyer.post(gateway, data={"csrf_token": csrf_token(client_as_buyer), "action": "cancel"})
    assert cancelled.status_code == 303
    client_as_buyer.get(cancelled.headers["Location"])
    assert fresh_order(db, other.id).status == OrderStatus.CART


def test_test_gateway_does_not_exist_when_stripe_is_configured(stripe_app, client_as_buyer, db, race, buyer):
    order = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=buyer)
    assert client_as_buyer.get(f"/test-gateway/{order.id}").status_code == 404


# --- never oversell ----------------------------------------------------------------------------

@pytest.mark.postgres
def test_forty_concurrent_checkouts_for_ten_spots_reserve_exactly_ten(app, db, race):
    ten_k = race.ticket_types[0]  # capacity 10
    orders = [make_cart(db, race, {ten_k: 1}).id for _ in range(40)]
    now = datetime.now(UTC)
    results = reserve_all_at_once(app, orders, now)
    with app.app_context():
        engine = database.engine

    assert sorted(results.values()).count("reserved") == 10
    assert list(results.values()).count("sold out") == 30
    with app.app_context(), Session(engine) as session:
        for order_id, result in results.items():
            if result == "reserved":
                fulfill(session, order_id, Payment(4500, "USD", f"pi_{order_id.hex[:8]}"), now)
                session.commit()
        paid = session.scalar(select(func.count(Registration.id)).join(Order).where(
            Registration.ticket_type_id == ten_k.id, Order.status == OrderStatus.PAID))
    assert paid == 10
