"""Stripe's webhook: verified on the raw body, then handed to services/stripe_events.py."""
from __future__ import annotations

import json
import logging

import stripe
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from extensions import csrf, db
from services import clock
from services.payments import PaymentUnavailable, gateway_for
from services.stripe_events import handle_event

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)

# Stripe's events are a few kilobytes (a Checkout Session without its line items, a charge); a
# megabyte is generous. Anything bigger is refused before it is read, let alone HMAC-verified.
MAX_EVENT_BYTES = 1024 * 1024


def _ack(outcome: str, status: int = 200):
    return jsonify(received=True, outcome=outcome), status


@bp.post("/stripe")
@csrf.exempt  # Stripe signs its requests instead; the signature is checked below
def stripe_webhook():
    """Stripe's events about checkout sessions and refunds."""
    secret = current_app.config["STRIPE_WEBHOOK_SECRET"]
    request.max_content_length = MAX_EVENT_BYTES  # also caps a chunked body with no Content-Length
    if request.content_length is not None and request.content_length > MAX_EVENT_BYTES:
        return _ack("payload too large", 413)
    try:
        payload = request.get_data()  # the raw bytes: the signature covers them exactly
    except RequestEntityTooLarge:
        return _ack("payload too large", 413)
    signature = request.headers.get("Stripe-Signature", "")
    if not secret:
        log.error("STRIPE_WEBHOOK_SECRET is not set; refusing webhook")
        return _ack("not configured", 400)
    try:
        stripe.Webhook.construct_event(payload, signature, secret)
        event = json.loads(payload)  # verified: now read it as plain JSON
    except (ValueError, stripe.SignatureVerificationError) as exc:
        log.warning("rejected stripe webhook: %s", exc)
        return _ack("bad signature or payload", 400)
    if not isinstance(event, dict) or not isinstance(event.get("data", {}).get("object"), dict):
        return _ack("not an event", 400)

    try:
        outcome = handle_event(db.session, event, current_app.config["APP_ENV"], clock.now(),
                               gateway_for(current_app))
    except SQLAlchemyError:  # rolled back by the service: Stripe retries the whole event
        log.exception("webhook %s failed; Stripe will retry", event.get("id"))
        return _ack("database error, retry", 500)
    except PaymentUnavailable:  # nothing recorded: Stripe retries, and by then we can ask it
        log.warning("webhook %s: could not read the payment from Stripe; Stripe will retry", event.get("id"))
        return _ack("stripe unreachable, retry", 503)
    return _ack(outcome)


def register(app) -> None:
    app.register_blueprint(bp)
