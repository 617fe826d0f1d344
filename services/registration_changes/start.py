"""The use cases the pages call: ask for a transfer or a distance change, free ones made at once and the
rest paid through Checkout first; and cancel one waiting for its payment. Each commits.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import (
    ChangeKind,
    ChangeStatus,
    Order,
    OrderKind,
    OrderStatus,
    Race,
    Refund,
    RefundStatus,
    Registration,
    RegistrationChange,
    TicketType,
)
from services.checkout import RESERVATION, cancel_checkout, open_payment_page
from services.locking import lock_order, lock_ticket_types
from services.payments import Gateway
from services.price_tiers import price_book
from services.pricing import store_totals
from services.refunds import RefundRefused, send_refund
from services.registration_changes.apply import apply_change, change_quote
from services.registration_changes.difference import plan_difference, record_part_refund
from services.registration_changes.rules import (
    WAITING_FOR_PAYMENT,
    ChangeRefused,
    change_amount,
    change_refund_on_its_way,
    closed_reason,
    distance_problem,
    pending_change,
    ticket_problem,
    ticket_value,
    transfer_problem,
)
from services.runners import clean_email, email_problem, name_problem, tidy
from services.stored_sentences import kept

RUNNER_LINK = kept("runner_link")  # an Actor's `actor`, kept on the change and its audits, worded when shown


@dataclass(frozen=True)
class Actor:
    """Who asks: a signed-in buyer, runner or organizer (profile_id), or the runner by their link."""

    profile_id: uuid.UUID | None
    email: str                 # where the payment page sends its receipt
    label: str = ""            # for the audit trail when there is no profile
    by_organizer: bool = False


@dataclass(frozen=True)
class NewRunner:
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class ChangeStarted:
    change: RegistrationChange
    payment_url: str | None = None   # the payment page; None when the change was made at once
    refund_problem: str = ""         # a cheaper distance's refund the gateway refused


class NewRunnerRefused(ChangeRefused):
    """The new runner's name or email won't do; `problems` maps each field to its message."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(next(iter(problems.values())), 422)
        self.problems = problems


def new_runner_problems(runner: NewRunner) -> dict[str, str]:
    problems = {"first_name": name_problem(tidy(runner.first_name), _("the new runner's first name")),
                "last_name": name_problem(tidy(runner.last_name), _("the new runner's last name")),
                "email": email_problem(runner.email or "")}
    return {field: message for field, message in problems.items() if message}


Urls = Callable[[RegistrationChange], tuple[str, str]]  # a change's success and cancel pages


def start_transfer(session: Session, gateway: Gateway, registration: Registration, runner: NewRunner, actor: Actor,
                   now: datetime, urls: Urls) -> ChangeStarted:
    """Move the ticket to a new runner; ChangeRefused (nothing saved) when it can't be."""
    if problems := new_runner_problems(runner):
        raise NewRunnerRefused(problems)
    runner = NewRunner(tidy(runner.first_name), tidy(runner.last_name), clean_email(runner.email))
    race = session.get(Race, registration.race_id)
    _lock(session, registration, [])
    problem = (_closed(race, ChangeKind.TRANSFER, actor, now) or ticket_problem(session, registration)
               or transfer_problem(registration, runner.email))
    _refuse_if(session, problem)
    change = RegistrationChange(registration_id=registration.id, race_id=race.id, kind=ChangeKind.TRANSFER,
                                new_first_name=runner.first_name, new_last_name=runner.last_name,
                                new_email=runner.email,
                                amount=change_amount(race, 0, ChangeKind.TRANSFER, None,
                                                     by_organizer=actor.by_organizer))
    return _go(session, gateway, registration, race, change, actor, now, urls)


def start_distance_change(session: Session, gateway: Gateway, registration: Registration, ticket_type_id: int,
                          actor: Actor, now: datetime, urls: Urls) -> ChangeStarted:
    """Move the ticket to another distance of its race; LookupError for a type not of this race,
    ChangeRefused (nothing saved) when it can't move."""
    race = session.get(Race, registration.race_id)
    new_type = session.get(TicketType, ticket_type_id)
    if new_type is None or new_type.race_id != race.id:
        raise LookupError(ticket_type_id)
    _lock(session, registration, [registration.ticket_type_id, new_type.id])
    problem = (_closed(race, ChangeKind.DISTANCE, actor, now) or ticket_problem(session, registration)
               or change_refund_on_its_way(session, registration)
               or distance_problem(session, registration, race, new_type, now))
    _refuse_if(session, problem)
    change = RegistrationChange(registration_id=registration.id, race_id=race.id, kind=ChangeKind.DISTANCE,
                                old_ticket_type_id=registration.ticket_type_id, new_ticket_type_id=new_type.id,
                                amount=change_amount(race, ticket_value(session, registration), ChangeKind.DISTANCE,
                                                     price_book(session, race, [new_type.id], now).price_of(new_type).price,
                                                     by_organizer=actor.by_organizer))
    return _go(session, gateway, registration, race, change, actor, now, urls)


def _closed(race: Race, kind: ChangeKind, actor: Actor, now: datetime) -> str | None:
    """The race's settings bind runners and buyers; an organizer may still do either for a runner."""
    return None if actor.by_organizer else closed_reason(race, kind, now)


def _lock(session: Session, registration: Registration, ticket_type_ids: list[int]) -> None:
    """The same locks, in the same order, as checkout: ticket types by id, then the ticket's order; then the ticket's
    own row, which a refund of a change order of this ticket also takes (services/refunds.py), so what the ticket is
    worth is never read while one of its payments is being sent back."""
    lock_ticket_types(session, ticket_type_ids)
    lock_order(session, registration.order_id)
    session.scalar(select(Registration.id).where(Registration.id == registration.id).with_for_update())
    session.refresh(registration)


def _refuse_if(session: Session, problem: str | None) -> None:
    if problem:
        session.rollback()
        raise ChangeRefused(problem, 409)


def _go(session: Session, gateway: Gateway, registration: Registration, race: Race, change: RegistrationChange,
        actor: Actor, now: datetime, urls: Urls) -> ChangeStarted:
    change.requested_by_id, change.actor = actor.profile_id, actor.label
    session.add(change)
    try:
        session.flush()
    except IntegrityError:  # another change of this ticket started a moment ago
        session.rollback()
        raise ChangeRefused(str(WAITING_FOR_PAYMENT), 409) from None
    if change.amount <= 0:
        refund = _record_difference(session, registration, race, change, actor, now)  # before its price is lowered
        apply_change(session, change, now)
        session.commit()  # the change and the refund it owes, together: a refusal below leaves the refund failed
        return ChangeStarted(change, refund_problem=_send_difference(session, gateway, refund, now))
    order = Order(race_id=race.id, buyer_id=actor.profile_id if not actor.by_organizer and actor.profile_id
                  else session.get(Order, registration.order_id).buyer_id,
                  kind=OrderKind.CHANGE, status=OrderStatus.PENDING, currency=race.currency,
                  reserved_until=now + RESERVATION)
    quote = change_quote(session, change)
    store_totals(order, quote)
    session.add(order)
    session.flush()
    change.order_id = order.id
    session.commit()
    success_url, cancel_url = urls(change)
    started = open_payment_page(session, order, gateway, quote, None, customer_email=actor.email,
                                success_url=success_url, cancel_url=cancel_url)
    return ChangeStarted(change, payment_url=started.redirect_url)


def _record_difference(session: Session, registration: Registration, race: Race, change: RegistrationChange,
                       actor: Actor, now: datetime) -> Refund | None:
    """A cheaper distance, when the race refunds the difference: write down the refund it owes (at what was paid
    for the ticket, services.refunds.plan_difference), in the change's own transaction and linked to it, so a
    refusal from the provider stays on record for the organizer to send again. None when nothing was paid."""
    if change.kind != ChangeKind.DISTANCE or change.amount >= 0 or not race.distance_refund_difference:
        return None
    order = session.get(Order, registration.order_id)
    amount, tax = plan_difference(session, order, registration, -change.amount)
    refund = record_part_refund(session, order, amount, tax, actor.profile_id if actor.by_organizer else None, now)
    change.refund_id = refund.id if refund is not None else None
    return refund


def _send_difference(session: Session, gateway: Gateway, refund: Refund | None, now: datetime) -> str:
    if refund is None:
        return ""
    try:
        send_refund(session, gateway, refund, now)
    except RefundRefused as refused:
        return refused.message
    return ""


def resend_difference(session: Session, gateway: Gateway, order: Order, refund_id: int, requested_by_id: uuid.UUID,
                      now: datetime) -> Refund:
    """The organizer sends a cheaper distance's failed difference refund again: a new refund of what is still
    owed, linked to the change in place of the failed one. Commits; LookupError (not a failed difference refund
    of this order), RefundRefused (the provider refused again; recorded as failed)."""
    lock_order(session, order.id)
    change = session.scalar(select(RegistrationChange).where(RegistrationChange.refund_id == refund_id))
    failed = session.get(Refund, refund_id)
    if change is None or failed is None or failed.order_id != order.id or failed.status != RefundStatus.FAILED:
        session.rollback()
        raise LookupError(refund_id)
    refund = record_part_refund(session, session.get(Order, order.id), failed.amount, failed.tax, requested_by_id,
                                now)
    if refund is None:
        session.rollback()
        raise RefundRefused(_("Nothing is left of this order's payment to send back."))
    change.refund_id = refund.id
    session.commit()
    return send_refund(session, gateway, refund, now)


def cancel_pending(session: Session, gateway: Gateway, registration: Registration) -> bool:
    """Give up a change still waiting for its payment: its page closes, the ticket stays as it was."""
    change = pending_change(session, registration.id)
    if change is None:
        return False
    if change.order_id is None:
        change.status = ChangeStatus.CANCELED
        session.commit()
        return True
    cancel_checkout(session, gateway, session.get(Order, change.order_id))
    return True
