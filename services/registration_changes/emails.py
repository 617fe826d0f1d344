"""The emails of transfers and distance changes, each an outbox row in the change's own transaction."""
from __future__ import annotations

import logging
from collections.abc import Callable

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from models import Profile, Race, Registration, TicketType
from services.languages import language_for
from services.mail.languages import account_language, buyer_language, page_language
from services.mail.outbox import InvalidEmail, queue_email

log = logging.getLogger(__name__)


def _queue(session: Session, to: str, subject: Callable[[], str], template: str, race: Race, kind: str, *,
           language: str | None = None, **context) -> None:
    """To `to` in `language`, by default their account's else the race's (`subject` is written in it)."""
    language = language or language_for(account_language(session, to), race.language)
    try:
        with force_locale(language):
            queue_email(session, to=to, subject=subject(), text=render_template(template, race=race, **context),
                        kind=kind, race_id=race.id, language=language)
    except InvalidEmail as exc:  # a bad address must not undo a change that was paid for
        log.warning("email to %r not queued: %s", to, exc)


def queue_change_link(session: Session, race: Race, registration: Registration, link: str) -> None:
    """To the runner: the one-hour link that lets them transfer the ticket or change its distance (they asked for it
    on their ticket's page, so in that page's language unless their account chose one)."""
    language = language_for(account_language(session, registration.email), page_language(), race.language)
    _queue(session, registration.email, lambda: _("Transfer or change your ticket for %(race)s", race=race.title),
           "emails/changes_link.txt", race, "change_link", language=language, registration=registration, link=link)


def queue_transferred(session: Session, race: Race, registration: Registration, buyer: Profile,
                      previous: tuple[str, str]) -> None:
    """To the previous runner and the buyer: the ticket now belongs to someone else, its old code is void."""
    name, email = previous
    recipients = {email.casefold(): (email, name)}
    recipients.setdefault(buyer.email.casefold(), (buyer.email, buyer.display_name))
    for address, greeting in recipients.values():
        if address:
            _queue(session, address, lambda: _("Your ticket for %(race)s was transferred", race=race.title),
                   "emails/changes_transferred.txt", race, "change_transferred",
                   language=buyer_language(buyer, race) if address == buyer.email else None,
                   registration=registration, greeting=greeting, previous_name=name)


def queue_distance_changed(session: Session, race: Race, registration: Registration, buyer: Profile,
                           old_type: TicketType, new_type: TicketType) -> None:
    """To the runner and the buyer: the ticket is now for the new distance."""
    recipients = {registration.email.casefold(): (registration.email, registration.runner_name)}
    recipients.setdefault(buyer.email.casefold(), (buyer.email, buyer.display_name))
    for address, greeting in recipients.values():
        if address:
            _queue(session, address, lambda: _("Your ticket for %(race)s is now for the %(ticket_type)s",
                                               race=race.title, ticket_type=new_type.name),
                   "emails/changes_distance.txt", race, "change_distance",
                   language=buyer_language(buyer, race) if address == buyer.email else None,
                   registration=registration, greeting=greeting, old_type=old_type, new_type=new_type)


def queue_change_refund_pending(session: Session, race: Race, email: str, name: str, problem: str) -> None:
    """To whoever paid for a change that could no longer be made: the money goes back. `problem` is as the change
    keeps it (services.stored_sentences), worded in the payer's language."""
    _queue(session, email, lambda: _("Your ticket change for %(race)s couldn't be made", race=race.title),
           "emails/changes_refund.txt", race, "change_refund_pending", greeting=name, problem=problem)
