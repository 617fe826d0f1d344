"""Stripe's events, handled once each: a payment becomes tickets, an expired or failed session gives
its spots back, a refund settles. The webhook verifies an event and hands it to `handle_event`.

Only a session this database created leads to an order (`order_id_for_session`): another
environment's events (a developer's `stripe listen`, staging on the same account) are
acknowledged and ignored, and an id in metadata is never trusted on its own.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from models import CheckoutSession, OrderStatus, StripeEvent
from services.checkout import release
from services.fulfillment import Payment, fulfill
from services.locking import lock_order
from services.payments import read_session
from services.refunds import mark_refunded

log = logging.getLogger(__name__)

SESSION_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded",
                  "checkout.session.async_payment_failed", "checkout.session.expired"}
PAID_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}


def order_id_for_session(session: Session, checkout_session_id: str, session_app_env: str | None,
                         app_env: str) -> uuid.UUID | None:
    """The order a provider's checkout session pays for, when this database (of this APP_ENV) created it."""
    if session_app_env and session_app_env != app_env:
        return None
    return session.scalar(select(CheckoutSession.order_id).where(CheckoutSession.id == checkout_session_id))


def handle_event(session: Session, event: dict, app_env: str, now: datetime) -> str:
    """Record the event under its id, act on it, and say what happened. Commits once.

    A second delivery of the same event changes nothing ("duplicate"). A database error rolls
    back and propagates, so the webhook answers 5xx and Stripe retries the whole event.
    """
    event_id, event_type = event["id"], event["type"]
    record = StripeEvent(id=event_id, type=event_type)
    try:
        session.add(record)
        try:
            session.flush()  # the unique id: a second delivery stops here
        except IntegrityError:
            session.rollback()
            return "duplicate"
        outcome = _dispatch(session, event_type, event["data"]["object"], record, app_env, now)
        record.outcome = outcome[:200]
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        raise
    log.info("stripe %s %s: %s", event_type, event_id, outcome)
    return outcome


def _dispatch(session: Session, event_type: str, obj: dict, record: StripeEvent, app_env: str, now: datetime) -> str:
    if event_type in SESSION_EVENTS:
        return _session_event(session, event_type, obj, record, app_env, now)
    if event_type == "charge.refunded":
        return _charge_refunded(session, obj, record, now)
    return "ignored: event type not handled"


def _session_event(session: Session, event_type: str, checkout: dict, record: StripeEvent, app_env: str,
                   now: datetime) -> str:
    order_id = order_id_for_session(session, checkout["id"], (checkout.get("metadata") or {}).get("app_env"), app_env)
    if order_id is None:
        return "ignored: session not created here"
    record.order_id = order_id
    if event_type in PAID_EVENTS:
        if checkout.get("payment_status") != "paid":
            return "waiting: payment not settled yet"
        return fulfill(session, order_id, Payment.from_provider(read_session(checkout)), now).result
    # Expired, or a bank payment that failed: give the spots back if this session still holds them.
    order = lock_order(session, order_id)
    if order.status == OrderStatus.PENDING and order.stripe_session_id == checkout["id"]:
        release(session, order, reason=OrderStatus.EXPIRED if event_type.endswith("expired") else OrderStatus.CANCELED)
        return "released"
    return "nothing held"


def _charge_refunded(session: Session, charge: dict, record: StripeEvent, now: datetime) -> str:
    intent = charge.get("payment_intent")
    if not intent:
        return "ignored: no payment intent"
    fully = bool(charge.get("refunded")) or charge.get("amount_refunded", 0) >= charge.get("amount", 0)
    order = mark_refunded(session, intent, charge.get("amount_refunded", 0), fully, now)
    if order is None:
        return "ignored: payment not ours"
    record.order_id = order.id
    return "refunded" if fully else "partially refunded"
