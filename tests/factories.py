"""Plain factory functions that make readable test data: make_race(db, title=…)."""
from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.security import generate_password_hash

from blueprints.auth import ACCESS_COOKIE, REFRESH_COOKIE
from extensions import db as _db
from models import (
    DiscountCode,
    DiscountKind,
    LocalUser,
    Order,
    OrderStatus,
    OrganizerRole,
    Profile,
    Race,
    RaceOrganizer,
    RaceSocialLink,
    RaceStatus,
    Registration,
    TicketType,
    WaiverVersion,
    waiver_digest,
)
from services.auth import AuthSession
from services.auth.local import LocalAuth, local_jwt_secret
from services.auth.providers import token_issuer
from services.fulfillment import Payment, fulfill, new_ticket_code
from services.inventory import recount
from services.markdown import render_markdown
from services.pricing import quote_order, store_totals

_seq = itertools.count(1)


def forged(token: str) -> str:
    """`token` (or a link ending with one) with a character of its signature changed: the third from last, whose six
    bits all count. Changing the last ones could leave the signature as it was: a base64 signature's last character
    carries padding bits, and a replacement may equal what was there (a test failed so about one run in a thousand).
    """
    i = len(token) - 3
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


def make_profile(db, **kw) -> Profile:
    n = next(_seq)
    profile = Profile(id=kw.pop("id", uuid.uuid4()), email=kw.pop("email", f"runner{n}@example.com"),
                      full_name=kw.pop("full_name", f"Runner {n}"), **kw)
    db.session.add(profile)
    db.session.commit()
    return profile


def make_account(db, email: str, password: str, **kw) -> Profile:
    """Someone who signed up earlier with the embedded provider: a profile and a confirmed password login."""
    profile = make_profile(db, email=email, **kw)
    db.session.add(LocalUser(id=profile.id, email=email, full_name=profile.full_name,
                             password_hash=generate_password_hash(password), email_confirmed_at=datetime.now(UTC)))
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
    kw.setdefault("description_html", render_markdown(kw.get("description", "")))  # as the editor saves it
    race = Race(organizer_id=organizer.id, **kw)
    race.ticket_types = [TicketType(name=name, price=price, capacity=capacity, position=i)
                         for i, (name, price, capacity) in enumerate(tickets)]
    race.social_links = [RaceSocialLink(kind=kind, url=url, position=i)
                         for i, (kind, url) in enumerate(social)]
    db.session.add(race)
    db.session.flush()
    db.session.add(RaceOrganizer(race_id=race.id, profile_id=organizer.id, role=OrganizerRole.OWNER))
    db.session.commit()
    # Relationships are lazy="raise" in the app; hand tests a race with them loaded.
    return db.session.scalar(select(Race).where(Race.id == race.id).options(
        selectinload(Race.ticket_types), selectinload(Race.social_links)))


def make_order(db, race: Race, ticket_type: TicketType, quantity: int = 1, *,
               status: OrderStatus = OrderStatus.PAID, buyer: Profile | None = None,
               reserved_until: datetime | None = None) -> Order:
    buyer = buyer or make_profile(db)
    if status == OrderStatus.PENDING and reserved_until is None:  # every pending order has an end: this one's is past
        reserved_until = datetime.now(UTC)
    order = Order(race_id=race.id, buyer_id=buyer.id, status=status, currency=race.currency,
                  reserved_until=reserved_until)
    order.registrations = [
        Registration(race_id=race.id, ticket_type_id=ticket_type.id, price=ticket_type.price,
                     first_name="Ada", last_name=f"Runner {i}", email=buyer.email)
        for i in range(quantity)
    ]
    db.session.add(order)
    db.session.commit()
    recount(db.session, [ticket_type.id])  # written straight to the table: the stored count is recounted
    db.session.commit()
    return order


def make_code(db, race: Race, **kw):
    """A discount code for `race`: 10 % off everything unless told (amount_off=… makes it fixed)."""
    n = next(_seq)
    kw.setdefault("code", f"CODE{n}")
    if kw.get("amount_off") is not None:
        kw.setdefault("kind", DiscountKind.AMOUNT)
    else:
        kw.setdefault("kind", DiscountKind.PERCENT)
        kw.setdefault("percent_off", 10)
    code = DiscountCode(race_id=race.id, **kw)
    db.session.add(code)
    db.session.commit()
    return code


def tokens_for(app, profile: Profile) -> AuthSession:
    """A fresh access and refresh token for `profile`, as signing in with the embedded auth provider gives."""
    with app.app_context():
        user = _db.session.get(LocalUser, profile.id)
        if user is None:
            user = LocalUser(id=profile.id, email=profile.email, password_hash="!", full_name=profile.full_name,
                             email_confirmed_at=datetime.now(UTC))
            _db.session.add(user)
            _db.session.flush()
        provider = LocalAuth(_db.session, jwt_secret=local_jwt_secret(app.config["SECRET_KEY"]),
                             issuer=token_issuer(app.config), autoconfirm=True, send_email=lambda *a: None)
        session = provider._start_session(user)
        _db.session.remove()
    return session


def login(client, profile: Profile) -> None:
    """Sign `profile` in on this test client, as the embedded auth provider would."""
    session = tokens_for(client.application, profile)
    client.set_cookie(ACCESS_COOKIE, session.access_token)
    client.set_cookie(REFRESH_COOKIE, session.refresh_token)


def make_cart(db, race: Race, items: dict, *, buyer: Profile | None = None, complete: bool = True,
              code=None) -> Order:
    """A buyer's cart for `race` with {ticket_type: quantity}; runner forms filled and waivers signed."""
    buyer = buyer or make_profile(db)
    waiver = db.session.scalar(select(WaiverVersion).where(WaiverVersion.race_id == race.id)
                               .order_by(WaiverVersion.number.desc()))
    if waiver is None:
        waiver = WaiverVersion(race_id=race.id, number=1, text="I run at my own risk.",
                               sha256=waiver_digest("I run at my own risk."))
        db.session.add(waiver)
        db.session.flush()
    order = Order(race_id=race.id, buyer_id=buyer.id, status=OrderStatus.CART, currency=race.currency,
                  discount_code_id=code.id if code is not None else None)
    n = 0
    for ticket_type, quantity in items.items():
        for _ in range(quantity):
            n += 1
            registration = Registration(race_id=race.id, ticket_type_id=ticket_type.id, price=ticket_type.price)
            if complete:
                first, last = "Ada", f"Runner{n}"
                registration.first_name, registration.last_name = first, last
                registration.email = buyer.email
                registration.date_of_birth = date(1990, 5, 17)
                registration.tshirt_size = race.tshirt_size_list[0] if race.tshirt_size_list else ""
                registration.emergency_name, registration.emergency_phone = "Grace Runner", "+1 555 0100"
                registration.waiver_version_id = waiver.id
                registration.waiver_signature = f"{first} {last}"
                registration.waiver_signed_at = datetime.now(UTC)
                registration.waiver_ip = "127.0.0.1"
            order.registrations.append(registration)
    db.session.add(order)
    db.session.commit()
    store_totals(order, quote_order(db.session, order))
    db.session.commit()
    return order


def make_paid_order(db, race: Race, items: dict, *, buyer: Profile | None = None, code=None,
                    paid_at: datetime | None = None, runners: list[dict] | None = None) -> Order:
    """A paid order priced like checkout prices it (code, tax), with tickets issued.

    `runners` overrides each registration's fields in turn, e.g. [{"tshirt_size": "M", "gender": "Female"}].
    """
    order = make_cart(db, race, items, buyer=buyer, code=code)
    registrations = list(db.session.scalars(select(Registration).where(Registration.order_id == order.id)
                                            .order_by(Registration.id)))
    for registration, fields in zip(registrations, runners or [], strict=False):
        for name, value in fields.items():
            setattr(registration, name, value)
    order.status = OrderStatus.PAID
    order.paid_at = paid_at or datetime.now(UTC)
    for registration in registrations:
        registration.ticket_code = new_ticket_code()
        registration.registered_at = order.paid_at  # as services/fulfillment.py issues tickets
    order.payment_intent_id = f"test_pi_{uuid.uuid4().hex[:16]}"
    recount(db.session, [t.id for t in items])
    db.session.commit()
    return order


def recount_race(db, race) -> None:
    """After a test wrote tickets or orders straight to the tables (a refund, a status, a ticket moved or deleted):
    the stored counts of the race's ticket types (`race`: a Race or its id) recounted, as the app's own changes keep
    them (services/inventory.py). The suite checks them after every test (tests/conftest.py). No commit."""
    race_id = race if isinstance(race, int) else race.id
    recount(db.session, db.session.scalars(select(TicketType.id).where(TicketType.race_id == race_id)))


def put_at_payment_step(db, order: Order, reserved_until: datetime) -> Order:
    """The order pending until `reserved_until`, written as a test's set-up writes it (checkout would refuse a
    hold that has run out), its ticket types' stored counts recounted. Commits."""
    order.status, order.reserved_until = OrderStatus.PENDING, reserved_until
    db.session.flush()
    recount(db.session, db.session.scalars(select(Registration.ticket_type_id).where(Registration.order_id == order.id)))
    db.session.commit()
    return order


def make_lake_run_order(app, db, *, buyer_language: str | None = None, race_language: str = "en") -> Order:
    """Bea buys two 10K tickets for Lake Run, one for herself and one for her friend Carl, and pays: fulfilled as
    the webhook fulfils it (tickets, confirmation emails queued)."""
    buyer = make_profile(db, email="bea@example.com", full_name="Bea Buyer", language=buyer_language)
    race = make_race(db, slug="lake-run", title="Lake Run", location_name="Boathouse", address="1 Lake Rd",
                     timezone="America/Chicago", starts_at=datetime(2031, 5, 3, 13, 0, tzinfo=UTC),
                     tickets=[("10K", 4500, 50)], language=race_language)
    order = make_order(db, race, race.ticket_types[0], 2, status=OrderStatus.PENDING, buyer=buyer,
                       reserved_until=datetime.now(UTC) + timedelta(minutes=20))
    order.subtotal = order.total = 9000
    second = order.registrations[1]
    second.first_name, second.last_name, second.email = "Carl", "Friend", "carl@example.com"
    db.session.commit()
    with app.app_context():
        assert fulfill(_db.session, order.id, Payment(9000, "USD", "pi_test_1"), datetime.now(UTC)).result == "paid"
        _db.session.commit()
    return order
