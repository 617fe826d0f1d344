"""Money formatting and parsing, and Markdown sanitizing, without HTTP."""
import re

import pytest

from services.markdown import render_markdown
from services.money import CURRENCIES, format_money, to_minor, with_currency_spacing


@pytest.mark.parametrize("amount, currency, text", [
    (1250, "USD", "$12.50"), (0, "USD", "$0.00"), (1250, "JPY", "¥1,250"),
    (123456, "EUR", "€1,234.56"), (15050, "PEN", "PEN\u00a0150.50"), (950, "CHF", "CHF\u00a09.50"),
    (-15050, "PEN", "-PEN\u00a0150.50"), (1250, "MXN", "MX$12.50"),
])
def test_format_money(amount, currency, text):
    assert format_money(amount, currency) == text


@pytest.mark.parametrize("currency", CURRENCIES)
def test_no_currency_runs_its_letters_into_the_digits(currency):
    """CLDR's currency spacing: "PEN150.00" reads as one word; "$150.00" and "PEN 150.00" don't."""
    text = format_money(123456, currency)
    assert not re.search(r"[A-Za-z]\d|\d[A-Za-z]", text), text


def test_a_symbol_written_after_the_amount_is_spaced_too():
    assert with_currency_spacing("150.00PEN", "PEN") == "150.00\u00a0PEN"
    assert with_currency_spacing("150.00€", "€") == "150.00€"


@pytest.mark.parametrize("text, currency, minor", [
    ("12.50", "USD", 1250), ("12.5", "USD", 1250), ("1,250", "JPY", 1250), ("0", "EUR", 0),
])
def test_to_minor(text, currency, minor):
    assert to_minor(text, currency) == minor


@pytest.mark.parametrize("text, currency", [("12.505", "USD"), ("1.5", "JPY"), ("abc", "USD"),
                                            ("NaN", "USD"), ("Infinity", "USD"), ("1e999999999", "USD"),
                                            ("١٢", "USD"), ("²", "USD"), ("1" * 40, "USD")])
def test_to_minor_rejects_what_is_not_an_amount(text, currency):
    with pytest.raises((ValueError, ArithmeticError)):
        to_minor(text, currency)


def test_markdown_keeps_formatting_and_drops_active_content():
    html = render_markdown("# Hi\n\n<iframe src=x></iframe>\n\n[x](data:text/html,boo)")
    assert "<h1>Hi</h1>" in html
    assert "<iframe" not in html
    assert 'href="data:' not in html
