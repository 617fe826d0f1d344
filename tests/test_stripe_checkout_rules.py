"""What Stripe itself enforces, met by our checkout: the webhook's size limit, the session's
expiry window, coupon names, tax behaviour with Stripe Tax, and payments whose discount and tax
Stripe rounded its own way. The loopback double enforces Stripe's documented rules, so a request
Stripe would refuse fails here too."""
from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from unittest import mock

from sqlalchemy import select

from models import OrderStatus, Registration, TaxMode, TicketType
from services import clock
from services.stored_sentences import worded
from tests.doubles.stripe_api import sign_payload
from tests.factories import make_cart, make_code, make_race
from tests.test_payments import (  # noqa: F401  (fixtures)
    WEBHOOK_SECRET,
    buyer,
    client_as_buyer,
    deliver,
    fresh_order,
    pay,
    pending,
    race,
    stripe_app,
    stripe_server,
)

# --- the webhook's size limit -------------------------------------------------------------------


def signed_event_of_size(stripe_server, pending, size: int) -> tuple[str, dict]:
    event = stripe_server.pay_session(pending.stripe_session_id)
    event["data"]["object"]["metadata"]["padding"] = ""
    padding = size - len(json.dumps(event))
    event["data"]["object"]["metadata"]["padding"] = "x" * padding
    body = json.dumps(event)
    return body, {"Stripe-Signature": sign_payload(body, WEBHOOK_SECRET), "Content-Type": "application/json"}


def test_a_signed_five_megabyte_event_is_refused_with_413_before_it_is_verified(stripe_server, client, db,
                                                                                  pending):
    body, headers = signed_event_of_size(stripe_server, pending, 5 * 1024 * 1024)

    with mock.patch("stripe.Webhook.construct_event") as verify:
        response = client.post("/webhooks/stripe", data=body, headers=headers)

    assert response.status_code == 413
    assert verify.call_count == 0
    assert fresh_order(db, pending.id).status == OrderStatus.PENDING


def test_a_body_without_content_length_is_capped_as_it_is_read(stripe_server, client, db, pending):
    body, headers = signed_event_of_size(stripe_server, pending, 2 * 1024 * 1024)
    chunked = {"wsgi.input_terminated": True}  # what a server sets for Transfer-Encoding: chunked

    response = client.post("/webhooks/stripe", input_stream=io.BytesIO(body.encode()),
                           headers=headers, environ_overrides=chunked)

    assert response.status_code == 413
    assert fresh_order(db, pending.id).status == OrderStatus.PENDING


def test_an_ordinary_event_is_still_accepted(stripe_server, client, db, pending):
    response = deliver(client, stripe_server.pay_session(pending.stripe_session_id))
    assert response.status_code == 200 and response.json["outcome"] == "paid"


# --- the payment page's expiry and the hold on the spots ------------------------------------------

def session_of(stripe_server, order) -> dict:
    return stripe_server.sessions[order.stripe_session_id]


def test_checkout_opens_even_when_stripe_receives_the_request_seconds_later(stripe_app, stripe_server, monkeypatch,
                                                                             client_as_buyer, db, race, buyer):
    # Stripe counts 30 minutes from the session's creation on its clock: a slow lock, the library's
    # retries or a little clock skew must not make the request a moment too late.
    monkeypatch.setattr(stripe_server, "now_offset", 30)
    order = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=buyer)

    response = pay(client_as_buyer, order)

    saved = fresh_order(db, order.id)
    assert response.status_code == 303 and saved.status == OrderStatus.PENDING
    stripe_session = session_of(stripe_server, saved)
    assert stripe_session["expires_at"] - stripe_session["created"] >= 30 * 60


def test_spots_stay_held_until_the_payment_page_closes_and_a_little_beyond(stripe_server, runner, client, db,
                                                                             race, pending):
    closes = datetime.fromtimestamp(session_of(stripe_server, pending)["expires_at"], UTC)
    clock.freeze(closes + timedelta(minutes=1))  # a card paid in the page's last second, confirmed late

    assert "Released 0" in runner.invoke(args=["expire-reservations"]).output
    assert "8 spots left" in client.get("/races/lake-run").get_data(as_text=True)
    assert deliver(client, stripe_server.pay_session(pending.stripe_session_id)).json["outcome"] == "paid"

    clock.freeze(closes + timedelta(minutes=6))
    assert fresh_order(db, pending.id).status == OrderStatus.PAID


def test_an_unpaid_hold_ends_once_the_grace_after_the_page_has_passed(stripe_server, runner, db, pending):
    closes = datetime.fromtimestamp(session_of(stripe_server, pending)["expires_at"], UTC)
    clock.freeze(closes + timedelta(minutes=5, seconds=1))
    assert "Released 1" in runner.invoke(args=["expire-reservations"]).output
    assert fresh_order(db, pending.id).status == OrderStatus.CART


# --- what Stripe accepts: coupon names, tax behaviour ------------------------------------------------

def test_a_64_character_code_still_opens_checkout_with_a_name_stripe_accepts(stripe_app, stripe_server,
                                                                             client_as_buyer, db, race, buyer):
    long_code = "LAKE-RUN-FRIENDS-AND-FAMILY-OF-THE-ROWING-CLUB-EARLY-BIRD-2026-X"
    assert len(long_code) == 64
    code = make_code(db, race, code=long_code, percent_off=15)
    order = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=buyer, code=code)

    response = pay(client_as_buyer, order)

    saved = fresh_order(db, order.id)
    assert response.status_code == 303 and saved.status == OrderStatus.PENDING
    coupon = stripe_server.coupons[session_of(stripe_server, saved)["discounts"][0]["coupon"]]
    assert len(coupon["name"]) <= 40 and coupon["name"].startswith("LAKE-RUN-FRIENDS-AND-FAMILY")


def test_stripe_tax_sends_each_price_as_tax_exclusive_as_the_race_shows_it(stripe_app, stripe_server,
                                                                           client_as_buyer, db, race, buyer):
    race.tax_mode = TaxMode.STRIPE
    db.session.commit()
    order = make_cart(db, race, {race.ticket_types[0]: 1, race.ticket_types[1]: 1}, buyer=buyer)

    response = pay(client_as_buyer, order)

    assert response.status_code == 303 and fresh_order(db, order.id).status == OrderStatus.PENDING
    params = stripe_server.requests_to("POST", "/v1/checkout/sessions")[-1]["params"]
    assert params["automatic_tax"] == {"enabled": "true"}
    assert [item["price_data"]["tax_behavior"] for item in params["line_items"]] == ["exclusive", "exclusive"]


def test_without_stripe_tax_automatic_tax_is_turned_off_explicitly(stripe_app, stripe_server, client_as_buyer, db,
                                                                   race, buyer):
    # An account may enable Stripe Tax by default for sessions that do not say; ours always say.
    order = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=buyer)
    assert pay(client_as_buyer, order).status_code == 303
    assert stripe_server.requests_to("POST", "/v1/checkout/sessions")[-1]["params"]["automatic_tax"] == {
        "enabled": "false"}


# --- Stripe's arithmetic on our coupon and tax -------------------------------------------------------

def pay_and_confirm(client_as_buyer, client, stripe_server, db, order):
    assert pay(client_as_buyer, order).status_code == 303
    saved = fresh_order(db, order.id)
    outcome = deliver(client, stripe_server.pay_session(saved.stripe_session_id)).json["outcome"]
    return outcome, fresh_order(db, order.id), session_of(stripe_server, saved)


def test_a_code_for_one_ticket_type_spread_by_stripe_over_every_line_is_paid_with_stripes_tax(
        stripe_app, stripe_server, client, client_as_buyer, db, race, buyer):
    race.tax_mode, race.tax_rate_bps = TaxMode.INCLUSIVE, 1800
    db.session.commit()
    ten_k, five_k = race.ticket_types
    code = make_code(db, race, code="TENK", percent_off=10, ticket_type_id=ten_k.id)
    order = make_cart(db, race, {ten_k: 1, five_k: 1}, buyer=buyer, code=code)
    # Ours: 450 off the 10K alone, 18 % tax inside 4050 and 3000 is 618 + 458. Stripe spreads the
    # 450 over both lines (270 + 180), and the tax inside 4230 and 2820 is 645 + 430: one cent less.
    assert fresh_order(db, order.id).tax == 1076

    outcome, saved, charged = pay_and_confirm(client_as_buyer, client, stripe_server, db, order)

    assert outcome == "paid" and saved.status == OrderStatus.PAID
    assert charged["total_details"]["amount_tax"] == 1075
    assert (saved.subtotal, saved.discount, saved.tax, saved.total) == (
        charged["amount_subtotal"], charged["total_details"]["amount_discount"],
        charged["total_details"]["amount_tax"], charged["amount_total"])


def test_a_percent_off_stripe_rounds_on_the_subtotal_one_unit_apart_is_paid_as_charged(
        stripe_app, stripe_server, monkeypatch, client, client_as_buyer, db, buyer):
    monkeypatch.setattr(stripe_server, "percent_off_rounding", "on_subtotal")
    race = make_race(db, tickets=[("10K", 999, 10), ("5K", 1999, 10)], tax_mode=TaxMode.EXCLUSIVE,
                     tax_rate_bps=825)
    code = make_code(db, race, code="THIRD", percent_off=33)
    order = make_cart(db, race, {race.ticket_types[0]: 1, race.ticket_types[1]: 1}, buyer=buyer, code=code)
    assert fresh_order(db, order.id).discount == 330 + 660  # ours, per line

    outcome, saved, charged = pay_and_confirm(client_as_buyer, client, stripe_server, db, order)

    assert charged["total_details"]["amount_discount"] == 989  # Stripe's, on 2998
    assert outcome == "paid" and saved.status == OrderStatus.PAID
    assert (saved.discount, saved.tax, saved.total) == (989, charged["total_details"]["amount_tax"],
                                                        charged["amount_total"])


def test_a_late_payment_for_tickets_the_order_no_longer_holds_is_flagged_not_ticketed(
        stripe_server, client, client_as_buyer, db, pending):
    # The buyer left the payment page (the order is a cart again) and added a runner; then the old
    # page's payment, for two tickets, arrives.
    client_as_buyer.get(f"/orders/{pending.id}/cancel")
    five_k = db.session.scalar(select(TicketType).where(TicketType.race_id == pending.race_id, TicketType.name == "5K"))
    db.session.add(Registration(order_id=pending.id, race_id=pending.race_id, ticket_type_id=five_k.id,
                                price=five_k.price))
    db.session.commit()
    session_of(stripe_server, pending)["status"] = "open"  # a slow browser tab pays anyway

    response = deliver(client, stripe_server.pay_session(pending.stripe_session_id))

    saved = fresh_order(db, pending.id)
    assert response.json["outcome"] == "needs_refund" and saved.status == OrderStatus.NEEDS_REFUND
    assert "tickets worth $90.00" in worded(saved.problem) and "$120.00" in worded(saved.problem)


def test_a_payment_with_a_discount_the_order_does_not_have_is_flagged(stripe_server, client, db, race, buyer,
                                                                     stripe_app, client_as_buyer):
    code = make_code(db, race, code="HALF", percent_off=50)
    order = make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer, code=code)
    assert pay(client_as_buyer, order).status_code == 303
    client_as_buyer.get(f"/orders/{order.id}/cancel")
    saved = fresh_order(db, order.id)
    saved.discount_code_id = None  # the buyer removed the code before the old page's payment arrived
    db.session.commit()
    session_of(stripe_server, saved)["status"] = "open"

    response = deliver(client, stripe_server.pay_session(saved.stripe_session_id))

    assert response.json["outcome"] == "needs_refund"
    assert "different discount" in worded(fresh_order(db, order.id).problem)


def test_paying_again_after_the_page_closed_waits_on_the_order_page_not_a_dead_page(
        stripe_server, client_as_buyer, db, pending):
    closes = datetime.fromtimestamp(session_of(stripe_server, pending)["expires_at"], UTC)
    assert pay(client_as_buyer, pending).headers["Location"] == pending.checkout_url  # still open: same page
    clock.freeze(closes + timedelta(minutes=1))

    response = pay(client_as_buyer, pending)

    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"http://localhost/orders/{pending.id}")
    assert fresh_order(db, pending.id).status == OrderStatus.PENDING
