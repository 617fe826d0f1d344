"""Tests for the loopback Stripe double (tests/doubles/stripe_api.py), driven only through the real stripe library.

Every call goes StripeClient -> HTTP -> StripeServer, so these tests also pin down
how stripe 16 encodes requests and maps error responses to exceptions.
"""

import json
import threading
import time

import pytest
import stripe

try:
    from tests.doubles.stripe_api import StripeServer, sign_payload
except ImportError:  # `pytest` run without the repo root on sys.path (tests/ isn't a package)
    from doubles.stripe_api import StripeServer, sign_payload

WEBHOOK_SECRET = "whsec_loopback_test"


@pytest.fixture
def server():
    with StripeServer() as srv:
        yield srv


@pytest.fixture
def client(server):
    # StripeClient's default max_network_retries is None -> no retries, so an injected
    # 500 surfaces immediately instead of being retried with back-off.
    return stripe.StripeClient(server.api_key, base_addresses={"api": server.url})


def line_item(name, unit_amount, quantity, tax_rates=()):
    item = {
        "price_data": {"currency": "usd", "unit_amount": unit_amount, "product_data": {"name": name}},
        "quantity": quantity,
    }
    if tax_rates:
        item["tax_rates"] = list(tax_rates)
    return item


def session_params(**overrides):
    params = {
        "mode": "payment",
        "success_url": "https://shop.example/ok?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://shop.example/cancel",
        "line_items": [line_item("Mug", 1500, 1)],
    }
    params.update(overrides)
    return params


def create_paid_session(server, client, unit_amount=4000):
    session = client.v1.checkout.sessions.create(params=session_params(line_items=[line_item("Lamp", unit_amount, 1)]))
    event = server.pay_session(session.id)
    return session, event["data"]["object"]["payment_intent"]


# ----------------------------------------------------------------------------- sessions


def test_session_with_two_items_coupon_and_tax_rate_has_stripe_amounts(server, client):
    coupon = client.v1.coupons.create(params={"percent_off": 10, "duration": "once", "name": "Ten"})
    rate = client.v1.tax_rates.create(
        params={"display_name": "Sales tax", "percentage": 8.25, "inclusive": False, "country": "US"}
    )
    expires_at = server.now() + 3600

    session = client.v1.checkout.sessions.create(params=session_params(
        line_items=[line_item("Mug", 1999, 2, [rate.id]), line_item("Sticker", 500, 1, [rate.id])],
        discounts=[{"coupon": coupon.id}],
        client_reference_id="order-42",
        customer_email="buyer@example.com",
        metadata={"order_id": "42"},
        expires_at=expires_at,
    ))

    # Lines 3998 and 500; 10% off each -> 400 (399.8 rounded) and 50;
    # 8.25% tax on 3598 -> 297 (296.835) and on 450 -> 37 (37.125).
    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert (session.amount_subtotal, session.amount_total) == (4498, 4498 - 450 + 334)
    assert session.total_details.amount_discount == 450
    assert session.total_details.amount_tax == 334
    assert session.total_details.amount_shipping == 0
    assert session.currency == "usd"
    assert (session.status, session.payment_status, session.payment_intent) == ("open", "unpaid", None)
    assert session.url == f"{server.url}/c/pay/{session.id}"
    assert session.client_reference_id == "order-42"
    assert session.customer_email == "buyer@example.com"
    assert session.metadata["order_id"] == "42"
    assert session.expires_at == expires_at
    assert session.discounts[0].coupon == coupon.id

    # The double saw the library's bracketed form encoding and decoded it back into structure.
    sent = server.requests_to("POST", "/v1/checkout/sessions")[0]
    assert sent["params"]["line_items"][1]["price_data"]["product_data"]["name"] == "Sticker"
    assert sent["params"]["line_items"][0]["tax_rates"] == [rate.id]
    assert sent["params"]["discounts"][0]["coupon"] == coupon.id
    assert sent["params"]["metadata"] == {"order_id": "42"}
    assert sent["headers"]["Authorization"] == f"Bearer {server.api_key}"
    assert sent["headers"]["stripe-version"]  # header lookups ignore case

    fetched = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items"]})
    assert fetched.amount_total == session.amount_total
    items = fetched.line_items.data
    assert [(i.description, i.amount_subtotal, i.amount_discount, i.amount_tax, i.amount_total) for i in items] == [
        ("Mug", 3998, 400, 297, 3895),
        ("Sticker", 500, 50, 37, 487),
    ]


def test_tax_rounds_half_up_and_amount_off_coupons_and_inclusive_rates(client):
    exclusive = client.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 5, "inclusive": False})
    session = client.v1.checkout.sessions.create(params=session_params(
        line_items=[line_item("Tea", 1010, 1, [exclusive.id])]))
    # 5% of 1010 is 50.5: Stripe rounds half up to 51 (banker's rounding would give 50).
    assert (session.total_details.amount_tax, session.amount_total) == (51, 1061)

    inclusive = client.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 20, "inclusive": True})
    off = client.v1.coupons.create(params={"amount_off": 200, "currency": "usd", "duration": "once"})
    session = client.v1.checkout.sessions.create(params=session_params(
        line_items=[line_item("Tea", 1200, 1, [inclusive.id])], discounts=[{"coupon": off.id}]))
    # Inclusive tax is inside the price: 1000 * 20/120 = 166.67 -> 167, total not increased.
    assert (session.amount_subtotal, session.amount_total) == (1200, 1000)
    assert session.total_details.amount_tax == 167


def test_idempotency_key_replays_first_response_and_rejects_different_params(server, client):
    options = {"idempotency_key": "order-42-attempt-1"}
    first = client.v1.checkout.sessions.create(params=session_params(), options=options)
    again = client.v1.checkout.sessions.create(params=session_params(), options=options)

    assert again.id == first.id
    assert len(server.sessions) == 1
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert [r["headers"]["Idempotency-Key"] for r in server.requests_to("POST", "/v1/checkout/sessions")] == [
        "order-42-attempt-1", "order-42-attempt-1"]

    with pytest.raises(stripe.IdempotencyError):
        client.v1.checkout.sessions.create(params=session_params(client_reference_id="other"), options=options)

    # Without an explicit key the library still sends a fresh one on every POST.
    a = client.v1.checkout.sessions.create(params=session_params())
    b = client.v1.checkout.sessions.create(params=session_params())
    assert a.id != b.id


def test_list_pages_newest_first_and_auto_paging_iter_walks_all_pages(server, client):
    created = [client.v1.checkout.sessions.create(params=session_params()).id for _ in range(7)]

    page = client.v1.checkout.sessions.list(params={"limit": 3})
    assert page.object == "list" and page.url == "/v1/checkout/sessions"
    assert page.has_more is True
    assert [s.id for s in page.data] == created[::-1][:3]

    before = len(server.requests_to("GET", "/v1/checkout/sessions"))
    walked = [s.id for s in page.auto_paging_iter()]
    assert walked == created[::-1]
    # Two more pages (3 + 1 items) were fetched with starting_after, as the library pages.
    follow_ups = server.requests_to("GET", "/v1/checkout/sessions")[before:]
    assert [r["params"]["starting_after"] for r in follow_ups] == [created[::-1][2], created[::-1][5]]
    assert all(r["params"]["limit"] == "3" for r in follow_ups)


def test_list_filters_by_status_and_created(server, client):
    server.now_offset = -2 * 3600  # two sessions "created" two hours ago
    old = [client.v1.checkout.sessions.create(params=session_params()).id for _ in range(2)]
    server.now_offset = 0
    recent = client.v1.checkout.sessions.create(params=session_params()).id
    client.v1.checkout.sessions.expire(old[0])

    cutoff = server.now() - 60
    since = client.v1.checkout.sessions.list(params={"created": {"gte": cutoff}})
    assert [s.id for s in since.data] == [recent]
    # created[gte]=… in the query string came back as a nested dict (values stay strings, as on the wire)
    assert server.requests_to("GET", "/v1/checkout/sessions")[0]["params"]["created"] == {"gte": str(cutoff)}

    expired = client.v1.checkout.sessions.list(params={"status": "expired"})
    assert [s.id for s in expired.data] == [old[0]]
    assert [s.id for s in client.v1.checkout.sessions.list(params={"status": "open"}).data] == [recent, old[1]]


def test_expire_only_open_sessions(server, client):
    session = client.v1.checkout.sessions.create(params=session_params())
    expired = client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired"
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.checkout.sessions.expire(session.id)
    assert excinfo.value.http_status == 400

    paid, _ = create_paid_session(server, client)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(paid.id)


def test_expires_at_must_be_between_30_minutes_and_24_hours(server, client):
    for too in (server.now() + 10 * 60, server.now() + 25 * 3600):
        with pytest.raises(stripe.InvalidRequestError) as excinfo:
            client.v1.checkout.sessions.create(params=session_params(expires_at=too))
        assert excinfo.value.param == "expires_at"


def test_expires_at_a_second_short_of_30_minutes_is_refused_with_no_slack(server, client):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.checkout.sessions.create(params=session_params(expires_at=server.now() + 30 * 60 - 1))
    assert "at least 30 minutes from Checkout Session creation" in excinfo.value.user_message

    day = client.v1.checkout.sessions.create(params=session_params(expires_at=server.now() + 24 * 3600))
    assert day.expires_at - day.created <= 24 * 3600
    # A request computed "now + 30 min" is refused once Stripe's clock has moved on a few seconds.
    server.now_offset = 5
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(params=session_params(expires_at=int(time.time()) + 30 * 60))


@pytest.mark.parametrize("params, unknown", [
    ({"colour": "blue"}, "colour"),
    ({"line_items": [{**line_item("Mug", 1500, 1), "amount": 1500}]}, "line_items[0][amount]"),
    ({"line_items": [line_item("Mug", 1500, 1) | {"price_data": {
        "currency": "usd", "unit_amount": 1500, "product_data": {"name": "Mug", "colour": "blue"}}}]},
     "line_items[0][price_data][product_data][colour]"),
    ({"automatic_tax": {"enabled": True, "mode": "auto"}}, "automatic_tax[mode]"),
])
def test_unknown_parameters_are_refused_as_stripe_does(server, client, params, unknown):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.checkout.sessions.create(params=session_params(**params))
    assert (excinfo.value.code, excinfo.value.param) == ("parameter_unknown", unknown)
    assert excinfo.value.user_message == f"Received unknown parameter: {unknown}"
    assert not server.sessions

    with pytest.raises(stripe.InvalidRequestError) as coupon:
        client.v1.coupons.create(params={"percent_off": 10, "code": "TEN"})
    assert coupon.value.code == "parameter_unknown"


@pytest.mark.parametrize("metadata, message", [
    ({f"k{i}": "v" for i in range(51)}, "up to 50 keys"),
    ({"k" * 41: "v"}, "keys can have up to 40 characters"),
    ({"k": "v" * 501}, "values can have up to 500 characters"),
])
def test_metadata_limits_are_enforced_on_the_session_and_its_payment(server, client, metadata, message):
    for params in (session_params(metadata=metadata), session_params(payment_intent_data={"metadata": metadata})):
        with pytest.raises(stripe.InvalidRequestError) as excinfo:
            client.v1.checkout.sessions.create(params=params)
        assert message in excinfo.value.user_message
    at_the_limits = {**{f"k{i}": "v" * 500 for i in range(49)}, "k" * 40: "v"}
    assert client.v1.checkout.sessions.create(params=session_params(metadata=at_the_limits)).metadata.to_dict() == at_the_limits


def test_coupon_names_are_at_most_40_characters(client):
    assert client.v1.coupons.create(params={"percent_off": 10, "name": "N" * 40}).name == "N" * 40
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.coupons.create(params={"percent_off": 10, "name": "N" * 41})
    assert excinfo.value.param == "name" and excinfo.value.http_status == 400


def test_automatic_tax_needs_a_tax_behavior_unless_the_account_has_a_default(server, client):
    automatic = {"automatic_tax": {"enabled": True}}
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.checkout.sessions.create(params=session_params(**automatic))
    assert excinfo.value.param == "line_items[0][price_data][tax_behavior]"

    priced = line_item("Mug", 1500, 1)
    priced["price_data"]["tax_behavior"] = "exclusive"
    assert client.v1.checkout.sessions.create(params=session_params(line_items=[priced], **automatic)).automatic_tax.enabled
    with pytest.raises(stripe.InvalidRequestError):
        priced["price_data"]["tax_behavior"] = "sometimes"
        client.v1.checkout.sessions.create(params=session_params(line_items=[priced]))

    server.default_tax_behavior = "exclusive"  # set in the Dashboard's Stripe Tax settings
    assert client.v1.checkout.sessions.create(params=session_params(**automatic)).automatic_tax.enabled


def test_coupons_apply_to_every_line_and_can_round_percent_off_on_the_subtotal(server, client):
    third = client.v1.coupons.create(params={"percent_off": 33, "duration": "once"})
    two_lines = [line_item("Mug", 999, 1), line_item("Cup", 999, 1)]
    per_line = client.v1.checkout.sessions.create(params=session_params(line_items=two_lines,
                                                                       discounts=[{"coupon": third.id}]))
    server.percent_off_rounding = "on_subtotal"
    on_subtotal = client.v1.checkout.sessions.create(params=session_params(line_items=two_lines,
                                                                          discounts=[{"coupon": third.id}]))
    # 33 % of 999 is 329.67 per line (330 + 330); of 1998 it is 659.34, so one unit less.
    assert (per_line.total_details.amount_discount, on_subtotal.total_details.amount_discount) == (660, 659)

    off = client.v1.coupons.create(params={"amount_off": 500, "currency": "usd", "duration": "once"})
    spread = client.v1.checkout.sessions.create(params=session_params(
        line_items=[line_item("Mug", 3000, 1), line_item("Cup", 1000, 1)], discounts=[{"coupon": off.id}]))
    items = client.v1.checkout.sessions.line_items.list(spread.id).data
    assert [i.amount_discount for i in items] == [375, 125]


# ----------------------------------------------------------------------------- payments, refunds


def test_pay_session_creates_payment_intent_and_charge(server, client):
    session = client.v1.checkout.sessions.create(params=session_params(
        payment_intent_data={"metadata": {"order_id": "7"}}))
    event = server.pay_session(session.id)

    assert event["type"] == "checkout.session.completed"
    assert event["id"].startswith("evt_") and event["object"] == "event" and event["livemode"] is False
    completed = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert (completed.status, completed.payment_status) == ("complete", "paid")
    intent = completed.payment_intent
    assert intent.id.startswith("pi_test_") and intent.status == "succeeded"
    assert intent.amount == session.amount_total and intent.metadata["order_id"] == "7"
    charge = client.v1.payment_intents.retrieve(intent.id, params={"expand": ["latest_charge"]}).latest_charge
    assert (charge.amount, charge.amount_refunded, charge.refunded) == (1500, 0, False)


def test_async_payment_pending_then_succeeded_or_failed(server, client):
    ok = client.v1.checkout.sessions.create(params=session_params())
    completed = server.pay_session(ok.id, async_pending=True)
    assert completed["data"]["object"]["payment_status"] == "unpaid"
    assert client.v1.payment_intents.retrieve(completed["data"]["object"]["payment_intent"]).status == "processing"
    succeeded = server.async_result(ok.id, True)
    assert succeeded["type"] == "checkout.session.async_payment_succeeded"
    assert client.v1.checkout.sessions.retrieve(ok.id).payment_status == "paid"

    bad = client.v1.checkout.sessions.create(params=session_params())
    server.pay_session(bad.id, async_pending=True)
    failed = server.async_result(bad.id, False)
    assert failed["type"] == "checkout.session.async_payment_failed"
    assert failed["data"]["object"]["payment_status"] == "unpaid"


def test_refund_partial_then_full_then_rejected(server, client):
    _, intent_id = create_paid_session(server, client, unit_amount=4000)

    partial = client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 1500, "reason": "requested_by_customer"})
    assert partial.id.startswith("re_") and partial.status == "succeeded" and partial.amount == 1500
    assert client.v1.refunds.retrieve(partial.id).payment_intent == intent_id
    event = server.refund_event(intent_id)
    assert event["type"] == "charge.refunded"
    assert (event["data"]["object"]["amount_refunded"], event["data"]["object"]["refunded"]) == (1500, False)

    with pytest.raises(stripe.InvalidRequestError) as too_large:
        client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 3000})
    assert too_large.value.code == "amount_too_large"

    rest = client.v1.refunds.create(params={"payment_intent": intent_id})  # no amount: everything left
    assert rest.amount == 2500
    charge = client.v1.charges.retrieve(rest.charge)
    assert (charge.amount_refunded, charge.refunded) == (4000, True)

    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"payment_intent": intent_id})
    assert again.value.code == "charge_already_refunded"


def test_refund_event_without_api_refund_refunds_in_full(server, client):
    _, intent_id = create_paid_session(server, client, unit_amount=2500)
    event = server.refund_event(intent_id)
    assert (event["data"]["object"]["amount_refunded"], event["data"]["object"]["refunded"]) == (2500, True)
    assert len(server.refunds) == 1


def test_every_refund_records_refund_created_then_charge_refunded_as_documented(server, client):
    session, intent_id = create_paid_session(server, client, unit_amount=4000)
    api_refund = client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 1500,
                                                  "metadata": {"refund_id": "7"}})
    dashboard_refund = server.refund_payment(intent_id)  # the rest, from the Dashboard

    events = server.payment_events(intent_id)

    assert [e["type"] for e in events] == ["checkout.session.completed", "refund.created", "charge.refunded",
                                           "refund.created", "charge.refunded"]
    first_refund, first_charge = events[1]["data"]["object"], events[2]["data"]["object"]
    assert (first_refund["object"], first_refund["id"], first_refund["amount"], first_refund["status"],
            first_refund["payment_intent"], first_refund["metadata"]) == (
        "refund", api_refund.id, 1500, "succeeded", intent_id, {"refund_id": "7"})
    assert (first_charge["object"], first_charge["amount_refunded"], first_charge["refunded"]) == ("charge", 1500, False)
    assert "refunds" not in first_charge  # not included since API version 2022-11-15
    assert events[3]["data"]["object"]["id"] == dashboard_refund["id"]
    assert (events[4]["data"]["object"]["amount_refunded"], events[4]["data"]["object"]["refunded"]) == (4000, True)
    assert events[0]["data"]["object"]["id"] == session.id


def test_a_refund_that_fails_later_sends_refund_failed_refund_updated_and_charge_refund_updated(server, client):
    _, intent_id = create_paid_session(server, client, unit_amount=4000)
    accepted = client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 1000})

    events = server.fail_refund(accepted.id, reason="lost_or_stolen_card")

    assert [e["type"] for e in events] == ["refund.failed", "refund.updated", "charge.refund.updated"]
    for event in events:
        refund = event["data"]["object"]
        assert (refund["object"], refund["id"], refund["status"], refund["failure_reason"]) == (
            "refund", accepted.id, "failed", "lost_or_stolen_card")
        assert refund["failure_balance_transaction"].startswith("txn_")
    assert client.v1.refunds.retrieve(accepted.id).status == "failed"
    assert client.v1.charges.retrieve(accepted.charge).amount_refunded == 0  # back in the balance
    with pytest.raises(ValueError):
        server.fail_refund(accepted.id)


def test_every_delivery_order_lists_each_distinct_order_with_redeliveries():
    assert StripeServer.every_delivery_order(3) == sorted(
        [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)])
    twice = StripeServer.every_delivery_order(3, twice=(0,))
    assert len(twice) == 12 and all(sorted(order) == [0, 0, 1, 2] for order in twice)


def test_refunds_list_filters_by_payment_intent_newest_first(server, client):
    _, intent_id = create_paid_session(server, client, unit_amount=4000)
    _, other_intent = create_paid_session(server, client, unit_amount=4000)
    first = server.refund_payment(intent_id, 1000)
    second = server.refund_payment(intent_id, 500)
    server.refund_payment(other_intent, 700)
    listed = client.v1.refunds.list(params={"payment_intent": intent_id})
    assert [r.id for r in listed.data] == [second["id"], first["id"]]
    sessions = client.v1.checkout.sessions.list(params={"payment_intent": intent_id})
    assert [s.payment_intent for s in sessions.data] == [intent_id]


# ----------------------------------------------------------------------------- errors


def test_validation_errors_surface_as_invalid_request_error_with_code(client):
    with pytest.raises(stripe.InvalidRequestError) as missing_mode:
        client.v1.checkout.sessions.create(params={"success_url": "https://shop.example/ok",
                                                   "line_items": [line_item("Mug", 1500, 1)]})
    assert (missing_mode.value.code, missing_mode.value.param) == ("parameter_missing", "mode")
    assert missing_mode.value.http_status == 400

    with pytest.raises(stripe.InvalidRequestError) as missing_items:
        client.v1.checkout.sessions.create(params={"mode": "payment", "success_url": "https://shop.example/ok"})
    assert missing_items.value.param == "line_items"

    with pytest.raises(stripe.InvalidRequestError) as missing_success:
        client.v1.checkout.sessions.create(params={"mode": "payment", "line_items": [line_item("Mug", 1500, 1)]})
    assert missing_success.value.param == "success_url"

    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.checkout.sessions.retrieve("cs_test_nope")
    assert (unknown.value.code, unknown.value.http_status) == ("resource_missing", 404)
    assert unknown.value.json_body["error"]["type"] == "invalid_request_error"

    with pytest.raises(stripe.InvalidRequestError) as no_coupon:
        client.v1.checkout.sessions.create(params=session_params(discounts=[{"coupon": "NOPE"}]))
    assert no_coupon.value.code == "resource_missing"


def test_duplicate_coupon_id_is_rejected(client):
    client.v1.coupons.create(params={"id": "SPRING", "percent_off": 15, "duration": "once"})
    assert client.v1.coupons.retrieve("SPRING").percent_off == 15
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.coupons.create(params={"id": "SPRING", "amount_off": 100, "currency": "usd"})
    assert excinfo.value.code == "resource_already_exists"


def test_bad_api_key_is_authentication_error(server):
    live = stripe.StripeClient("sk_live_wrong", base_addresses={"api": server.url})
    with pytest.raises(stripe.AuthenticationError) as excinfo:
        live.v1.checkout.sessions.list()
    assert excinfo.value.http_status == 401


def test_fail_next_injects_api_and_card_errors_then_recovers(server, client):
    server.fail_next("POST", "/v1/checkout/sessions", message="Stripe is down")
    with pytest.raises(stripe.APIError) as excinfo:
        client.v1.checkout.sessions.create(params=session_params())
    assert excinfo.value.http_status == 500 and "Stripe is down" in str(excinfo.value)
    assert server.sessions == {}  # injected failures happen before any state change
    assert client.v1.checkout.sessions.create(params=session_params()).status == "open"

    server.fail_next("GET", "/v1/checkout/sessions", status=402, type="card_error", code="card_declined", times=2)
    for _ in range(2):
        with pytest.raises(stripe.CardError) as declined:
            client.v1.checkout.sessions.list()
        assert declined.value.code == "card_declined"
    assert client.v1.checkout.sessions.list().object == "list"


def test_injected_500_is_not_saved_for_idempotent_replay(server):
    # With retries enabled the library resends the same Idempotency-Key; the retry must succeed.
    retrying = stripe.StripeClient(server.api_key, base_addresses={"api": server.url}, max_network_retries=1)
    server.fail_next("POST", "/v1/coupons")
    coupon = retrying.v1.coupons.create(params={"percent_off": 5})
    assert coupon.percent_off == 5
    keys = [r["headers"]["Idempotency-Key"] for r in server.requests_to("POST", "/v1/coupons")]
    assert len(keys) == 2 and keys[0] == keys[1]


def test_concurrent_requests_are_safe(server, client):
    ids, errors = [], []

    def worker():
        try:
            for _ in range(5):
                ids.append(client.v1.checkout.sessions.create(params=session_params()).id)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(ids)) == 30 == len(server.sessions)


# ----------------------------------------------------------------------------- webhooks


def test_signed_events_verify_with_the_real_webhook_code(server, client):
    session = client.v1.checkout.sessions.create(params=session_params(client_reference_id="order-9"))
    payload = json.dumps(server.pay_session(session.id))

    event = stripe.Webhook.construct_event(payload, sign_payload(payload, WEBHOOK_SECRET), WEBHOOK_SECRET)
    assert event.type == "checkout.session.completed"
    assert event.data.object.id == session.id
    assert event.data.object.client_reference_id == "order-9"
    # bytes payloads (Flask's request.get_data()) sign and verify the same way
    assert stripe.Webhook.construct_event(payload.encode(), sign_payload(payload.encode(), WEBHOOK_SECRET),
                                          WEBHOOK_SECRET).id == event.id

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, sign_payload(payload, "whsec_wrong"), WEBHOOK_SECRET)

    stale = sign_payload(payload, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, stale, WEBHOOK_SECRET, tolerance=300)
    recent = sign_payload(payload, WEBHOOK_SECRET, timestamp=int(time.time()) - 200)
    assert stripe.Webhook.construct_event(payload, recent, WEBHOOK_SECRET, tolerance=300).id == event.id


def test_expired_and_generic_events(server, client):
    session = client.v1.checkout.sessions.create(params=session_params())
    expired = server.expire_session(session.id)
    assert expired["type"] == "checkout.session.expired"
    assert expired["data"]["object"]["status"] == "expired"
    with pytest.raises(ValueError):
        server.pay_session(session.id)

    custom = server.event("coupon.created", {"id": "X", "object": "coupon"})
    assert custom["api_version"] == server.api_version
    assert client.v1.events.retrieve(custom["id"]).type == "coupon.created"
