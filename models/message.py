"""RaceMessage: an organizer's email to a race's runners; MessageUnsubscribe: who asked for no more of them."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class RaceMessage(Base):
    """One sent message: what it said, to whom, and one outbox row per recipient (OutboxMessage.message_id)."""

    __tablename__ = "race_messages"
    # The compose form's key: a second click on Send finds the first click's message instead of sending again.
    __table_args__ = (UniqueConstraint("race_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id", ondelete="CASCADE"), index=True)
    sender_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("profiles.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # Markdown, rendered safely as the race description is
    # The filters as chosen: {"source": "registrants", "ticket_type_id": 3, "checked_in": "no", "details": ""}
    audience: Mapped[dict] = mapped_column(JSON, default=dict)
    essential: Mapped[bool] = mapped_column(Boolean, default=False)  # sent to the unsubscribed too, no link
    recipient_count: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<RaceMessage {self.id} {self.subject!r}>"


class MessageUnsubscribe(Base):
    """An address that wants no more non-essential messages from one race (stored folded to lowercase)."""

    __tablename__ = "message_unsubscribes"
    __table_args__ = (UniqueConstraint("race_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
