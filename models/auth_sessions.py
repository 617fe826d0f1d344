"""Signed-out auth sessions, for either provider: refused until their access tokens would have expired."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class RevokedSession(Base):
    """An auth session (the `session_id` claim) that was signed out.

    Access tokens are checked locally, so one stays good until its `exp` however the session
    ended; this row, shared by every app server, refuses it sooner. Kept until `expires_at`
    (the last access token's expiry), then pruned.
    """

    __tablename__ = "revoked_sessions"

    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
