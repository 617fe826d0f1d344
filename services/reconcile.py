"""Catching up with Stripe when its webhook is late or lost: the success page asks about one pending
order, and `flask stripe-reconcile` fulfills paid sessions whose order this database never did.

Both go through the same `fulfill` the webhook uses, and both trust only sessions this database
created (services.stripe_events.order_id_for_session).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask
from sqlalchemy.orm import Session

from models import Order, OrderStatus
from services.fulfillment import Payment, fulfill
from services.payments import Gateway, PaymentUnavailable, SessionState, gateway_for
from services.stripe_events import order_id_for_session


@dataclass
class ReconcileReport:
    checked: int = 0
    fixed: int = 0
    needs_refund: int = 0
    lines: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return f"Checked {self.checked} paid session(s): {self.fixed} fixed, {self.needs_refund} need a refund."


def _payment(state: SessionState) -> Payment:
    return Payment(state.amount_total, state.currency, state.payment_intent, state.amount_tax)


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
    fulfill(session, order.id, _payment(state), now)
    session.commit()


def reconcile(session: Session, app: Flask, since: datetime, now: datetime) -> ReconcileReport:
    """Fulfill every paid session since `since` that belongs to an order here and is not done yet.

    Each session is fulfilled in a transaction of its own.
    """
    report = ReconcileReport()
    for state in gateway_for(app).paid_sessions(since):
        report.checked += 1
        order_id = order_id_for_session(session, state.session_id, state.app_env, app.config["APP_ENV"])
        if order_id is None:
            continue  # another environment's session
        outcome = fulfill(session, order_id, _payment(state), now)
        session.commit()
        if outcome.result == "paid":
            report.fixed += 1
            report.lines.append(f"Fixed order {order_id}: paid session {state.session_id} had no tickets.")
        elif outcome.result == "needs_refund":
            report.needs_refund += 1
            report.lines.append(f"Order {order_id} needs a refund: {outcome.order.problem}")
    return report
