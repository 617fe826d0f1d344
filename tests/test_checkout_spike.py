"""A registration opening: the buyers who lose are told "sold out" without queuing on the locks (issue 17)."""
from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from extensions import db as database
from models import CheckoutSession, Order, OrderStatus, TicketType
from services.checkout import SoldOut, open_payment_page, reserve, start_checkout
from services.payments import CheckoutPage
from tests.factories import login, make_cart, make_order, make_profile, make_race, put_at_payment_step
from tests.http import csrf_token


@pytest.fixture
def race(db):
    return make_race(db, slug="opening-day", title="Opening Day", tickets=[("10K", 4500, 10), ("5K", 3000, 50)])


def _locks(sql: str) -> bool:
    """A row lock: the ticket types' FOR NO KEY UPDATE (services/locking.py) or the order's FOR UPDATE."""
    return "FOR UPDATE" in sql or "FOR NO KEY UPDATE" in sql


@contextmanager
def lock_statements(engine):
    """The row-lock statements services.locking sends (FOR [NO KEY] UPDATE on Postgres, the no-op UPDATE on SQLite)."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sql = " ".join(statement.split()).upper()
        if _locks(sql) or sql.startswith(("UPDATE TICKET_TYPES SET POSITION", "UPDATE ORDERS SET STATUS")):
            seen.append(sql)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_sold_out_checkout_is_refused_without_taking_a_lock(db, race):
    ten_k = race.ticket_types[0]
    make_order(db, race, ten_k, 10)  # all ten spots paid for
    order = make_cart(db, race, {ten_k: 1})

    with lock_statements(database.engine) as locks, pytest.raises(SoldOut) as refused:
        reserve(db.session, db.session.get(Order, order.id), datetime.now(UTC))

    assert refused.value.message == "The 10K is sold out."
    assert locks == []
    assert db.session.get(Order, order.id).status == OrderStatus.CART


@pytest.mark.postgres
def test_a_refusal_before_the_locks_ends_its_transaction_with_a_commit(db, race):
    """It only read, so it ends the same either way, and a COMMIT keeps the connection's prepared statements
    (services/transactions.py): half of an opening's answers are this one."""
    ten_k = race.ticket_types[0]
    make_order(db, race, ten_k, 10)
    order = make_cart(db, race, {ten_k: 1})
    ends: list[str] = []
    on_commit, on_rollback = (lambda conn: ends.append("commit")), (lambda conn: ends.append("rollback"))
    event.listen(database.engine, "commit", on_commit)
    event.listen(database.engine, "rollback", on_rollback)
    try:
        with pytest.raises(SoldOut):
            reserve(db.session, db.session.get(Order, order.id), datetime.now(UTC))
    finally:
        event.remove(database.engine, "commit", on_commit)
        event.remove(database.engine, "rollback", on_rollback)

    assert ends == ["commit"]
    assert db.session.get(Order, order.id).status == OrderStatus.CART


def test_a_checkout_with_room_still_reserves_under_the_locks(db, race):
    ten_k = race.ticket_types[0]
    make_order(db, race, ten_k, 9)
    order = make_cart(db, race, {ten_k: 1})

    with lock_statements(database.engine) as locks:
        reserve(db.session, db.session.get(Order, order.id), datetime.now(UTC))

    assert len(locks) >= 2  # the ticket type, then the order
    assert db.session.get(Order, order.id).status == OrderStatus.PENDING


@pytest.mark.postgres
def test_the_locked_part_of_a_checkout_is_four_statements_and_its_commit(db, race):
    """While a checkout holds the ticket type locks, every buyer queued behind it waits for each of its round trips
    (at an opening, that part times the queue is the last buyer's wait): the types' lock, the order's lock, the order
    with its tickets and their count in one statement, the order's new state with its tickets' sync mark in another,
    then COMMIT; no price steps read for types without any, no waitlist offer marked in a cart without one. The
    order's lock is a statement of its own so that the tickets are read after it (services/locking.py,
    `lock_order_before_reading`; test_cart_during_checkout.py)."""
    order = make_cart(db, race, {race.ticket_types[0]: 2})
    with statements_and_commits(database.engine) as (sent, committed):
        reserve(db.session, db.session.get(Order, order.id), datetime.now(UTC))

    first_lock = next(i for i, s in enumerate(sent) if s.startswith("SELECT TICKET_TYPES.ID") and "FOR NO KEY UPDATE" in s)
    locked_part = sent[first_lock:committed[0]]
    assert len(locked_part) == 4, locked_part
    assert locked_part[1].startswith("SELECT ORDERS.ID") and locked_part[1].endswith("FOR UPDATE")
    locked_part = [locked_part[0], *locked_part[2:]]
    assert "JOIN REGISTRATIONS" in locked_part[1] and "FOR UPDATE" not in locked_part[1]
    assert "SOLD_COUNT" in locked_part[1] and "JOIN TICKET_TYPES" in locked_part[1]
    assert locked_part[2].startswith("WITH TICKETS_CHANGED AS (UPDATE REGISTRATIONS") and "UPDATE ORDERS" in locked_part[2]
    assert not any("PRICE_TIERS" in s and "COUNT(ORDERS.ID)" in s for s in locked_part)
    assert not any(s.startswith("UPDATE WAITLIST_ENTRIES") for s in locked_part)
    assert db.session.get(Order, order.id).status == OrderStatus.PENDING


@pytest.mark.postgres
def test_the_reservation_commits_without_waiting_for_the_disk_and_the_payment_page_waits(app, db, race):
    """The locks are freed as the reservation's COMMIT is written, not once it is on disk; the same request's next
    commit, which records the payment page before the buyer is sent there, waits, and so makes both durable."""
    order = make_cart(db, race, {race.ticket_types[0]: 1})
    page = CheckoutPage(session_id="cs_test_durable", url="https://checkout.stripe.test/durable", expires_at=None)

    class Gateway:
        def open_checkout(self, request):
            settings.append(db.session.execute(text("SHOW synchronous_commit")).scalar())
            return page

    settings: list[str] = []
    # The test databases commit without waiting (tests/conftest.py): this connection waits, as a real one does.
    db.session.connection().exec_driver_sql("SET SESSION synchronous_commit TO on")
    db.session.commit()
    with statements_and_commits(database.engine) as (sent, committed):
        start_checkout(db.session, db.session.get(Order, order.id), Gateway(), datetime.now(UTC),
                       customer_email="a@example.com", success_url="https://x.test/ok", cancel_url="https://x.test/no")

    first_lock = next(i for i, s in enumerate(sent) if _locks(s))
    assert "SET LOCAL SYNCHRONOUS_COMMIT TO OFF" in sent[:first_lock]
    assert sent.count("SET LOCAL SYNCHRONOUS_COMMIT TO OFF") == 1
    assert settings == ["on"]  # the transaction that records the page waits for its commit to be on disk
    assert db.session.get(Order, order.id).stripe_session_id == "cs_test_durable"


@contextmanager
def statements_and_commits(engine):
    """The statements sent (one line, upper case), and how many had been sent at each COMMIT."""
    sent: list[str] = []
    committed: list[int] = []

    def record(conn, cursor, statement, *rest):
        sent.append(" ".join(statement.split()).upper())

    def commit(conn):
        committed.append(len(sent))

    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine, "commit", commit)
    try:
        yield sent, committed
    finally:
        event.remove(engine, "before_cursor_execute", record)
        event.remove(engine, "commit", commit)


@pytest.mark.postgres
def test_a_sold_out_checkout_does_not_wait_for_the_checkout_holding_the_lock(app, db, race):
    ten_k = race.ticket_types[0]
    make_order(db, race, ten_k, 10)
    order_id = make_cart(db, race, {ten_k: 1}).id
    with app.app_context():
        engine = database.engine
    with Session(engine) as holder, Session(engine) as buyer:
        # Another checkout is inside its locked transaction, and stays there.
        holder.execute(select(TicketType.id).where(TicketType.id == ten_k.id).with_for_update())
        buyer.execute(text("SET lock_timeout = '5s'"))
        started = time.monotonic()
        with pytest.raises(SoldOut):
            reserve(buyer, buyer.get(Order, order_id), datetime.now(UTC))
        assert time.monotonic() - started < 2
        holder.rollback()


@pytest.mark.parametrize("change", ["a ticket added", "a runner's name removed", "a ticket removed"])
def test_a_cart_changed_between_the_checks_and_the_locks_is_refused_and_holds_nothing(db, race, monkeypatch, change):
    """The runner checks and the first capacity snapshot run before the locks: what is reserved under them
    must be what they checked (another tab may add, edit or remove a ticket meanwhile)."""
    from models import Registration
    from services import checkout

    ten_k, five_k = race.ticket_types
    order = make_cart(db, race, {ten_k: 1, five_k: 1}, complete=True)
    first, second = sorted(db.session.get(Order, order.id).registrations, key=lambda r: r.id)
    taking_locks = checkout.lock_ticket_types

    def another_tab_then_lock(session, ids):
        if change == "a ticket added":
            session.add(Registration(order_id=order.id, race_id=race.id, ticket_type_id=ten_k.id, price=ten_k.price))
        elif change == "a runner's name removed":
            session.execute(Registration.__table__.update().where(Registration.id == second.id).values(first_name=""))
        else:
            session.execute(Registration.__table__.delete().where(Registration.id == first.id))
        session.flush()
        return taking_locks(session, ids)

    monkeypatch.setattr(checkout, "lock_ticket_types", another_tab_then_lock)
    with pytest.raises(checkout.CheckoutRefused) as refused:
        reserve(db.session, db.session.get(Order, order.id), datetime.now(UTC))

    assert refused.value.message == checkout.CART_CHANGED
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == OrderStatus.CART and order.reserved_until is None


def test_a_sold_out_answer_reads_neither_the_race_nor_the_buyer_again(app, db, race, count_queries):
    """The sold-out page is half of an opening's answers: after the refusal's rollback it still names the race
    and is drawn under the buyer's name, from the rows the checkout read, and nothing expired is swept first."""
    ten_k = race.ticket_types[0]
    make_order(db, race, ten_k, 10)
    buyer = make_profile(db, full_name="Sam Sold-Out")
    order = make_cart(db, race, {ten_k: 1}, buyer=buyer)
    client = app.test_client()
    login(client, buyer)
    token = csrf_token(client)

    with count_queries() as counter:
        response = client.post(f"/orders/{order.id}/checkout", data={"csrf_token": token})

    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Sold out" in page and "The 10K is sold out." in page and "Opening Day" in page
    assert f'href="/races/{race.slug}/cart"' in page and "Sam Sold-Out" in page
    reads = [" ".join(s.split()).upper() for s in counter.statements]
    # The buyer; the order with its race; the tickets with their types and what holds their spots; the header's
    # cart badge (counted on Postgres: SQLite's locks and transactions add statements of their own).
    assert not any(s.startswith("SELECT RACES.") for s in reads)  # read with the order
    assert sum(s.startswith("SELECT ORDERS.ID,") and "JOIN RACES" in s for s in reads) == 1
    assert sum(s.startswith("SELECT PROFILES.") for s in reads) == 1
    if database.engine.dialect.name == "postgresql":
        assert len(reads) == 4, reads
    # No sweep of expired holds on a refusal (the capacity statement itself takes off the holds that ran out).
    assert not any(s.startswith("SELECT ORDERS.ID FROM ORDERS WHERE") and "RESERVED_UNTIL <=" in s for s in reads)
    assert not any(s.startswith("UPDATE ") for s in reads)
    assert db.session.get(Order, order.id).status == OrderStatus.CART


class _ReplayingGateway:
    """A provider that hands back the same page however often it is asked."""

    def open_checkout(self, request):
        return CheckoutPage(session_id="cs_replayed", url="https://pay.example/cs_replayed",
                            expires_at=datetime.now(UTC) + timedelta(minutes=30))


def test_a_page_the_provider_hands_back_again_is_kept_once(db, race):
    """Asked twice for the same order (a retry with the same idempotency key), a provider hands back the page it
    opened: it is recorded once, as it was, and the second answer is no error."""
    order = db.session.get(Order, make_cart(db, race, {race.ticket_types[0]: 1}).id)
    quote = reserve(db.session, order, datetime.now(UTC))
    for _ in range(2):
        started = open_payment_page(db.session, order, _ReplayingGateway(), quote, None, customer_email="a@example.com",
                                    success_url="https://x.example/ok", cancel_url="https://x.example/cancel")
        assert started.redirect_url == "https://pay.example/cs_replayed"
    pages = db.session.scalars(select(CheckoutSession).where(CheckoutSession.id == "cs_replayed")).all()
    assert [page.order_id for page in pages] == [order.id]
    assert db.session.get(Order, order.id).status == OrderStatus.PENDING


def test_a_checkout_that_opens_its_page_releases_the_holds_that_ran_out(db, race):
    ten_k = race.ticket_types[0]
    now = datetime.now(UTC)
    lapsed = db.session.get(Order, make_cart(db, race, {ten_k: 1}).id)
    put_at_payment_step(db, lapsed, now - timedelta(minutes=1))
    order = db.session.get(Order, make_cart(db, race, {ten_k: 1}).id)

    started = start_checkout(db.session, order, _ReplayingGateway(), now, customer_email="a@example.com",
                             success_url="https://x.example/ok", cancel_url="https://x.example/cancel")

    assert started.redirect_url == "https://pay.example/cs_replayed"
    db.session.expire_all()
    assert db.session.get(Order, lapsed.id).status == OrderStatus.CART
    assert db.session.get(Order, order.id).status == OrderStatus.PENDING
