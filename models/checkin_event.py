"""CheckInEvent: one check-in or undo as a device made it (offline perhaps), kept so a resent one counts once."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class CheckInEvent(Base):
    """A tap at the desk or a synced item from a phone. A registration's state is the fold of its applied
    events in device-time order (services/registrants/checkin_sync.py); refused items are kept too, so
    the same item sent again gets the same answer."""

    __tablename__ = "checkin_events"
    # A device's id is its own within the race it syncs to: another race's organizer can't take it up.
    __table_args__ = (Index("ix_checkin_events_registration_at", "registration_id", "device_at"),
                      UniqueConstraint("race_id", "client_id", name="uq_checkin_events_race_client"))

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # made by the device (or the server, at the desk)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id", ondelete="CASCADE"), index=True)
    # None for an item whose code names no ticket of this race.
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    ticket_code: Mapped[str] = mapped_column(String(100), default="")
    action: Mapped[str] = mapped_column(String(20))           # "check_in" or "undo"
    device_at: Mapped[datetime]                                # the device's time, clamped to a sane window
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    profile_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("profiles.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(20), default="sync")  # "sync", "desk" or "before" (a check-in older
    # than the events, folded in as one)
    outcome: Mapped[str] = mapped_column(String(40))           # what the device was told: see checkin_sync.OUTCOMES
    message: Mapped[str] = mapped_column(String(300), default="")

    @property
    def applied(self) -> bool:
        """Whether this event takes part in the fold (a refused item does not)."""
        return self.outcome != "refused"

    def __repr__(self) -> str:
        return f"<CheckInEvent {self.client_id} {self.action} {self.outcome}>"
