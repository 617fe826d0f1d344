"""Whether a discount code may be used: lookup, validity window, ticket type, uses held."""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

from babel.dates import format_datetime
from flask_babel import gettext as _
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session, joinedload

from models import DiscountCode, Order, OrderStatus, Race, Registration
from models.discount import CODE_MAX_LENGTH, normalize_code
from models.order import holding_at
from services.languages import current_language
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
    return or_(Order.status == OrderStatus.PAID, holding_at(now))


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
            raise CodeRefused(_("%(code)s isn't a code for this race.", code=normalized))
        raise CodeRefused(_("We don't know the code %(code)s.", code=normalized))

    name = code.code
    if not code.active:
        raise CodeRefused(_("%(code)s is no longer active.", code=name))
    if code.starts_at is not None and now < code.starts_at:
        raise CodeRefused(_("%(code)s works from %(when)s.", code=name, when=_moment(code.starts_at, race, now)))
    if code.ends_at is not None and now >= code.ends_at:
        raise CodeRefused(_("%(code)s expired on %(when)s.", code=name,
                                when=_moment(code.ends_at, race, now, end=True)))

    order = lines_or_order if isinstance(lines_or_order, Order) else None
    if order is not None and order.race_id != race.id:
        raise ValueError("the order belongs to another race")
    if code.ticket_type_id is not None:
        in_cart = (_ticket_types_in_order(session, order) if order is not None
                   else {line.ticket_type_id for line in lines_or_order if line.quantity > 0})
        if code.ticket_type_id not in in_cart:
            raise CodeRefused(_("%(code)s only applies to %(name)s tickets.", code=name, name=code.ticket_type.name))

    if code.max_uses is not None:
        held = uses_held(session, [code.id], now, excluding_order_id=order.id if order is not None else None)
        if held.get(code.id, 0) >= code.max_uses:
            raise CodeRefused(_("%(code)s has been used up.", code=name))
    return code


def _clean(code_text: str | None) -> str:
    """The code as typed, trimmed, or CodeRefused when it cannot be a code at all."""
    text = (code_text or "").strip()
    if not text:
        raise CodeRefused(_("Enter a code."))
    if len(text) > CODE_MAX_LENGTH:
        raise CodeRefused(_("That is too long for a code (codes have at most %(max)d characters).", max=CODE_MAX_LENGTH))
    # Control, format, private-use and unassigned characters: pasted junk, never part of a code.
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise CodeRefused(_("Codes contain only letters, digits, spaces and punctuation."))
    return text


def _ticket_types_in_order(session: Session, order: Order) -> set[int]:
    return set(session.scalars(select(Registration.ticket_type_id).where(Registration.order_id == order.id)
                               .distinct()))


def _moment(when: datetime, race: Race, now: datetime, *, end: bool = False) -> str:
    """A date the buyer reads in the race's timezone and the page's language: "3 Mar", "3 Mar 2027", "3 Mar, 18:00".

    An end at local midnight is the end of the day before: a code that ends at 00:00 on
    4 Mar expired on 3 Mar.
    """
    local = when.astimezone(race.tz)
    at_midnight = (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)
    if end and at_midnight:
        local -= timedelta(days=1)
    pattern = "d MMM" + (" y" if local.year != now.astimezone(race.tz).year else "")
    return format_datetime(local, pattern + ("" if at_midnight else ", HH:mm"), locale=current_language())
