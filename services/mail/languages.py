"""The language an email is written in, chosen for its recipient when it is queued: the language their account
chose, else the page they are on when they cause it themselves, else the race's (services.languages.language_for)."""
from __future__ import annotations

from collections.abc import Iterable

from flask import has_request_context
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


def page_language() -> str | None:
    """The language of the page being answered, for an email to the person on it (signing up, joining a waitlist,
    sending their own details); None outside a request (the worker, the CLI)."""
    return current_language() if has_request_context() else None


def buyer_language(buyer: Profile, race: Race) -> str:
    """A buyer's language: their account's choice, else the race's. (Not the page's: a payment is often confirmed by
    Stripe's webhook, and a refund by an organizer, on pages that aren't the buyer's.)"""
    return language_for(buyer.language, race.language)


def runner_language(session: Session, registration: Registration, buyer: Profile, race: Race) -> str:
    """A runner's language: their own account's choice (by their address), else the buyer's (a friend is written to
    in the language the buyer chose), else the race's."""
    return language_for(account_language(session, registration.email), buyer.language, race.language)
