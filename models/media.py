"""RaceMedia: an image stored for a race (its cover or a gallery picture) and where it lives."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow
from models.race import _enum


class MediaKind(enum.StrEnum):
    COVER = "cover"
    GALLERY = "gallery"


class RaceMedia(Base):
    __tablename__ = "race_media"

    id: Mapped[int] = mapped_column(primary_key=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id", ondelete="CASCADE"), index=True)
    kind: Mapped[MediaKind] = mapped_column(_enum(MediaKind, "media_kind"))
    # Where the processed image is stored, e.g. "races/12/<uuid>.webp"; never a user's file name.
    storage_key: Mapped[str] = mapped_column(String(300), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)  # size of the stored file
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<RaceMedia {self.kind} {self.storage_key}>"
