"""Paid twice: a second payment for an order that another payment had already paid is recorded and
sent back whole, as soon as it comes.

An order may have several Checkout Sessions (two tabs, or a retry that opened a new one after a
Stripe error), and each can be paid. The first payment to be taken is the order's; any other one is
a DuplicatePayment (once per payment intent, however many events tell of it). Startline asks Stripe
to refund it at once, with reason "duplicate", as ticketing systems do, and tells the buyer when the
money is back. The decision is committed before Stripe is asked and Stripe's answer recorded after;
when Stripe refuses, the organizer sees it on the dashboard and the order page and refunds it with
one click through the same function. Stripe's refund events for that payment are applied to its
record, in whatever order they come, from the payment as Stripe has it now.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import DuplicatePayment, DuplicatePaymentStatus, Order, Profile
from services.locking import lock_order
from services.money import format_money
from services.notifications import queue_duplicate_refund_notice
from services.payments import Gateway, PaymentRecord, PaymentUnavailable
from services.stored_sentences import keep, say

log = logging.getLogger(__name__)

STRIPE_REASON = "duplicate"  # Stripe's own refund reason for a payment made twice


class DuplicateRefundRefused(Exception):
    """This duplicate payment can't be refunded now; `message` is written for the organizer."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.message, self.status = message, status


def record_duplicate_payment(session: Session, order: Order, payment_intent: str, amount: int, currency: str,
                             checkout_session_id: str | None) -> tuple[DuplicatePayment, bool]:
    """Write down a payment the order did not need (once per payment intent); True when it is new.

    Call with the order locked. No commit.
    """
    found = duplicate_for_intent(session, payment_intent)
    if found is not None:
        return found, False
    duplicate = DuplicatePayment(order_id=order.id, race_id=order.race_id, payment_intent_id=payment_intent,
                                 checkout_session_id=checkout_session_id or "", amount=amount,
                                 currency=currency.upper())
    session.add(duplicate)
    session.flush()
    log.warning("order %s was paid twice: payment %s (%s) recorded to be refunded", order.id, payment_intent,
                format_money(amount, duplicate.currency))
    return duplicate, True


def duplicate_for_intent(session: Session, payment_intent: str) -> DuplicatePayment | None:
    return session.scalar(select(DuplicatePayment).where(DuplicatePayment.payment_intent_id == payment_intent)
                          .execution_options(populate_existing=True))


def order_duplicates(session: Session, order_id: uuid.UUID) -> list[DuplicatePayment]:
    """Every second payment of one order, oldest first, for its page."""
    return list(session.scalars(select(DuplicatePayment).where(DuplicatePayment.order_id == order_id)
                                .order_by(DuplicatePayment.id)))


def open_duplicates(session: Session, race_id: int) -> list[tuple[DuplicatePayment, str]]:
    """The race's second payments not yet back with their buyers, with the buyer's email, newest first."""
    return list(session.execute(
        select(DuplicatePayment, Profile.email).join(Order, Order.id == DuplicatePayment.order_id)
        .join(Profile, Profile.id == Order.buyer_id)
        .where(DuplicatePayment.race_id == race_id, DuplicatePayment.status != DuplicatePaymentStatus.REFUNDED)
        .order_by(DuplicatePayment.id.desc())).all())


def refunds_to_send(session: Session, order_id: uuid.UUID) -> list[int]:
    """The order's second payments nobody has asked Stripe to send back yet."""
    return list(session.scalars(select(DuplicatePayment.id).where(
        DuplicatePayment.order_id == order_id, DuplicatePayment.status == DuplicatePaymentStatus.TO_REFUND)))


def refund_duplicate_payment(session: Session, gateway: Gateway, duplicate_id: int, now: datetime, *,
                             requested_by: Profile | None = None) -> DuplicatePayment:
    """Ask the gateway to send a second payment back whole. Commits before asking and after the answer.

    Raises DuplicateRefundRefused when it is refunded or on its way already, or when the gateway
    refuses (then it is marked failed, with the gateway's words, for the organizer to try again).
    """
    duplicate = session.get(DuplicatePayment, duplicate_id)
    if duplicate is None:
        raise LookupError(duplicate_id)
    lock_order(session, duplicate.order_id)
    duplicate = session.get(DuplicatePayment, duplicate_id, populate_existing=True)
    if not duplicate.refundable:
        session.rollback()
        raise DuplicateRefundRefused(_("This payment has been refunded already.") if duplicate.status ==
                                     DuplicatePaymentStatus.REFUNDED else _("A refund of this payment is on its way already."))
    duplicate.status = DuplicatePaymentStatus.PENDING
    duplicate.error = ""
    duplicate.requested_by_id = requested_by.id if requested_by is not None else None
    # Written down before the gateway is asked: a second caller finds it on its way and asks nothing.
    session.commit()

    try:
        gateway_refund_id = gateway.refund(duplicate.payment_intent_id, reason=STRIPE_REASON)
    except PaymentUnavailable as error:
        refusal = say("refund_refused", error=str(error))
        session.rollback()
        lock_order(session, duplicate.order_id)
        duplicate = session.get(DuplicatePayment, duplicate_id, populate_existing=True)
        if duplicate.status == DuplicatePaymentStatus.PENDING:
            duplicate.status = DuplicatePaymentStatus.FAILED
            duplicate.error = keep(refusal)
        session.commit()
        log.warning("refund of duplicate payment %s refused: %s", duplicate.payment_intent_id, error)
        raise DuplicateRefundRefused(refusal, status=502) from error

    lock_order(session, duplicate.order_id)
    duplicate = session.get(DuplicatePayment, duplicate_id, populate_existing=True)
    duplicate.gateway_refund_id = duplicate.gateway_refund_id or gateway_refund_id
    if gateway.is_test and duplicate.status == DuplicatePaymentStatus.PENDING:
        # The embedded test gateway moves no money and sends no webhook: its refund is done now.
        _refunded(session, duplicate, now)
    session.commit()
    log.info("refund of duplicate payment %s: %s", duplicate.payment_intent_id, duplicate.status)
    return duplicate


def refund_all_to_send(session: Session, gateway: Gateway, order_id: uuid.UUID, now: datetime) -> list[DuplicatePayment]:
    """Refund each of the order's second payments that nobody has asked for yet (Startline, on its own).

    A refusal is recorded on the payment for the organizer and does not stop the others. Returns each
    one asked for, as it ended.
    """
    asked = []
    for duplicate_id in refunds_to_send(session, order_id):
        try:
            asked.append(refund_duplicate_payment(session, gateway, duplicate_id, now))
        except DuplicateRefundRefused:
            asked.append(session.get(DuplicatePayment, duplicate_id))  # marked failed, with Stripe's words
    return asked


def _refunded(session: Session, duplicate: DuplicatePayment, now: datetime) -> None:
    """All of it is back with the buyer: tell them, once."""
    if duplicate.status == DuplicatePaymentStatus.REFUNDED:
        return
    duplicate.status = DuplicatePaymentStatus.REFUNDED
    duplicate.refunded_at = now
    duplicate.error = ""
    queue_duplicate_refund_notice(session, session.get(Order, duplicate.order_id), duplicate.amount)


def apply_duplicate_refunds(session: Session, duplicate: DuplicatePayment, record: PaymentRecord,
                            now: datetime) -> str:
    """Bring a second payment's record in line with its refunds as the provider has them now. No commit.

    All of it back: refunded (the buyer is told once). A refund on its way: pending. The latest
    refund failed or was cancelled, even after Stripe had reported it done: failed, with Stripe's
    reason, for the organizer to refund again. Because this reads the payment as it is now, its
    events may come in any order, or twice. Call with the order locked.
    """
    back = sum(r.amount for r in record.refunds if r.status == "succeeded")
    if record.refunds:
        duplicate.gateway_refund_id = record.refunds[-1].refund_id
    if back >= duplicate.amount:
        _refunded(session, duplicate, now)
        return "duplicate payment refunded"
    if any(r.status in ("pending", "requires_action") for r in record.refunds):
        duplicate.status = DuplicatePaymentStatus.PENDING
        return "duplicate payment refund pending"
    latest = record.refunds[-1] if record.refunds else None
    if latest is not None and latest.status in ("failed", "canceled"):
        duplicate.status = DuplicatePaymentStatus.FAILED
        duplicate.refunded_at = None
        duplicate.error = keep(say("refund_failed", amount=(duplicate.amount - back, duplicate.currency),
                                   reason=latest.failure_reason))
        return "duplicate payment refund failed"
    if duplicate.status == DuplicatePaymentStatus.PENDING:
        duplicate.status = DuplicatePaymentStatus.TO_REFUND  # part went back (Stripe's Dashboard): the rest is still due
    return "duplicate payment to refund"
