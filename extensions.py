"""The Flask extensions, created once here and bound to an app in `create_app` (microblog style).

Every module that needs the database, CSRF, the rate limiter or Babel imports them from here, so
nothing but the WSGI entry point and the tests imports `app`.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

import psycopg
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.pool import Pool

from models import Base

# Objects stay readable after commit, so a view can commit and then render what it saved;
# relationships are lazy="raise", so anything not loaded on purpose fails loudly instead.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)
babel = Babel()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite enforces foreign keys (and cascades) only when asked, per connection."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


# A pooled Postgres connection is pinged ("SELECT 1", a round trip) before use only when it sat in the pool this long:
# one returned a moment ago was working then. SQLAlchemy's pool_pre_ping pinged at every checkout, a round trip more
# for every request and transaction, a fifth of a registration opening's round trips (issue 17). The pool hands out
# the connection returned last (pool_use_lifo, config.engine_options), so a quiet site's spare connections age and
# are pinged, and the ones in use are not.
IDLE_BEFORE_PING = 2.0  # seconds
_IDLE_SINCE = "startline_idle_since"


@event.listens_for(Pool, "checkin")
def _idle_from_now(dbapi_connection, connection_record) -> None:
    connection_record.info[_IDLE_SINCE] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_if_idle(dbapi_connection, connection_record, connection_proxy) -> None:
    """Ping a Postgres connection that idled IDLE_BEFORE_PING or more (a new one has never idled). Should it have died
    (a restart, a failover, a pooler that closed it), so probably have the others: the pool drops every connection
    it holds and this checkout gets a new one, as pool_pre_ping does."""
    idle_since = connection_record.info.get(_IDLE_SINCE)
    if isinstance(dbapi_connection, sqlite3.Connection) or idle_since is None \
            or time.monotonic() - idle_since < IDLE_BEFORE_PING:
        return
    autocommit = dbapi_connection.autocommit
    try:
        dbapi_connection.autocommit = True  # no transaction left open by the ping
        dbapi_connection.execute("SELECT 1").close()
        dbapi_connection.autocommit = autocommit
    except Exception as dead:  # psycopg.OperationalError, or InterfaceError on a connection already closed
        raise InvalidatePoolError(f"a pooled connection idle {time.monotonic() - idle_since:.0f} s did not answer a "
                                  f"ping: {dead}") from dead


class _Description(Sequence):
    """A result's `cursor.description`, its psycopg Columns made only when first read. SQLAlchemy reads a statement's
    description the first time it runs it, and afterwards only asks whether there is one; psycopg made a Column per
    column at every ask, a tenth of a checkout's CPU in the app (issue 17: a ticket, its order and its type are
    ninety columns, read twice). The columns are made from the result as it was asked for, whatever the cursor
    has run since."""

    __slots__ = ("_result", "_encoding", "adapters", "_columns")

    def __init__(self, cursor: psycopg.Cursor, result):
        self._result, self._encoding, self.adapters = result, cursor._encoding, cursor.adapters
        self._columns: list[psycopg.Column] | None = None

    @property
    def pgresult(self):  # what psycopg's Column reads from "its cursor": this result, not the cursor's latest
        return self._result

    def _made(self) -> list[psycopg.Column]:
        if self._columns is None:
            self._columns = [psycopg.Column(self, i) for i in range(self._result.nfields)]
        return self._columns

    def __len__(self) -> int:
        return self._result.nfields

    def __getitem__(self, index):
        return self._made()[index]


class LazyDescriptionCursor(psycopg.Cursor):
    """psycopg's cursor, its `description` made on demand (`_Description`). Every Postgres connection's cursor."""

    @property
    def description(self) -> Sequence | None:
        result = self.pgresult  # psycopg's own test of whether there are columns to describe
        if result and (result.nfields or result.status in _ROWS):
            return _Description(self, result)
        return None


_ROWS = (psycopg.pq.ExecStatus.TUPLES_OK, psycopg.pq.ExecStatus.SINGLE_TUPLE, psycopg.pq.ExecStatus.TUPLES_CHUNK)


@event.listens_for(Engine, "connect")
def _lazy_descriptions(dbapi_connection, connection_record) -> None:
    """psycopg's default cursor becomes LazyDescriptionCursor; one chosen in the engine's connect_args (psycopg's
    ClientCursor, for a pooler in transaction mode) is left as chosen."""
    if isinstance(dbapi_connection, psycopg.Connection) and dbapi_connection.cursor_factory is psycopg.Cursor:
        dbapi_connection.cursor_factory = LazyDescriptionCursor
