"""Many buyers pressing Pay at the same moment, each on their own database connection (Postgres tests)."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime

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
