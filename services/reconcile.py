"""Catching up with Stripe: paid Checkout sessions whose order this database never fulfilled."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import CheckoutSession
from services.fulfillment import Payment, fulfill
from services.payments import gateway_for


@dataclass
class ReconcileReport:
    checked: int = 0
    fixed: int = 0
    needs_refund: int = 0
    lines: list[str] = field(default_factory=list)


def reconcile(session: Session, app: Flask, since: datetime, now: datetime) -> ReconcileReport:
    """Fulfill every paid session since `since` that belongs to an order here and is not done yet."""
    report = ReconcileReport()
    for state in gateway_for(app).paid_sessions(since):
        report.checked += 1
        if state.app_env and state.app_env != app.config["APP_ENV"]:
            continue
        order_id = session.scalar(select(CheckoutSession.order_id).where(CheckoutSession.id == state.session_id))
        if order_id is None:
            continue  # another environment's session
        outcome = fulfill(session, order_id, Payment(state.amount_total, state.currency, state.payment_intent,
                                                     state.amount_tax), now)
        session.commit()
        if outcome.result == "paid":
            report.fixed += 1
            report.lines.append(f"Fixed order {order_id}: paid session {state.session_id} had no tickets.")
        elif outcome.result == "needs_refund":
            report.needs_refund += 1
            report.lines.append(f"Order {order_id} needs a refund: {outcome.order.problem}")
    return report
