"""Text search as people type it: the one LIKE pattern every search box uses, on the rows' folded search keys."""
from __future__ import annotations

from models.search_key import folded

LIKE_ESCAPE = "\\"


def contains_pattern(term: str) -> str:
    """A LIKE pattern matching `term` anywhere, with % and _ taken literally (use escape=LIKE_ESCAPE)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def matches(search_key_column, term: str):
    """SQL condition: the row's search key contains `term`, whatever its case or accents, on any database."""
    return search_key_column.like(contains_pattern(folded(term)), escape=LIKE_ESCAPE)
