"""Whether a ticket may move to another runner or distance now, and what it costs: one wording everywhere."""
from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    ChangeKind,
    ChangeStatus,
    Order,
    OrderStatus,
    Race,
    Refund,
    RefundStatus,
    Registration,
    RegistrationChange,
    TicketType,
)
from services.ages import age_limit_problem
from services.inventory import spots_left, spots_problem
from services.sales import off_sale_reason, signup_deadline
from services.stored_sentences import say

MAX_NAME = 100
MAX_EMAIL = 320
WAITING_FOR_PAYMENT = _l("A change to this ticket is waiting for its payment. Finish or cancel it first.")


class ChangeRefused(Exception):
    """Why this change can't be made, in words for the runner or organizer; nothing was saved."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(str(message))
        self.message, self.status = str(message), status  # a lazy message is read in the page's language now


def transfer_deadline(race: Race) -> datetime:
    """Transfers close on the organizer's date, and at the latest when sign-up closes (the new
    runner fills in their details by a link that works until then)."""
    closes = signup_deadline(race)
    return min(race.transfers_until, closes) if race.transfers_until else closes


def distance_deadline(race: Race) -> datetime:
    """Distance changes close on the organizer's date (the sign-up deadline when none), never after the start."""
    until = race.distance_changes_until or signup_deadline(race)
    return min(until, race.starts_at)


def closed_reason(race: Race, kind: ChangeKind, now: datetime) -> str | None:
    """Why the race takes no change of this kind now, or None."""
    if kind == ChangeKind.TRANSFER:
        if not race.transfers_enabled:
            return say("no_transfers")
        if now >= transfer_deadline(race):
            return say("transfers_closed")
        return None
    if not race.distance_changes_enabled:
        return say("no_distance_changes")
    if now >= distance_deadline(race):
        return say("distance_changes_closed")
    return None


def pending_change(session: Session, registration_id: int) -> RegistrationChange | None:
    return session.scalar(select(RegistrationChange).where(RegistrationChange.registration_id == registration_id,
                                                           RegistrationChange.status == ChangeStatus.PENDING))


def was_transferred(session: Session, code: str) -> bool:
    """Whether this ticket code was retired by a transfer (its page then says so rather than "no such ticket")."""
    return session.scalar(select(RegistrationChange.id).where(RegistrationChange.old_ticket_code == code)
                          .limit(1)) is not None


def ticket_problem(session: Session, registration: Registration, *, ignore: RegistrationChange | None = None) -> str | None:
    """Why this ticket can't change at all now (whatever the change), or None."""
    order = session.get(Order, registration.order_id)
    if order.status != OrderStatus.PAID or registration.refunded_at is not None or registration.refund_id is not None:
        return say("ticket_not_paid")
    if registration.checked_in_at is not None:
        return say("ticket_checked_in")
    waiting = pending_change(session, registration.id)
    if waiting is not None and waiting is not ignore:
        return say("change_waiting")
    return None


def transfer_problem(registration: Registration, new_email: str) -> str | None:
    if new_email.strip().casefold() == (registration.email or "").strip().casefold():
        return _("That's the email this ticket already has: enter the new runner's email.")
    return None


def distance_problem(session: Session, registration: Registration, race: Race, new_type: TicketType,
                     now: datetime) -> str | None:
    """Why the ticket can't move to `new_type` (same type, off sale, age, no spot left), or None.

    Call with the ticket types locked (services.locking) when the answer decides a change.
    """
    if new_type.id == registration.ticket_type_id:
        return say("same_distance", ticket_type=new_type.name)
    if reason := off_sale_reason(new_type, now):
        return reason
    if registration.date_of_birth is not None and (age := age_limit_problem(registration.date_of_birth, race, new_type)):
        return age
    return spots_problem(new_type, 1, spots_left(session, [new_type], now)[new_type.id])


def ticket_value(session: Session, registration: Registration) -> int:
    """What the ticket is worth at list prices: its price on its own order (lowered by a cheaper distance's
    refunded difference) plus the dearer distances' differences paid by change orders not refunded since, nor
    being refunded (a change order stays paid until the provider says its refund is done: counted meanwhile, a
    cheaper distance chosen then sent the same difference back a second time)."""
    refunding = select(Refund.id).where(Refund.order_id == Order.id,
                                        Refund.status.in_([RefundStatus.PENDING, RefundStatus.COMPLETED])).exists()
    paid_changes = session.scalar(
        select(func.coalesce(func.sum(RegistrationChange.amount), 0))
        .join(Order, Order.id == RegistrationChange.order_id)
        .where(RegistrationChange.registration_id == registration.id, RegistrationChange.kind == ChangeKind.DISTANCE,
               RegistrationChange.status == ChangeStatus.APPLIED, Order.status == OrderStatus.PAID, ~refunding))
    return registration.price + paid_changes


def change_refund_on_its_way(session: Session, registration: Registration) -> str | None:
    """Why the ticket can't move to another distance now: a refund of a payment for an earlier change of it is on its
    way, and until the provider says how it ended, what the ticket is worth is not known."""
    pending = select(Refund.id).join(RegistrationChange, RegistrationChange.order_id == Refund.order_id).where(
        RegistrationChange.registration_id == registration.id, Refund.status == RefundStatus.PENDING).exists()
    return say("change_refund_pending") if session.scalar(select(pending)) else None


def difference_settled_since(session: Session, change: RegistrationChange) -> bool:
    """Whether a later distance change of the same ticket sent a difference back: the dearer distance's payment
    (`change`'s order) then counted in what the ticket was worth, so it went back then, from the ticket's order."""
    return change.kind == ChangeKind.DISTANCE and session.scalar(select(
        select(RegistrationChange.id).where(RegistrationChange.registration_id == change.registration_id,
                                            RegistrationChange.kind == ChangeKind.DISTANCE,
                                            RegistrationChange.status == ChangeStatus.APPLIED,
                                            RegistrationChange.refund_id.is_not(None),
                                            RegistrationChange.id > change.id).exists()))


def change_amount(race: Race, value: int, kind: ChangeKind, new_price: int | None, *, by_organizer: bool) -> int:
    """What the change costs: the fee, or the new distance's price today (services/price_tiers.py) minus the
    ticket's `value` (ticket_value; negative: cheaper).

    An organizer's change never charges (they waive the fee and a dearer distance's difference)."""
    if kind == ChangeKind.TRANSFER:
        return 0 if by_organizer else race.transfer_fee
    difference = new_price - value
    return min(difference, 0) if by_organizer else difference
