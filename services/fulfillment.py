"""Turning a payment into tickets, exactly once: the one function the webhook, the success page,
the test gateway and the reconcile command all call.

Every path locks the order row first, so two deliveries of the same news (a webhook and the
success page a second apart) cannot both issue tickets; the second finds the order paid.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import DuplicatePayment, Order, OrderStatus, Race, Registration, RegistrationChange, TaxMode
from models.order import new_ticket_code
from services.capacity import capacity_problems
from services.duplicate_payments import record_duplicate_payment
from services.inventory import keeping_counts
from services.locking import lock_order, lock_ticket_types
from services.notifications import queue_order_confirmation, queue_refund_pending_notice
from services.payments import SessionState
from services.pricing import Quote, quote_order
from services.registration_changes.apply import (
    apply_change,
    change_for_order,
    change_quote,
    payment_cannot_apply,
    problem_now,
    ticket_types_to_lock,
)
from services.runner_invites import invite_runners
from services.stored_sentences import Sentence, keep, say

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Payment:
    """What the provider says was paid. Stripe itemizes it (subtotal, discount, tax); the embedded
    test gateway and a free order report only the total, which is then ours exactly."""

    amount_total: int
    currency: str
    payment_intent: str | None
    amount_tax: int | None = None
    checkout_session_id: str | None = None  # the Checkout Session it paid, when the provider says
    amount_subtotal: int | None = None    # the line items we sent: unit amounts × quantities
    amount_discount: int | None = None    # the provider's arithmetic on our coupon
    discount_code_id: int | None = None   # which of our codes that coupon stands for

    @classmethod
    def from_provider(cls, state: SessionState) -> Payment:
        return cls(state.amount_total, state.currency, state.payment_intent, amount_tax=state.amount_tax,
                   checkout_session_id=state.session_id, amount_subtotal=state.amount_subtotal,
                   amount_discount=state.amount_discount, discount_code_id=state.discount_code_id)


@dataclass(frozen=True)
class Outcome:
    result: str          # paid | already_done | needs_refund | duplicate_payment | not_found
    order: Order | None
    detail: str = ""
    duplicate: DuplicatePayment | None = None  # with duplicate_payment: the second payment, to be refunded


def _issue_tickets(session: Session, order: Order, registrations: list[Registration], now: datetime,
                   payment_intent: str | None) -> None:
    for registration in registrations:
        registration.ticket_code = registration.ticket_code or new_ticket_code()
        registration.registered_at = now  # with order.paid_at: the registrant list's "Registered"
    with keeping_counts(session, order.id):
        order.status = OrderStatus.PAID
    order.paid_at = now
    order.payment_intent_id = payment_intent or order.payment_intent_id
    order.reserved_until = None
    order.checkout_url = ""
    invite_runners(session, registrations, session.get(Race, order.race_id), now)  # before the buyer's email, which says so
    queue_order_confirmation(session, order, registrations)


def _needs_refund(session: Session, order: Order, registrations: list[Registration], problem: Sentence,
                  payment_intent: str | None) -> None:
    with keeping_counts(session, order.id):  # a hold it still had is given back
        order.status = OrderStatus.NEEDS_REFUND
    order.problem = keep(problem)
    order.payment_intent_id = payment_intent or order.payment_intent_id
    order.reserved_until = None
    order.checkout_url = ""
    queue_refund_pending_notice(session, order)
    log.warning("order %s needs a refund: %s", order.id, problem)


def payment_problem(race: Race, order: Order, quote: Quote, payment: Payment) -> Sentence | None:
    """Why this payment does not pay for this order, for the organizer and the buyer; None when it does. It is
    kept on the order as a code with its amounts (services.stored_sentences), worded for each reader.

    Stripe is compared on what we control: the currency, the line items (their subtotal is unit
    amounts × quantities, no rounding) and which discount code the coupon stands for. How Stripe
    spreads a coupon over the lines and rounds it and the tax is Stripe's arithmetic, not ours to
    match to the cent: each line item is rounded once, so Stripe's discount and fixed-rate tax may
    differ from our quote by up to one minor unit per line, and Stripe Tax is Stripe's alone. What
    Stripe charged must still add up.
    """
    paid = (payment.amount_total, payment.currency.upper() or order.currency)
    if payment.currency.upper() != order.currency.upper():
        return say("paid_other_currency", paid=paid, currency=order.currency)
    if payment.amount_subtotal is None:  # our own gateway, or nothing to pay: our total exactly
        if payment.amount_total != order.total:
            return say("paid_other_total", paid=paid, total=(order.total, order.currency))
        return None
    if payment.amount_subtotal != quote.subtotal:
        return say("paid_other_tickets", paid=paid, worth=(payment.amount_subtotal, order.currency),
                   ours=(quote.subtotal, order.currency))
    discount, tax = payment.amount_discount or 0, payment.amount_tax or 0
    expected_code = order.discount_code_id if quote.discount else None
    if (payment.discount_code_id if discount else None) != expected_code:
        return say("paid_other_discount", paid=paid, total=(quote.total, order.currency))
    rounding = len(quote.lines)
    tax_added = race.tax_mode in (TaxMode.EXCLUSIVE, TaxMode.STRIPE)
    tax_is_ours = race.tax_mode != TaxMode.STRIPE
    if (abs(discount - quote.discount) > rounding
            or (tax_is_ours and abs(tax - quote.tax) > rounding)
            or payment.amount_total != payment.amount_subtotal - discount + (tax if tax_added else 0)):
        return say("paid_other_total", paid=paid, total=(quote.total, order.currency))
    return None


def record_provider_amounts(order: Order, subtotal: int | None, discount: int | None, tax: int | None,
                            total: int | None) -> None:
    """Keep the provider's figures on the order, so its receipt, stats and refunds match the charge."""
    if total is None:
        return
    if (subtotal, discount, tax, total) != (order.subtotal, order.discount, order.tax, order.total):
        log.info("order %s: provider's figures %s/%s/%s/%s replace our quote's %s/%s/%s/%s", order.id, subtotal,
                 discount, tax, total, order.subtotal, order.discount, order.tax, order.total)
    order.total = total
    if subtotal is not None:
        order.subtotal = subtotal
    if discount is not None:
        order.discount = discount
    if tax is not None:
        order.tax = tax


def fulfill(session: Session, order_id: uuid.UUID, payment: Payment, now: datetime) -> Outcome:
    """Record a payment for an order: tickets if there is room, else a refund to make. No commit."""
    registrations = list(session.scalars(select(Registration).where(Registration.order_id == order_id)))
    change = change_for_order(session, order_id)  # an order paying a ticket change holds no registrations
    # Lock the ticket types before the order, in the same order checkout does, so the two never deadlock.
    lock_ticket_types(session, [r.ticket_type_id for r in registrations] + ticket_types_to_lock(change))
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
    if change is None:
        registrations = _tickets_now(session, order, registrations)
    race = session.get(Race, order.race_id)

    quote = change_quote(session, change) if change is not None else quote_order(session, order)
    problem = payment_problem(race, order, quote, payment)
    if problem and change is not None:
        payment_cannot_apply(session, order, change, problem, payment.payment_intent)
        return Outcome("needs_refund", order, "amount mismatch")
    if problem:
        _needs_refund(session, order, registrations, problem, payment.payment_intent)
        return Outcome("needs_refund", order, "amount mismatch")
    record_provider_amounts(order, payment.amount_subtotal, payment.amount_discount, payment.amount_tax,
                            payment.amount_total)
    if change is not None:
        return _fulfill_change(session, order, change, payment, now)

    held = order.status == OrderStatus.PENDING and order.reserved_until is not None and order.reserved_until > now
    if not held:
        # The reservation ran out (or was released) before the money came: take the spots if they
        # are still free. The order no longer counts against capacity, so this is a fresh check.
        problems = capacity_problems(session, registrations, now)
        if problems:
            _needs_refund(session, order, registrations, say("filled_up", problems=problems), payment.payment_intent)
            return Outcome("needs_refund", order, "capacity")
    _issue_tickets(session, order, registrations, now, payment.payment_intent)
    return Outcome("paid", order)


def _tickets_now(session: Session, order: Order, read: list[Registration]) -> list[Registration]:
    """The order's tickets, read again under its lock. `read` were read before it, to know which types to lock first,
    and may be out of date: an order released back to a cart before its payment came can be changed by its buyer
    meanwhile, even made a payment again; the cart's changes take the order's lock too, so none can follow now.

    A type only such a change brought in is locked here, after the order: out of the usual order (services/locking.py),
    so should that close a circle with another transaction holding it, Postgres ends one of the two (this payment is
    then recorded again: the provider sends its event again, and the reconcile job asks for it)."""
    tickets = list(session.scalars(select(Registration).where(Registration.order_id == order.id)))
    locked = {registration.ticket_type_id for registration in read}
    lock_ticket_types(session, {registration.ticket_type_id for registration in tickets} - locked)
    return tickets


def _fulfill_change(session: Session, order: Order, change: RegistrationChange, payment: Payment,
                    now: datetime) -> Outcome:
    """The fee or difference is paid: make the change, or, when it can't be made any more, refund."""
    problem = problem_now(session, change, now)
    if problem:
        payment_cannot_apply(session, order, change, problem, payment.payment_intent)
        return Outcome("needs_refund", order, "change")
    apply_change(session, change, now)
    order.status = OrderStatus.PAID
    order.paid_at = now
    order.payment_intent_id = payment.payment_intent or order.payment_intent_id
    order.reserved_until = None
    order.checkout_url = ""
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
