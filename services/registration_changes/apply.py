"""Making a change: the ticket's new runner or distance, its audit line, its emails. Called with the
ticket types locked, by start.py (a free change) and by services/fulfillment.py (a paid one). No commits.
"""
from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    ChangeKind,
    ChangeStatus,
    Order,
    OrderKind,
    OrderStatus,
    Profile,
    Race,
    Registration,
    RegistrationAudit,
    RegistrationChange,
    TicketType,
)
from models.order import new_ticket_code
from services.inventory import keeping_counts
from services.price_tiers import price_book
from services.pricing import Line, Quote, quote_lines
from services.registration_changes import emails
from services.registration_changes.rules import closed_reason, distance_problem, ticket_problem
from services.runner_invites import invite_runners
from services.stored_sentences import Sentence, keep, say

# What a transfer clears: the previous runner's details and signature belong to them, not the ticket.
RUNNER_FIELDS = {"date_of_birth": None, "gender": "", "tshirt_size": "", "emergency_name": "", "emergency_phone": "",
                 "address": "", "city": "", "country": "", "club": "", "waiver_version_id": None,
                 "waiver_signature": "", "waiver_guardian_name": "", "waiver_signed_at": None, "waiver_ip": "",
                 "waiver_signed_at_checkin": False, "runner_details_at": None, "invite_sent_at": None,
                 "invite_reminded_at": None, "invite_reminders": 0, "details_problem": "", "runner_profile_id": None}


def change_for_order(session: Session, order_id: uuid.UUID) -> RegistrationChange | None:
    """The change an order of kind "change" pays for; None for an order of tickets."""
    return session.scalar(select(RegistrationChange).where(RegistrationChange.order_id == order_id))


def ticket_types_to_lock(change: RegistrationChange | None) -> list[int]:
    """A distance change moves a spot between two types: both are locked, like a checkout's."""
    if change is None or change.kind != ChangeKind.DISTANCE:
        return []
    return [change.old_ticket_type_id, change.new_ticket_type_id]


def change_quote(session: Session, change: RegistrationChange) -> Quote:
    """The change's one line (the fee, or the price difference) under the race's currency and tax: what
    Checkout shows and what its payment is checked against."""
    race = session.get(Race, change.race_id)
    if change.kind == ChangeKind.TRANSFER:
        registration = session.get(Registration, change.registration_id)
        line = Line(registration.ticket_type_id, _("Transfer fee"), change.amount, 1)
    else:
        new_type = session.get(TicketType, change.new_ticket_type_id)
        line = Line(new_type.id, _("Change to the %(ticket_type)s", ticket_type=new_type.name), change.amount, 1)
    return quote_lines(race, [line])


def problem_now(session: Session, change: RegistrationChange, now: datetime) -> str | None:
    """Why a change whose payment just arrived can no longer be made (closed, full, refunded…), or None.

    Call with its order locked: the change is re-read, so a cancel committed a moment ago is seen. The ticket is
    read under its row lock: a refund or a check-in of it under way is waited for, and what it wrote is seen (a fee
    taken for a ticket being refunded, or a runner changed as they are checked in, otherwise)."""
    session.refresh(change)
    if change.status != ChangeStatus.PENDING:
        return say("change_cancelled")
    registration = session.scalar(select(Registration).where(Registration.id == change.registration_id)
                                  .with_for_update().execution_options(populate_existing=True))
    race = session.get(Race, change.race_id)
    problem = closed_reason(race, change.kind, now) or ticket_problem(session, registration, ignore=change)
    if problem is None and change.kind == ChangeKind.DISTANCE:
        problem = distance_problem(session, registration, race, session.get(TicketType, change.new_ticket_type_id), now)
    return problem


def _audit(session: Session, change: RegistrationChange, field: str, old: str, new: str, now: datetime) -> None:
    session.add(RegistrationAudit(registration_id=change.registration_id, profile_id=change.requested_by_id,
                                  actor=change.actor, changed_at=now, field=field, old_value=old, new_value=new))


def _transfer(session: Session, change: RegistrationChange, registration: Registration, race: Race,
              now: datetime) -> None:
    previous = (registration.runner_name, registration.email)
    _audit(session, change, "transfer", f"{previous[0]} <{previous[1]}>",
           f"{change.new_first_name} {change.new_last_name} <{change.new_email}>", now)
    for name, value in RUNNER_FIELDS.items():
        setattr(registration, name, value)
    registration.first_name, registration.last_name = change.new_first_name, change.new_last_name
    registration.email = change.new_email
    registration.runner_fills_in = True
    registration.invite_nonce = secrets.token_hex(16)  # whatever link went to the previous runner stops working
    # The old code stops working this moment: a screenshot of the old QR code checks nobody in.
    change.old_ticket_code = registration.ticket_code
    registration.ticket_code = new_ticket_code()
    if not race.transfer_keeps_bib:
        registration.bib = None
    invite_runners(session, [registration], race, now)  # the friend-link invitation, as at payment
    order = session.get(Order, registration.order_id)
    emails.queue_transferred(session, race, registration, session.get(Profile, order.buyer_id), previous)


def _change_distance(session: Session, change: RegistrationChange, registration: Registration, race: Race,
                     now: datetime) -> None:
    old_type = session.get(TicketType, change.old_ticket_type_id)
    new_type = session.get(TicketType, change.new_ticket_type_id)
    _audit(session, change, "ticket_type", old_type.name, new_type.name, now)
    with keeping_counts(session, registration.order_id):  # the spot moves from one type's count to the other's
        registration.ticket_type_id = new_type.id
    # The new distance's price step today, so "the first 100 at $40" counts this ticket there, not in the old one.
    registration.price_tier_id = price_book(session, race, [new_type.id], now).take(new_type)[1]
    # `price` stays what the ticket's own order charged, so that order's refund shares stay right (a dearer
    # distance's difference is its change order's money); a cheaper distance's difference going back lowers it.
    if change.amount < 0 and race.distance_refund_difference:
        registration.price = max(registration.price + change.amount, 0)
    order = session.get(Order, registration.order_id)
    emails.queue_distance_changed(session, race, registration, session.get(Profile, order.buyer_id), old_type,
                                  new_type)


def apply_change(session: Session, change: RegistrationChange, now: datetime) -> None:
    """Make the change on its ticket (checked just before, under the locks). No commit."""
    registration = session.get(Registration, change.registration_id)
    race = session.get(Race, change.race_id)
    # Applied first: the new runner's invitation reads it (a transferred ticket's link lasts until the start).
    change.status = ChangeStatus.APPLIED
    change.applied_at = now
    if change.kind == ChangeKind.TRANSFER:
        _transfer(session, change, registration, race, now)
    else:
        _change_distance(session, change, registration, race, now)


def payment_cannot_apply(session: Session, order: Order, change: RegistrationChange, problem: Sentence,
                         payment_intent: str | None) -> None:
    """Paid, but the change can't be made: the money goes back (the order needs a refund), and the payer is told."""
    if change.status == ChangeStatus.PENDING:
        change.status = ChangeStatus.NEEDS_REFUND
    change.problem = keep(problem)
    order.status = OrderStatus.NEEDS_REFUND
    order.problem = keep(say("change_not_made", problem=problem))
    order.payment_intent_id = payment_intent or order.payment_intent_id
    order.reserved_until = None
    order.checkout_url = ""
    # Whoever paid: a signed-in buyer or runner, else the runner by their link (their ticket is unchanged).
    payer = session.get(Profile, change.requested_by_id) if change.requested_by_id else None
    registration = session.get(Registration, change.registration_id)
    emails.queue_change_refund_pending(session, session.get(Race, change.race_id),
                                       payer.email if payer else registration.email,
                                       payer.display_name if payer else registration.runner_name, change.problem)


def close_change_order(session: Session, order: Order, reason: OrderStatus) -> None:
    """A change order's payment page closed unpaid: the order ends, and so does its change. No commit."""
    order.status = reason
    change = change_for_order(session, order.id)
    if change is not None and change.status == ChangeStatus.PENDING:
        change.status = ChangeStatus.CANCELED


def is_change_order(order: Order) -> bool:
    return order.kind == OrderKind.CHANGE
