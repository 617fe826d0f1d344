"""WaiverVersion: a race's waiver text, immutable once written; editing makes a new version."""
from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


def waiver_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class WaiverVersion(Base):
    __tablename__ = "waiver_versions"
    __table_args__ = (UniqueConstraint("race_id", "number", name="uq_waiver_versions_race_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, 3… per race
    # The language this text is written in: a race may keep its waiver in several, and a runner signs the
    # one they read (the signed version keeps its text, its language and its digest).
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<WaiverVersion race={self.race_id} v{self.number}>"
