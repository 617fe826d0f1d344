"""DuplicatePayment: a second payment for an order another payment had already paid, and its refund."""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow
from models.race import _enum


class DuplicatePaymentStatus(enum.StrEnum):
    TO_REFUND = "to_refund"  # recorded; nobody has asked Stripe to send it back yet
    PENDING = "pending"      # Stripe accepted the refund; waiting for it to say the money went back
    REFUNDED = "refunded"    # all of it went back to the buyer
    FAILED = "failed"        # Stripe refused or could not send it back: the organizer must refund it


class DuplicatePayment(Base):
    """The buyer paid twice (two tabs, or a retry that opened a new Checkout Session): the order keeps
    one payment and this one is sent back whole. Never lost silently (DESIGN.md, invariant 2)."""

    __tablename__ = "duplicate_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id"), index=True)
    # Unique: however many events tell of this payment, it is recorded (and refunded) once.
    payment_intent_id: Mapped[str] = mapped_column(String(255), unique=True)
    checkout_session_id: Mapped[str] = mapped_column(String(255), default="")
    amount: Mapped[int] = mapped_column(Integer)  # minor units of `currency`, what Stripe took
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[DuplicatePaymentStatus] = mapped_column(_enum(DuplicatePaymentStatus, "duplicate_payment_status"),
                                                           default=DuplicatePaymentStatus.TO_REFUND, index=True)
    gateway_refund_id: Mapped[str] = mapped_column(String(255), default="")
    # Who asked for the refund; none when Startline refunded it on its own as soon as it came.
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("profiles.id", ondelete="SET NULL"))
    error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    refunded_at: Mapped[datetime | None]

    @property
    def open(self) -> bool:
        """Still the organizer's business: not refunded yet."""
        return self.status != DuplicatePaymentStatus.REFUNDED

    @property
    def refundable(self) -> bool:
        """Nobody has a refund of it on its way: it may be asked for (again)."""
        return self.status in (DuplicatePaymentStatus.TO_REFUND, DuplicatePaymentStatus.FAILED)
