"""A GET that wrote nothing ends its transaction with COMMIT, not ROLLBACK, on Postgres (issue 17).

psycopg forgets a connection's prepared statements whenever it rolls back (psycopg.Connection.rollback clears
its cache and DEALLOCATEs them), and every request ended with the session's rollback: so no statement ever ran
prepared, and Postgres planned every statement of every request anew (the cart fragment's three: 3.2 ms of
Postgres CPU a request; 1.4 ms with the connection's statements kept prepared). A transaction that wrote
nothing ends the same either way, and a COMMIT keeps them. Anything else rolls back as before: a request
that failed, that is not a GET or HEAD, that holds unflushed changes, or that ran any statement but a SELECT
(on any connection, in this request's thread).
"""
from __future__ import annotations

from flask import Flask, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from extensions import db


@event.listens_for(Engine, "before_cursor_execute")
def _note_a_write(conn, cursor, statement, parameters, context, executemany):
    if has_request_context() and statement.lstrip()[:6].upper() != "SELECT":
        g.wrote_to_database = True


def _commit_what_only_read(exc) -> None:
    if exc is not None or request.method not in ("GET", "HEAD") or g.get("wrote_to_database"):
        return
    session = db.session()
    if not session.in_transaction() or session.new or session.dirty or session.deleted:
        return
    if session.get_bind().dialect.name != "postgresql":  # only psycopg forgets its prepared statements
        return
    try:
        session.commit()
    except SQLAlchemyError:
        pass  # the session's removal rolls back, as it always did


def register(app: Flask) -> None:
    """After the other hooks: before Flask-SQLAlchemy removes the session (an app context teardown)."""
    app.teardown_request(_commit_what_only_read)
