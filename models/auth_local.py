"""Tables of the embedded auth provider, used only when no SUPABASE_URL is configured."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class LocalUser(Base):
    __tablename__ = "local_users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200), default="")
    email_confirmed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LocalOneTimeToken(Base):
    """An email link's token: confirm a sign-up, or recover a password. Stored hashed."""

    __tablename__ = "local_one_time_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("local_users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # signup | recovery | magiclink
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class LocalRefreshToken(Base):
    """A refresh token (hashed), rotated on every use like GoTrue's."""

    __tablename__ = "local_refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("local_users.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    rotated_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
