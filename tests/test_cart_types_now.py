"""The cart page reads its ticket types' price steps and spots left in one statement (cart_status.types_now): it
must read what price_tiers.price_book and inventory.held_counts read apart, whatever holds the spots."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from models import OrderStatus, PriceTier, WaitlistEntry, WaitlistStatus
from services import clock
from services.cart_status import types_now
from services.checkout import reserve
from services.inventory import held_counts
from services.price_tiers import price_book
from tests.factories import make_cart, make_order, make_race

JAN_15 = datetime(2027, 1, 15, 17, 0, tzinfo=UTC)
RACE_DAY = datetime(2027, 3, 6, 13, 0, tzinfo=UTC)


def test_one_statement_reads_what_the_price_book_and_the_held_counts_read(db):
    clock.freeze(JAN_15)
    now = clock.now()
    race = make_race(db, starts_at=RACE_DAY, tickets=[("Half", 4000, 50), ("10K", 3000, 10), ("5K", 2000, 5)])
    half, ten_k, five_k = race.ticket_types
    db.session.add_all([PriceTier(ticket_type_id=half.id, position=0, price=3500, until_sold=3, label="First 3"),
                        PriceTier(ticket_type_id=half.id, position=1, price=4000, starts_on=date(2027, 2, 1)),
                        PriceTier(ticket_type_id=half.id, position=2, price=4500, starts_on=date(2027, 3, 1)),
                        PriceTier(ticket_type_id=ten_k.id, position=0, price=3000)])
    db.session.commit()
    reserve(db.session, make_cart(db, race, {half: 2}), now)  # two early tickets held at the payment step
    make_order(db, race, ten_k, 4)  # paid
    make_order(db, race, five_k, 1, status=OrderStatus.PENDING, reserved_until=now - timedelta(minutes=1))  # lapsed
    cart = make_cart(db, race, {half: 1, ten_k: 2, five_k: 1})
    db.session.add_all([
        WaitlistEntry(race_id=race.id, ticket_type_id=ten_k.id, email="mine@example.com", name="Mine", spots=2,
                      nonce="a" * 16, status=WaitlistStatus.OFFERED, offered_spots=2, order_id=cart.id,
                      offer_expires_at=now + timedelta(hours=1)),
        WaitlistEntry(race_id=race.id, ticket_type_id=ten_k.id, email="other@example.com", name="Other", spots=1,
                      nonce="b" * 16, status=WaitlistStatus.OFFERED, offered_spots=1,
                      offer_expires_at=now + timedelta(hours=1)),
        WaitlistEntry(race_id=race.id, ticket_type_id=five_k.id, email="wait@example.com", name="Wait", spots=1,
                      nonce="c" * 16)])
    db.session.commit()
    ids = {half.id, ten_k.id, five_k.id}

    book, held = types_now(db.session, race, cart, now)  # the cart's types: `ids`

    apart = price_book(db.session, race, ids, now)
    assert (book.steps, book.sold, book.today) == (apart.steps, apart.sold, apart.today)
    assert book.sold[book.steps[half.id][0].id] == 2 and five_k.id not in book.steps
    assert held == held_counts(db.session, sorted(ids), now, cart.id)
    assert (held[ten_k.id].tickets, held[ten_k.id].offers, held[ten_k.id].offers_for_order) == (4, 3, 2)
    assert held[five_k.id].waiting and held[five_k.id].tickets == 0
