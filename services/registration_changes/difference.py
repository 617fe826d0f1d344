"""A cheaper distance's difference going back: how much (what was paid for the ticket, not its list price),
written down in the change's own transaction, then asked of the gateway (services.refunds.send_refund)."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from models import Order, OrderStatus, Refund, RefundStatus, Registration
from services.pricing import round_half_up
from services.refunds import order_refunds


def _claimed(session: Session, order: Order) -> tuple[int, int]:
    """What of the order's payment (and its tax) has gone back or is on its way."""
    claimed = [r for r in order_refunds(session, order.id) if r.status in (RefundStatus.PENDING, RefundStatus.COMPLETED)]
    return sum(r.amount for r in claimed), sum(r.tax for r in claimed)


def plan_difference(session: Session, order: Order, registration: Registration, difference: int) -> tuple[int, int]:
    """What a cheaper distance sends back, and the tax in it: the list-price `difference` at what was paid
    for the ticket, i.e. its share of the order's total (discount and tax included, as services.refunds.plan_refund
    counts a ticket's), never more than that share nor than what is left of the payment. A 10K bought at 50 % off
    for $22.50 moving to the 5K ($20.00 cheaper) gets $10.00 back. Nothing when nothing was paid."""
    if not order.subtotal or order.status != OrderStatus.PAID:
        return 0, 0
    claimed, claimed_tax = _claimed(session, order)
    difference = min(difference, registration.price)
    amount = min(round_half_up(order.total * difference, order.subtotal),
                 round_half_up(order.total * registration.price, order.subtotal), order.total - claimed)
    tax = min(round_half_up(order.tax * difference, order.subtotal), order.tax - claimed_tax, amount)
    return max(amount, 0), max(tax, 0)


def record_part_refund(session: Session, order: Order, amount: int, tax: int, requested_by_id: uuid.UUID | None,
                       now: datetime) -> Refund | None:
    """Write down (pending, no ticket) part of a paid order's payment to send back, at most what is left of it;
    None when there is nothing to send. Call with the order locked, then `send_refund` after committing. No commit."""
    claimed, _ = _claimed(session, order)
    amount = min(amount, order.total - claimed)
    if amount <= 0 or not order.payment_intent_id or order.status != OrderStatus.PAID:
        return None
    refund = Refund(order_id=order.id, race_id=order.race_id, status=RefundStatus.PENDING, whole_order=False,
                    amount=amount, tax=min(tax, amount), requested_by_id=requested_by_id, created_at=now)
    session.add(refund)
    session.flush()
    return refund
