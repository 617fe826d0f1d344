"""Text search as people type it: the one LIKE pattern every search box uses, on the rows' folded search keys."""
from __future__ import annotations

from models.search_key import folded

LIKE_ESCAPE = "\\"


def contains_pattern(term: str) -> str:
    """A LIKE pattern matching `term` anywhere, with % and _ taken literally (use escape=LIKE_ESCAPE)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def typed_pattern(term: str) -> str:
    """The LIKE pattern that finds `term` in a search key: folded as the keys are, anywhere in them."""
    return contains_pattern(folded(term))


def matches(search_key_column, term: str):
    """SQL condition: the row's search key contains `term`, whatever its case or accents, on any database."""
    return matches_pattern(search_key_column, typed_pattern(term))


def matches_pattern(search_key_column, pattern):
    """SQL condition: the row's search key is LIKE `pattern` (`typed_pattern`'s): the pattern's value, or a bound
    parameter for a statement built once and run with each search's pattern."""
    return search_key_column.like(pattern, escape=LIKE_ESCAPE)
