"""Money as integer minor units plus a currency; formatting happens only at the edge."""
from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision

LOCALE = "en_US"

# The currencies an organizer can pick; Stripe supports all of them.
CURRENCIES = ["USD", "EUR", "GBP", "CAD", "AUD", "NZD", "CHF", "SEK", "NOK", "DKK", "JPY", "MXN",
              "BRL", "PEN", "INR", "SGD", "ZAR"]


def minor_digits(currency: str) -> int:
    return get_currency_precision(currency)


def format_money(amount: int, currency: str) -> str:
    """1250, "USD" → "$12.50"; 1250, "JPY" → "¥1,250"."""
    digits = minor_digits(currency)
    value = Decimal(amount).scaleb(-digits)
    return format_currency(value, currency, locale=LOCALE, currency_digits=True)


def to_minor(text: str, currency: str) -> int:
    """"12.5" → 1250 for USD. Raises ValueError for anything that is not a plain amount."""
    digits = minor_digits(currency)
    value = Decimal(text.strip().replace(",", ""))
    if not value.is_finite():
        raise ValueError("not a number")
    scaled = value.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{currency} has {digits} decimal places")
    return int(scaled)


def money_text(amount: int, currency: str) -> str:
    """Minor units as an editable amount: 4500 USD → "45.00" (the inverse of `to_minor`)."""
    digits = minor_digits(currency)
    return f"{amount / 10 ** digits:.{digits}f}" if digits else str(amount)
