"""RaceOrganizer: who may manage a race (its owner and invited co-organizers)."""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.profile import Profile
from models.race import _enum


class OrganizerRole(enum.StrEnum):
    OWNER = "owner"
    CO_ORGANIZER = "co_organizer"


class RaceOrganizer(Base):
    __tablename__ = "race_organizers"
    __table_args__ = (UniqueConstraint("race_id", "profile_id", name="uq_race_organizers_race_profile"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id", ondelete="CASCADE"), index=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    role: Mapped[OrganizerRole] = mapped_column(_enum(OrganizerRole, "organizer_role"), default=OrganizerRole.OWNER)
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("profiles.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    profile: Mapped[Profile] = relationship(foreign_keys=[profile_id], lazy="raise")
