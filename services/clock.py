"""The one source of "now", so tests can set the time instead of sleeping."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None
_offset = timedelta()


def now() -> datetime:
    """The current time in UTC (or the time a test set)."""
    if _frozen is not None:
        return _frozen + _offset
    return datetime.now(UTC) + _offset


def freeze(at: datetime) -> None:
    global _frozen, _offset
    _frozen, _offset = at, timedelta()


def advance(delta: timedelta) -> None:
    global _offset
    _offset += delta


def reset() -> None:
    global _frozen, _offset
    _frozen, _offset = None, timedelta()
