"""Transactions at once on Postgres, each on its own database connection: many buyers pressing Pay at the same moment,
and one transaction's work while another holds a lock it needs (seen waiting for it, pg_blocking_pids, before the
holder commits)."""
from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from extensions import db as database
from models import Order
from services.checkout import SoldOut, reserve


def reserve_all_at_once(app, order_ids: list[uuid.UUID], now: datetime) -> dict[uuid.UUID, str]:
    """Reserve every order in its own thread, released together; "reserved" or "sold out" per order id."""
    with app.app_context():
        engine = database.engine
    barrier = threading.Barrier(len(order_ids))
    results: dict[uuid.UUID, str] = {}

    def checkout(order_id):
        with app.app_context(), Session(engine) as session:  # each buyer its own connection
            barrier.wait()
            try:
                reserve(session, session.get(Order, order_id), now)
                results[order_id] = "reserved"
            except SoldOut:
                session.rollback()
                results[order_id] = "sold out"

    threads = [threading.Thread(target=checkout, args=(o,)) for o in order_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def waiting_for(holder) -> bool:
    """Whether another connection waits for a lock that `holder` (a Connection or Session, its transaction open) has:
    looked for in pg_stat_activity for up to 10 s."""
    pid = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()
    engine = holder.engine if isinstance(holder, Connection) else holder.get_bind()
    with engine.connect() as watcher:
        for _ in range(200):
            if watcher.execute(text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
                               {"pid": pid}).scalar_one():
                return True
            watcher.rollback()
            time.sleep(0.05)
    return False


def in_a_thread(work) -> tuple[threading.Thread, list]:
    """`work` started in a thread of its own (the other tab), and the list that will hold what it raised."""
    raised = []

    def run():
        try:
            work()
        except BaseException as error:  # re-raised by the test, so that it fails with it
            raised.append(error)

    tab = threading.Thread(target=run)
    tab.start()
    return tab, raised


def finished(tab: threading.Thread, raised: list) -> None:
    tab.join(30)
    assert not tab.is_alive()
    if raised:
        raise raised[0]


def waits_for(holder, work) -> None:
    """`work` in a thread of its own (the other tab): it waits for a lock `holder` has, an uncommitted transaction (a
    checkout, an add), which then commits, and it finishes."""
    tab, raised = in_a_thread(work)
    try:
        assert waiting_for(holder)
        holder.commit()
    finally:
        holder.close()
        finished(tab, raised)
