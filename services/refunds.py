"""Refunds: what an organizer may send back (a ticket or a whole order), asking the gateway, and
settling once the money has gone back.

A refund is written down (status pending, with the tickets it covers) and committed *before* the
gateway is asked, so Stripe's `charge.refunded` webhook, however fast, always finds it. The
webhook reports the charge's cumulative `amount_refunded`; pending refunds are completed oldest
first while that amount covers them (`settle_refunds`). Completing a refund stamps its tickets'
`refunded_at`, which frees their spots (services/inventory counts only unrefunded tickets), and
queues the refund notice to the buyer.

One ticket's share of an order is its price's share of the order's total (discount and tax
included), rounded half-up; the last ticket still paid for gets whatever is left, so the refunds
of an order always add up to exactly what was paid.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Order, OrderStatus, Profile, Refund, RefundStatus, Registration, TicketType
from services.locking import lock_order
from services.notifications import queue_refund_notice
from services.payments import Gateway, PaymentUnavailable
from services.pricing import round_half_up

log = logging.getLogger(__name__)

REFUNDABLE = (OrderStatus.PAID, OrderStatus.NEEDS_REFUND)


class RefundRefused(Exception):
    """This refund can't be made; `message` is written for the organizer."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.message, self.status = message, status


@dataclass(frozen=True)
class RefundTicket:
    registration: Registration
    ticket_type_name: str


@dataclass(frozen=True)
class RefundPlan:
    """Exactly what a refund will do, for the confirmation page and for doing it."""

    order: Order
    tickets: tuple[RefundTicket, ...]   # the tickets whose spots it frees
    amount: int                         # what goes back, in minor units of order.currency
    tax: int                            # the tax inside `amount`
    whole_order: bool
    # A payment that never became tickets (needs_refund) goes back in full, whatever Stripe took,
    # which may differ from the order's total when the amount was wrong.
    whole_payment: bool


# --- what may be refunded -------------------------------------------------------------------

def order_registrations(session: Session, order_id: uuid.UUID) -> list[tuple[Registration, str]]:
    """The order's tickets with their ticket type names, in one query."""
    return list(session.execute(
        select(Registration, TicketType.name).join(TicketType, TicketType.id == Registration.ticket_type_id)
        .where(Registration.order_id == order_id).order_by(Registration.id)))


def order_refunds(session: Session, order_id: uuid.UUID) -> list[Refund]:
    return list(session.scalars(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)))


def plan_refund(session: Session, order: Order, registration_id: int | None = None) -> RefundPlan:
    """What refunding one ticket (`registration_id`) or the whole order would send back.

    Raises RefundRefused when there is nothing (more) to refund, LookupError when the ticket is
    not part of this order.
    """
    rows = order_registrations(session, order.id)
    refunds = order_refunds(session, order.id)
    if order.status == OrderStatus.REFUNDED:
        raise RefundRefused("This order has been refunded already.")
    if order.status not in REFUNDABLE:
        raise RefundRefused("Only paid orders can be refunded.")
    in_flight = [r for r in refunds if r.status == RefundStatus.PENDING]
    if order.status == OrderStatus.NEEDS_REFUND:
        if registration_id is not None:
            raise RefundRefused("No tickets were issued for this payment, so it can only be refunded as a whole.")
        if in_flight:
            raise RefundRefused("A refund for this order is on its way already.")
        return RefundPlan(order, tuple(RefundTicket(r, name) for r, name in rows), order.total, order.tax,
                          whole_order=True, whole_payment=True)

    claimed = [r for r in refunds if r.status in (RefundStatus.PENDING, RefundStatus.COMPLETED)]
    remaining = order.total - sum(r.amount for r in claimed)
    remaining_tax = order.tax - sum(r.tax for r in claimed)
    open_rows = [(r, name) for r, name in rows if r.refunded_at is None and r.refund_id is None]

    if registration_id is None:
        if not open_rows:
            raise RefundRefused("Every ticket in this order is refunded or being refunded.")
        chosen = open_rows
    else:
        match = [(r, name) for r, name in rows if r.id == registration_id]
        if not match:
            raise LookupError(registration_id)
        registration = match[0][0]
        if registration.refunded_at is not None:
            raise RefundRefused(f"{_who(registration)}'s ticket has been refunded already.")
        if registration.refund_id is not None:
            raise RefundRefused(f"A refund for {_who(registration)}'s ticket is on its way already.")
        chosen = match

    if len(chosen) == len(open_rows):
        # The last tickets still paid for: whatever is left, so the refunds add up to the total exactly.
        amount, tax = remaining, remaining_tax
    else:
        price = sum(r.price for r, _ in chosen)
        amount = min(round_half_up(order.total * price, order.subtotal), remaining) if order.subtotal else 0
        tax = min(round_half_up(order.tax * price, order.subtotal), remaining_tax) if order.subtotal else 0
    return RefundPlan(order, tuple(RefundTicket(r, name) for r, name in chosen), max(amount, 0), max(tax, 0),
                      whole_order=registration_id is None, whole_payment=False)


def _who(registration: Registration) -> str:
    return registration.runner_name or "This runner"


# --- asking for it ---------------------------------------------------------------------------

def request_refund(session: Session, gateway: Gateway, order_id: uuid.UUID, registration_id: int | None,
                   requested_by: Profile, now: datetime) -> Refund:
    """Refund one ticket or the whole order through the gateway. Commits.

    Raises RefundRefused (nothing was sent back) or LookupError (no such ticket in this order).
    """
    order = lock_order(session, order_id)
    try:
        if order is None:
            raise LookupError(order_id)
        plan = plan_refund(session, order, registration_id)
        if plan.amount > 0 and not order.payment_intent_id:
            raise RefundRefused("There's no payment on record for this order, so nothing can be sent back from here.")
    except (LookupError, RefundRefused):
        session.rollback()  # nothing was written; let go of the order's lock before the page renders
        raise
    refund = Refund(order_id=order.id, race_id=order.race_id, status=RefundStatus.PENDING,
                    whole_order=plan.whole_order, amount=plan.amount, tax=plan.tax, requested_by_id=requested_by.id,
                    created_at=now)
    session.add(refund)
    session.flush()
    for ticket in plan.tickets:
        ticket.registration.refund_id = refund.id
    if plan.amount == 0 and not plan.whole_payment:
        # Nothing was paid for these tickets (a free race, a 100 % code): no money to send back.
        complete_refund(session, refund, now)
        session.commit()
        return refund
    # Written down before the gateway is asked, so Stripe's webhook always finds it, however fast.
    session.commit()

    try:
        gateway_refund_id = gateway.refund(order.payment_intent_id, None if plan.whole_payment else plan.amount)
    except PaymentUnavailable as error:
        _fail(session, refund.id, str(error))
        raise RefundRefused(f"The payment provider didn't accept the refund, so nothing was sent back: {error}",
                            status=502) from error

    lock_order(session, order.id)
    refund = session.scalar(select(Refund).where(Refund.id == refund.id).execution_options(populate_existing=True))
    refund.gateway_refund_id = gateway_refund_id
    if gateway.is_test and refund.status == RefundStatus.PENDING:
        # The embedded test gateway moves no money and no webhook will ever come: its refund is done now.
        complete_refund(session, refund, now)
    session.commit()
    log.info("refund %s of %s for order %s: %s", refund.id, refund.amount, order.id, refund.status)
    return refund


def _fail(session: Session, refund_id: int, error: str) -> None:
    session.rollback()
    refund = session.get(Refund, refund_id, populate_existing=True)
    refund.status = RefundStatus.FAILED
    refund.error = error[:500]
    for registration in session.scalars(select(Registration).where(Registration.refund_id == refund_id)):
        registration.refund_id = None  # free to be refunded again
    session.commit()
    log.warning("refund %s failed: %s", refund_id, error)


# --- settling --------------------------------------------------------------------------------

def complete_refund(session: Session, refund: Refund, now: datetime, *, amount: int | None = None) -> None:
    """The money went back: free the refund's tickets, close the order when nothing is left, tell the buyer.

    Call with the order locked. No commit.
    """
    refund.status = RefundStatus.COMPLETED
    refund.completed_at = now
    if amount is not None:
        refund.amount = amount
    order = session.get(Order, refund.order_id)
    registrations = list(session.scalars(select(Registration).where(Registration.order_id == order.id)))
    for registration in registrations:
        if registration.refund_id == refund.id:
            registration.refunded_at = registration.refunded_at or now
    if all(r.refunded_at is not None for r in registrations):
        order.status = OrderStatus.REFUNDED
    if refund.amount > 0:
        queue_refund_notice(session, order, refund.amount)


def settle_refunds(session: Session, order: Order, amount_refunded: int, fully: bool, now: datetime) -> None:
    """Bring the order in line with the charge: `amount_refunded` has gone back so far in all.

    Pending refunds are completed oldest first while that amount covers them. A full refund ends
    the order and frees every ticket (the way a refund made in Stripe's Dashboard does too). Money
    refunded that no refund here accounts for (made outside Startline) is recorded as a refund of
    its own, so the figures add up and the buyer is told once. Call with the order locked. No commit.
    """
    refunds = order_refunds(session, order.id)
    accounted = sum(r.amount for r in refunds if r.status == RefundStatus.COMPLETED)
    pending = [r for r in refunds if r.status == RefundStatus.PENDING]
    for refund in pending:
        if fully and refund.whole_order:
            # The whole payment went back: the refund is whatever was left, whatever the order said.
            complete_refund(session, refund, now, amount=max(amount_refunded - accounted, 0))
        elif fully or accounted + refund.amount <= amount_refunded:
            complete_refund(session, refund, now)
        else:
            continue
        accounted += refund.amount
    still_pending = any(r.status == RefundStatus.PENDING for r in pending)
    outside = amount_refunded - accounted
    if outside > 0 and not still_pending:
        refund = Refund(order_id=order.id, race_id=order.race_id, status=RefundStatus.PENDING, whole_order=fully,
                        amount=outside, tax=0, created_at=now)
        session.add(refund)
        session.flush()
        if fully:
            for registration in session.scalars(select(Registration).where(Registration.order_id == order.id,
                                                                           Registration.refunded_at.is_(None))):
                registration.refund_id = registration.refund_id or refund.id
        complete_refund(session, refund, now)
        log.info("order %s: %s refunded outside Startline, recorded as refund %s", order.id, outside, refund.id)
    if fully:
        order.status = OrderStatus.REFUNDED
        for registration in session.scalars(select(Registration).where(Registration.order_id == order.id)):
            registration.refunded_at = registration.refunded_at or now


def mark_refunded(session: Session, payment_intent: str, amount_refunded: int, fully: bool, now: datetime) -> Order | None:
    """Stripe says money went back (`amount_refunded` in all so far). No commit.

    A full refund ends the order and frees all its spots. A partial one completes the organizer's
    refunds it covers (one ticket's, say), which frees those tickets' spots; see services/refunds.
    """
    order = session.scalar(select(Order).where(Order.payment_intent_id == payment_intent))
    if order is None:
        return None
    order = lock_order(session, order.id)
    settle_refunds(session, order, amount_refunded, fully, now)
    return order
