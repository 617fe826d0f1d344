"""Whether a discount code may be used: lookup, validity window, ticket type, uses held."""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, joinedload

from models import DiscountCode, Order, OrderStatus, Race, Registration
from models.discount import CODE_MAX_LENGTH, normalize_code
from services.pricing import Line


class CodeRefused(Exception):
    """A code the buyer cannot use; `message` is written for them."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def normalize(code: str) -> str:
    """How codes are compared: trimmed and case-insensitive ("  friends\n" → "FRIENDS")."""
    return normalize_code(code)


def holding_use(now: datetime):
    """SQL condition: this order holds a use of its code (paid, or reserved and not expired).

    A cart holds nothing: a use is only held from the moment checkout reserves the order.
    """
    return or_(Order.status == OrderStatus.PAID,
               and_(Order.status == OrderStatus.PENDING, Order.reserved_until > now))


def uses_held(session: Session, code_ids: Iterable[int], now: datetime, *,
              excluding_order_id: UUID | None = None) -> dict[int, int]:
    """Uses held per code id, in one query; codes nobody holds are absent (0)."""
    ids = list(code_ids)
    if not ids:
        return {}
    query = (select(Order.discount_code_id, func.count(Order.id))
             .where(Order.discount_code_id.in_(ids), holding_use(now))
             .group_by(Order.discount_code_id))
    if excluding_order_id is not None:
        query = query.where(Order.id != excluding_order_id)
    return {code_id: count for code_id, count in session.execute(query)}


def check_code(session: Session, race: Race, code_text: str | None, lines_or_order: Sequence[Line] | Order,
               now: datetime, *, lock: bool = False) -> DiscountCode:
    """The race's code that `code_text` names, if the cart may use it now; else CodeRefused.

    `lines_or_order` is the cart: priced lines, or the Order itself (whose own use of the code
    is then not counted against the limit, so checking again at checkout does not refuse it).
    With `lock`, the code's row is locked (SELECT … FOR UPDATE on Postgres) before its uses are
    counted, so the checkout transaction that reserves the order cannot race another one for
    the last use.
    """
    text = _clean(code_text)
    normalized = normalize(text)

    query = (select(DiscountCode).options(joinedload(DiscountCode.ticket_type))
             .where(DiscountCode.race_id == race.id, DiscountCode.code_normalized == normalized))
    if lock:
        query = query.with_for_update(of=DiscountCode)
    code = session.scalars(query).first()
    if code is None:
        elsewhere = session.scalar(select(exists().where(DiscountCode.code_normalized == normalized)))
        if elsewhere:
            raise CodeRefused(f"{normalized} isn't a code for this race.")
        raise CodeRefused(f"We don't know the code {normalized}.")

    name = code.code
    if not code.active:
        raise CodeRefused(f"{name} is no longer active.")
    if code.starts_at is not None and now < code.starts_at:
        raise CodeRefused(f"{name} works from {_moment(code.starts_at, race, now)}.")
    if code.ends_at is not None and now >= code.ends_at:
        raise CodeRefused(f"{name} expired on {_moment(code.ends_at, race, now, end=True)}.")

    order = lines_or_order if isinstance(lines_or_order, Order) else None
    if order is not None and order.race_id != race.id:
        raise ValueError("the order belongs to another race")
    if code.ticket_type_id is not None:
        in_cart = (_ticket_types_in_order(session, order) if order is not None
                   else {line.ticket_type_id for line in lines_or_order if line.quantity > 0})
        if code.ticket_type_id not in in_cart:
            raise CodeRefused(f"{name} only applies to {code.ticket_type.name} tickets.")

    if code.max_uses is not None:
        held = uses_held(session, [code.id], now, excluding_order_id=order.id if order is not None else None)
        if held.get(code.id, 0) >= code.max_uses:
            raise CodeRefused(f"{name} has been used up.")
    return code


def _clean(code_text: str | None) -> str:
    """The code as typed, trimmed, or CodeRefused when it cannot be a code at all."""
    text = (code_text or "").strip()
    if not text:
        raise CodeRefused("Enter a code.")
    if len(text) > CODE_MAX_LENGTH:
        raise CodeRefused(f"That is too long for a code (codes have at most {CODE_MAX_LENGTH} characters).")
    # Control, format, private-use and unassigned characters: pasted junk, never part of a code.
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise CodeRefused("Codes contain only letters, digits, spaces and punctuation.")
    return text


def _ticket_types_in_order(session: Session, order: Order) -> set[int]:
    return set(session.scalars(select(Registration.ticket_type_id).where(Registration.order_id == order.id)
                               .distinct()))


def _moment(when: datetime, race: Race, now: datetime, *, end: bool = False) -> str:
    """A date the buyer reads in the race's timezone: "3 Mar", "3 Mar 2027", "3 Mar, 18:00".

    An end at local midnight is the end of the day before: a code that ends at 00:00 on
    4 Mar expired on 3 Mar.
    """
    local = when.astimezone(race.tz)
    at_midnight = (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)
    if end and at_midnight:
        local -= timedelta(days=1)
    text = f"{local.day} {local:%b}"
    if local.year != now.astimezone(race.tz).year:
        text += f" {local.year}"
    if not at_midnight:
        text += f", {local:%H:%M}"
    return text
