"""A runner who fills in their own details: their personal link, the invitation at payment, what they
send (age checked), reminders, the organizer's resend, and moving the ticket into their account.

The link is `URLSafeSerializer(SECRET_KEY, salt="runner-details")` over [ticket id, invite_nonce]:
unguessable without the key, good for this one ticket and this one purpose, and revoked by a new
nonce. It works while the ticket is paid, not refunded and still waiting for its runner, until
sign-up closes (`services.sales.signup_deadline`; a transferred ticket's until the race starts,
`details_deadline`). After the details are in, the confirmation page
and "keep this ticket in my account" use a second token with its own salt ("runner-claim"), so the
used link opens nothing.

Emails: the invitation at payment; a reminder 3 days later and one when a day or less is left,
never two emails for one ticket within a day and none after the deadline; a resend by an
organizer at most once an hour (RESEND_GAP), with a new link that revokes the earlier ones.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models import (
    ChangeKind,
    ChangeStatus,
    Order,
    OrderStatus,
    Profile,
    Race,
    RaceOrganizer,
    Registration,
    RegistrationChange,
    TicketType,
)
from services.ages import age_limit_problem, birth_date_problem, local_today
from services.links import public_url
from services.notifications import queue_runner_age_problem, queue_runner_invite, queue_runner_ticket
from services.runners import (
    RunnerDetails,
    RunnerRefused,
    runner_problems,
    store_runner,
    waiver_to_sign,
)
from services.sales import signup_deadline
from services.stored_sentences import keep

DETAILS_SALT = "runner-details"
CLAIM_SALT = "runner-claim"
FIRST_REMINDER_AFTER = timedelta(days=3)
LAST_CALL = timedelta(days=1)       # the second reminder goes out when this much or less is left
REMINDER_GAP = timedelta(days=1)    # never two emails about one ticket within this
RESEND_GAP = timedelta(hours=1)     # an organizer's Resend, at most this often


class LinkRefused(Exception):
    """The link can't be used: forged (404), or replaced, used, expired or refunded (410)."""

    def __init__(self, title: str, message: str, status: int):
        super().__init__(str(message))
        # Lazy texts (the module's constants) are read now, in the page's language.
        self.title, self.message, self.status = str(title), str(message), status


class ResendRefused(Exception):
    """Why the invitation can't be sent again now, for the organizer."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ClaimRefused(LinkRefused):
    """The ticket can't move into this account."""


class AgeRefused(RunnerRefused):
    """Everything is fine but the runner's age on race day, which their ticket type doesn't allow.
    Nothing of theirs is saved; the problem is recorded and the buyer and organizers are told (once)."""


@dataclass(frozen=True)
class Invitation:
    """A ticket waiting for (or filled in by) its runner, with what its pages may show: never the buyer's other tickets."""

    registration: Registration
    order: Order
    race: Race
    ticket_type: TicketType
    buyer: Profile
    deadline: datetime   # details_deadline
    nonce: str           # the link's: still the ticket's while the link is current (a transfer changes it)


def details_deadline(session: Session, registration: Registration, race: Race) -> datetime:
    """Until when the runner's link works: sign-up's close, or for a ticket that came to its runner by a transfer
    (an organizer may transfer after sign-up has closed) the race's start, the last moment their details and
    signature are of use; a link that is already dead when it is emailed would leave them only the check-in desk."""
    transferred = session.scalar(select(RegistrationChange.id).where(
        RegistrationChange.registration_id == registration.id, RegistrationChange.kind == ChangeKind.TRANSFER,
        RegistrationChange.status == ChangeStatus.APPLIED).limit(1))
    closes = signup_deadline(race)
    return max(closes, race.starts_at) if transferred is not None else closes


def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt)


def link_token(registration: Registration) -> str:
    return _serializer(DETAILS_SALT).dumps([registration.id, registration.invite_nonce])


def claim_token(registration: Registration) -> str:
    return _serializer(CLAIM_SALT).dumps([registration.id, registration.invite_nonce])


def details_url(registration: Registration) -> str:
    return public_url("runner_invites.details", token=link_token(registration))


NO_SUCH_LINK = (_l("We couldn't find that link"), _l("This link isn't one of ours. Check that it was copied whole "
                                                       "from the email, or ask the person who bought your ticket to "
                                                       "have it sent again."))


def _invitation(session: Session, token: str, salt: str) -> Invitation:
    """The ticket a well-formed token of ours names, its nonce still current; else LinkRefused."""
    try:
        registration_id, nonce = _serializer(salt).loads(token)
    except (BadSignature, TypeError, ValueError):
        raise LinkRefused(*NO_SUCH_LINK, 404) from None
    if not isinstance(registration_id, int) or not isinstance(nonce, str) or not nonce:
        raise LinkRefused(*NO_SUCH_LINK, 404)
    registration = session.get(Registration, registration_id)
    if registration is None or not registration.runner_fills_in:
        raise LinkRefused(*NO_SUCH_LINK, 404)
    order = session.get(Order, registration.order_id)
    _refuse_if_gone(registration, order, nonce)
    race = session.get(Race, registration.race_id)
    return Invitation(registration, order, race, session.get(TicketType, registration.ticket_type_id),
                      session.get(Profile, order.buyer_id), details_deadline(session, registration, race), nonce)


def _refuse_if_gone(registration: Registration, order: Order, nonce: str) -> None:
    """LinkRefused unless the link (its `nonce`) is still the ticket's, and the ticket still paid for."""
    if not secrets.compare_digest(registration.invite_nonce, nonce):
        raise LinkRefused(_("This link was replaced"), _("A newer link to this ticket was sent, so this one no "
                                                          "longer works. Use the latest email about this ticket."), 410)
    if registration.refunded_at is not None or order.status != OrderStatus.PAID:
        raise LinkRefused(_("This ticket is no longer valid"), _("The ticket this link was for was refunded or "
                                                                  "cancelled, so there is nothing to fill in."), 410)


ALREADY_IN = (_l("Your details are already in"), _l("This link has been used: the details for this ticket were "
                                                     "sent, and the ticket was emailed to the runner."))


def open_invitation(session: Session, token: str, now: datetime) -> Invitation:
    """The ticket behind a runner's personal link, while its details can still be given; else LinkRefused."""
    invitation = _invitation(session, token, DETAILS_SALT)
    if invitation.registration.runner_details_at is not None:
        raise LinkRefused(*ALREADY_IN, 410)
    if now >= invitation.deadline:
        raise LinkRefused(_("This link has expired"), _("Sign-up for this race has closed, so details can no longer "
                                                         "be given through this link. Contact the race's organizer."),
                          410)
    return invitation


def open_ticket(session: Session, token: str) -> Invitation:
    """The ticket whose runner has just filled it in, by its claim token (the confirmation page); else LinkRefused."""
    invitation = _invitation(session, token, CLAIM_SALT)
    if invitation.registration.runner_details_at is None:
        raise LinkRefused(*NO_SUCH_LINK, 404)
    return invitation


# --- the invitation, at payment ---------------------------------------------------------------

def _send(session: Session, registration: Registration, race: Race, reminder: bool) -> None:
    order = session.get(Order, registration.order_id)
    queue_runner_invite(session, registration, race=race, ticket_type=session.get(TicketType, registration.ticket_type_id),
                        buyer=session.get(Profile, order.buyer_id), link=details_url(registration), reminder=reminder,
                        deadline=details_deadline(session, registration, race))


def invite_runners(session: Session, registrations: list[Registration], race: Race, now: datetime) -> None:
    """The order is paid: each runner who fills in their own details gets their link. No commit (fulfillment's)."""
    for registration in registrations:
        if registration.awaiting_runner and registration.invite_sent_at is None:
            registration.invite_nonce = registration.invite_nonce or secrets.token_hex(16)
            registration.invite_sent_at = now
            _send(session, registration, race, reminder=False)


# --- the runner's details ---------------------------------------------------------------------

def _age_problem(details: RunnerDetails, race: Race, ticket_type: TicketType, now: datetime) -> str | None:
    born = details.date_of_birth
    if born is None or birth_date_problem(born, local_today(race, now)):
        return None
    return age_limit_problem(born, race, ticket_type)


def submit_details(session: Session, invitation: Invitation, details: RunnerDetails, now: datetime, ip: str) -> None:
    """The runner's own details and signature, judged as the buyer's are; saved, or RunnerRefused. Commits.

    An age that doesn't fit the ticket type (and nothing else wrong) is AgeRefused: the problem is
    kept on the ticket and the buyer and organizers are emailed, once for the ticket (trying other
    birth dates sends nothing more). The ticket's row is locked first, so the same link sent twice at
    once saves once: the second is LinkRefused. The link is checked again under the lock: a transfer or a
    refund that came between the form's opening and this lock (the new runner's name and email written, the
    link replaced) is not undone by the old runner's details.
    """
    registration, race, ticket_type = invitation.registration, invitation.race, invitation.ticket_type
    session.scalar(select(Registration.id).where(Registration.id == registration.id).with_for_update())
    session.refresh(registration)
    session.refresh(invitation.order)
    try:
        _refuse_if_gone(registration, invitation.order, invitation.nonce)
    except LinkRefused:
        session.rollback()
        raise
    if registration.runner_details_at is not None:
        session.rollback()
        raise LinkRefused(*ALREADY_IN, 410)
    details = replace(details, runner_fills_in=False)  # they are the runner: everything is asked
    waiver = waiver_to_sign(session, race.id)
    problems = runner_problems(details, race, ticket_type, waiver, now)
    age = _age_problem(details, race, ticket_type, now)
    if problems and age is not None and problems.keys() == {"date_of_birth"}:
        if not registration.details_problem:
            registration.details_problem = keep(age)
            organizers = list(session.scalars(select(Profile).join(RaceOrganizer, RaceOrganizer.profile_id == Profile.id)
                                              .where(RaceOrganizer.race_id == race.id).order_by(Profile.email)))
            queue_runner_age_problem(session, registration, race=race, ticket_type=ticket_type, buyer=invitation.buyer,
                                     organizers=organizers, problem=registration.details_problem)
        else:
            registration.details_problem = keep(age)  # the latest, for the organizer; nobody is emailed again
        session.commit()
        raise AgeRefused(problems)
    if problems:
        session.rollback()
        raise RunnerRefused(problems)
    store_runner(registration, details, race=race, waiver=waiver, now=now, ip=ip)
    registration.runner_fills_in = True  # bought for a runner who filled in their own: kept for the record
    registration.runner_details_at = now
    registration.details_problem = ""
    queue_runner_ticket(session, invitation.order, registration)
    session.commit()


# --- reminders and resending ------------------------------------------------------------------

def _last_email(registration: Registration) -> datetime | None:
    return registration.invite_reminded_at or registration.invite_sent_at


def reminder_due(registration: Registration, deadline: datetime, now: datetime) -> bool:
    """Whether a waiting ticket's runner is owed a reminder now: 3 days after the invitation, and once
    a day or less is left; never within a day of the last email, never after the deadline."""
    last = _last_email(registration)
    if registration.invite_sent_at is None or last is None or now >= deadline or now - last < REMINDER_GAP:
        return False
    first_due = registration.invite_reminded_at is None and now >= registration.invite_sent_at + FIRST_REMINDER_AFTER
    last_call = deadline - now <= LAST_CALL and last < deadline - LAST_CALL
    return first_due or last_call


def _waiting_tickets():
    """Paid, not refunded tickets still waiting for their runner, with their race."""
    return (select(Registration, Race).join(Order, Order.id == Registration.order_id)
            .join(Race, Race.id == Registration.race_id)
            .where(Registration.runner_fills_in.is_(True), Registration.runner_details_at.is_(None),
                   Registration.refunded_at.is_(None), Order.status == OrderStatus.PAID))


def send_reminders(session: Session, now: datetime) -> int:
    """Queue every reminder that is due (the scheduled job); returns how many. Commits."""
    rows = session.execute(_waiting_tickets().where(
        Registration.invite_sent_at.is_not(None), Race.starts_at > now,
        or_(Race.registration_closes_at.is_(None), Race.registration_closes_at > now))
        .order_by(Registration.id)).all()
    sent = 0
    for registration, race in rows:
        if reminder_due(registration, signup_deadline(race), now):
            registration.invite_reminded_at = now
            registration.invite_reminders += 1
            _send(session, registration, race, reminder=True)
            sent += 1
    session.commit()
    return sent


def resend_invite(session: Session, registration: Registration, now: datetime) -> None:
    """An organizer's Resend: a new link by email (earlier ones stop working), at most once an hour. Commits;
    ResendRefused (nothing changed) when the details are in, the ticket was refunded, sign-up has closed or an
    email about the ticket went out within the hour."""
    order = session.get(Order, registration.order_id)
    race = session.get(Race, registration.race_id)
    problem = None
    if not registration.runner_fills_in:
        problem = _("The buyer filled in this runner's details: there is no link to send.")
    elif registration.runner_details_at is not None:
        problem = _("The runner has already filled in their details.")
    elif registration.refunded_at is not None or order.status != OrderStatus.PAID:
        problem = _("This ticket isn't paid or was refunded, so there is nothing to fill in.")
    elif now >= details_deadline(session, registration, race):
        problem = _("Sign-up has closed, so the link no longer works. Fill in the runner's details yourself.")
    elif (last := _last_email(registration)) is not None and now - last < RESEND_GAP:
        minutes = max(1, int((RESEND_GAP - (now - last)).total_seconds() // 60))
        problem = ngettext("An email about this ticket went out less than an hour ago. Try again in %(num)d minute.",
                           "An email about this ticket went out less than an hour ago. Try again in %(num)d minutes.",
                           minutes)
    if problem:
        session.rollback()
        raise ResendRefused(problem)
    # A new link, and the old ones stop working: the address may just have been corrected.
    registration.invite_nonce = secrets.token_hex(16)
    registration.invite_sent_at = registration.invite_sent_at or now
    registration.invite_reminded_at = now
    registration.invite_reminders += 1
    _send(session, registration, race, reminder=True)
    session.commit()


# --- the runner's own account -----------------------------------------------------------------

def claim_ticket(session: Session, invitation: Invitation, profile: Profile) -> None:
    """Move the ticket into the runner's account, so their tickets page lists it. Commits; ClaimRefused."""
    registration = invitation.registration
    if registration.runner_profile_id not in (None, profile.id):
        session.rollback()
        raise ClaimRefused(_("This ticket is in another account"), _("This ticket was already added to another "
                                                                      "account. Sign in with that one to see it."), 409)
    registration.runner_profile_id = profile.id
    session.commit()
