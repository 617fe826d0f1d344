"""Orders with a runner who fills in their own details, paid through the real fulfillment (so the invitation goes out)."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from models import OutboxMessage, Profile, Race, Registration, TicketType
from services import race_editing
from services.fulfillment import pay_on_test_gateway
from services.runners import RunnerDetails, save_runner
from tests.factories import make_cart, make_profile, make_race, put_at_payment_step

LINK = re.compile(r"https?://\S+/runner-details/[A-Za-z0-9_.\-]+")


def make_friend_race(db, *, closes_in: timedelta = timedelta(days=20), **kw) -> Race:
    """A published race a month ahead with a 10K (adults) and a Kids 1K (6 to 12), a waiver, sign-up closing in 20 days."""
    kw.setdefault("tickets", [("10K", 4500, 50), ("Kids 1K", 500, 40)])
    kw.setdefault("tshirt_sizes", "S,M,L")
    race = make_race(db, organizer=kw.pop("organizer", None) or make_profile(db, full_name="Olga Organizer",
                                                                             email="olga@example.com"), **kw)
    race.ticket_types[0].min_age = 18
    race.ticket_types[1].min_age, race.ticket_types[1].max_age = 6, 12
    race.registration_closes_at = datetime.now(UTC).replace(microsecond=0) + closes_in
    race_editing.set_waiver_text(db.session, race, "I run at my own risk.")
    db.session.commit()
    return race


def buy_for_friend(db, race: Race, *, buyer: Profile | None = None, friend=("Ben", "Okafor", "ben@example.com"),
                   ticket_type=None, now: datetime | None = None) -> Registration:
    """The buyer's own ticket plus one for a friend who fills in and signs by link, paid on the test gateway."""
    buyer = buyer or make_profile(db, full_name="Ana López", email="ana@example.com")
    adult = db.session.scalars(select(TicketType).where(TicketType.race_id == race.id).order_by(TicketType.position)).first()
    ticket_type = ticket_type or adult
    items = {adult: 2} if ticket_type.id == adult.id else {adult: 1, ticket_type: 1}
    order = make_cart(db, race, items, buyer=buyer)
    registrations = list(db.session.scalars(select(Registration).where(Registration.order_id == order.id)
                                            .order_by(Registration.id)))
    first, last, email = friend
    friend_ticket = registrations[-1]
    save_runner(db.session, friend_ticket, RunnerDetails(first_name=first, last_name=last, email=email,
                                                         runner_fills_in=True),
                race=race, ticket_type=ticket_type, waiver=None, now=now or datetime.now(UTC), ip="")
    put_at_payment_step(db, order, (now or datetime.now(UTC)) + timedelta(minutes=30))
    pay_on_test_gateway(db.session, order, now or datetime.now(UTC))
    return db.session.get(Registration, friend_ticket.id)


def emails(db, kind: str | None = None, to: str | None = None) -> list[OutboxMessage]:
    db.session.expire_all()
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    rows = list(db.session.scalars(query))
    return [row for row in rows if to is None or to in row.to_address]


def link_in(message: OutboxMessage) -> str:
    """The personal link in an invitation, as a path on this site."""
    match = LINK.search(message.text_body)
    assert match, message.text_body
    return "/runner-details/" + match.group(0).rsplit("/runner-details/", 1)[1]
