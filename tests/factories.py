"""Plain factory functions that make readable test data: make_race(db, title=…)."""
from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import Order, OrderStatus, Profile, Race, RaceSocialLink, RaceStatus, Registration, TicketType

_seq = itertools.count(1)


def make_profile(db, **kw) -> Profile:
    n = next(_seq)
    profile = Profile(id=kw.pop("id", uuid.uuid4()), email=kw.pop("email", f"runner{n}@example.com"),
                      full_name=kw.pop("full_name", f"Runner {n}"), **kw)
    db.session.add(profile)
    db.session.commit()
    return profile


def make_race(db, *, organizer: Profile | None = None, tickets=(("5K", 2500, 100),),
              social=(), **kw) -> Race:
    """A published race a month ahead; `tickets` is (name, price, capacity) tuples."""
    n = next(_seq)
    organizer = organizer or make_profile(db)
    kw.setdefault("slug", f"race-{n}")
    kw.setdefault("title", f"Race number {n}")
    kw.setdefault("starts_at", datetime.now(UTC).replace(microsecond=0) + timedelta(days=30))
    kw.setdefault("timezone", "America/New_York")
    kw.setdefault("location_name", "Central Park")
    kw.setdefault("address", "New York, NY")
    kw.setdefault("status", RaceStatus.PUBLISHED)
    kw.setdefault("currency", "USD")
    race = Race(organizer_id=organizer.id, **kw)
    race.ticket_types = [TicketType(name=name, price=price, capacity=capacity, position=i)
                         for i, (name, price, capacity) in enumerate(tickets)]
    race.social_links = [RaceSocialLink(kind=kind, url=url, position=i)
                         for i, (kind, url) in enumerate(social)]
    db.session.add(race)
    db.session.commit()
    # Relationships are lazy="raise" in the app; hand tests a race with them loaded.
    return db.session.scalar(select(Race).where(Race.id == race.id).options(
        selectinload(Race.ticket_types), selectinload(Race.social_links)))


def make_order(db, race: Race, ticket_type: TicketType, quantity: int = 1, *,
               status: OrderStatus = OrderStatus.PAID, buyer: Profile | None = None,
               reserved_until: datetime | None = None) -> Order:
    buyer = buyer or make_profile(db)
    order = Order(race_id=race.id, buyer_id=buyer.id, status=status, currency=race.currency,
                  reserved_until=reserved_until)
    order.registrations = [
        Registration(race_id=race.id, ticket_type_id=ticket_type.id, price=ticket_type.price,
                     first_name="Ada", last_name=f"Runner {i}", email=buyer.email)
        for i in range(quantity)
    ]
    db.session.add(order)
    db.session.commit()
    return order
