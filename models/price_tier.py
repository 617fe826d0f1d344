"""PriceTier: one step of a ticket type's price over time (early bird, regular, late)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class PriceTier(Base):
    """A price that takes effect on `starts_on` (the race's local day, from its start; the first
    step has none: from the start of sales), for at most `until_sold` tickets when set.

    The rule that picks the step in effect lives in services/price_tiers.py. The first step's price
    is always the ticket type's own `price` (services/price_tier_editing.py keeps them equal).
    """

    __tablename__ = "price_tiers"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("until_sold IS NULL OR until_sold > 0", name="until_sold_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_type_id: Mapped[int] = mapped_column(ForeignKey("ticket_types.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(Integer)  # minor units of the race's currency
    starts_on: Mapped[date | None] = mapped_column(Date)
    until_sold: Mapped[int | None]
    label: Mapped[str] = mapped_column(String(40), default="", server_default="")

    def __repr__(self) -> str:
        return f"<PriceTier {self.ticket_type_id}#{self.position} {self.price}>"
