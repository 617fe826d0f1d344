"""Refund: money sent back for a whole order or some of its tickets, and how far it has got."""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow
from models.race import _enum


class RefundStatus(enum.StrEnum):
    PENDING = "pending"      # the gateway accepted it; waiting for Stripe's charge.refunded to say it is done
    COMPLETED = "completed"  # the money went back: the tickets it covers are refunded, their spots free
    FAILED = "failed"        # the gateway refused; nothing went back and the tickets may be refunded again


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id"), index=True)
    status: Mapped[RefundStatus] = mapped_column(_enum(RefundStatus, "refund_status"), default=RefundStatus.PENDING)
    # The whole order (everything still paid for), or only the tickets linked by Registration.refund_id.
    whole_order: Mapped[bool] = mapped_column(default=False)
    amount: Mapped[int] = mapped_column(Integer)        # minor units of the order's currency
    tax: Mapped[int] = mapped_column(Integer, default=0)  # the part of `amount` that was tax
    # The gateway's id for it (re_… from Stripe, test_refund_… from the test gateway); empty until it answers.
    gateway_refund_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    # Who asked (an organizer); none when the refund was made outside Startline, e.g. in Stripe's Dashboard.
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("profiles.id", ondelete="SET NULL"))
    error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<Refund {self.id} {self.status} {self.amount}>"
