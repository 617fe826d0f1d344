"""A request whose transaction only read ends it with COMMIT, not ROLLBACK, on Postgres (services/transactions.py:
psycopg then keeps the connection's prepared statements). A request that failed rolls back as before, and so does
one whose transaction wrote or holds unflushed changes."""
from __future__ import annotations

from flask import Flask

from extensions import db
from services.transactions import end_if_only_read


def _commit_what_only_read(exc) -> None:
    if exc is None:
        end_if_only_read(db.session())  # otherwise the session's removal rolls back, as it always did


def register(app: Flask) -> None:
    """After the other hooks: before Flask-SQLAlchemy removes the session (an app context teardown)."""
    app.teardown_request(_commit_what_only_read)
