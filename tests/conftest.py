"""Fixtures: a migrated database (SQLite, or Postgres with TEST_DATABASE_URL), app, clients.

Under pytest-xdist (`make test` runs `-n 2`) every worker is a process of its own with its own
database: the SQLite file lives in a folder of its own (in /dev/shm where there is one), and on Postgres the worker takes
TEST_DATABASE_URL's name plus its id ("startline_test_gw0"), created if missing and migrated once.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from jinja2 import BytecodeCache
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from werkzeug.routing.rules import Rule

from app import create_app
from config import TestConfig
from extensions import db as _db
from models import Base
from services import clock
from services.inventory import count_drift, order_status_drift
from tests.browser import chromium, live_server, page  # noqa: F401  (fixtures)
from tests.smtp import smtp_server  # noqa: F401  (fixture)
from tests.workers import per_worker

_compile_builder = Rule._compile_builder
_builders: dict[tuple, object] = {}


def _shared_builder(rule: Rule, append_unknown: bool = True):
    """Werkzeug's URL builder for `rule`, compiled once per process and shared by every app the suite makes.

    Werkzeug turns each rule into Python source and compiles it, two functions a rule, ~40 ms of the ~70 ms a
    create_app takes; the tests make two apps a test. The function is the same for the same rule (it reaches
    the rule's converters through its `self`), unless a default fills a variable part: those compile as before.
    """
    defaults = rule.defaults or {}
    if any(dynamic and name in defaults for dynamic, name in rule._trace):
        return _compile_builder(rule, append_unknown)
    key = (rule.rule, append_unknown, tuple(rule._trace), tuple(defaults))
    if key not in _builders:
        _builders[key] = _compile_builder(rule, append_unknown)
    return _builders[key]


Rule._compile_builder = _shared_builder


class _SharedTemplateCode(BytecodeCache):
    """The compiled templates, kept for every app the suite makes in this process.

    Each app has a Jinja environment of its own, which compiles a template the first time it renders it: ~50 ms
    of CPU for a page and its partials, in every test. Jinja keeps the code under the template's name and file
    and uses it only while the source's checksum is the same; every app comes from create_app, with the same
    Jinja options, so the code is the same.
    """

    def __init__(self):
        self._code: dict[str, tuple[str, object]] = {}

    def load_bytecode(self, bucket):
        checksum, code = self._code.get(bucket.key, (None, None))
        if code is not None and checksum == bucket.checksum:
            bucket.code = code

    def dump_bytecode(self, bucket):
        self._code[bucket.key] = (bucket.checksum, bucket.code)


_templates = _SharedTemplateCode()


def _test_app(config: dict):
    """create_app for the fixtures, its templates compiled once per process."""
    app = create_app(config)
    app.jinja_env.bytecode_cache = _templates
    return app


def _postgres_url() -> str | None:
    """TEST_DATABASE_URL for SQLAlchemy, naming this worker's own database under xdist."""
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not url:
        return None
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    target = make_url(url)
    return target.set(database=per_worker(target.database)).render_as_string(hide_password=False)


def _fresh_postgres(url: str) -> None:
    """Create the test database if needed and empty its public schema."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                             {"n": target.database})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
        # A commit returns without waiting for its WAL to reach the disk (~5–30 ms each on a shared disk, and a
        # test commits a dozen times). What other sessions see is unchanged; only a crash could lose the end.
        conn.execute(text(f'ALTER DATABASE "{target.database}" SET synchronous_commit = off'))
    admin.dispose()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = _postgres_url()
    if url:
        _fresh_postgres(url)
        yield url
        return
    # Not under pytest's basetemp: another pytest run on the machine prunes old basetemps, and with them
    # a running suite's database ("no such table" halfway through). In memory (tmpfs) where there is one:
    # SQLite syncs every commit to the disk, ~7 ms each, and a test commits a dozen times.
    memory = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    folder = tempfile.mkdtemp(prefix="startline-test-db-", dir=memory)
    yield f"sqlite:///{folder}/test.db"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated(database_url):
    """Run every migration once on the empty test database, as a deploy would."""
    from flask_migrate import upgrade

    app = create_app(_test_config(database_url))
    with app.app_context():
        upgrade(revision="heads")
        _db.engine.dispose()
    return database_url


def _test_config(database_url: str) -> dict:
    config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    config["SQLALCHEMY_DATABASE_URI"] = database_url
    return config


def _empty_all_tables() -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    # DELETE, children first, not TRUNCATE: on tables a test left nearly empty it is ~8 ms against TRUNCATE's
    # ~700 ms (which makes and fsyncs new files for every table), paid before every test.
    for table in tables:
        _db.session.execute(table.delete())
    if _db.engine.dialect.name == "postgresql":  # ids from 1 again, as TRUNCATE … RESTART IDENTITY did
        _db.session.execute(text("SELECT setval(format('%I.%I', schemaname, sequencename), 1, false) "
                                 "FROM pg_sequences WHERE schemaname = current_schema()"))
    _db.session.commit()


@pytest.fixture
def app(migrated):
    app = _test_app(_test_config(migrated))
    with app.app_context():
        _empty_all_tables()
    yield app
    with app.app_context():
        _db.session.remove()
        # Whatever the test did, every ticket still carries its order's status (Registration.order_status), and every
        # ticket type's stored counts are its tickets' (services/inventory.py).
        try:
            drifted, counts = order_status_drift(_db.session), count_drift(_db.session)
        except (OperationalError, ProgrammingError):  # the schema is a migration test's, which restores it itself
            drifted, counts = 0, []
        _db.session.remove()
        _db.engine.dispose()
    clock.reset()
    assert not drifted, f"{drifted} ticket(s) carry a status other than their order's"
    assert not counts, f"stored counts drift from the tickets: {counts}"


@pytest.fixture
def db(app):
    """The SQLAlchemy extension, for arranging and checking data.

    It lives in the context of a second app on the same database: if it shared `app`'s
    context, every request in the test would reuse that context and its `g`, which a real
    server never does.
    """
    arranger = _test_app({**app.config})
    with arranger.app_context():
        yield _db
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def htmx_client(app):
    """A client whose requests look like htmx's (HX-Request: true)."""
    client = app.test_client()
    client.environ_base["HTTP_HX_REQUEST"] = "true"
    return client


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def count_queries(app):
    """`with count_queries() as q: …` then `q.count` is the number of SQL statements run."""

    @contextmanager
    def counting():
        class Counter:
            count = 0
            statements: list[str] = []

        counter = Counter()
        counter.statements = []

        def before(conn, cursor, statement, parameters, context, executemany):
            counter.count += 1
            counter.statements.append(statement)

        # Every engine: the served app's and the one tests arrange data with.
        event.listen(Engine, "before_cursor_execute", before)
        try:
            yield counter
        finally:
            event.remove(Engine, "before_cursor_execute", before)

    yield counting


def pytest_addoption(parser):
    parser.addoption("--database-tests-only", action="store_true",
                     help="run only the tests that reach the test database or drive the browser: `make test`'s "
                          "Postgres pass, after a SQLite pass that ran the others")


def reaches_the_database(item) -> bool:
    """Whether `item` can see which database the suite runs on: every way to it (app, db, client, migrated, …)
    goes through the database_url fixture, and nothing else reads TEST_DATABASE_URL. A test without it runs
    the same on SQLite and on Postgres."""
    return "database_url" in getattr(item, "fixturenames", ()) or "postgres" in item.keywords


def pytest_collection_modifyitems(config, items):
    on_postgres = _postgres_url() is not None
    skip = pytest.mark.skip(reason="needs Postgres: set TEST_DATABASE_URL")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)
    if config.getoption("database_tests_only"):
        # The browser tests run in this pass only (the SQLite pass leaves them out), whatever they reach.
        kept, ran_before = [], []
        for item in items:
            (kept if reaches_the_database(item) or "browser" in item.keywords else ran_before).append(item)
        if ran_before:
            config.hook.pytest_deselected(items=ran_before)
            items[:] = kept
    # The browser tests first (the ten friends' story alone takes a minute): under xdist a long test picked up
    # last keeps the pass waiting while the other workers, their queues done, have nothing left to take.
    items.sort(key=lambda item: "browser" not in item.keywords)


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres: needs a real Postgres (TEST_DATABASE_URL)")
    config.addinivalue_line("markers", "browser: drives headless Chromium")
