"""Test data for the waitlist: a sold-out race, people in line, a spot freed by a refund, a cart filled in."""
from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from models import OutboxMessage, Registration, WaitlistEntry, WaiverVersion, waiver_digest
from services.inventory import recount
from services.waitlist import join
from tests.factories import make_paid_order, make_race


def sold_out_race(db, capacity: int = 2, **kw):
    """A published race whose one ticket type (the 10K) is sold out: `capacity` paid tickets, one order each."""
    race = make_race(db, tickets=(("10K", 4000, capacity),), **kw)
    ten_k = race.ticket_types[0]
    orders = [make_paid_order(db, race, {ten_k: 1}) for _ in range(capacity)]
    return race, ten_k, orders


def in_line(db, race, ticket_type, now, *, email: str, spots: int = 1, name: str | None = None) -> WaitlistEntry:
    joined = join(db.session, race, ticket_type.id, name=name or email.split("@")[0].title(), email=email,
                  spots=spots, now=now)
    return joined.entry


def refund_one(db, order) -> None:
    """Free one spot the way a refund does: the ticket stops holding it."""
    registration = db.session.scalar(select(Registration).where(Registration.order_id == order.id).limit(1))
    registration.refunded_at = datetime.now(UTC)
    recount(db.session, [registration.ticket_type_id])
    db.session.commit()


def fill_runners(session, order) -> None:
    """Fill in every runner of a cart and sign the waiver, as the cart page would. Commits."""
    waiver = session.scalar(select(WaiverVersion).where(WaiverVersion.race_id == order.race_id))
    if waiver is None:
        waiver = WaiverVersion(race_id=order.race_id, number=1, text="I run at my own risk.",
                               sha256=waiver_digest("I run at my own risk."))
        session.add(waiver)
        session.flush()
    for n, registration in enumerate(session.scalars(select(Registration).where(Registration.order_id == order.id))):
        registration.first_name, registration.last_name = "Wait", f"Lister{n}"
        registration.email = f"lister{n}@example.com"
        registration.date_of_birth = date(1990, 5, 17)
        registration.tshirt_size = "M"
        registration.emergency_name, registration.emergency_phone = "Grace Runner", "+1 555 0100"
        registration.waiver_version_id = waiver.id
        registration.waiver_signature = f"Wait Lister{n}"
        registration.waiver_signed_at = datetime.now(UTC)
        registration.waiver_ip = "127.0.0.1"
    session.commit()


def emails_to(db, address: str, kind: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.to_address.contains(address)).order_by(OutboxMessage.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    return list(db.session.scalars(query))
