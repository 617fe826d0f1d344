"""Deleting a race (no sales, only carts) at the moment a buyer makes a new cart for it, on Postgres: whichever
commits first, nobody gets a 500. The delete that meets the new cart reads the carts again and deletes it too; the
buyer whose cart meets the deleted race is told the race is gone."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from extensions import db as database
from models import Order, Race
from services import clock
from services.cart import CartOwner, RaceGone, add_tickets, get_or_create_cart
from services.race_editing import delete_race
from tests.concurrency import finished, in_a_thread, waiting_for, waits_for
from tests.factories import make_cart, make_profile, make_race


def _engine(app):
    with app.app_context():
        return database.engine


@pytest.mark.postgres
def test_a_race_deleted_while_a_buyer_makes_a_new_cart_waits_for_it_and_deletes_it_too(app, db):
    race = make_race(db, tickets=[("10K", 4500, 10)])
    old_cart = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=make_profile(db))
    buyer, engine, race_id, old_cart_id = make_profile(db), _engine(app), race.id, old_cart.id
    adding = Session(engine)  # the buyer's first add, its new cart made and not yet committed
    get_or_create_cart(adding, CartOwner(profile_id=buyer.id), adding.get(Race, race.id))
    adding.flush()
    outcome = {}

    def delete():
        with app.app_context(), Session(engine) as session:
            delete_race(session, None, session.get(Race, race.id))
            outcome["deleted"] = True

    waits_for(adding, delete)  # the delete can't see the new cart until it commits, then meets its foreign key

    assert outcome == {"deleted": True}
    db.session.expire_all()
    assert db.session.get(Race, race_id) is None and db.session.get(Order, old_cart_id) is None
    assert db.session.scalar(select(func.count()).select_from(Order).where(Order.race_id == race_id)) == 0


@pytest.mark.postgres
def test_a_buyer_adding_a_ticket_to_a_new_cart_while_the_race_is_deleted_ends_in_neither_a_deadlock_nor_a_500(app, db):
    """The buyer's new cart holds the race (its foreign key) when the delete has taken the ticket types out and waits
    for the race; the buyer's ticket then waits for its type: a circle, which Postgres breaks by ending the delete.
    The delete tries again, waits for the buyer, and deletes the new cart with its ticket."""
    from models import Registration

    race = make_race(db, tickets=[("10K", 4500, 10)])
    buyer, engine, race_id, ten_k = make_profile(db), _engine(app), race.id, race.ticket_types[0].id
    adding = Session(engine)
    cart = get_or_create_cart(adding, CartOwner(profile_id=buyer.id), adding.get(Race, race_id))
    adding.flush()
    outcome = {}

    def delete():
        with app.app_context(), Session(engine) as session:
            delete_race(session, None, session.get(Race, race_id))
            outcome["deleted"] = True

    tab, raised = in_a_thread(delete)
    try:
        assert waiting_for(adding)  # the delete, its ticket types gone, waits for the race the new cart holds
        adding.add(Registration(order_id=cart.id, race_id=race_id, ticket_type_id=ten_k, price=4500))
        adding.flush()  # waits for the deleted type until Postgres ends the delete
        adding.commit()
    finally:
        adding.close()
        finished(tab, raised)
    assert outcome == {"deleted": True}
    db.session.expire_all()
    assert db.session.get(Race, race_id) is None
    assert db.session.scalar(select(func.count()).select_from(Order).where(Order.race_id == race_id)) == 0


@pytest.mark.postgres
def test_a_cart_made_for_a_race_being_deleted_says_the_race_is_gone(app, db):
    race = make_race(db, slug="gone", tickets=[("10K", 4500, 10)])
    buyer, engine = make_profile(db), _engine(app)
    deleting = Session(engine)  # the organizer's delete, its rows gone but not yet committed
    deleting.delete(deleting.get(Race, race.id))
    deleting.flush()
    raised = {}

    def add():
        with app.app_context(), Session(engine) as session:
            try:
                add_tickets(session, CartOwner(profile_id=buyer.id), session.get(Race, race.id),
                            {race.ticket_types[0].id: 1}, clock.now())
            except RaceGone:
                raised["gone"] = True

    tab, errors = in_a_thread(add)
    try:
        assert waiting_for(deleting)  # the new cart's foreign key waits for the race's delete
        deleting.commit()
    finally:
        deleting.close()
        finished(tab, errors)
    assert raised == {"gone": True}


def test_the_add_whose_race_went_meanwhile_is_a_404_that_says_so(client, db, monkeypatch):
    race = make_race(db, slug="lake", tickets=[("10K", 4500, 10)])

    def gone(*args, **kwargs):
        raise RaceGone(race.id)

    monkeypatch.setattr("services.cart.add_tickets", gone)
    response = client.post("/races/lake/cart", data={f"qty-{race.ticket_types[0].id}": "1"})
    assert response.status_code == 404 and "no race at this address" in response.get_data(as_text=True)
