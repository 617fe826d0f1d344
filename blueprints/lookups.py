"""Finding the row an address names, or a 404 the person can read: one helper for every route.

`owned_or_404(TicketType, 7, "…", race_id=race.id)` loads ticket type 7 and answers 404 unless
it belongs to that race, so a number from another race's page never reaches this one's.
"""
from __future__ import annotations

from typing import TypeVar

from blueprints.errors import abort_for_user
from extensions import db

T = TypeVar("T")


def owned_or_404(model: type[T], ident, message: str, **owner) -> T:
    """The `model` row with primary key `ident` whose columns equal `owner` (race_id=…, order_id=…), else 404."""
    row = db.session.get(model, ident) if ident is not None else None
    if row is None or any(getattr(row, column) != value for column, value in owner.items()):
        abort_for_user(404, message)
    return row
