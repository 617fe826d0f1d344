"""The `<int:…>` of every route: at most what a Postgres INTEGER column holds (ids, bibs), so an id too big for
any row is a 404 like every other unknown one, not an overflow in the query that looks it up (a 500)."""
from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

LARGEST_ID = 2**31 - 1  # Postgres INTEGER; SQLite's are 64-bit, and no id there is larger either


class DatabaseInteger(IntegerConverter):
    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = LARGEST_ID,
                 signed: bool = False):
        super().__init__(map, fixed_digits, min, max, signed)


def register(app: Flask) -> None:
    """Before any blueprint: a rule takes its converter when it is added."""
    app.url_map.converters["int"] = DatabaseInteger
