"""What an order costs: subtotal, discount, tax and total, worked out in one place.

The cart page, the checkout (Stripe line items and coupon) and the webhook all price an order
through `quote`, so they can never disagree. Everything is an integer in minor units of the
race's currency (cents, or whole yen for JPY); no floats are involved anywhere.

The rules, each chosen so the per-line figures add up exactly to the totals:

- A line is one ticket type at one unit price; its subtotal is unit price × quantity. Which
  unit price a ticket has (a ticket type's price steps: early bird, regular, late) is decided
  by services/price_tiers.py and stored on the ticket; a discount applies on top of it.
- Percent off is computed per line, on the line subtotal, rounded half-up to a minor unit
  (33 % off 999 is 329.67, so 330). A 100 % code makes every eligible line cost 0.
- Amount off is capped at the eligible subtotal (the lines of the code's ticket type, or all
  lines), then spread across the eligible lines in proportion to their subtotals, each share
  rounded down; the few minor units left over go to the largest line (ties: the first). If
  that line has no room left (only possible with lines of a few minor units), the rest goes
  to the next largest line, and so on. Line discounts therefore sum exactly to the discount,
  and no line is discounted below 0.
- The discount never exceeds the eligible subtotal, so no total is ever negative.
- Exclusive tax (added on top): per line, rate × (line subtotal − line discount), rounded
  half-up. Stripe rounds tax per line item too, so a line item sent as its discounted
  amount gets the same tax from Stripe as from us.
- Inclusive tax (contained in the price): per line, the tax part of the discounted amount,
  amount − amount / (1 + rate) = amount × rate / (1 + rate), rounded half-up. The total is
  unchanged by tax.
- Stripe Tax: the tax is calculated by Stripe at checkout; until it says, tax is 0, the quote
  is marked `tax_pending` ("calculated at checkout") and the total excludes it.
- No tax: tax is 0.
- The tax rate is in basis points (8.25 % is 825), so every rounding is exact integer math.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import DiscountCode, DiscountKind, Order, Race, Registration, TaxMode, TicketType


@dataclass(frozen=True)
class Line:
    """Tickets of one type at one unit price, as they go into a quote."""

    ticket_type_id: int
    name: str
    unit_price: int
    quantity: int


@dataclass(frozen=True)
class Discount:
    """The part of a discount code pricing needs: exactly one of percent_off / amount_off."""

    percent_off: int | None = None
    amount_off: int | None = None
    ticket_type_id: int | None = None  # only lines of this type are discounted
    code: str = ""                     # for display

    def __post_init__(self):
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValueError("a discount is either percent_off or amount_off")
        if self.percent_off is not None and not 1 <= self.percent_off <= 100:
            raise ValueError("percent_off must be 1..100")
        if self.amount_off is not None and self.amount_off < 1:
            raise ValueError("amount_off must be positive")

    @classmethod
    def from_code(cls, code: DiscountCode) -> Discount:
        if code.kind == DiscountKind.PERCENT:
            return cls(percent_off=code.percent_off, ticket_type_id=code.ticket_type_id, code=code.code)
        return cls(amount_off=code.amount_off, ticket_type_id=code.ticket_type_id, code=code.code)

    def applies_to(self, ticket_type_id: int) -> bool:
        return self.ticket_type_id is None or self.ticket_type_id == ticket_type_id


@dataclass(frozen=True)
class QuoteLine:
    ticket_type_id: int
    name: str
    unit_price: int
    quantity: int
    subtotal: int   # unit_price × quantity
    discount: int   # this line's share of the discount
    tax: int        # this line's tax (contained in the amount when tax is inclusive)
    total: int      # what the buyer pays for this line

    @property
    def discounted(self) -> int:
        """Line subtotal after the discount (Stripe's amount for this line item, before tax)."""
        return self.subtotal - self.discount


@dataclass(frozen=True)
class Quote:
    currency: str
    lines: tuple[QuoteLine, ...]
    subtotal: int
    discount: int
    tax: int
    total: int
    tax_mode: TaxMode
    tax_rate_bps: int
    tax_included: bool   # tax is part of the prices (inclusive): shown as "includes", not added
    tax_pending: bool    # Stripe Tax: "calculated at checkout"; tax stays 0 until Stripe says
    discount_code: str | None = None

    @property
    def is_free(self) -> bool:
        return self.total == 0


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves up (both non-negative)."""
    return (2 * numerator + denominator) // (2 * denominator)


def quote(lines: Sequence[Line], *, currency: str, tax_mode: TaxMode | str, tax_rate_bps: int,
          discount: Discount | None = None) -> Quote:
    """Price `lines` in `currency` under the race's tax setting, with an optional discount."""
    tax_mode = TaxMode(tax_mode)
    if not 0 <= tax_rate_bps <= 10000:
        raise ValueError("tax_rate_bps must be 0..10000")
    for line in lines:
        if line.unit_price < 0 or line.quantity < 0:
            raise ValueError("prices and quantities are never negative")

    subtotals = [line.unit_price * line.quantity for line in lines]
    discounts = _discounts(lines, subtotals, discount)

    quoted = []
    for line, subtotal, line_discount in zip(lines, subtotals, discounts, strict=True):
        amount = subtotal - line_discount
        if tax_mode == TaxMode.EXCLUSIVE:
            tax = round_half_up(amount * tax_rate_bps, 10000)
            total = amount + tax
        elif tax_mode == TaxMode.INCLUSIVE:
            tax = round_half_up(amount * tax_rate_bps, 10000 + tax_rate_bps)
            total = amount
        else:  # none, or Stripe Tax (not known yet)
            tax, total = 0, amount
        quoted.append(QuoteLine(line.ticket_type_id, line.name, line.unit_price, line.quantity,
                                subtotal=subtotal, discount=line_discount, tax=tax, total=total))

    return Quote(
        currency=currency, lines=tuple(quoted),
        subtotal=sum(q.subtotal for q in quoted), discount=sum(q.discount for q in quoted),
        tax=sum(q.tax for q in quoted), total=sum(q.total for q in quoted),
        tax_mode=tax_mode, tax_rate_bps=tax_rate_bps,
        tax_included=tax_mode == TaxMode.INCLUSIVE and tax_rate_bps > 0,
        tax_pending=tax_mode == TaxMode.STRIPE,
        discount_code=discount.code if discount else None,
    )


def _discounts(lines: Sequence[Line], subtotals: list[int], discount: Discount | None) -> list[int]:
    """Each line's share of the discount (see the module docstring for the rules)."""
    shares = [0] * len(lines)
    if discount is None:
        return shares
    eligible = [i for i, line in enumerate(lines) if discount.applies_to(line.ticket_type_id)]

    if discount.percent_off is not None:
        for i in eligible:
            shares[i] = round_half_up(subtotals[i] * discount.percent_off, 100)
        return shares

    eligible_subtotal = sum(subtotals[i] for i in eligible)
    if eligible_subtotal == 0:
        return shares
    amount = min(discount.amount_off, eligible_subtotal)
    for i in eligible:
        shares[i] = amount * subtotals[i] // eligible_subtotal
    left = amount - sum(shares)
    # Fewer minor units are left than there are eligible lines; largest line first.
    for i in sorted(eligible, key=lambda i: -subtotals[i]):
        extra = min(left, subtotals[i] - shares[i])
        shares[i] += extra
        left -= extra
        if not left:
            break
    return shares


def quote_lines(race: Race, lines: Sequence[Line], code: DiscountCode | None = None) -> Quote:
    """Price lines under `race`'s currency and tax setting, with the code if any."""
    return quote(lines, currency=race.currency, tax_mode=race.tax_mode, tax_rate_bps=race.tax_rate_bps,
                 discount=Discount.from_code(code) if code is not None else None)


def order_lines(session: Session, order: Order) -> list[Line]:
    """The order's registrations as lines, in one query, in the race's ticket type order."""
    rows = session.execute(
        select(Registration.ticket_type_id, TicketType.name, Registration.price, func.count(Registration.id))
        .join(TicketType, TicketType.id == Registration.ticket_type_id)
        .where(Registration.order_id == order.id)
        .group_by(Registration.ticket_type_id, TicketType.name, TicketType.position, Registration.price)
        .order_by(TicketType.position, Registration.ticket_type_id, Registration.price)
    )
    return [Line(type_id, name, price, quantity) for type_id, name, price, quantity in rows]


def registration_lines(registrations: Sequence[Registration], prices: Sequence[int]) -> list[Line]:
    """Tickets (ticket types loaded) at the given unit prices as lines, in the order `order_lines` gives."""
    counts: dict[tuple[int, int, int], int] = {}
    names = {}
    for registration, price in zip(registrations, prices, strict=True):
        ticket_type = registration.ticket_type
        key = (ticket_type.position, ticket_type.id, price)
        counts[key] = counts.get(key, 0) + 1
        names[ticket_type.id] = ticket_type.name
    return [Line(type_id, names[type_id], price, n) for (_, type_id, price), n in sorted(counts.items())]


def quote_order(session: Session, order: Order) -> Quote:
    """Price an order from what it holds: its registrations, its race's tax setting, its code.

    One query for the lines; the race and the code come from the session's identity map when
    already loaded (e.g. with joinedload), else one primary-key lookup each. The clock plays no
    part: whether a code may still be used is for services.discounts to decide when it is
    applied and when checkout starts, never at payment time (the webhook must charge what
    the buyer was shown).
    """
    race = session.get(Race, order.race_id)
    code = session.get(DiscountCode, order.discount_code_id) if order.discount_code_id is not None else None
    return quote_lines(race, order_lines(session, order), code)


def store_totals(order: Order, priced: Quote) -> None:
    """Write a quote's totals onto the order (the figures its receipt and stats show)."""
    order.currency = priced.currency
    order.subtotal, order.discount = priced.subtotal, priced.discount
    order.tax, order.total = priced.tax, priced.total
