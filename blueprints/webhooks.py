"""Stripe's webhook: verified on the raw body, then handed to services/stripe_events.py."""
from __future__ import annotations

import json
import logging

import stripe
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from extensions import csrf, db
from services import clock
from services.payments import PaymentUnavailable, gateway_for
from services.stripe_events import handle_event

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)


def _ack(outcome: str, status: int = 200):
    return jsonify(received=True, outcome=outcome), status


@bp.post("/stripe")
@csrf.exempt  # Stripe signs its requests instead; the signature is checked below
def stripe_webhook():
    """Stripe's events about checkout sessions and refunds."""
    secret = current_app.config["STRIPE_WEBHOOK_SECRET"]
    payload = request.get_data()  # the raw bytes: the signature covers them exactly
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
