"""The registrant list's counts per status, read from the stored sold counts and the few other registrants,
equal a plain count of the rows after payments, refunds (one ticket and whole orders), money for a full race,
live and expired holds, and runners who fill in their own details: for every status, details filter and
ticket type, and the same as the counts of a filtered list that counts its rows."""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from models import Order, OrderStatus, Registration, TicketType
from services.checkout import expire_reservations, reserve
from services.fulfillment import Payment, fulfill, pay_on_test_gateway
from services.payments import gateway_for
from services.refunds import request_refund
from services.registrants.listing import registrant_page
from services.registrants.query import DETAILS, STATUSES, RegistrantFilters, registrant_status
from tests.factories import make_cart, make_profile, make_race

LISTED = (OrderStatus.PAID, OrderStatus.NEEDS_REFUND, OrderStatus.REFUNDED)


def now() -> datetime:
    return datetime.now(UTC)


def plain_counts(db, race, at: datetime, details: str, ticket: int | None) -> tuple[Counter, Counter]:
    """Per status: the listed registrants and those waiting for their runner, counted in Python from the rows."""
    rows = db.session.execute(
        select(Order.status, Order.reserved_until, Registration.refunded_at, Registration.runner_fills_in,
               Registration.runner_details_at, Registration.ticket_type_id)
        .join(Order, Order.id == Registration.order_id).where(Registration.race_id == race.id))
    everyone, awaiting = Counter(), Counter()
    for status, until, refunded_at, fills_in, details_at, type_id in rows:
        live = status == OrderStatus.PENDING and until is not None and until.replace(tzinfo=UTC) > at
        if (status not in LISTED and not live) or (ticket is not None and type_id != ticket):
            continue
        name = registrant_status(status, refunded_at)
        waiting = bool(fills_in) and details_at is None
        if details == "" or (details == "pending") == waiting:
            everyone[name] += 1
        awaiting[name] += waiting
    return everyone, awaiting


def assert_counts_are_plain(db, race, at: datetime) -> None:
    types = [None, *db.session.scalars(select(TicketType.id).where(TicketType.race_id == race.id))]
    db.session.expire_all()
    for ticket in types:
        for details in DETAILS:
            everyone, awaiting = plain_counts(db, race, at, details, ticket)
            for status in STATUSES:
                for narrowed in ("", "no"):  # stored counts, and the filtered list's own COUNT
                    filters = RegistrantFilters(status=status, details=details, ticket=ticket, checked_in=narrowed)
                    page = registrant_page(db.session, race.id, filters, at)
                    expected = {name: everyone[name] for name in STATUSES if name != "all"}
                    assert page.status_counts == {**expected, "all": sum(expected.values())}, (filters, narrowed)
                    shown = [name for name in expected if status in ("all", name)]
                    assert page.awaiting == sum(awaiting[name] for name in shown), (filters, narrowed)
                    assert page.total == page.status_counts[status]


def paid_order(db, app, race, items: dict) -> Order:
    order = make_cart(db, race, items)
    reserve(db.session, db.session.get(Order, order.id), now())
    pay_on_test_gateway(db.session, db.session.get(Order, order.id), now())
    return order


def refund(db, app, order_id, registration_id=None) -> None:
    request_refund(db.session, gateway_for(app), order_id, registration_id, make_profile(db), now())


def test_the_stored_counts_equal_a_plain_count_after_payments_refunds_holds_and_expiry(db, app):
    race = make_race(db, tickets=[("10K", 4500, 8), ("5K", 3000, 20)])
    ten_k, five_k = race.ticket_types
    assert_counts_are_plain(db, race, now())

    paid = [paid_order(db, app, race, {ten_k: 2, five_k: 1}), paid_order(db, app, race, {five_k: 3})]
    first = db.session.scalars(select(Registration).where(Registration.order_id == paid[0].id)
                               .order_by(Registration.id)).first()
    # A runner who fills in their own details (bought with "Let them fill in and sign"), one of them refunded.
    db.session.execute(update(Registration).where(Registration.order_id.in_([o.id for o in paid]))
                       .values(runner_fills_in=True))
    db.session.commit()
    assert_counts_are_plain(db, race, now())

    refund(db, app, paid[0].id, first.id)      # one ticket
    refund(db, app, paid[1].id)                # a whole order
    assert_counts_are_plain(db, race, now())

    held = make_cart(db, race, {ten_k: 3, five_k: 2})
    reserve(db.session, db.session.get(Order, held.id), now())
    late = make_cart(db, race, {ten_k: 3})
    reserve(db.session, db.session.get(Order, late.id), now())
    assert_counts_are_plain(db, race, now())
    assert_counts_are_plain(db, race, now() + timedelta(hours=2))  # the holds shown as run out, not yet expired

    # The holds expire; the late buyer's money arrives for a race that filled up meanwhile.
    assert expire_reservations(db.session, gateway_for(app), now() + timedelta(hours=2)) == 2
    paid_order(db, app, race, {ten_k: 7})
    outcome = fulfill(db.session, late.id, Payment(late.total, "USD", "pi_late"), now())
    db.session.commit()
    assert outcome.result == "needs_refund"
    assert_counts_are_plain(db, race, now())

    refund(db, app, late.id)
    assert_counts_are_plain(db, race, now())
