"""Text search as people type it: the one LIKE pattern every search box uses."""
from __future__ import annotations

LIKE_ESCAPE = "\\"


def contains_pattern(term: str) -> str:
    """A LIKE pattern matching `term` anywhere, with % and _ taken literally (use escape=LIKE_ESCAPE)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
