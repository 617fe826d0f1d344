"""The runner's way in without an account: a one-hour link to their ticket's changes, emailed to the
runner's address, since the ticket code alone (shown to check-in staff) must not move a ticket.

`URLSafeSerializer(SECRET_KEY, salt="ticket-change")` over [ticket id, ticket code, expiry]: for this one
ticket and purpose, dead after an hour (on our settable clock) and the moment a transfer issues a new
code. The page after payment uses a token of its own ("ticket-change-status") naming the change and its
own expiry, two days on: long enough to come back from the payment page, short enough that an address
left in a browser's history stops telling anyone about the ticket.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from models import Race, Registration, RegistrationChange
from services.links import public_url
from services.registration_changes import emails
from services.registration_changes.rules import ChangeRefused, ticket_problem

LINK_SALT = "ticket-change"
STATUS_SALT = "ticket-change-status"
LINK_LIFETIME = timedelta(hours=1)
STATUS_LIFETIME = timedelta(days=2)
NO_SUCH_LINK = _l("This link isn't one of ours, or it was for a ticket that has since been transferred.")


def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt)


def change_link_token(registration: Registration, now: datetime) -> str:
    return _serializer(LINK_SALT).dumps([registration.id, registration.ticket_code,
                                         int((now + LINK_LIFETIME).timestamp())])


def open_change_link(session: Session, token: str, now: datetime) -> Registration:
    """The ticket a live link of ours names; else ChangeRefused (404 forged or transferred, 410 expired)."""
    try:
        registration_id, code, expires = _serializer(LINK_SALT).loads(token)
    except (BadSignature, TypeError, ValueError):
        raise ChangeRefused(NO_SUCH_LINK, 404) from None
    if not isinstance(registration_id, int) or not isinstance(code, str) or not isinstance(expires, int):
        raise ChangeRefused(NO_SUCH_LINK, 404)
    registration = session.get(Registration, registration_id)
    if registration is None or registration.ticket_code != code:
        raise ChangeRefused(NO_SUCH_LINK, 404)
    if now.timestamp() >= expires:
        raise ChangeRefused(_("This link has expired (it works for an hour). Ask for a new one from your ticket."), 410)
    return registration


def send_change_link(session: Session, registration: Registration, now: datetime) -> None:
    """Email the runner their link (the ticket must be changeable now). Commits; ChangeRefused."""
    if problem := ticket_problem(session, registration):
        session.rollback()
        raise ChangeRefused(problem, 409)
    link = public_url("ticket_changes.by_link", token=change_link_token(registration, now))
    emails.queue_change_link(session, session.get(Race, registration.race_id), registration, link)
    session.commit()


def status_token(change: RegistrationChange, now: datetime) -> str:
    return _serializer(STATUS_SALT).dumps([change.id, int((now + STATUS_LIFETIME).timestamp())])


def open_status(session: Session, token: str, now: datetime) -> RegistrationChange:
    """The change a live status address names; else ChangeRefused (404 forged, 410 past its two days)."""
    try:
        change_id, expires = _serializer(STATUS_SALT).loads(token)
    except (BadSignature, TypeError, ValueError):
        raise ChangeRefused(NO_SUCH_LINK, 404) from None
    change = session.get(RegistrationChange, change_id) \
        if isinstance(change_id, int) and isinstance(expires, int) else None
    if change is None:
        raise ChangeRefused(NO_SUCH_LINK, 404)
    if now.timestamp() >= expires:
        raise ChangeRefused(_("This page has expired (it works for two days after a change). The ticket's own "
                              "page, or the emails about the change, say where it stands."), 410)
    return change
