"""The benchmark's data: a 5,000-runner race, a few smaller ones, an organizer, a buyer with a cart,
a growth race (500 runners, grown to 5,000 and 50,000 by bench/scale.py), and races of 500 spots for
the opening spike with 1,000 buyers whose carts are ready to pay.

Rows go in with bulk `session.execute(insert(Model), rows)`, so seeding takes seconds, not minutes.
Names, ages, sizes and sign-up dates are drawn from a fixed random seed: every run sees the same race.
"""
from __future__ import annotations

import random
import secrets
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from models import (
    CheckoutSession,
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
    TaxMode,
    TicketType,
    WaiverVersion,
    waiver_digest,
)
from services.demo import LAKESIDE_DESCRIPTION, seed_demo
from services.inventory import recount
from services.markdown import render_markdown

BIG_RACE_SLUG = "riverside-city-marathon"
GROWTH_RACE_SLUG = "lakeshore-mass-run"
GROWTH_STEPS = (500, 5_000, 50_000)  # paid registrations in the growth race, one measurement at each
SPIKE_RACE_SLUG = "opening-day-10k"
SPIKE_SPOTS = 500
SPIKE_BUYERS = 1_000
SMALL_RACE_SLUG = "harbour-night-run"  # one of services/demo.py's races: one ticket type, nobody signed up
REGISTRATIONS = 5_000
PENDING_ORDERS = 50  # paid through the webhook benchmark with real, signed events

WAIVER_TEXT = ("I take part at my own risk. I am fit to run the distance I chose, I will follow the "
               "marshals' instructions, and I agree that photos of the race may show me.")

FIRST_NAMES = [
    "Ada", "Amara", "Ana", "Andrés", "Anika", "Aroha", "Ben", "Camille", "Carlos", "Chen", "Chloé", "Daniel",
    "Deepa", "Diego", "Elif", "Emma", "Erik", "Fatima", "Felix", "Grace", "Hana", "Hiroshi", "Ines", "Isaac",
    "Jack", "Jana", "Jonas", "José", "Kai", "Kavya", "Kofi", "Lars", "Laura", "Leila", "Liam", "Lucía",
    "Maeve", "Malik", "Marta", "Mateo", "Maya", "Mei", "Mohammed", "Nadia", "Noah", "Nora", "Olivia",
    "Omar", "Priya", "Rafael", "Rosa", "Sakura", "Samuel", "Sara", "Sofia", "Tariq", "Thandi", "Tom",
    "Valentina", "Wei", "Yara", "Yusuf", "Zoë", "Zanele",
]
LAST_NAMES = [
    "Adeyemi", "Andersen", "Bakker", "Becker", "Brown", "Castillo", "Chen", "Costa", "Da Silva", "Dubois",
    "Eriksson", "Fernández", "Fischer", "García", "Gupta", "Haddad", "Hansen", "Hernández", "Ivanova",
    "Jensen", "Johnson", "Kaur", "Kim", "Kowalski", "Laurent", "Lee", "López", "Martin", "Mensah",
    "Müller", "Murphy", "Nakamura", "Nguyen", "Novak", "O'Brien", "Okafor", "Park", "Patel", "Pereira",
    "Rossi", "Sato", "Schmidt", "Singh", "Smith", "Suzuki", "Tanaka", "Taylor", "Torres", "Van Dijk",
    "Wang", "Williams", "Wilson", "Yilmaz", "Zhang",
]
EMAIL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "runclub.org", "fastmail.com"]
GENDERS = ["Female", "Male", "Female", "Male", "Non-binary", "Prefer not to say", ""]
SIZES = ["XS", "S", "M", "M", "L", "L", "XL", "XXL"]

OTHER_RACES = [
    # (slug, title, city, timezone, currency, days ahead, [(ticket, price, capacity)])
    ("desert-dawn-half", "Desert Dawn Half Marathon", "Tucson, AZ", "America/Phoenix", "USD", 33,
     [("Half marathon", 7500, 800), ("10K", 4000, 600)]),
    ("fjord-trail-25k", "Fjord Trail 25K", "Bergen, Norway", "Europe/Oslo", "NOK", 64,
     [("25K", 65000, 300), ("12K", 45000, 300), ("Kids 2K", 10000, 100)]),
    ("cherry-blossom-10k", "Cherry Blossom 10K", "Kyoto, Japan", "Asia/Tokyo", "JPY", 95,
     [("10K", 6000, 2000), ("5K", 4000, 1500)]),
    ("canal-loop-5k", "Canal Loop 5K", "Amsterdam, Netherlands", "Europe/Amsterdam", "EUR", 12,
     [("5K", 1800, 400)]),
    ("highland-fling-ultra", "Highland Fling Ultra", "Milngavie, Scotland", "Europe/London", "GBP", 120,
     [("53 miles", 9500, 900)]),
    ("harbour-bridge-run", "Harbour Bridge Run", "Sydney, Australia", "Australia/Sydney", "AUD", 75,
     [("9K", 6900, 5000), ("4K family", 3900, 2000)]),
    ("mountain-goat-trail", "Mountain Goat Trail Race", "Boulder, CO", "America/Denver", "USD", 50,
     [("30K", 8500, 400), ("15K", 5500, 400), ("5K", 3000, 300)]),
    ("river-city-relay", "River City Relay", "Portland, OR", "America/Los_Angeles", "USD", 27,
     [("Team of 4", 16000, 150), ("Solo 10K", 4500, 500)]),
]


@dataclass(frozen=True)
class Buyer:
    """A signed-up account with one complete cart (one ticket) in each spike race, in their order."""

    profile_id: uuid.UUID
    order_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class SpikeRace:
    id: int
    slug: str
    ticket_type_id: int
    capacity: int


@dataclass(frozen=True)
class PendingPayment:
    """An order waiting at the payment step, and the Checkout Session a webhook will name."""

    order_id: uuid.UUID
    session_id: str
    total: int
    currency: str
    tax: int = 0  # of the total: the sales tax the race adds


@dataclass
class BenchData:
    big_race_id: int
    big_race_slug: str
    small_race_slug: str
    organizer_id: uuid.UUID
    cart_buyer_id: uuid.UUID
    registrations: int  # paid ones in the big race
    races: int
    buyers: list[Buyer] = field(default_factory=list)
    pending: list[PendingPayment] = field(default_factory=list)
    growth_race_id: int = 0
    growth_race_slug: str = ""
    growth_registrations: int = 0
    spike_races: list[SpikeRace] = field(default_factory=list)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().replace("'", "").replace(" ", "")


class People:
    """Runners with plausible names, emails, birthdays and sizes, from one random generator."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.n = 0

    def person(self) -> dict:
        self.n += 1
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        email = f"{_ascii(first)}.{_ascii(last)}{self.n}@{self.rng.choice(EMAIL_DOMAINS)}".lower()
        return {"first_name": first, "last_name": last, "email": email}

    def runner(self, min_age: int = 18, max_age: int = 70) -> dict:
        details = self.person()
        age_days = self.rng.randint(min_age * 365 + 30, max_age * 365)
        details.update(
            date_of_birth=date.today() - timedelta(days=age_days),
            gender=self.rng.choice(GENDERS),
            tshirt_size=self.rng.choice(SIZES),
            emergency_name=f"{self.rng.choice(FIRST_NAMES)} {details['last_name']}",
            emergency_phone=f"+1 555 {self.rng.randint(100, 999)} {self.rng.randint(1000, 9999)}",
        )
        return details


def _signed(runner: dict, waiver_id: int, when: datetime, rng: random.Random) -> dict:
    return {**runner, "waiver_version_id": waiver_id, "waiver_signature": f"{runner['first_name']} {runner['last_name']}",
            "waiver_signed_at": when, "waiver_ip": f"203.0.113.{rng.randint(1, 254)}"}


def _race(session: Session, organizer_id: uuid.UUID, *, slug: str, title: str, summary: str, city: str, tz: str,
          currency: str, starts_at: datetime, tickets: list[tuple], tax: tuple = (TaxMode.NONE, 0, "")) -> Race:
    race = Race(slug=slug, organizer_id=organizer_id, title=title, summary=summary, description=LAKESIDE_DESCRIPTION,
                description_html=render_markdown(LAKESIDE_DESCRIPTION), starts_at=starts_at, timezone=tz,
                location_name=city.split(",")[0], address=city,
                status=RaceStatus.PUBLISHED, registration_closes_at=starts_at - timedelta(days=1), currency=currency,
                tax_mode=tax[0], tax_rate_bps=tax[1], tax_label=tax[2])
    race.ticket_types = [TicketType(name=t[0], description=t[3] if len(t) > 3 else "", price=t[1], capacity=t[2],
                                    min_age=t[4] if len(t) > 4 else None, position=i) for i, t in enumerate(tickets)]
    race.social_links = [RaceSocialLink(kind="instagram", url=f"https://www.instagram.com/{slug}", position=0),
                         RaceSocialLink(kind="strava", url=f"https://www.strava.com/clubs/{slug}", position=1)]
    session.add(race)
    session.flush()
    session.add(RaceOrganizer(race_id=race.id, profile_id=organizer_id, role=OrganizerRole.OWNER))
    return race


def _waiver(session: Session, race: Race) -> WaiverVersion:
    waiver = WaiverVersion(race_id=race.id, number=1, text=WAIVER_TEXT, sha256=waiver_digest(WAIVER_TEXT))
    session.add(waiver)
    session.flush()
    return waiver


def _tax(race: Race, subtotal: int) -> int:
    return (subtotal * race.tax_rate_bps + 5000) // 10000 if race.tax_mode == TaxMode.EXCLUSIVE else 0


def _paid_registrations(session: Session, race: Race, waiver: WaiverVersion, wanted: dict[TicketType, int],
                        people: People, now: datetime, first_bib: int = 1) -> int:
    """`wanted` paid tickets per type, in orders of one to four, each order with its own buyer
    (bibs from `first_bib` on). Rows go in 5,000 at a time, as multi-row INSERTs."""
    rng = people.rng
    queue = [t for t, n in wanted.items() for _ in range(n)]
    rng.shuffle(queue)
    profiles, orders, registrations = [], [], []
    bib = first_bib - 1
    while queue:
        size = min(len(queue), rng.choices([1, 2, 3, 4], weights=[60, 25, 10, 5])[0])
        types, queue = queue[:size], queue[size:]
        buyer = people.person()
        buyer_id, order_id = uuid.uuid4(), uuid.uuid4()
        paid_at = now - timedelta(days=rng.uniform(0.5, 90))
        profiles.append({"id": buyer_id, "email": buyer["email"], "full_name": f"{buyer['first_name']} {buyer['last_name']}",
                         "created_at": paid_at - timedelta(minutes=5)})
        subtotal = sum(t.price for t in types)
        tax = _tax(race, subtotal)
        orders.append({"id": order_id, "race_id": race.id, "buyer_id": buyer_id, "status": OrderStatus.PAID,
                       "currency": race.currency, "subtotal": subtotal, "discount": 0, "tax": tax,
                       "total": subtotal + tax, "stripe_session_id": f"cs_test_{secrets.token_hex(16)}",
                       "payment_intent_id": f"pi_{secrets.token_hex(12)}", "checkout_url": "", "problem": "",
                       "paid_at": paid_at, "created_at": paid_at - timedelta(minutes=3), "updated_at": paid_at})
        for i, ticket_type in enumerate(types):
            runner = people.runner(min_age=ticket_type.min_age or 12) if i else {
                **people.runner(min_age=ticket_type.min_age or 18), **buyer}
            bib += 1
            registrations.append({
                **_signed(runner, waiver.id, paid_at - timedelta(minutes=2), rng),
                "order_id": order_id, "order_status": OrderStatus.PAID, "race_id": race.id,
                "ticket_type_id": ticket_type.id, "price": ticket_type.price, "waiver_guardian_name": "",
                "ticket_code": secrets.token_urlsafe(12), "bib": bib, "created_at": paid_at - timedelta(minutes=3),
                "registered_at": paid_at})
    for model, rows in ((Profile, profiles), (Order, orders), (Registration, registrations)):
        for start in range(0, len(rows), 5_000):
            session.execute(insert(model), rows[start:start + 5_000])
    return len(registrations)


def _account(session: Session, email: str, full_name: str, now: datetime) -> uuid.UUID:
    """A Profile with a LocalUser behind it, so the embedded auth provider can sign it in."""
    user_id = uuid.uuid4()
    session.add(Profile(id=user_id, email=email, full_name=full_name, created_at=now))
    session.add(LocalUser(id=user_id, email=email, password_hash="!", full_name=full_name, email_confirmed_at=now))
    return user_id


def _split(ticket_types: list[TicketType], count: int) -> dict[TicketType, int]:
    """`count` tickets shared out evenly over the types."""
    return {t: count // len(ticket_types) + (i < count % len(ticket_types)) for i, t in enumerate(ticket_types)}


def grow(session: Session, race_id: int, have: int, want: int, now: datetime | None = None) -> int:
    """Add paid registrations to the growth race until it has `want` (it has `have`); commits; returns how many."""
    now = now or datetime.now(UTC)
    race = session.get(Race, race_id)
    waiver = session.scalars(select(WaiverVersion).where(WaiverVersion.race_id == race_id)).one()
    people = People(random.Random(want))
    people.n = 10 * want  # unique emails beyond every earlier step's
    ticket_types = list(session.scalars(select(TicketType).where(TicketType.race_id == race_id)
                                        .order_by(TicketType.position)))
    added = _paid_registrations(session, race, waiver, _split(ticket_types, want - have), people, now,
                                first_bib=have + 1)
    session.commit()
    return added


def seed(session: Session, now: datetime | None = None, spike_races: int = 2) -> BenchData:
    """Everything the benchmark reads and writes; commits. `spike_races`: one per spike to run."""
    now = now or datetime.now(UTC)
    rng = random.Random(20_250_601)
    people = People(rng)
    day = now.replace(hour=14, minute=0, second=0, microsecond=0)  # 8:00 or 9:00 in Chicago

    seed_demo(session, now)  # three sample races, including the small one
    organizer_id = _account(session, "organizer@riversidemarathon.org", "Riverside Running Club", now)
    session.flush()
    for slug, title, city, tz, currency, days, tickets in OTHER_RACES:
        _race(session, organizer_id, slug=slug, title=title, summary=f"{title} in {city.split(',')[0]}.", city=city,
              tz=tz, currency=currency, starts_at=day + timedelta(days=days), tickets=tickets)

    # The big race: three distances, 5,000 paid runners, room for more.
    big = _race(session, organizer_id, slug=BIG_RACE_SLUG, title="Riverside City Marathon",
                summary="Five bridges, one river, and the loudest finish line in the Midwest.",
                city="Riverside Park, Chicago, IL", tz="America/Chicago", currency="USD",
                starts_at=day + timedelta(days=60), tax=(TaxMode.EXCLUSIVE, 825, "Sales tax"),
                tickets=[("Marathon", 9500, 2500, "42.2 km, chip timed, 6 h cut-off", 18),
                         ("Half marathon", 6500, 3000, "21.1 km, one bridge fewer", 16),
                         ("10K", 3500, 2500, "Two bridges and back")])
    big_waiver = _waiver(session, big)
    marathon, half, ten_k = big.ticket_types
    registrations = _paid_registrations(session, big, big_waiver, {marathon: 1500, half: 2200, ten_k: 1300},
                                        people, now)

    # A buyer halfway through: three tickets, two runners filled in, one still blank.
    cart_buyer_id = _account(session, "cart.buyer@example.com", "Casey Buyer", now)
    session.flush()
    cart_id = uuid.uuid4()
    session.add(Order(id=cart_id, race_id=big.id, buyer_id=cart_buyer_id, status=OrderStatus.CART, currency="USD",
                      subtotal=2 * half.price + ten_k.price, tax=_tax(big, 2 * half.price + ten_k.price),
                      total=2 * half.price + ten_k.price + _tax(big, 2 * half.price + ten_k.price)))
    session.flush()
    cart_rows = [_signed(people.runner(), big_waiver.id, now, rng) for _ in range(2)]
    session.execute(insert(Registration), [
        {**cart_rows[0], "order_id": cart_id, "race_id": big.id, "ticket_type_id": half.id, "price": half.price},
        {**cart_rows[1], "order_id": cart_id, "race_id": big.id, "ticket_type_id": half.id, "price": half.price},
        {"order_id": cart_id, "race_id": big.id, "ticket_type_id": ten_k.id, "price": ten_k.price},
    ])

    # Orders at the payment step, for webhook events that name a session this database created.
    pending, pending_profiles, pending_orders, pending_regs, sessions = [], [], [], [], []
    for _ in range(PENDING_ORDERS):
        buyer = people.person()
        buyer_id, order_id = uuid.uuid4(), uuid.uuid4()
        pending_profiles.append({"id": buyer_id, "email": buyer["email"], "created_at": now,
                                 "full_name": f"{buyer['first_name']} {buyer['last_name']}"})
        subtotal, session_id = ten_k.price, f"cs_test_bench_{secrets.token_hex(12)}"
        total = subtotal + _tax(big, subtotal)
        reserved_until = now + timedelta(minutes=30)
        pending_orders.append({"id": order_id, "race_id": big.id, "buyer_id": buyer_id, "status": OrderStatus.PENDING,
                               "currency": "USD", "subtotal": subtotal, "discount": 0, "tax": total - subtotal,
                               "total": total, "stripe_session_id": session_id, "checkout_url": "",
                               "reserved_until": reserved_until, "problem": "", "created_at": now, "updated_at": now})
        pending_regs.append({**_signed({**people.runner(), **buyer}, big_waiver.id, now, rng), "order_id": order_id,
                             "order_status": OrderStatus.PENDING, "race_id": big.id, "ticket_type_id": ten_k.id,
                             "price": ten_k.price})
        sessions.append({"id": session_id, "order_id": order_id, "expires_at": reserved_until, "created_at": now})
        pending.append(PendingPayment(order_id, session_id, total, "USD", total - subtotal))
    session.execute(insert(Profile), pending_profiles)
    session.execute(insert(Order), pending_orders)
    session.execute(insert(Registration), pending_regs)
    session.execute(insert(CheckoutSession), sessions)

    # The growth race: 500 paid runners now; bench/scale.py grows it to 5,000 and 50,000 (grow()).
    growth = _race(session, organizer_id, slug=GROWTH_RACE_SLUG, title="Lakeshore Mass Run",
                   summary="Everyone runs: a 10K and a 5K along the lake, room for sixty thousand.",
                   city="Lakeshore Drive, Chicago, IL", tz="America/Chicago", currency="USD",
                   starts_at=day + timedelta(days=90), tickets=[("10K", 4000, 30_000, "Chip timed"),
                                                                ("5K", 2500, 30_000, "Walkers welcome")])
    growth_waiver = _waiver(session, growth)
    _paid_registrations(session, growth, growth_waiver, _split(growth.ticket_types, GROWTH_STEPS[0]), people, now)
    growth_cart = uuid.uuid4()
    g10k = growth.ticket_types[0]
    session.add(Order(id=growth_cart, race_id=growth.id, buyer_id=cart_buyer_id, status=OrderStatus.CART,
                      currency="USD", subtotal=2 * g10k.price, total=2 * g10k.price))
    session.flush()
    session.execute(insert(Registration), [
        {**_signed(people.runner(), growth_waiver.id, now, rng), "order_id": growth_cart, "race_id": growth.id,
         "ticket_type_id": g10k.id, "price": g10k.price},
        {"order_id": growth_cart, "race_id": growth.id, "ticket_type_id": g10k.id, "price": g10k.price}])

    # The opening spike: one race per measured worker model, each with SPIKE_SPOTS spots and nobody
    # signed up yet; SPIKE_BUYERS accounts, each with a complete cart of one ticket in every one of them.
    spikes = []
    for n in range(spike_races):
        race = _race(session, organizer_id, slug=f"{SPIKE_RACE_SLUG}-{n + 1}", title=f"Opening Day 10K #{n + 1}",
                     summary="Registration opens at noon: five hundred spots.", city="Grant Park, Chicago, IL",
                     tz="America/Chicago", currency="USD", starts_at=day + timedelta(days=120),
                     tickets=[("10K", 3000, SPIKE_SPOTS, "Chip timed")])
        spikes.append((race, _waiver(session, race)))
    buyers, users, profiles = [], [], []
    carts, cart_regs = [[] for _ in spikes], [[] for _ in spikes]
    for _ in range(SPIKE_BUYERS):
        runner = people.runner()
        buyer_id = uuid.uuid4()
        name = f"{runner['first_name']} {runner['last_name']}"
        profiles.append({"id": buyer_id, "email": runner["email"], "full_name": name, "created_at": now})
        users.append({"id": buyer_id, "email": runner["email"], "password_hash": "!", "full_name": name,
                      "email_confirmed_at": now, "created_at": now})
        order_ids = []
        for n, (race, waiver) in enumerate(spikes):
            (ticket,) = race.ticket_types
            order_id = uuid.uuid4()
            order_ids.append(order_id)
            carts[n].append({"id": order_id, "race_id": race.id, "buyer_id": buyer_id, "status": OrderStatus.CART,
                             "currency": "USD", "subtotal": ticket.price, "discount": 0, "tax": 0,
                             "total": ticket.price, "checkout_url": "", "problem": "", "created_at": now,
                             "updated_at": now})
            cart_regs[n].append({**_signed(runner, waiver.id, now, rng), "order_id": order_id, "race_id": race.id,
                                 "ticket_type_id": ticket.id, "price": ticket.price})
        buyers.append(Buyer(buyer_id, tuple(order_ids)))
    session.execute(insert(Profile), profiles)
    session.execute(insert(LocalUser), users)
    for n in range(len(spikes)):
        session.execute(insert(Order), carts[n])
        session.execute(insert(Registration), cart_regs[n])
    # Tickets inserted in bulk: each ticket type's stored counts are recounted from them, as `inventory-check --fix` does.
    recount(session, session.scalars(select(TicketType.id)))
    session.commit()

    return BenchData(
        big_race_id=big.id, big_race_slug=big.slug, small_race_slug=SMALL_RACE_SLUG,
        organizer_id=organizer_id, cart_buyer_id=cart_buyer_id, registrations=registrations,
        races=3 + len(OTHER_RACES) + 2 + len(spikes), buyers=buyers, pending=pending,
        growth_race_id=growth.id, growth_race_slug=growth.slug, growth_registrations=GROWTH_STEPS[0],
        spike_races=[SpikeRace(r.id, r.slug, r.ticket_types[0].id, r.ticket_types[0].capacity) for r, _ in spikes])
