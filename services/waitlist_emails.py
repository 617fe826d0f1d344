"""The waitlist's links and emails: joined (with the link to leave), an offer (with the link to accept or
decline), an offer that lapsed, and leaving.

Each link is `URLSafeSerializer(SECRET_KEY, salt=…)` over [entry id, entry nonce], one salt per purpose
("waitlist-leave", "waitlist-offer"), so a leave link opens no offer and the other way round. The leave
link works until the race starts; the offer link until the offer expires (services/waitlist.py checks
both against the entry, so the links carry no time of their own).
"""
from __future__ import annotations

from collections.abc import Callable
from email.headerregistry import Address

from flask import current_app, render_template
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from models import Race, TicketType, WaitlistEntry
from services.languages import language_for
from services.links import public_url
from services.mail.languages import account_language, page_language
from services.mail.outbox import queue_email

LEAVE_SALT = "waitlist-leave"
OFFER_SALT = "waitlist-offer"


def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt)


def link_token(entry: WaitlistEntry, salt: str) -> str:
    return _serializer(salt).dumps([entry.id, entry.nonce])


def read_token(token: str, salt: str) -> tuple[int, str] | None:
    """(entry id, nonce) from a well-formed token of ours for this purpose; None for anything else."""
    if not token or len(token) > 200:
        return None
    try:
        entry_id, nonce = _serializer(salt).loads(token)
    except (BadSignature, TypeError, ValueError):
        return None
    if not isinstance(entry_id, int) or not isinstance(nonce, str) or not nonce:
        return None
    return entry_id, nonce


def leave_url(entry: WaitlistEntry) -> str:
    return public_url("waitlist.leave", token=link_token(entry, LEAVE_SALT))


def offer_url(entry: WaitlistEntry) -> str:
    return public_url("waitlist.offer", token=link_token(entry, OFFER_SALT))


def _send(session: Session, entry: WaitlistEntry, race: Race, ticket_type: TicketType, template: str,
          subject: Callable[[], str], *, on_their_page: bool = False) -> None:
    """The email in the person's language: their account's choice, else the page they are on when they cause it
    (`on_their_page`: joining), else the race's. An offer or a lapse comes later, from someone else's action."""
    language = language_for(account_language(session, entry.email), page_language() if on_their_page else None,
                            race.language)
    context = {"entry": entry, "race": race, "ticket_type": ticket_type, "leave_url": leave_url(entry),
               "offer_url": offer_url(entry), "race_url": public_url("races.race_page", slug=race.slug)}
    with force_locale(language):
        queue_email(session, to=str(Address(display_name=entry.name, addr_spec=entry.email)), subject=subject(),
                    text=render_template(f"emails/waitlist_{template}.txt", **context), kind=f"waitlist_{template}",
                    race_id=race.id, language=language)


def queue_joined(session: Session, entry: WaitlistEntry, race: Race, ticket_type: TicketType) -> None:
    _send(session, entry, race, ticket_type, "joined",
          lambda: _("You're on the waitlist for %(race)s", race=race.title), on_their_page=True)


def queue_offer(session: Session, entry: WaitlistEntry, race: Race, ticket_type: TicketType) -> None:
    _send(session, entry, race, ticket_type, "offer", lambda: ngettext(
        "A spot opened up: %(num)d spot in the %(ticket_type)s at %(race)s",
        "A spot opened up: %(num)d spots in the %(ticket_type)s at %(race)s",
        entry.offered_spots, ticket_type=ticket_type.name, race=race.title))


def queue_lapsed(session: Session, entry: WaitlistEntry, race: Race, ticket_type: TicketType) -> None:
    _send(session, entry, race, ticket_type, "lapsed",
          lambda: _("Your waitlist offer for %(race)s has lapsed", race=race.title))


def queue_left(session: Session, entry: WaitlistEntry, race: Race, ticket_type: TicketType) -> None:
    _send(session, entry, race, ticket_type, "left", lambda: _("You've left the waitlist for %(race)s", race=race.title))
