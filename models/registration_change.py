"""RegistrationChange: a ticket moving to another runner (a transfer) or to another distance, and its payment."""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow
from models.race import _enum


class ChangeKind(enum.StrEnum):
    TRANSFER = "transfer"    # to another runner: new name and email
    DISTANCE = "distance"    # to another ticket type of the same race


class ChangeStatus(enum.StrEnum):
    PENDING = "pending"            # waiting for its fee or price difference to be paid
    APPLIED = "applied"            # done
    CANCELED = "canceled"          # its payment page closed unpaid
    NEEDS_REFUND = "needs_refund"  # paid, but it could no longer be made (full, deadline passed): money goes back


class RegistrationChange(Base):
    __tablename__ = "registration_changes"
    __table_args__ = (
        # One change in flight per ticket: a second one waits until the first is paid or closed.
        Index("uq_registration_changes_one_pending", "registration_id", unique=True,
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id"), index=True)
    kind: Mapped[ChangeKind] = mapped_column(_enum(ChangeKind, "change_kind"))
    status: Mapped[ChangeStatus] = mapped_column(_enum(ChangeStatus, "change_status"), default=ChangeStatus.PENDING)
    # A transfer: who the ticket goes to.
    new_first_name: Mapped[str] = mapped_column(String(100), default="")
    new_last_name: Mapped[str] = mapped_column(String(100), default="")
    new_email: Mapped[str] = mapped_column(String(320), default="")
    # A distance change: from which ticket type to which.
    old_ticket_type_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_types.id"))
    new_ticket_type_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_types.id"))
    # What it costs (a fee, or the price difference; negative: the cheaper distance's difference).
    amount: Mapped[int] = mapped_column(Integer, default=0)
    # The order that pays it (kind "change"), when there is something to pay.
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    # A cheaper distance's difference going back (its latest try): the status page and the order page read it.
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id", ondelete="SET NULL"), index=True)
    # Who asked: a signed-in profile, or a description ("the runner, by their emailed link").
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("profiles.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(200), default="")
    # The ticket code the transfer retired: its page then says "transferred" instead of a plain 404.
    old_ticket_code: Mapped[str | None] = mapped_column(String(40), index=True)
    problem: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<RegistrationChange {self.id} {self.kind} {self.status}>"
