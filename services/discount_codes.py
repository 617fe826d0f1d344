"""An organizer's discount codes: how each has been used, and the rules for making, changing or deleting one.

Whether a buyer may use a code is services/discounts.py's question; this module answers the
organizer's: how many uses are paid and held, what they brought in, and what may still change.
The code form (blueprints/manage/forms.py) parses what was typed into model values; the rules that
need the database (one code per race whatever its case, what may change once a code is used, a
limit never below the uses taken) are here, and each change below is a use case that commits.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import case, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from models import DiscountCode, DiscountKind, Order, OrderStatus, Race
from models.discount import normalize_code
from models.order import holding_at
from services.money import format_money


class CodeInUse(Exception):
    """A code orders have used can't be deleted (the orders keep pointing at it); deactivate it instead."""


class CodeRefused(Exception):
    """The code breaks at least one rule; `problems` maps each form field to its message. Nothing changed."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(next(iter(problems.values())))
        self.problems = problems


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
    held = holding_at(now)
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


# --- making and changing codes ----------------------------------------------------------------

def code_problems(session: Session, race: Race, values: Mapping, *, editing: DiscountCode | None = None,
                  usage: CodeUsage | None = None) -> dict[str, str]:
    """What is wrong with a code's values (those the form could parse) beyond their shape, by form field.

    A code orders have used keeps its name, discount and tickets (those orders were priced with them);
    its window, limit and activity may still change.
    """
    usage = usage or CodeUsage()
    locked = editing is not None and usage.ever_used
    problems: dict[str, str] = {}
    if "code" in values:
        normalized = normalize_code(values["code"])
        query = select(DiscountCode.code).where(DiscountCode.race_id == race.id,
                                                DiscountCode.code_normalized == normalized)
        if editing is not None:
            query = query.where(DiscountCode.id != editing.id)
        taken = session.scalar(query)
        if taken is not None:
            problems["code"] = _("This race already has the code %(code)s. Codes ignore upper and lower case, "
                                 "so pick another one.", code=taken)
        elif locked and normalized != editing.code_normalized:
            problems["code"] = _("%(code)s has been used, so it can't be renamed. Make a new code instead.", code=editing.code)
    if locked and "kind" in values and (values["kind"] != editing.kind or values["percent_off"] != editing.percent_off
                                        or values["amount_off"] != editing.amount_off):
        problems["value"] = _("%(code)s has been used, so its discount can't change. "
                              "Deactivate it and make a new code instead.", code=editing.code)
    if locked and "ticket_type_id" in values and values["ticket_type_id"] != editing.ticket_type_id:
        problems["ticket_type"] = _("%(code)s has been used, so the tickets it applies to can't change.", code=editing.code)
    if values.get("max_uses") is not None and values["max_uses"] < usage.taken:
        problems["max_uses"] = ngettext("%(num)d use is already paid or in checkout; the limit can't go below that.",
                                         "%(num)d uses are already paid or in checkout; the limit can't go below that.",
                                         usage.taken)
    return problems


def _refuse(session: Session, form_problems: Mapping[str, str] | None, problems: dict[str, str]) -> None:
    """Refuse the form's problems and the rules' together, a field's shape problem before its rule."""
    form_problems = dict(form_problems or {})
    problems = {**form_problems, **{k: v for k, v in problems.items() if k not in form_problems}}
    if problems:
        session.rollback()
        raise CodeRefused(problems)


def _commit(session: Session, values: Mapping) -> None:
    try:
        session.commit()
    except IntegrityError:  # the same code made a moment ago in another tab
        session.rollback()
        raise CodeRefused({"code": _("This race already has the code %(code)s. Pick another one.",
                                     code=values["code"])}) from None


def create_code(session: Session, race: Race, values: Mapping, *,
                form_problems: Mapping[str, str] | None = None) -> DiscountCode:
    """Make a discount code from the form's values. Commits, or raises CodeRefused with every problem."""
    _refuse(session, form_problems, code_problems(session, race, values))
    code = DiscountCode(race_id=race.id, **values)
    session.add(code)
    _commit(session, values)
    return code


def save_code(session: Session, race: Race, code: DiscountCode, values: Mapping, now: datetime, *,
              form_problems: Mapping[str, str] | None = None) -> None:
    """Change a code. Commits, or raises CodeRefused with every problem."""
    usage = code_usage(session, race, now).get(code.id, CodeUsage())
    _refuse(session, form_problems, code_problems(session, race, values, editing=code, usage=usage))
    for name, value in values.items():
        setattr(code, name, value)
    _commit(session, values)


def set_active(session: Session, code: DiscountCode, active: bool) -> None:
    """Switch a code off (buyers can no longer apply it) or on again. Commits."""
    code.active = active
    session.commit()


def delete_code(session: Session, code: DiscountCode) -> None:
    """Delete a code nobody has used; carts that had it applied simply lose it. Commits, or raises CodeInUse.

    The carts lose it first: that waits for a checkout making one of them a payment at this moment, whose order then
    counts as a use. Those carts are locked first in the order of their ids, as a sign-in's merge locks carts
    (services/guest_carts.py), so the two never wait on each other. An order that took the code after that look
    (applied, or applied and paid, in the same instant) still refuses the delete, at its foreign key."""
    having = (Order.discount_code_id == code.id, Order.status == OrderStatus.CART)
    carts = list(session.scalars(select(Order.id).where(*having).order_by(Order.id).with_for_update()))
    session.execute(update(Order).where(Order.id.in_(carts), *having).values(discount_code_id=None))
    if is_used(session, code):
        session.rollback()
        raise CodeInUse(code.code)
    try:
        session.delete(code)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise CodeInUse(code.code) from None


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
