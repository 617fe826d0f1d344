"""Turning a payment into tickets, exactly once: the one function the webhook, the success page,
the test gateway and the reconcile command all call.

Every path locks the order row first, so two deliveries of the same news (a webhook and the
success page a second apart) cannot both issue tickets; the second finds the order paid.
"""
from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import DuplicatePayment, Order, OrderStatus, Race, Registration, TaxMode
from services.duplicate_payments import record_duplicate_payment
from services.inventory import capacity_problems
from services.locking import lock_order, lock_ticket_types
from services.money import format_money
from services.notifications import queue_order_confirmation, queue_refund_pending_notice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Payment:
    """What the provider says was paid."""

    amount_total: int
    currency: str
    payment_intent: str | None
    amount_tax: int | None = None
    checkout_session_id: str | None = None  # the Checkout Session it paid, when the provider says


@dataclass(frozen=True)
class Outcome:
    result: str          # paid | already_done | needs_refund | duplicate_payment | not_found
    order: Order | None
    detail: str = ""
    duplicate: DuplicatePayment | None = None  # with duplicate_payment: the second payment, to be refunded


def new_ticket_code() -> str:
    """Unguessable (96 bits), short enough for a QR code, safe in a URL."""
    return secrets.token_urlsafe(12)


def _issue_tickets(session: Session, order: Order, registrations: list[Registration], now: datetime,
                   payment_intent: str | None) -> None:
    for registration in registrations:
        registration.ticket_code = registration.ticket_code or new_ticket_code()
    order.status = OrderStatus.PAID
    order.paid_at = now
    order.payment_intent_id = payment_intent or order.payment_intent_id
    order.reserved_until = None
    order.checkout_url = ""
    queue_order_confirmation(session, order, registrations)


def _needs_refund(session: Session, order: Order, registrations: list[Registration], problem: str,
                  payment_intent: str | None) -> None:
    order.status = OrderStatus.NEEDS_REFUND
    order.problem = problem
    order.payment_intent_id = payment_intent or order.payment_intent_id
    order.reserved_until = None
    order.checkout_url = ""
    queue_refund_pending_notice(session, order, problem)
    log.warning("order %s needs a refund: %s", order.id, problem)


def fulfill(session: Session, order_id: uuid.UUID, payment: Payment, now: datetime) -> Outcome:
    """Record a payment for an order: tickets if there is room, else a refund to make. No commit."""
    registrations = list(session.scalars(select(Registration).where(Registration.order_id == order_id)))
    # Lock the ticket types before the order, in the same order checkout does, so the two never deadlock.
    lock_ticket_types(session, (r.ticket_type_id for r in registrations))
    order = lock_order(session, order_id)
    if order is None:
        return Outcome("not_found", None)
    if order.status in (OrderStatus.PAID, OrderStatus.NEEDS_REFUND, OrderStatus.REFUNDED):
        if payment.payment_intent and payment.payment_intent != order.payment_intent_id:
            # Another payment page of this order was paid too: the buyer paid twice. Never lost silently.
            duplicate, new = record_duplicate_payment(session, order, payment.payment_intent, payment.amount_total,
                                                      payment.currency, payment.checkout_session_id)
            return Outcome("duplicate_payment", order, "recorded" if new else "known", duplicate)
        return Outcome("already_done", order)
    race = session.get(Race, order.race_id)

    expected, paid = order.total, payment.amount_total
    if race.tax_mode == TaxMode.STRIPE and payment.amount_tax is not None:
        # Stripe Tax is only known at checkout: compare what comes before tax, then keep Stripe's tax.
        expected, paid = order.total - order.tax, payment.amount_total - payment.amount_tax
    if payment.currency.upper() != order.currency.upper() or paid != expected:
        _needs_refund(session, order, registrations, (
            f"Paid {format_money(payment.amount_total, payment.currency.upper())}, but the order was for "
            f"{format_money(order.total, order.currency)}."), payment.payment_intent)
        return Outcome("needs_refund", order, "amount mismatch")
    if race.tax_mode == TaxMode.STRIPE and payment.amount_tax is not None:
        order.tax, order.total = payment.amount_tax, payment.amount_total

    held = order.status == OrderStatus.PENDING and order.reserved_until is not None and order.reserved_until > now
    if not held:
        # The reservation ran out (or was released) before the money came: take the spots if they
        # are still free. The order no longer counts against capacity, so this is a fresh check.
        problems = capacity_problems(session, registrations, now)
        if problems:
            _needs_refund(session, order, registrations,
                          "Payment arrived after the reservation ran out, and the race had filled up: "
                          + " ".join(problems), payment.payment_intent)
            return Outcome("needs_refund", order, "capacity")
    _issue_tickets(session, order, registrations, now, payment.payment_intent)
    return Outcome("paid", order)


def fulfill_free_order(session: Session, order_id: uuid.UUID, now: datetime) -> Outcome:
    """A 100 %-off order: nothing to charge, tickets at once (called with its spots reserved)."""
    order = session.get(Order, order_id)
    return fulfill(session, order_id, Payment(0, order.currency, None), now)


def pay_on_test_gateway(session: Session, order: Order, now: datetime) -> None:
    """The embedded test gateway's Pay button: what a Stripe payment gets, with no money moving. Commits."""
    if order.status != OrderStatus.PENDING:
        return
    fulfill(session, order.id, Payment(order.total, order.currency, f"test_pi_{uuid.uuid4().hex[:16]}"), now)
    session.commit()
