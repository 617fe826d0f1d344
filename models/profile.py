"""Profile: one per auth user, keyed by the auth provider's user id."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Profile(Base):
    __tablename__ = "profiles"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The language chosen with the header's switcher ("es"), or None to follow the browser (services/languages.py).
    language: Mapped[str | None] = mapped_column(String(8))

    @property
    def display_name(self) -> str:
        return self.full_name or self.email.split("@")[0]

    def __repr__(self) -> str:
        return f"<Profile {self.email}>"
