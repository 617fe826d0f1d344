"""DiscountCode: a race's percent-off or amount-off code, with its window and use limit."""
from __future__ import annotations

import enum
import unicodedata
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from models.base import Base, utcnow
from models.race import Race, TicketType, _enum

CODE_MAX_LENGTH = 64


def normalize_code(text: str) -> str:
    """The form codes are matched in: Unicode-normalized, trimmed, upper-cased ("  friends " → "FRIENDS")."""
    return unicodedata.normalize("NFKC", text).strip().upper()


class DiscountKind(enum.StrEnum):
    PERCENT = "percent"
    AMOUNT = "amount"


class DiscountCode(Base):
    __tablename__ = "discount_codes"
    __table_args__ = (
        UniqueConstraint("race_id", "code_normalized", name="uq_discount_codes_race_code"),
        CheckConstraint(
            "(kind = 'percent' AND percent_off IS NOT NULL AND amount_off IS NULL)"
            " OR (kind = 'amount' AND amount_off IS NOT NULL AND percent_off IS NULL)",
            name="one_value_matching_kind"),
        CheckConstraint("percent_off IS NULL OR (percent_off >= 1 AND percent_off <= 100)",
                        name="percent_off_range"),
        CheckConstraint("amount_off IS NULL OR amount_off >= 1", name="amount_off_positive"),
        CheckConstraint("max_uses IS NULL OR max_uses >= 0", name="max_uses_not_negative"),
        CheckConstraint("starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at", name="window_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(CODE_MAX_LENGTH))             # as the organizer typed it
    code_normalized: Mapped[str] = mapped_column(String(CODE_MAX_LENGTH))  # set from `code`, see below
    kind: Mapped[DiscountKind] = mapped_column(_enum(DiscountKind, "discount_kind"))
    percent_off: Mapped[int | None] = mapped_column(Integer)  # 1..100
    amount_off: Mapped[int | None] = mapped_column(Integer)   # minor units of race.currency
    # Only tickets of this type are discounted; a code for a deleted type goes with it.
    ticket_type_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_types.id", ondelete="CASCADE"),
                                                       index=True)
    starts_at: Mapped[datetime | None]  # UTC, inclusive
    ends_at: Mapped[datetime | None]    # UTC, exclusive
    max_uses: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    race: Mapped[Race] = relationship(lazy="raise")
    ticket_type: Mapped[TicketType | None] = relationship(lazy="raise")

    @validates("code")
    def _keep_normalized_in_step(self, key, value):
        self.code_normalized = normalize_code(value)
        return value.strip()

    def __repr__(self) -> str:
        return f"<DiscountCode {self.code}>"
