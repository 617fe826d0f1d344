"""Test data for the registrant and check-in pages: paid runners one at a time, or thousands at once."""
from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert

from models import Order, OrderStatus, OrganizerRole, Race, RaceOrganizer, Registration, TicketType, WaiverVersion
from services import race_editing
from services.inventory import recount
from tests.factories import login, make_profile, make_race

_seq = itertools.count(1)


def organized_race(db, organizer, **kw) -> Race:
    """A published race with a 10K and a 5K and a waiver, organized by `organizer`."""
    kw.setdefault("tickets", [("10K", 4500, 3000), ("5K", 3000, 3000)])
    race = make_race(db, organizer=organizer, **kw)
    race_editing.set_waiver_text(db.session, race, "I run at my own risk.")
    db.session.commit()
    return race


def waiver_of(db, race) -> WaiverVersion:
    return race_editing.current_waiver(db.session, race.id)


def add_co_organizer(db, race, profile) -> None:
    db.session.add(RaceOrganizer(race_id=race.id, profile_id=profile.id, role=OrganizerRole.CO_ORGANIZER))
    db.session.commit()


def runner(db, race: Race, ticket_type: TicketType, first="Ada", last=None, *, status=OrderStatus.PAID,
           email=None, bib=None, checked_in_at=None, refunded=False, buyer=None, paid_at=None,
           reserved_until=None, **fields) -> Registration:
    """One registration in its own order, with the runner's details and a signed waiver."""
    n = next(_seq)
    fields.setdefault("date_of_birth", date(1990, 5, 17))
    last = last if last is not None else f"Runner{n}"
    buyer = buyer or make_profile(db)
    now = datetime.now(UTC).replace(microsecond=0)
    waiver = waiver_of(db, race)
    order = Order(race_id=race.id, buyer_id=buyer.id, status=status, currency=race.currency,
                  subtotal=ticket_type.price, total=ticket_type.price,
                  paid_at=paid_at or (now if status in (OrderStatus.PAID, OrderStatus.REFUNDED) else None),
                  reserved_until=reserved_until)
    registration = Registration(
        race_id=race.id, ticket_type_id=ticket_type.id, price=ticket_type.price, first_name=first, last_name=last,
        email=email or f"{first.lower()}.{n}@example.com", tshirt_size="M",
        emergency_name="Grace Hopper", emergency_phone="+1 555 0100", waiver_version_id=waiver.id if waiver else None,
        waiver_signature=f"{first} {last}", waiver_signed_at=now - timedelta(days=2), waiver_ip="203.0.113.7",
        ticket_code=f"code{n:06d}xyz" if status in (OrderStatus.PAID, OrderStatus.REFUNDED) else None,
        bib=bib, checked_in_at=checked_in_at, refunded_at=now if refunded or status == OrderStatus.REFUNDED else None,
        **({"registered_at": order.paid_at} if order.paid_at else {}), **fields)
    order.registrations = [registration]
    db.session.add(order)
    db.session.commit()
    recount(db.session, [ticket_type.id])  # written straight to the table: the stored count is recounted
    db.session.commit()
    return registration


def awaiting_runner(db, race: Race, ticket_type: TicketType, first="Fay", last="Friend", **kw) -> Registration:
    """A paid ticket bought with "Let them fill in and sign": only the runner's name and email, nothing signed."""
    registration = runner(db, race, ticket_type, first, last, **kw)
    registration.runner_fills_in, registration.runner_details_at = True, None
    registration.date_of_birth, registration.tshirt_size = None, ""
    registration.emergency_name = registration.emergency_phone = ""
    registration.waiver_version_id, registration.waiver_signed_at = None, None
    registration.waiver_signature = registration.waiver_ip = ""
    db.session.commit()
    return registration


def many_paid_runners(db, race: Race, ticket_type: TicketType, count: int) -> None:
    """`count` paid runners in one go: two INSERT statements, not thousands of factory calls."""
    buyer = make_profile(db)
    order_id = uuid.uuid4()
    now = datetime.now(UTC).replace(microsecond=0)
    db.session.execute(insert(Order), [{
        "id": order_id, "race_id": race.id, "buyer_id": buyer.id, "status": OrderStatus.PAID, "currency": race.currency,
        "subtotal": 0, "discount": 0, "tax": 0, "total": 0, "checkout_url": "", "problem": "", "paid_at": now,
        "created_at": now, "updated_at": now}])
    waiver = waiver_of(db, race)
    base = next(_seq) * 100_000
    db.session.execute(insert(Registration), [{
        "order_id": order_id, "order_status": OrderStatus.PAID, "race_id": race.id, "ticket_type_id": ticket_type.id,
        "price": ticket_type.price, "first_name": f"Bulk{i:05d}", "last_name": "Runner", "email": f"bulk{base + i}@example.com",
        "gender": "", "tshirt_size": "M", "emergency_name": "Grace Hopper", "emergency_phone": "+1 555 0100",
        "waiver_version_id": waiver.id if waiver else None, "waiver_signature": f"Bulk{i:05d} Runner",
        "waiver_guardian_name": "", "waiver_ip": "203.0.113.7", "waiver_signed_at": now,
        "ticket_code": f"bulk{base + i:012d}", "created_at": now, "registered_at": now} for i in range(count)])
    recount(db.session, [ticket_type.id])
    db.session.commit()


# Fixtures shared by the registrants and check-in tests: an organizer, their race, signed in.
@pytest.fixture
def organizer(db):
    return make_profile(db, full_name="Olga Organizer", email="olga@example.com")


@pytest.fixture
def race(db, organizer):
    return organized_race(db, organizer, slug="lake-10k", title="Lake 10K")


@pytest.fixture
def signed_in(client, organizer):
    login(client, organizer)
    return client
