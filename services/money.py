"""Money as integer minor units plus a currency; formatting happens only at the edge."""
from __future__ import annotations

import functools
import re
import unicodedata
from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision, get_currency_symbol

from services.languages import current_language

PLAIN_AMOUNT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")

# The currencies an organizer can pick; Stripe supports all of them.
CURRENCIES = ["USD", "EUR", "GBP", "CAD", "AUD", "NZD", "CHF", "SEK", "NOK", "DKK", "JPY", "MXN",
              "BRL", "PEN", "INR", "SGD", "ZAR"]


def minor_digits(currency: str) -> int:
    return get_currency_precision(currency)


def format_money(amount: int, currency: str, language: str | None = None) -> str:
    """1250, "USD" → "$12.50"; 1250, "JPY" → "¥1,250"; 15000, "PEN" → "PEN 150.00" (a no-break space); in
    Spanish 1250, "USD" → "12,50 US$". In `language`, else the one being written now."""
    return _format_money(amount, currency, language or current_language())


@functools.lru_cache(maxsize=4096)
def _format_money(amount: int, currency: str, language: str) -> str:
    """Kept per amount, currency and language: Babel's formatting is some 25 µs a call, and a page shows the
    same few prices."""
    locale = "en_US" if language == "en" else language
    digits = minor_digits(currency)
    value = Decimal(amount).scaleb(-digits)
    text = format_currency(value, currency, locale=locale, currency_digits=True)
    return with_currency_spacing(text, get_currency_symbol(currency, locale=locale))


def with_currency_spacing(text: str, symbol: str) -> str:
    """Babel's standard pattern with CLDR's currency spacing, which Babel does not apply.

    CLDR puts a no-break space between a currency symbol and the digits when the symbol's side that
    touches them is not itself a symbol: "PEN 150.00", "CHF 9.50", but "$12.50" and "MX$12.50".
    """
    start = text.find(symbol)
    if start < 0:
        return text
    end = start + len(symbol)
    if end < len(text) and text[end].isdigit() and not _is_symbol_mark(symbol[-1]):
        return f"{text[:end]}\u00a0{text[end:]}"
    if start > 0 and text[start - 1].isdigit() and not _is_symbol_mark(symbol[0]):
        return f"{text[:start]}\u00a0{text[start:]}"
    return text


def _is_symbol_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("S") or char.isspace()


def to_minor(text: str, currency: str) -> int:
    """"12.5" → 1250 for USD. Raises ValueError for anything that is not a plain amount."""
    digits = minor_digits(currency)
    plain = text.strip().replace(",", "")
    # Plain ASCII decimals only, and short: Decimal would also take "1e999999999" (which int() then
    # spends minutes on), "١٢" or "NaN".
    if len(plain) > 20 or not PLAIN_AMOUNT.fullmatch(plain):
        raise ValueError("not a plain amount")
    value = Decimal(plain)
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
