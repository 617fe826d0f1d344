"""Stripe's events, handled once each: a payment becomes tickets, an expired or failed session gives
its spots back, a refund settles or fails, a second payment of an order already paid goes back.
The webhook verifies an event and hands it to `handle_event`.

Only a session this database created leads to an order (`order_id_for_session`): another
environment's events (a developer's `stripe listen`, staging on the same account) are
acknowledged and ignored, and an id in metadata is never trusted on its own.

Stripe does not promise the order of its events. A refund event may come before the payment's
`checkout.session.completed`, and an older refund event after a newer one. So a refund event is
taken as news that the payment changed: the payment (its Checkout Session and every refund) is read
from Stripe as it is now, the order is found through the session this database created, fulfilled
first if the payment's own event has not come yet, and its refunds brought in line. Whatever order
the events arrive in, the order ends the same.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from models import CheckoutSession, Order, OrderStatus, StripeEvent
from services.checkout import release
from services.duplicate_payments import apply_duplicate_refunds, duplicate_for_intent, refund_all_to_send
from services.fulfillment import Payment, fulfill
from services.locking import lock_order_and_its_types
from services.payments import Gateway, PaymentRecord, read_session, stripe_id
from services.refunds import apply_provider_refunds

log = logging.getLogger(__name__)

SESSION_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded",
                  "checkout.session.async_payment_failed", "checkout.session.expired"}
PAID_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
# Each says only that a payment's refunds changed; what they are now is read from Stripe.
REFUND_EVENTS = {"charge.refunded", "refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}


def order_id_for_session(session: Session, checkout_session_id: str, session_app_env: str | None,
                         app_env: str) -> uuid.UUID | None:
    """The order a provider's checkout session pays for, when this database (of this APP_ENV) created it."""
    if session_app_env and session_app_env != app_env:
        return None
    return session.scalar(select(CheckoutSession.order_id).where(CheckoutSession.id == checkout_session_id))


def handle_event(session: Session, event: dict, app_env: str, now: datetime, gateway: Gateway) -> str:
    """Record the event under its id, act on it, and say what happened, in one commit.

    A payment the order did not need (the buyer paid on two of its payment pages) is recorded in
    that commit, and then refunded through the gateway (services/duplicate_payments.py), which
    records Stripe's answer in transactions of its own.

    A second delivery of the same event changes nothing ("duplicate"). A database error rolls
    back and propagates, so the webhook answers 5xx and Stripe retries the whole event; so does
    PaymentUnavailable when Stripe can't be asked about a refund's payment (nothing is recorded).
    """
    event_id, event_type, obj = event["id"], event["type"], event["data"]["object"]
    record = None
    if event_type in REFUND_EVENTS and obj.get("payment_intent"):
        if session.get(StripeEvent, event_id) is not None:
            return "duplicate"
        session.rollback()  # hold no transaction open while Stripe is asked
        record = gateway.payment_record(stripe_id(obj["payment_intent"]))
    stripe_event = StripeEvent(id=event_id, type=event_type)
    try:
        session.add(stripe_event)
        try:
            session.flush()  # the unique id: a second delivery stops here
        except IntegrityError:
            session.rollback()
            return "duplicate"
        outcome = _dispatch(session, event_type, obj, stripe_event, record, app_env, now)
        stripe_event.outcome = outcome[:200]
        order_id = stripe_event.order_id
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        raise
    log.info("stripe %s %s: %s", event_type, event_id, outcome)
    if order_id is not None:
        # A payment the order did not need goes straight back, now that it is on record (committed above).
        refund_all_to_send(session, gateway, order_id, now)
    return outcome


def _dispatch(session: Session, event_type: str, obj: dict, stripe_event: StripeEvent, record: PaymentRecord | None,
              app_env: str, now: datetime) -> str:
    if event_type in SESSION_EVENTS:
        return _session_event(session, event_type, obj, stripe_event, app_env, now)
    if event_type in REFUND_EVENTS:
        return _refund_event(session, record, stripe_event, app_env, now) if record else "ignored: no payment intent"
    return "ignored: event type not handled"


def _session_event(session: Session, event_type: str, checkout: dict, stripe_event: StripeEvent, app_env: str,
                   now: datetime) -> str:
    order_id = order_id_for_session(session, checkout["id"], (checkout.get("metadata") or {}).get("app_env"), app_env)
    if order_id is None:
        return "ignored: session not created here"
    stripe_event.order_id = order_id
    if event_type in PAID_EVENTS:
        if checkout.get("payment_status") != "paid":
            return "waiting: payment not settled yet"
        return fulfill(session, order_id, Payment.from_provider(read_session(checkout)), now).result
    # Expired, or a bank payment that failed: give the spots back if this session still holds them.
    order = lock_order_and_its_types(session, order_id)  # as every release takes them (services.locking)
    if order.status == OrderStatus.PENDING and order.stripe_session_id == checkout["id"]:
        release(session, order, reason=OrderStatus.EXPIRED if event_type.endswith("expired") else OrderStatus.CANCELED)
        return "released"
    return "nothing held"


def _refund_event(session: Session, record: PaymentRecord, stripe_event: StripeEvent, app_env: str,
                  now: datetime) -> str:
    """A refund of a payment changed: find its order through the session we created, and bring it in line."""
    order_id = session.scalar(select(Order.id).where(Order.payment_intent_id == record.payment_intent))
    checkout = record.checkout
    if order_id is None and checkout is not None:
        order_id = order_id_for_session(session, checkout.session_id, checkout.app_env, app_env)
    if order_id is None:
        return "ignored: payment not ours"
    stripe_event.order_id = order_id
    if checkout is not None and checkout.payment_status == "paid":
        # The refund may be news before the payment itself is: take the payment first, exactly as
        # its checkout.session.completed would (nothing happens when it was taken already).
        fulfill(session, order_id, Payment.from_provider(checkout), now)
    order = lock_order_and_its_types(session, order_id)
    if order.payment_intent_id != record.payment_intent:
        duplicate = duplicate_for_intent(session, record.payment_intent)
        if duplicate is None:
            return "not applied: the order was paid by another payment"
        return apply_duplicate_refunds(session, duplicate, record, now)
    return apply_provider_refunds(session, order, record, now)
