"""WaitlistEntry: someone waiting for a sold-out ticket type, and the offer the waitlist made them."""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow
from models.race import _enum


class WaitlistStatus(enum.StrEnum):
    WAITING = "waiting"      # in line
    OFFERED = "offered"      # spots held for them until offer_expires_at (also after Accept put them in a cart)
    ACCEPTED = "accepted"    # their order reserved the spots: the order holds them now
    DECLINED = "declined"    # said no to the offer
    EXPIRED = "expired"      # the offer lapsed
    REMOVED = "removed"      # taken off the list by an organizer
    LEFT = "left"            # left the list by their link


class WaitlistEntry(Base):
    """One person's place in line for one ticket type. `created_at` is the position: earlier is first.

    While OFFERED and `offer_expires_at` is ahead, `offered_spots` count against the ticket type's
    capacity exactly like a pending order (services/inventory.py).
    """

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        CheckConstraint("spots >= 1 AND spots <= 4", name="spots_range"),
        CheckConstraint("offered_spots >= 0 AND offered_spots <= spots", name="offered_spots_range"),
        Index("ix_waitlist_entries_line", "ticket_type_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id", ondelete="CASCADE"), index=True)
    ticket_type_id: Mapped[int] = mapped_column(ForeignKey("ticket_types.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))     # stored lower-case: duplicates are found by it
    name: Mapped[str] = mapped_column(String(120))
    spots: Mapped[int] = mapped_column(Integer)
    status: Mapped[WaitlistStatus] = mapped_column(_enum(WaitlistStatus, "waitlist_status"),
                                                   default=WaitlistStatus.WAITING)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    offered_at: Mapped[datetime | None]
    offer_expires_at: Mapped[datetime | None]
    offered_spots: Mapped[int] = mapped_column(Integer, default=0)
    nonce: Mapped[str] = mapped_column(String(32))      # in every link; a new offer gets a new one
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="SET NULL"),
                                                       index=True)   # the cart Accept filled

    def __repr__(self) -> str:
        return f"<WaitlistEntry {self.id} {self.email} {self.status}>"
