"""Unsubscribing from a race's messages: the signed link each non-essential message carries, and honouring it.

The token is `URLSafeTimedSerializer(SECRET_KEY, salt="message-unsubscribe")` over [race id, folded email]:
it can do one thing (stop this race's messages to this address), so it needs no row of its own, and it
stays good for a year, longer than any race's messages go on.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import MessageUnsubscribe, Race
from services.messages.audience import fold

VALID_FOR = timedelta(days=400)


@dataclass(frozen=True)
class Unsubscription:
    race: Race
    email: str


class BadUnsubscribeLink(ValueError):
    """Forged, mangled or over a year old: nothing to unsubscribe."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="message-unsubscribe")


def token_maker(race_id: int):
    """A function email → unsubscribe token for one race (one serializer for a whole send)."""
    serializer = _serializer()
    return lambda email: serializer.dumps([race_id, fold(email)])


def open_link(session: Session, token: str) -> Unsubscription:
    """The race and address a link is for. Raises BadUnsubscribeLink."""
    try:
        race_id, email = _serializer().loads(token, max_age=int(VALID_FOR.total_seconds()))
    except (BadData, TypeError, ValueError):
        raise BadUnsubscribeLink(_("This unsubscribe link isn't valid. Use the link in the latest email.")) from None
    race = session.get(Race, race_id) if isinstance(race_id, int) and isinstance(email, str) else None
    if race is None:
        raise BadUnsubscribeLink(_("This unsubscribe link is for a race that no longer exists."))
    return Unsubscription(race, email)


def is_unsubscribed(session: Session, race_id: int, email: str) -> bool:
    return session.scalar(select(MessageUnsubscribe.id).where(MessageUnsubscribe.race_id == race_id,
                                                              MessageUnsubscribe.email == fold(email))) is not None


def unsubscribe(session: Session, unsubscription: Unsubscription, now: datetime) -> None:
    """Record that this address wants no more of this race's non-essential messages; twice is once. Commits."""
    if is_unsubscribed(session, unsubscription.race.id, unsubscription.email):
        return
    session.add(MessageUnsubscribe(race_id=unsubscription.race.id, email=fold(unsubscription.email), created_at=now))
    try:
        session.commit()
    except IntegrityError:  # the mail client's one-click POST and the person's click raced: one row either way
        session.rollback()
