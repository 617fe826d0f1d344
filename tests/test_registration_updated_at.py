"""Every change of a registration moves its `updated_at` (the API's delta sync depends on it): an ORM edit, an
UPDATE statement, a bulk update by primary key, and a change of its order's status."""
from __future__ import annotations

import pathlib
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from models import Order, OrderStatus, Registration
from services import clock
from services.checkout import reserve
from services.registrants import bibs, checkin, query
from tests.factories import make_cart, make_profile, recount_race
from tests.registrant_factories import organized_race, runner

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def setting(db):
    organizer = make_profile(db)
    race = organized_race(db, organizer)
    ada = runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    # An explicit value wins over `onupdate`: every row starts long ago.
    db.session.execute(update(Registration).values(updated_at=LONG_AGO))
    db.session.commit()
    return organizer, race, ada


def updated_at(db, registration_id: int) -> datetime:
    db.session.expire_all()
    return db.session.scalar(select(Registration.updated_at).where(Registration.id == registration_id))


def test_an_orm_edit_moves_it(db, setting):
    _, _, ada = setting
    registration = db.session.get(Registration, ada.id)
    registration.club = "Harbour Harriers"
    db.session.commit()
    assert updated_at(db, ada.id) > LONG_AGO


def test_an_update_statement_moves_it(db, setting):
    organizer, race, ada = setting
    checkin.check_in(db.session, query.registration_for_race(db.session, race.id, ada.id), organizer.id, clock.now())
    db.session.commit()
    assert updated_at(db, ada.id) > LONG_AGO


def test_a_bulk_update_by_primary_key_moves_it(db, setting):
    organizer, race, ada = setting
    bibs.assign_bibs(db.session, race.id, {"ticket_type": str(race.ticket_types[0].id), "first": "100", "last": "199"},
                     organizer.id, clock.now())
    assert updated_at(db, ada.id) > LONG_AGO


def test_a_change_of_its_orders_status_moves_it(db, setting):
    _, _, ada = setting
    order = db.session.get(Order, ada.order_id)
    order.status = OrderStatus.REFUNDED
    recount_race(db, order.race_id)
    db.session.commit()
    assert updated_at(db, ada.id) > LONG_AGO


def test_a_checkout_holding_its_spots_moves_it(db, setting):
    """Checkout writes its order's new status with a statement of its own (services/checkout.py), not a flush."""
    _, race, _ = setting
    cart = make_cart(db, race, {race.ticket_types[0]: 2})
    db.session.execute(update(Registration).values(updated_at=LONG_AGO))
    db.session.commit()
    reserve(db.session, db.session.get(Order, cart.id), clock.now())
    tickets = db.session.scalars(select(Registration.id).where(Registration.order_id == cart.id)).all()
    assert len(tickets) == 2 and all(updated_at(db, ticket) > LONG_AGO for ticket in tickets)
    assert db.session.get(Order, cart.id).status == OrderStatus.PENDING


def test_a_change_of_another_column_of_the_order_leaves_it(db, setting):
    _, _, ada = setting
    order = db.session.get(Order, ada.order_id)
    order.problem = "noted"
    db.session.commit()
    assert updated_at(db, ada.id) == LONG_AGO


def test_no_code_updates_registrations_behind_sqlalchemys_back():
    """`onupdate` covers every UPDATE SQLAlchemy builds; raw SQL would slip past it."""
    root = pathlib.Path(__file__).parent.parent
    raw = [path for folder in ("services", "blueprints", "models") for path in (root / folder).rglob("*.py")
           if re.search(r"UPDATE\s+registrations", path.read_text(), re.IGNORECASE)]
    assert raw == []
