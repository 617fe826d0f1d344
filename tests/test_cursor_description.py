"""extensions.LazyDescriptionCursor: every Postgres connection's cursor describes its result as psycopg does, its
Columns made only when read, from the result they describe."""
from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine, func, literal, select, text

import extensions

pytestmark = pytest.mark.postgres

WIDE = "SELECT 1::int AS one, 'two'::text AS two, now() AS three, NULL::numeric(8, 2) AS four"


@pytest.fixture
def engine(database_url):
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _described(columns) -> list[tuple]:
    return [(c.name, c.type_code, c.display_size, c.internal_size, c.precision, c.scale, c.null_ok) for c in columns]


def test_the_engines_cursors_describe_lazily_what_psycopg_describes(engine):
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert dbapi.cursor_factory is extensions.LazyDescriptionCursor
        ours, theirs = dbapi.cursor(), psycopg.Cursor(dbapi)
        ours.execute(WIDE)
        theirs.execute(WIDE)
        described = ours.description
        assert isinstance(described, extensions._Description) and described._columns is None  # nothing made yet
        assert len(described) == 4
        assert _described(described) == _described(theirs.description)
        assert [c[0] for c in described] == ["one", "two", "three", "four"]  # DB-API's 7-item sequences
        assert described[-1].precision == 8 and described[-1].scale == 2


def test_a_description_read_later_describes_its_own_result(engine):
    """SQLAlchemy may read a description after the cursor has moved on: it is still the first result's."""
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute(WIDE)
        first = cursor.description
        cursor.execute("SELECT 'x'::text AS other")
        assert [c.name for c in first] == ["one", "two", "three", "four"]
        assert [c.name for c in cursor.description] == ["other"]


def test_no_rows_no_columns_and_no_result_as_psycopg_says_them(engine):
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        cursor = dbapi.cursor()
        assert cursor.description is None  # nothing run yet
        cursor.execute("SELECT 1 AS one WHERE false")  # rows that are none: still described
        assert [c.name for c in cursor.description] == ["one"]
        cursor.execute("SELECT")  # a result of no columns is still a result
        assert cursor.description is not None and len(cursor.description) == 0
        cursor.execute("CREATE TEMPORARY TABLE described (id int)")
        assert cursor.description is None
        cursor.execute("INSERT INTO described VALUES (1)")
        assert cursor.description is None
        cursor.execute("INSERT INTO described VALUES (2) RETURNING id")
        assert [c.name for c in cursor.description] == ["id"]


def test_sqlalchemy_results_read_their_columns_through_it(engine):
    """The first run of a statement builds SQLAlchemy's result metadata from the description; later runs reuse it."""
    with engine.connect() as conn:
        for _ in range(3):
            row = conn.execute(text(WIDE)).one()
            assert row._mapping["one"] == 1 and row.two == "two" and row.four is None
        statement = select(literal(7).label("seven"), func.upper("a").label("upper"))
        for _ in range(2):
            result = conn.execute(statement)
            assert list(result.keys()) == ["seven", "upper"] and result.all() == [(7, "A")]


def test_a_cursor_chosen_in_connect_args_is_kept(database_url):
    """psycopg's ClientCursor, chosen for a pooler in transaction mode, stays: only psycopg's default is replaced."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0,
                           connect_args={"cursor_factory": psycopg.ClientCursor})
    try:
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.cursor_factory is psycopg.ClientCursor
            assert conn.execute(text("SELECT 1 AS one")).one().one == 1
    finally:
        engine.dispose()
