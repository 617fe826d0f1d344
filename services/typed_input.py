"""Reading what people type into numbers without surprises: one rule for every form and query string."""
from __future__ import annotations


def is_whole_number(text: str, max_digits: int = 12) -> bool:
    """ASCII digits only, and not too many: str.isdigit() also says yes to "²" and "١٢", which int()
    refuses or misreads, and a 100,000-digit string costs int() real time."""
    return bool(text) and len(text) <= max_digits and text.isascii() and text.isdigit()
