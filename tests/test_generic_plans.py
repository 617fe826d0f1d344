"""The statements of checkout, the race page and the registrant list keep one plan on Postgres (issue 17).

psycopg prepares a statement on its sixth run; Postgres then plans it for the values given five times more, and
keeps a generic plan (made once, for any values) only if that plan does not look dearer. With an order's status
sent as a value (the partial indexes made for one status unusable, the common status not told from the rare), a
hold's end as `> now` alone, and a page's LIMIT bound, the generic plans looked dearer, so the capacity check was
planned afresh at every run (twice per checkout, once per sold-out answer) and so were the registrant list's
counts and rows, each planning costing Postgres more than the run. models.race._WrittenEnum writes statuses into
the text; models.order.holding_at bounds a hold's end; the list writes its LIMIT.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import insert, text
from werkzeug.datastructures import MultiDict

from models import Order, OrderStatus, Registration
from services import clock
from services.capacity import order_capacity
from services.checkout import _due_statement
from services.inventory import _held_counts_statement, held_counts
from services.registrants.listing import registrant_page
from services.registrants.query import RegistrantFilters
from tests.factories import make_cart, make_order, make_profile, make_race, recount_race

pytestmark = pytest.mark.postgres

RUNS = 12  # six to be prepared, five custom plans, then the choice


def plans(db, words: str) -> tuple[int, int]:
    """(generic plans, custom plans) of this connection's prepared statement containing `words`."""
    rows = db.session.execute(text("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")).all()
    found = [(generic, custom) for statement, generic, custom in rows if words in " ".join(statement.split())]
    assert len(found) == 1, f"one prepared statement with {words!r}, found {len(found)}"
    return found[0]


@pytest.fixture
def opening(db):
    """A race at its opening: a few buyers at the payment step, one still in the cart, among thousands of orders
    paid or in the past (the planner's statistics, as a live site has them, say most orders hold nothing)."""
    race = make_race(db, slug="opening", tickets=[("10K", 4500, 5000), ("5K", 3000, 5000)], organizer=make_profile(db))
    now = clock.now()
    buyer, ids = make_profile(db), [uuid.uuid4() for _ in range(3000)]
    db.session.execute(insert(Order), [{"id": order_id, "race_id": race.id, "buyer_id": buyer.id, "currency": race.currency,
                                        "status": OrderStatus.PAID} for order_id in ids])
    db.session.execute(insert(Registration), [{"order_id": order_id, "order_status": OrderStatus.PAID, "race_id": race.id,
                                               "price": 4500, "ticket_type_id": race.ticket_types[n % 2].id}
                                              for n, order_id in enumerate(ids)])
    for _ in range(3):
        make_order(db, race, race.ticket_types[0], 2, status=OrderStatus.PENDING, reserved_until=now + timedelta(minutes=30))
    recount_race(db, race)  # the paid tickets were written straight to the tables
    db.session.commit()
    db.session.execute(text("ANALYZE orders, registrations"))
    return race, make_cart(db, race, {race.ticket_types[0]: 1, race.ticket_types[1]: 1})


def test_checkout_s_capacity_check_keeps_one_plan(db, opening):
    _race, cart = opening
    for _ in range(RUNS):
        checked = order_capacity(db.session, cart.id, clock.now())
    assert checked.capacity.problems == [] and len(checked.tickets) == 2
    generic, custom = plans(db, "WITH checked AS MATERIALIZED")
    assert generic >= 1 and custom == 5


def test_the_race_page_s_counts_keep_one_plan(db, opening):
    race, _cart = opening
    ids = [t.id for t in race.ticket_types]
    for _ in range(RUNS):
        held = held_counts(db.session, ids, clock.now())
    assert held[ids[0]].tickets == 1500 + 6  # paid, and held at the payment step
    generic, custom = plans(db, "FROM ticket_types WHERE ticket_types.id IN")
    assert generic >= 1 and custom == 5


def test_the_sweep_of_lapsed_holds_keeps_one_plan(db, opening):
    connection = db.session.connection()
    for _ in range(RUNS):
        due = list(connection.scalars(_due_statement(), {"now": clock.now() + timedelta(hours=1)}))
    assert len(due) == 3 and db.session.get(Order, due[0]).status == OrderStatus.PENDING
    generic, custom = plans(db, "SELECT orders.id FROM orders WHERE orders.status")
    assert generic >= 1 and custom == 5


# (A page number typed without a cursor skips rows with an OFFSET, still bound: each page would be a text of its own.)
@pytest.mark.parametrize("listing", [{}, {"sort": "bib", "dir": "desc"}, {"status": "pending"}, {"sort": "registered"}])
def test_the_registrant_list_is_planned_once_per_statement(db, opening, listing):
    race, _cart = opening
    filters = RegistrantFilters.from_args(MultiDict(listing))
    for _ in range(RUNS):
        page = registrant_page(db.session, race.id, filters, clock.now())
    assert page.rows and page.total >= 6
    rows = db.session.execute(text("SELECT statement, custom_plans FROM pg_prepared_statements")).all()
    assert len(rows) >= 2, "the page's statements were prepared on this connection"
    assert [" ".join(statement.split())[:200] for statement, custom in rows if custom > 5] == []


def test_a_race_s_live_holds_are_counted_through_its_own_pending_orders(db, opening):
    """Not through every race's: a race opening elsewhere, hundreds of buyers at the payment step, costs this race's
    page, cart and checkout nothing (ix_orders_race_pending_until)."""
    race, _cart = opening
    statement = _held_counts_statement(False).params(now=clock.now(), ids=[t.id for t in race.ticket_types])
    sql = str(statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
    plan = "\n".join(db.session.execute(text(f"EXPLAIN {sql}")).scalars())
    assert "ix_orders_race_pending_until" in plan
