"""StripeEvent: the ids of Stripe events already handled, so a repeated delivery changes nothing."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class StripeEvent(Base):
    __tablename__ = "stripe_events"

    # Stripe's own id (evt_…): the primary key is the unique constraint that makes handling idempotent.
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    outcome: Mapped[str] = mapped_column(String(200), default="")  # what we did, for the log and support
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class CheckoutSession(Base):
    """Every payment page ever opened for an order: a late payment on an old one still finds its order."""

    __tablename__ = "checkout_sessions"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # cs_… from Stripe, test_… from the test gateway
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
