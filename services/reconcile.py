"""Catching up with Stripe when its webhook is late or lost: the success page asks about one pending
order, and `flask stripe-reconcile` fulfills paid sessions whose order this database never did, and
finds (and refunds) a second payment of an order that was paid already.

Both go through the same `fulfill` the webhook uses, and both trust only sessions this database
created (services.stripe_events.order_id_for_session).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask
from sqlalchemy.orm import Session

from models import Order, OrderStatus
from services.duplicate_payments import refund_all_to_send
from services.fulfillment import Payment, fulfill
from services.money import format_money
from services.payments import Gateway, PaymentUnavailable, gateway_for
from services.stored_sentences import worded
from services.stripe_events import order_id_for_session


@dataclass
class ReconcileReport:
    checked: int = 0
    fixed: int = 0
    needs_refund: int = 0
    paid_twice: int = 0
    lines: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return (f"Checked {self.checked} paid session(s): {self.fixed} fixed, {self.needs_refund} need a refund, "
                f"{self.paid_twice} paid twice.")


def catch_up_with_provider(session: Session, gateway: Gateway, order: Order, app_env: str, now: datetime) -> None:
    """Ask the provider directly about a pending order's session, and fulfill it if it was paid. Commits."""
    if order.status != OrderStatus.PENDING or not order.stripe_session_id:
        return
    try:
        state = gateway.session_state(order.stripe_session_id)
    except PaymentUnavailable:
        return  # the page keeps polling; the webhook or the next poll will tell
    if state is None or state.payment_status != "paid":
        return
    if order_id_for_session(session, state.session_id, state.app_env, app_env) != order.id:
        return
    fulfill(session, order.id, Payment.from_provider(state), now)
    session.commit()


def reconcile(session: Session, app: Flask, since: datetime, now: datetime) -> ReconcileReport:
    """Fulfill every paid session since `since` that belongs to an order here and is not done yet.

    Each session is fulfilled in a transaction of its own. A paid session of an order another payment
    paid already is recorded as a duplicate payment and refunded (services/duplicate_payments.py).
    """
    report = ReconcileReport()
    gateway = gateway_for(app)
    for state in gateway.paid_sessions(since):
        report.checked += 1
        order_id = order_id_for_session(session, state.session_id, state.app_env, app.config["APP_ENV"])
        if order_id is None:
            continue  # another environment's session
        outcome = fulfill(session, order_id, Payment.from_provider(state), now)
        session.commit()
        if outcome.result == "paid":
            report.fixed += 1
            report.lines.append(f"Fixed order {order_id}: paid session {state.session_id} had no tickets.")
        elif outcome.result == "needs_refund":
            report.needs_refund += 1
            report.lines.append(f"Order {order_id} needs a refund: {worded(outcome.order.problem)}")
        elif outcome.result == "duplicate_payment" and outcome.detail == "recorded":
            report.paid_twice += 1
            report.lines.append(f"Order {order_id} was paid twice: session {state.session_id} "
                                f"({format_money(state.amount_total, state.currency)}) recorded to be refunded.")
        # A second payment not yet sent back (just found, or left by a webhook that stopped short): send it now.
        for duplicate in refund_all_to_send(session, gateway, order_id, now):
            report.lines.append(f"Order {order_id}: refund of payment {duplicate.payment_intent_id} "
                                f"{'failed: ' + worded(duplicate.error) if duplicate.error else 'asked of Stripe'}.")
    return report
