"""RaceOrganizer: who may manage a race (its owner and invited co-organizers); OrganizerInvite: an invite
sent to an address that has no account yet."""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, Uuid, exists
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

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


# "Does this person organize any race?" (the header's Organize link). Deferred, so lists of profiles don't
# pay for it; the signed-in user's profile is loaded with it undeferred, in the same SELECT (see
# services/auth/access_tokens.profile_for_claims), so no page spends a query of its own on it.
Profile.organizes_races = column_property(
    exists().where(RaceOrganizer.profile_id == Profile.id).correlate_except(RaceOrganizer), deferred=True)


class OrganizerInvite(Base):
    """An invitation to co-organize a race, for an email address nobody has signed up with yet.

    The link's token is stored only as its SHA-256; whoever signs in with the invited address and
    opens the link becomes a co-organizer.
    """

    __tablename__ = "organizer_invites"
    __table_args__ = (UniqueConstraint("race_id", "email", name="uq_organizer_invites_race_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))  # normalized: trimmed, lower-cased
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("profiles.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
