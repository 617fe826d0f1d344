"""OutboxMessage: an email waiting to be sent, written in the same transaction as its cause."""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow
from models.race import _enum


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"      # waiting for next_attempt_at
    SENDING = "sending"    # claimed by a worker until next_attempt_at (its lease)
    SENT = "sent"
    FAILED = "failed"      # permanently refused, or out of retries; an organizer may retry it


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    # The worker's only question is "what is due?": status and time, in that order.
    __table_args__ = (Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(500))   # "ann@example.com" or "Ann <ann@example.com>"
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    # [{"filename", "content_type", "data" (base64), "content_id" (inline images only)}]
    attachments: Mapped[list[dict]] = mapped_column(JSON, default=list)
    kind: Mapped[str] = mapped_column(String(40))          # order_confirmation, ticket, refund_notice, …
    # The language the message was written in, chosen for its recipient when it was queued.
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    race_id: Mapped[int | None] = mapped_column(ForeignKey("races.id", ondelete="SET NULL"), index=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    # The organizer's message this is one copy of (services/messages/), so its counts are one GROUP BY.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("race_messages.id", ondelete="CASCADE"), index=True)
    # Headers beyond From/To/Subject, from services/mail/outbox.EXTRA_HEADERS: Reply-To, List-Unsubscribe, …
    headers: Mapped[dict | None] = mapped_column(JSON)
    sender_name: Mapped[str | None] = mapped_column(String(200))  # shown in From instead of the site's name
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, "outbox_status"), default=OutboxStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.kind} {self.status}>"
