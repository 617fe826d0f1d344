"""An organizer's discount codes: how each has been used, and the rules for changing or deleting one.

Whether a buyer may use a code is services/discounts.py's question; this module answers the
organizer's: how many uses are paid and held, what they brought in, and what may still change.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, exists, func, select, update
from sqlalchemy.orm import Session, joinedload

from models import DiscountCode, DiscountKind, Order, OrderStatus, Race
from services.money import format_money


class CodeInUse(Exception):
    """A code orders have used can't be deleted (the orders keep pointing at it); deactivate it instead."""


@dataclass(frozen=True)
class CodeUsage:
    paid: int = 0         # uses on paid orders
    held: int = 0         # uses held by checkouts in progress
    revenue: int = 0      # what the paid orders with this code paid
    discount: int = 0     # what the code took off them
    ever_used: bool = False  # any order past the cart stage, paid or not

    @property
    def taken(self) -> int:
        """Uses that count against max_uses (the same rule as services.discounts.uses_held)."""
        return self.paid + self.held


def race_codes(session: Session, race: Race) -> list[DiscountCode]:
    """The race's codes, newest first, with their ticket types loaded."""
    return list(session.scalars(select(DiscountCode).options(joinedload(DiscountCode.ticket_type))
                                .where(DiscountCode.race_id == race.id)
                                .order_by(DiscountCode.created_at.desc(), DiscountCode.id.desc())))


def code_usage(session: Session, race: Race, now: datetime) -> dict[int, CodeUsage]:
    """Uses, holds and revenue of every code of the race, in one query."""
    paid = Order.status == OrderStatus.PAID
    held = and_(Order.status == OrderStatus.PENDING, Order.reserved_until > now)
    rows = session.execute(
        select(Order.discount_code_id,
               func.sum(case((paid, 1), else_=0)), func.sum(case((held, 1), else_=0)),
               func.sum(case((paid, Order.total), else_=0)), func.sum(case((paid, Order.discount), else_=0)),
               func.count(Order.id))
        .where(Order.race_id == race.id, Order.discount_code_id.is_not(None), Order.status != OrderStatus.CART)
        .group_by(Order.discount_code_id))
    return {code_id: CodeUsage(int(p or 0), int(h or 0), int(r or 0), int(d or 0), bool(n))
            for code_id, p, h, r, d, n in rows}


def is_used(session: Session, code: DiscountCode) -> bool:
    """Has any order gone past the cart stage with this code (paid, paying, expired, refunded…)?"""
    return bool(session.scalar(select(exists().where(Order.discount_code_id == code.id,
                                                     Order.status != OrderStatus.CART))))


def delete_code(session: Session, code: DiscountCode) -> None:
    """Delete a code nobody has used; carts that had it applied simply lose it. No commit."""
    if is_used(session, code):
        raise CodeInUse(code.code)
    session.execute(update(Order).where(Order.discount_code_id == code.id, Order.status == OrderStatus.CART)
                    .values(discount_code_id=None))
    session.delete(code)


def describe(code: DiscountCode, currency: str) -> str:
    """"20% off", "$5.00 off", "20% off 10K tickets"."""
    value = f"{code.percent_off}% off" if code.kind == DiscountKind.PERCENT else f"{format_money(code.amount_off, currency)} off"
    if code.ticket_type_id is not None:
        value += f" {code.ticket_type.name} tickets"
    return value


def state(code: DiscountCode, now: datetime, usage: CodeUsage) -> str:
    """One word for the list: active, inactive, scheduled, ended or used up."""
    if not code.active:
        return "inactive"
    if code.starts_at is not None and now < code.starts_at:
        return "scheduled"
    if code.ends_at is not None and now >= code.ends_at:
        return "ended"
    if code.max_uses is not None and usage.taken >= code.max_uses:
        return "used up"
    return "active"
