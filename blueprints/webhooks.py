"""Stripe's webhook: verified on the raw body, handled once per event id, in one transaction."""
from __future__ import annotations

import json
import logging

import stripe
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from extensions import csrf, db
from models import CheckoutSession, Order, OrderStatus, StripeEvent
from services import clock
from services.checkout import release
from services.fulfillment import Payment, fulfill
from services.locking import lock_order
from services.refunds import mark_refunded

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)

SESSION_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded",
                  "checkout.session.async_payment_failed", "checkout.session.expired"}


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
        return _handle(event)
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("webhook %s failed; Stripe will retry", event.get("id"))
        return _ack("database error, retry", 500)


def _handle(event):
    event_id, event_type = event["id"], event["type"]
    obj = event["data"]["object"]
    record = StripeEvent(id=event_id, type=event_type)
    db.session.add(record)
    try:
        db.session.flush()  # the unique id: a second delivery stops here
    except IntegrityError:
        db.session.rollback()
        return _ack("duplicate")

    if event_type in SESSION_EVENTS:
        outcome = _session_event(event_type, obj, record)
    elif event_type == "charge.refunded":
        outcome = _charge_refunded(obj, record)
    else:
        outcome = "ignored: event type not handled"
    record.outcome = outcome[:200]
    db.session.commit()
    log.info("stripe %s %s: %s", event_type, event_id, outcome)
    return _ack(outcome)


def _order_for_session(session_id: str, metadata: dict) -> Order | None:
    """Only a session this database created leads to an order; metadata alone is never trusted."""
    app_env = (metadata or {}).get("app_env")
    if app_env and app_env != current_app.config["APP_ENV"]:
        return None
    order_id = db.session.scalar(select(CheckoutSession.order_id).where(CheckoutSession.id == session_id))
    return db.session.get(Order, order_id) if order_id else None


def _session_event(event_type: str, session, record: StripeEvent) -> str:
    order = _order_for_session(session["id"], session.get("metadata"))
    if order is None:
        return "ignored: session not created here"
    record.order_id = order.id
    now = clock.now()
    if event_type in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        if session.get("payment_status") != "paid":
            return "waiting: payment not settled yet"
        details = session.get("total_details") or {}
        intent = session.get("payment_intent")
        payment = Payment(session.get("amount_total") or 0, (session.get("currency") or "").upper(),
                          intent if isinstance(intent, str) or intent is None else intent.get("id"),
                          details.get("amount_tax"))
        return fulfill(db.session, order.id, payment, now).result
    # Expired, or a bank payment that failed: give the spots back if this session still holds them.
    order = lock_order(db.session, order.id)
    if order.status == OrderStatus.PENDING and order.stripe_session_id == session["id"]:
        release(db.session, order, reason=OrderStatus.EXPIRED if event_type.endswith("expired") else OrderStatus.CANCELED)
        return "released"
    return "nothing held"


def _charge_refunded(charge, record: StripeEvent) -> str:
    intent = charge.get("payment_intent")
    if not intent:
        return "ignored: no payment intent"
    fully = bool(charge.get("refunded")) or charge.get("amount_refunded", 0) >= charge.get("amount", 0)
    order = mark_refunded(db.session, intent, charge.get("amount_refunded", 0), fully, clock.now())
    if order is None:
        return "ignored: payment not ours"
    record.order_id = order.id
    return "refunded" if fully else "partially refunded"


def register(app) -> None:
    app.register_blueprint(bp)

