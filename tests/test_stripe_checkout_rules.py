"""What Stripe itself enforces, met by our checkout: the webhook's size limit, the session's
expiry window, coupon names, tax behaviour with Stripe Tax, and payments whose discount and tax
Stripe rounded its own way. The loopback double enforces Stripe's documented rules, so a request
Stripe would refuse fails here too."""
from __future__ import annotations

import io
import json
from unittest import mock

from models import OrderStatus
from tests.doubles.stripe_api import sign_payload
from tests.test_payments import (  # noqa: F401  (fixtures)
    WEBHOOK_SECRET,
    buyer,
    client_as_buyer,
    deliver,
    fresh_order,
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
