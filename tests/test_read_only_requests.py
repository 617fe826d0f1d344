"""blueprints/read_only_requests.py: a GET that only read commits its transaction on Postgres (so psycopg keeps
the connection's prepared statements); a GET that wrote, a failed one, and every other method roll back as
before."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, select

from extensions import csrf
from extensions import db as _db
from models import Profile
from services import transactions


@pytest.fixture
def ends(app):
    """How each request's transaction ended: "commit" or "rollback", as the engine saw it."""
    seen = []
    with app.app_context():
        engine = _db.engine
    on_commit, on_rollback = (lambda conn: seen.append("commit")), (lambda conn: seen.append("rollback"))
    event.listen(engine, "commit", on_commit)
    event.listen(engine, "rollback", on_rollback)
    yield seen
    event.remove(engine, "commit", on_commit)
    event.remove(engine, "rollback", on_rollback)


@pytest.fixture
def routes(app):
    def reads():
        _db.session.scalars(select(Profile)).all()
        return "read"

    def writes():
        _db.session.add(Profile(id=uuid.uuid4(), email="kept@example.com", full_name="Not kept"))
        _db.session.flush()
        return "wrote, did not commit"

    def fails():
        _db.session.scalars(select(Profile)).all()
        raise RuntimeError("boom")

    app.add_url_rule("/_test/reads", view_func=csrf.exempt(reads), methods=["GET", "POST"])
    app.add_url_rule("/_test/writes", view_func=writes)
    app.add_url_rule("/_test/fails", view_func=fails)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app.test_client()


def test_a_get_that_only_read_commits_on_postgres(app, db, ends, routes):
    assert routes.get("/_test/reads").status_code == 200
    assert ("commit" in ends) == (db.engine.dialect.name == "postgresql")


def test_a_get_that_wrote_rolls_back(app, db, ends, routes):
    assert routes.get("/_test/writes").status_code == 200
    assert ends == ["rollback"]
    assert db.session.scalar(select(Profile).where(Profile.email == "kept@example.com")) is None


def test_a_failed_get_rolls_back(app, db, ends, routes):
    assert routes.get("/_test/fails").status_code == 500
    assert "commit" not in ends


def test_a_post_whose_transaction_only_read_ends_as_a_get_does(app, db, ends, routes):
    """Whatever the method, a transaction that ran only SELECTs ends the same either way (a refused checkout's)."""
    assert routes.post("/_test/reads").status_code == 200
    assert ("commit" in ends) == (db.engine.dialect.name == "postgresql")


@pytest.mark.postgres
def test_a_request_whose_statement_failed_and_was_caught_rolls_back(app, db, ends):
    """A handler that caught a database error and answered anyway leaves a transaction only a rollback can end."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    def caught():
        try:
            _db.session.execute(text("SELECT 1 / 0"))
        except DBAPIError:
            return "caught", 409
        return "no error", 200

    app.add_url_rule("/_test/caught", view_func=caught)
    assert app.test_client().get("/_test/caught").status_code == 409
    assert "commit" not in ends


@pytest.mark.parametrize(("statement", "writes", "reads_only"), [
    ("SELECT orders.id FROM orders FOR UPDATE OF orders", False, True),
    ("SET LOCAL synchronous_commit TO OFF", False, True),
    ("WITH checked AS MATERIALIZED (SELECT ticket_types.id FROM ticket_types) SELECT * FROM checked", False, True),
    ("WITH its_tickets_changed AS (UPDATE registrations SET updated_at=now()) UPDATE orders SET status='pending'",
     True, False),
    ("WITH its_payment_page AS (INSERT INTO checkout_sessions (id) VALUES ('cs')) SELECT 1", False, False),
    ("WITH gone AS MATERIALIZED ( delete FROM carts RETURNING id) SELECT count(*) FROM gone", False, False),
    ("UPDATE orders SET status='paid'", True, False),
    ("SET synchronous_commit TO OFF", False, False),  # for the connection's life: not a transaction's own
])
def test_what_counts_as_only_reading(statement, writes, reads_only):
    context = type("Context", (), {"isinsert": False, "isupdate": writes, "isdelete": False})()
    assert transactions._reads_only(statement, context) is reads_only
