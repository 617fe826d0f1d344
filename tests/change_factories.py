"""A race that allows transfers and distance changes, with one paid ticket, for the change tests."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from models import Order, OutboxMessage, Profile, Race, Registration, TicketType
from services.registration_changes.start import Actor
from tests.factories import make_paid_order, make_profile, make_race


def make_change_race(db, *, fee: int = 0, keeps_bib: bool = True, refund_difference: bool = True,
                     half_capacity: int = 50, **kw) -> Race:
    """10K ($45), Half ($60) and 5K ($25); transfers and distance changes open until sign-up closes in 20 days."""
    race = make_race(db, tickets=[("10K", 4500, 50), ("Half", 6000, half_capacity), ("5K", 2500, 50)], **kw)
    race.registration_closes_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)
    race.transfers_enabled = race.distance_changes_enabled = True
    race.transfer_fee, race.transfer_keeps_bib, race.distance_refund_difference = fee, keeps_bib, refund_difference
    db.session.commit()
    return race


def ticket_type(db, race: Race, name: str) -> TicketType:
    return db.session.scalar(select(TicketType).where(TicketType.race_id == race.id, TicketType.name == name))


def paid_ticket(db, race: Race, *, buyer: Profile | None = None, type_name: str = "10K", **fields) -> Registration:
    """One paid 10K ticket for Ada (buyer ana@example.com, unless given)."""
    buyer = buyer or make_profile(db, full_name="Ana Buyer", email="ana@example.com")
    runner = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", **fields}
    order = make_paid_order(db, race, {ticket_type(db, race, type_name): 1}, buyer=buyer, runners=[runner])
    return db.session.scalar(select(Registration).where(Registration.order_id == order.id))


def buyer_actor(db, registration: Registration) -> Actor:
    buyer = db.session.get(Profile, db.session.get(Order, registration.order_id).buyer_id)
    return Actor(buyer.id, buyer.email)


def outbox(db, kind: str) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)))


def urls(change) -> tuple[str, str]:
    return f"http://localhost/done/{change.id}", f"http://localhost/cancel/{change.id}"
