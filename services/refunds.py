"""Refunds: what an organizer may send back (a ticket or a whole order), asking the gateway, and
settling once the money has gone back.

A refund is written down (status pending, with the tickets it covers) and committed *before* the
gateway is asked, with its id in the provider refund's metadata, so Stripe's webhook, however fast,
always finds it. Stripe's refund events only say that a payment's refunds changed: the webhook
reads them all from Stripe as they are now and `apply_provider_refunds` brings the order in line.
Completing a refund stamps its tickets' `refunded_at`, freeing their spots and bib numbers, and queues
the buyer's refund notice; one Stripe reports failed is shown to the organizer, its tickets refundable again.

One ticket's share of an order is its price's share of the order's total (discount and tax
included), rounded half-up; the last ticket still paid for gets whatever is left, so the refunds
of an order always add up to exactly what was paid.

A ticket change is paid by an order of its own (kind "change"), so a ticket's `price` stays what
its own order charged for it and that order's shares stay right: a dearer distance's difference
is refunded from its change order's page, on its own, whole (the ticket stays as it is), and a
cheaper distance sends back the difference at what was paid for the ticket
(services/registration_changes/difference.py).
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Order, OrderKind, OrderStatus, Profile, Refund, RefundStatus, Registration, RegistrationChange, TicketType
from services.inventory import keeping_counts
from services.locking import lock_order_and_its_types
from services.notifications import queue_refund_notice
from services.payments import Gateway, PaymentRecord, PaymentUnavailable, ProviderRefund
from services.pricing import round_half_up
from services.registration_changes.rules import difference_settled_since
from services.stored_sentences import Sentence, keep, say

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
        raise RefundRefused(_("This order has been refunded already."))
    if order.status not in REFUNDABLE:
        raise RefundRefused(_("Only paid orders can be refunded."))
    in_flight = [r for r in refunds if r.status == RefundStatus.PENDING]
    if order.kind == OrderKind.CHANGE and order.status == OrderStatus.PAID:
        # A fee or a dearer distance's difference: its payment goes back whole; the ticket stays changed.
        if registration_id is not None:
            raise LookupError(registration_id)
        if in_flight:
            raise RefundRefused(_("A refund for this order is on its way already."))
        change = session.scalar(select(RegistrationChange).where(RegistrationChange.order_id == order.id))
        if change is not None and difference_settled_since(session, change):
            raise RefundRefused(_("The runner has since moved to a cheaper distance, and the difference sent back "
                                  "then included this payment."))
        return RefundPlan(order, (), order.total, order.tax, whole_order=True, whole_payment=True)
    if order.status == OrderStatus.NEEDS_REFUND:
        if registration_id is not None:
            raise RefundRefused(_("No tickets were issued for this payment, so it can only be refunded as a whole."))
        if in_flight:
            raise RefundRefused(_("A refund for this order is on its way already."))
        return RefundPlan(order, tuple(RefundTicket(r, name) for r, name in rows), order.total, order.tax,
                          whole_order=True, whole_payment=True)

    claimed = [r for r in refunds if r.status in (RefundStatus.PENDING, RefundStatus.COMPLETED)]
    remaining = order.total - sum(r.amount for r in claimed)
    remaining_tax = order.tax - sum(r.tax for r in claimed)
    open_rows = [(r, name) for r, name in rows if r.refunded_at is None and r.refund_id is None]

    if registration_id is None:
        if not open_rows:
            raise RefundRefused(_("Every ticket in this order is refunded or being refunded."))
        chosen = open_rows
    else:
        match = [(r, name) for r, name in rows if r.id == registration_id]
        if not match:
            raise LookupError(registration_id)
        registration = match[0][0]
        if registration.refunded_at is not None:
            raise RefundRefused(_("%(name)s's ticket has been refunded already.", name=_who(registration)))
        if registration.refund_id is not None:
            raise RefundRefused(_("A refund for %(name)s's ticket is on its way already.", name=_who(registration)))
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
    return registration.runner_name or _("This runner")


# --- asking for it ---------------------------------------------------------------------------

def request_refund(session: Session, gateway: Gateway, order_id: uuid.UUID, registration_id: int | None,
                   requested_by: Profile, now: datetime) -> Refund:
    """Refund one ticket or the whole order through the gateway. Commits.

    Raises RefundRefused (nothing was sent back) or LookupError (no such ticket in this order).
    """
    order = lock_order_and_its_types(session, order_id)
    try:
        if order is None:
            raise LookupError(order_id)
        if order.kind == OrderKind.CHANGE:  # the changed ticket's row, as a distance change of it locks it last
            session.scalar(select(Registration.id).join(RegistrationChange, RegistrationChange.registration_id ==
                                                        Registration.id)
                           .where(RegistrationChange.order_id == order.id).with_for_update(of=Registration))
        plan = plan_refund(session, order, registration_id)
        if plan.amount > 0 and not order.payment_intent_id:
            raise RefundRefused(_("There's no payment on record for this order, so nothing can be sent back from here."))
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
    return _ask_gateway(session, gateway, order, refund, None if plan.whole_payment else plan.amount, now)


def send_refund(session: Session, gateway: Gateway, refund: Refund, now: datetime) -> Refund:
    """Ask the gateway for a part refund written down and committed (no ticket: a cheaper distance's difference).
    Commits; RefundRefused when the gateway refuses (recorded as failed; the order page offers it again)."""
    return _ask_gateway(session, gateway, session.get(Order, refund.order_id), refund, refund.amount, now)


def _ask_gateway(session: Session, gateway: Gateway, order: Order, refund: Refund, amount: int | None,
                 now: datetime) -> Refund:
    """Ask the gateway for a refund already on record (`amount` None: the whole payment), and keep its answer. Commits."""
    try:
        gateway_refund_id = gateway.refund(order.payment_intent_id, amount, refund.id)
    except PaymentUnavailable as error:
        # The call may have failed only on its way back (a timeout): a refund the provider has is on its way.
        gateway_refund_id = _made_after_all(gateway, order, refund.id)
        if gateway_refund_id is None:
            refusal = say("refund_refused", error=str(error))
            done = _fail(session, refund.id, refusal)
            if done is None:
                raise RefundRefused(refusal, status=502) from error
            return done
        log.warning("refund %s: the gateway's call failed (%s), but the provider has it as %s", refund.id, error,
                    gateway_refund_id)

    lock_order_and_its_types(session, order.id)
    refund = session.scalar(select(Refund).where(Refund.id == refund.id).execution_options(populate_existing=True))
    refund.gateway_refund_id = gateway_refund_id
    if gateway.is_test and refund.status == RefundStatus.PENDING:
        # The embedded test gateway moves no money and no webhook will ever come: its refund is done now.
        complete_refund(session, refund, now)
    session.commit()
    log.info("refund %s of %s for order %s: %s", refund.id, refund.amount, order.id, refund.status)
    return refund


def _made_after_all(gateway: Gateway, order: Order, refund_id: int) -> str | None:
    """The provider's id of the refund `refund_id` asked for, if the provider has one after all (the call that
    asked failed only on its way back): looked up among the payment's refunds by the id sent with it. None when it
    has none, or can't be asked either."""
    if gateway.is_test or not order.payment_intent_id:
        return None
    try:
        record = gateway.payment_record(order.payment_intent_id)
    except PaymentUnavailable:
        return None
    return next((made.refund_id for made in record.refunds if made.our_refund_id == refund_id), None)


def _fail(session: Session, refund_id: int, error: Sentence) -> Refund | None:
    """The gateway's call failed: the refund is recorded as failed and its tickets freed to be refunded again, and
    None returned. Unless the provider made the refund after all (a call that timed out after it was made) and its
    event completed it meanwhile: under the order's lock, as the event takes it, a refund no longer pending is kept
    as it is, and returned. Commits."""
    session.rollback()
    lock_order_and_its_types(session, session.scalar(select(Refund.order_id).where(Refund.id == refund_id)))
    refund = session.scalar(select(Refund).where(Refund.id == refund_id).execution_options(populate_existing=True))
    if refund.status != RefundStatus.PENDING:
        session.commit()
        log.warning("refund %s: the gateway's call failed (%s), but the refund is %s already", refund_id, error,
                    refund.status)
        return refund
    refund.status = RefundStatus.FAILED
    refund.error = keep(error)
    for registration in session.scalars(select(Registration).where(Registration.refund_id == refund_id)):
        registration.refund_id = None  # free to be refunded again
    session.commit()
    log.warning("refund %s failed: %s", refund_id, error)
    return None


# --- settling --------------------------------------------------------------------------------

def _refund_ticket(registration: Registration, now: datetime) -> None:
    """The ticket's money went back: its spot and its bib number are free for someone else."""
    registration.refunded_at = registration.refunded_at or now
    registration.bib = None


def complete_refund(session: Session, refund: Refund, now: datetime, *, amount: int | None = None) -> None:
    """The money went back: free the refund's tickets, close the order when nothing is left, tell the buyer.

    Call with the order locked, its ticket types before it (services.locking.lock_order_and_its_types). No commit.
    """
    refund.status = RefundStatus.COMPLETED
    refund.completed_at = now
    refund.error = ""
    if amount is not None:
        refund.amount = amount
    order = session.get(Order, refund.order_id)
    with keeping_counts(session, order.id):
        registrations = list(session.scalars(select(Registration).where(Registration.order_id == order.id)))
        for registration in registrations:
            if registration.refund_id == refund.id:
                _refund_ticket(registration, now)
        if all(r.refunded_at is not None for r in registrations):
            order.status = OrderStatus.REFUNDED
    if refund.amount > 0:
        queue_refund_notice(session, order, refund.amount)


def _refund_failed(session: Session, order: Order, refund: Refund, reason: str, now: datetime) -> None:
    """Stripe could not send the money back (or the refund was cancelled): say so, and let it be asked again.

    Tickets still waiting on it may be refunded again. Tickets it had already freed stay freed (their
    spots may be someone else's by now); an order it had closed needs a refund again.
    """
    was_completed = refund.status == RefundStatus.COMPLETED
    refund.status = RefundStatus.FAILED
    refund.error = keep(say("refund_failed", amount=(refund.amount, order.currency), reason=reason))
    for registration in session.scalars(select(Registration).where(Registration.refund_id == refund.id,
                                                                   Registration.refunded_at.is_(None))):
        registration.refund_id = None
    if was_completed and order.status == OrderStatus.REFUNDED:
        order.status = OrderStatus.NEEDS_REFUND
        order.problem = refund.error
    log.warning("refund %s of order %s failed at the provider: %s", refund.id, order.id, reason)


def _outside_refund(session: Session, order: Order, provider_refund: ProviderRefund, whole: bool,
                    now: datetime) -> Refund:
    """A refund made outside Startline (Stripe's Dashboard): recorded, so the figures add up and the buyer is told."""
    refund = Refund(order_id=order.id, race_id=order.race_id, status=RefundStatus.PENDING, whole_order=whole,
                    amount=provider_refund.amount, tax=0, gateway_refund_id=provider_refund.refund_id, created_at=now)
    session.add(refund)
    session.flush()
    if whole:
        for registration in session.scalars(select(Registration).where(Registration.order_id == order.id,
                                                                       Registration.refunded_at.is_(None))):
            registration.refund_id = refund.id
    log.info("order %s: %s refunded outside Startline, recorded as refund %s", order.id, refund.amount, refund.id)
    return refund


def apply_provider_refunds(session: Session, order: Order, record: PaymentRecord, now: datetime) -> str:
    """Bring the order's refunds in line with its payment's refunds as the provider has them now. No commit.

    Each provider refund is one Refund here: ours, found by the provider's id or by the id we sent in
    its metadata, or one made outside Startline, recorded as such. One that succeeded completes (its
    tickets are freed, the buyer told); one that failed or was cancelled is marked failed with the
    reason. Once all that was paid has gone back, the order is refunded and every ticket freed, as a
    refund of the whole payment in Stripe's Dashboard does. Because this reads the payment as it is
    now rather than what one event said, a payment's events may arrive in any order, or twice, and
    the order ends the same. Call with the order locked (services.locking.lock_order_and_its_types).
    """
    ours = order_refunds(session, order.id)
    by_provider_id = {r.gateway_refund_id: r for r in ours if r.gateway_refund_id}
    asked = {r.id: r for r in ours if not r.gateway_refund_id}
    paid = record.checkout.amount_total if record.checkout is not None else order.total
    back = 0
    for provider_refund in record.refunds:  # oldest first
        refund = by_provider_id.get(provider_refund.refund_id) or asked.pop(provider_refund.our_refund_id, None)
        if provider_refund.status == "succeeded":
            back += provider_refund.amount
        if refund is None:
            refund = _outside_refund(session, order, provider_refund,
                                     provider_refund.status == "succeeded" and back >= paid, now)
        refund.gateway_refund_id = provider_refund.refund_id
        if provider_refund.status == "succeeded" and refund.status != RefundStatus.COMPLETED:
            complete_refund(session, refund, now, amount=provider_refund.amount)
        elif provider_refund.status in ("failed", "canceled") and refund.status != RefundStatus.FAILED:
            _refund_failed(session, order, refund, provider_refund.failure_reason, now)
    if paid > 0 and back >= paid:
        with keeping_counts(session, order.id):  # a failed refund frees nothing again, nor takes a spot back
            order.status = OrderStatus.REFUNDED
            for registration in session.scalars(select(Registration).where(Registration.order_id == order.id)):
                _refund_ticket(registration, now)
    return _refund_outcome(order, order_refunds(session, order.id))


def _refund_outcome(order: Order, refunds: list[Refund]) -> str:
    statuses = {r.status for r in refunds}
    if order.status == OrderStatus.REFUNDED:
        return "refunded"
    if any(r.status == RefundStatus.FAILED and r.gateway_refund_id for r in refunds):
        return "refund failed"
    if RefundStatus.COMPLETED in statuses:
        return "partially refunded"
    return "refund pending" if RefundStatus.PENDING in statuses else "nothing refunded"
