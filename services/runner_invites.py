"""PLACEHOLDER, to be replaced at merge by the real module from the "friend" branch.

The organizer's registrant page calls `resend_invite` (its *Resend the link* button); the runner's personal
link, its page and its emails are built in that other branch. Only the interface the organizer's side needs
is here, so the button's view and tests can be written against it: the tests monkeypatch `resend_invite`.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from models import Registration


class InviteRefused(Exception):
    """PLACEHOLDER: the link can't be sent (again); `message` says why, for the organizer."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def resend_invite(session: Session, registration: Registration, now: datetime) -> None:
    """PLACEHOLDER: send the runner their personal link again (commits), or raise InviteRefused."""
    raise NotImplementedError("services.runner_invites comes from the friend branch")
