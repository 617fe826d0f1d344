"""The language an email is written in, chosen for its recipient when it is queued: the language their account
chose, else the page they are on when they cause it, else the race's (services.languages.language_for)."""
from __future__ import annotations

from collections.abc import Iterable

from flask import g, has_request_context
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Profile, Race, Registration
from services.languages import current_language, language_for

_CHUNK = 900  # addresses per IN (…): under SQLite's old limit of 999 bound parameters


def account_language(session: Session, email: str | None) -> str | None:
    """The language the account with this address chose ("es"), or None (no account, or none chosen)."""
    if not (email or "").strip():
        return None
    return account_languages(session, [email]).get(email.strip().lower())


def account_languages(session: Session, emails: Iterable[str]) -> dict[str, str]:
    """Lowercased address → the language its account chose, for the addresses whose account chose one."""
    folded = sorted({email.strip().lower() for email in emails if email and email.strip()})
    found: dict[str, str] = {}
    for start in range(0, len(folded), _CHUNK):
        chunk = folded[start:start + _CHUNK]
        found.update(session.execute(select(func.lower(Profile.email), Profile.language).where(
            func.lower(Profile.email).in_(chunk), Profile.language.is_not(None))).all())
    return found


def page_language(asking: Profile | None = None) -> str | None:
    """The language of the page being answered, when the email's recipient is the one on it: `asking` signed in,
    or, without `asking`, whoever is on the page (a sign-up, a waitlist form). None outside a request."""
    if not has_request_context():
        return None
    if asking is not None:
        user = g.get("user")
        if user is None or user.id != asking.id:
            return None
    return current_language()


def buyer_language(buyer: Profile, race: Race) -> str:
    """A buyer's language: their account's choice, else the page they are on (when they are the one paying), else
    the race's."""
    return language_for(buyer.language, page_language(asking=buyer), race.language)


def runner_language(session: Session, registration: Registration, buyer: Profile, race: Race) -> str:
    """A runner's language: their own account's choice (by their address), else the buyer's (a friend is written to
    in the language the buyer chose or was reading when buying), else the race's."""
    return language_for(account_language(session, registration.email), buyer.language, page_language(asking=buyer),
                        race.language)
