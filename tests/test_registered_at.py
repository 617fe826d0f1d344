"""The stored `registrations.registered_at` is what the registrant list computed before it was stored:
the order's payment time, or the registration's creation while unpaid; transfers and distance changes keep it."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import func, insert, select

from models import Order, Registration
from services.checkout import reserve
from services.fulfillment import pay_on_test_gateway
from services.payments import gateway_for
from services.registration_changes.start import start_distance_change, start_transfer
from tests.change_factories import buyer_actor, make_change_race, paid_ticket, ticket_type, urls
from tests.factories import make_cart, make_race
from tests.test_registration_changes import BO


def the_old_expression(db, registration_ids) -> dict[int, datetime]:
    """What the list showed before the column: coalesce(orders.paid_at, registrations.created_at)."""
    return dict(db.session.execute(
        select(Registration.id, func.coalesce(Order.paid_at, Registration.created_at))
        .join(Order, Order.id == Registration.order_id).where(Registration.id.in_(registration_ids))).all())


def stored(db, registration_ids) -> dict[int, datetime]:
    db.session.expire_all()
    return dict(db.session.execute(select(Registration.id, Registration.registered_at)
                                   .where(Registration.id.in_(registration_ids))).all())


def test_a_cart_a_reservation_and_a_payment_store_what_the_old_expression_gave(db, app):
    race = make_race(db, tickets=[("10K", 4500, 10), ("5K", 3000, 10)])
    ten_k, five_k = race.ticket_types
    order = make_cart(db, race, {ten_k: 2, five_k: 1})
    ids = [r.id for r in db.session.scalars(select(Registration).where(Registration.order_id == order.id))]
    in_cart = stored(db, ids)
    assert in_cart == the_old_expression(db, ids)  # to the microsecond: created_at, until paid
    reserve(db.session, db.session.get(Order, order.id), datetime.now(UTC))
    assert stored(db, ids) == in_cart == the_old_expression(db, ids)

    paid = datetime.now(UTC) + timedelta(minutes=7)
    pay_on_test_gateway(db.session, db.session.get(Order, order.id), paid)
    assert stored(db, ids) == the_old_expression(db, ids) == dict.fromkeys(ids, paid)


def test_a_transfer_and_distance_changes_keep_it(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    before = stored(db, [ticket.id])
    assert before == the_old_expression(db, [ticket.id])
    with current_app.test_request_context():
        start_transfer(db.session, gateway_for(app), ticket, BO, buyer_actor(db, ticket), datetime.now(UTC), urls)
    assert stored(db, [ticket.id]) == before == the_old_expression(db, [ticket.id])

    ticket = db.session.get(Registration, ticket.id)
    with current_app.test_request_context():  # cheaper: changed at once
        start_distance_change(db.session, gateway_for(app), ticket, ticket_type(db, race, "5K").id,
                              buyer_actor(db, ticket), datetime.now(UTC), urls)
    ticket = db.session.get(Registration, ticket.id)
    with current_app.test_request_context():  # dearer: changed once its difference is paid, by an order of its own
        dearer = start_distance_change(db.session, gateway_for(app), ticket, ticket_type(db, race, "Half").id,
                                       buyer_actor(db, ticket), datetime.now(UTC), urls)
    pay_on_test_gateway(db.session, db.session.get(Order, dearer.change.order_id), datetime.now(UTC) + timedelta(days=1))
    assert db.session.get(Registration, ticket.id, populate_existing=True).ticket_type_id == \
        ticket_type(db, race, "Half").id
    assert stored(db, [ticket.id]) == before == the_old_expression(db, [ticket.id])


def test_rows_inserted_in_bulk_get_their_created_at(db, app):
    race = make_race(db, tickets=[("10K", 4500, 10)])
    order = make_cart(db, race, {race.ticket_types[0]: 1})
    made = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    db.session.execute(insert(Registration), [
        {"order_id": order.id, "race_id": race.id, "ticket_type_id": race.ticket_types[0].id, "created_at": made},
        {"order_id": order.id, "race_id": race.id, "ticket_type_id": race.ticket_types[0].id,
         "created_at": made + timedelta(seconds=1)}])
    db.session.commit()
    ids = list(db.session.scalars(select(Registration.id).where(Registration.created_at >= made)
                                  .order_by(Registration.id)))
    assert list(stored(db, ids).values()) == [made, made + timedelta(seconds=1)]
    assert stored(db, ids) == the_old_expression(db, ids)
