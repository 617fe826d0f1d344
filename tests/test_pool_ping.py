"""extensions._ping_if_idle: a pooled Postgres connection is pinged before use only after it idled, and a dead one
found so is replaced (with every other pooled connection) without the request seeing an error."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

import extensions

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(database_url):
    """A pool of one connection, handed out last in, first out, as the app's (config.engine_options)."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0, pool_use_lifo=True)
    yield engine
    engine.dispose()


def _kill_the_pooled_connection(engine, database_url) -> int:
    """Terminate, from another session, the backend behind the pool's one connection (as a restart would)."""
    with engine.connect() as conn:
        pid = conn.scalar(text("SELECT pg_backend_pid()"))
    killer = create_engine(database_url, poolclass=None, isolation_level="AUTOCOMMIT")
    with killer.connect() as conn:
        assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    killer.dispose()
    return pid


def test_a_connection_that_idled_is_pinged_and_a_dead_one_replaced(engine, database_url, monkeypatch):
    monkeypatch.setattr(extensions, "IDLE_BEFORE_PING", 0.0)  # everything returned to the pool has idled enough
    dead = _kill_the_pooled_connection(engine, database_url)
    with engine.connect() as conn:  # the ping finds it dead: a new connection, and no error
        assert conn.scalar(text("SELECT pg_backend_pid()")) != dead
        assert conn.scalar(text("SELECT 1")) == 1


def test_a_connection_returned_a_moment_ago_is_used_without_a_ping(engine, database_url, monkeypatch):
    monkeypatch.setattr(extensions, "IDLE_BEFORE_PING", 3600.0)
    _kill_the_pooled_connection(engine, database_url)
    # Not pinged, so the first statement meets the dead connection: proof that no round trip went before it.
    with pytest.raises(OperationalError), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    with engine.connect() as conn:  # SQLAlchemy dropped it on that error: the next checkout connects anew
        assert conn.scalar(text("SELECT 1")) == 1


def test_the_ping_leaves_no_transaction_open(engine, monkeypatch):
    monkeypatch.setattr(extensions, "IDLE_BEFORE_PING", 0.0)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        conn.commit()
    with engine.connect() as conn:  # pinged on this checkout
        dbapi = conn.connection.dbapi_connection
        assert dbapi.autocommit is False
        assert dbapi.info.transaction_status.name == "IDLE"  # the ping's SELECT ran outside any transaction
