"""Realistic sample races: for `flask seed-demo`, `make run` and the organizer's sample button."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    MediaKind,
    OrganizerRole,
    PriceTier,
    Profile,
    Race,
    RaceOrganizer,
    RaceSocialLink,
    RaceStatus,
    RaceText,
    TaxMode,
    TicketType,
)
from services.markdown import render_markdown
from services.media import MediaError, save_race_image
from services.sample_images import sample_cover
from services.storage import Storage, StorageError

log = logging.getLogger(__name__)

DEMO_ORGANIZER_ID = uuid.uuid5(uuid.NAMESPACE_URL, "startline:demo-organizer")
FRIDAY, SATURDAY, SUNDAY = 4, 5, 6
MIN_LEAD = timedelta(weeks=4)  # time enough to sign up before sign-up closes

LAKESIDE_DESCRIPTION = """\
A fast, flat loop along the water, finishing with coffee and pancakes at the boathouse.

## Course
- **5K**: one lap of the lakeside path, fully paved, stroller friendly.
- **10K**: two laps, with a water station at the halfway point of each lap.
- **Kids run**: 1 km on the grass by the finish, every finisher gets a medal.

## Race morning
| Time | What |
| --- | --- |
| 7:00 | Packet pick-up opens at the boathouse |
| 7:45 | Warm-up with the local run club |
| 8:00 | 10K start |
| 8:15 | 5K start |
| 9:30 | Kids run and awards |

Chip timing, results online the same day. Questions? Reply to your confirmation email.
"""

# The Peruvian race's description in Spanish too: a visitor reading Spanish gets it (models.RaceText).
SACRED_VALLEY_DESCRIPTION_ES = """\
Escaleras de piedra, andenes y caminos de chacra sobre el Urubamba, en las mañanas despejadas de la
temporada seca.

## Recorrido
- **Media maratón**: 21 km desde la plaza hasta las ruinas de Pumamarka y de vuelta junto al río, 900 m de desnivel positivo.
- **12K**: el circuito del río entre los campos del pueblo, ondulado pero nunca empinado.

## Altitud
La salida está a 2.900 m. Llega a Cusco o al valle dos o tres días antes de la carrera, bebe mucha
agua y camina la primera subida si lo necesitas: en altura no hay de qué avergonzarse.

## La mañana de la carrera
| Hora | Qué |
| --- | --- |
| 5:30 | Entrega de dorsales en la Plaza de Armas |
| 6:30 | Salida de la media maratón |
| 7:00 | Salida de los 12K |
| 11:30 | Cierre del recorrido; premiación y almuerzo en la plaza |

Puestos de abastecimiento cada 4 km con agua, mate de coca y fruta. Se recomiendan zapatillas de trail.
"""

SACRED_VALLEY_DESCRIPTION = """\
Stone stairways, terraces and farm tracks above the Urubamba, in the dry season's clear mornings.

## Course
- **Half marathon**: 21 km from the plaza up to the Pumamarka ruins and back along the river, 900 m of climbing.
- **12K**: the river loop through the village fields, rolling but never steep.

## Altitude
The start is at 2,900 m. Arrive in Cusco or the valley two or three days before the race, drink
plenty of water, and walk the first climb if you need to: there is no shame at altitude.

## Race morning
| Time | What |
| --- | --- |
| 5:30 | Bib pick-up on the Plaza de Armas |
| 6:30 | Half marathon start |
| 7:00 | 12K start |
| 11:30 | Course closes; awards and lunch on the plaza |

Aid stations every 4 km with water, coca tea and fruit. Trail shoes recommended.
"""

HARBOUR_DESCRIPTION = """\
Seven kilometres of quays, bridges and reflections, after dark on a Friday.

## Course
Two loops around the docks on closed, fully lit paths, flat enough for a personal best and
pretty enough to forget about one. Glow sticks and a head torch are in every race pack.

## Race evening
| Time | What |
| --- | --- |
| 18:00 | Race packs at the Canada Square tent |
| 19:15 | Warm-up on the square |
| 19:30 | Start |
| 21:00 | Results and music by the water |

Bag drop is free. The nearest stations are Canary Wharf (Jubilee line and Elizabeth line).
"""


@dataclass
class SampleTicket:
    name: str
    description: str
    price: int
    capacity: int
    min_age: int | None = None
    max_age: int | None = None
    # An early-bird price: `price` is it, for the first `early_count` tickets, until `regular_price`
    # starts `regular_days_before` days before race day.
    regular_price: int | None = None
    regular_days_before: int = 21
    early_count: int | None = None


@dataclass
class SampleRace:
    slug: str
    title: str
    summary: str
    description: str
    month: int  # the race's season: it is held on the first `weekday` of this month
    weekday: int  # Monday is 0
    start: time
    timezone: str
    location_name: str
    address: str
    currency: str
    tickets: list[SampleTicket]
    tax_mode: TaxMode = TaxMode.NONE
    tax_rate_bps: int = 0
    tax_label: str = ""
    descriptions: dict[str, str] = field(default_factory=dict)  # the description in more languages


DEMO_RACES = [
    SampleRace(
        slug="lakeside-spring-5k-10k", title="Lakeside Spring 5K & 10K",
        summary="Flat, fast and friendly: a loop of the lake with pancakes at the finish.",
        description=LAKESIDE_DESCRIPTION, month=4, weekday=SATURDAY, start=time(8, 0), timezone="America/Chicago",
        location_name="Lake Harriet Bandshell", address="4135 W Lake Harriet Pkwy, Minneapolis, MN",
        currency="USD", tax_mode=TaxMode.EXCLUSIVE, tax_rate_bps=825, tax_label="Sales tax",
        tickets=[SampleTicket("10K", "Two laps of the lake", 4000, 300, min_age=12, regular_price=5000,
                              early_count=150),
                 SampleTicket("5K", "One lap, stroller friendly", 3500, 400),
                 SampleTicket("Kids 1K", "Every finisher gets a medal", 1000, 100, max_age=11)]),
    SampleRace(
        slug="sacred-valley-trail-half", title="Sacred Valley Trail Half",
        summary="21 km of Inca trails above the Urubamba river, at 2,900 m.",
        description=SACRED_VALLEY_DESCRIPTION, month=6, weekday=SUNDAY, start=time(6, 30), timezone="America/Lima",
        location_name="Plaza de Armas, Ollantaytambo", address="Ollantaytambo, Cusco, Peru",
        currency="PEN", tax_mode=TaxMode.INCLUSIVE, tax_rate_bps=1800, tax_label="IGV",
        tickets=[SampleTicket("Half marathon", "21 km, 900 m of climbing", 22000, 250, min_age=18),
                 SampleTicket("12K", "The river loop", 15000, 250, min_age=16)],
        descriptions={"es": SACRED_VALLEY_DESCRIPTION_ES}),
    SampleRace(
        slug="harbour-night-run", title="Harbour Night Run",
        summary="A 7 km glow run around the harbour lights on a Friday evening.",
        description=HARBOUR_DESCRIPTION, month=11, weekday=FRIDAY, start=time(19, 30), timezone="Europe/London",
        location_name="Canary Wharf", address="Canada Square, London E14 5AB",
        currency="GBP",
        tickets=[SampleTicket("7K", "Glow sticks included", 2800, 500)]),
]


def race_day(sample: SampleRace, now: datetime) -> date:
    """The first `weekday` of the sample's month, this year or next, at least four weeks away.

    A spring race is seeded in spring and a Friday night run on a Friday, whenever the command runs.
    """
    today = now.astimezone(ZoneInfo(sample.timezone)).date()
    for year in (today.year, today.year + 1):
        first = date(year, sample.month, 1)
        day = first + timedelta(days=(sample.weekday - first.weekday()) % 7)
        if day >= today + MIN_LEAD:
            return day
    raise AssertionError("unreachable: next year's date is always far enough away")


def _starts_at(sample: SampleRace, now: datetime) -> datetime:
    local = datetime.combine(race_day(sample, now), sample.start, tzinfo=ZoneInfo(sample.timezone))
    return local.astimezone(ZoneInfo("UTC"))


def build_race(sample: SampleRace, organizer: Profile, now: datetime, *, slug: str | None = None,
               status: RaceStatus = RaceStatus.PUBLISHED, is_sample: bool = False) -> Race:
    """A complete race (ticket types, social links, description) from a sample; not yet added."""
    starts_at = _starts_at(sample, now)
    race = Race(
        slug=slug or sample.slug, organizer_id=organizer.id, title=sample.title,
        summary=sample.summary, description=sample.description, description_html=render_markdown(sample.description),
        starts_at=starts_at,
        timezone=sample.timezone, location_name=sample.location_name, address=sample.address,
        status=status, registration_closes_at=starts_at - timedelta(days=1),
        currency=sample.currency, tax_mode=sample.tax_mode, tax_rate_bps=sample.tax_rate_bps,
        tax_label=sample.tax_label, is_sample=is_sample,
    )
    race.ticket_types = [
        TicketType(name=t.name, description=t.description, price=t.price, capacity=t.capacity,
                   min_age=t.min_age, max_age=t.max_age, position=i)
        for i, t in enumerate(sample.tickets)
    ]
    race.social_links = [
        RaceSocialLink(kind="instagram", url="https://www.instagram.com/startline.run", position=0),
        RaceSocialLink(kind="strava", url="https://www.strava.com/clubs/startline", position=1),
    ]
    return race


def add_price_steps(session: Session, sample: SampleRace, race: Race) -> None:
    """The sample's early-bird prices, on a race built by `build_race` and flushed."""
    day = race.starts_at.astimezone(ZoneInfo(race.timezone)).date()
    for ticket, ticket_type in zip(sample.tickets, race.ticket_types, strict=True):
        if ticket.regular_price is None:
            continue
        session.add_all([
            PriceTier(ticket_type_id=ticket_type.id, position=0, price=ticket.price, until_sold=ticket.early_count,
                      label="Early bird"),
            PriceTier(ticket_type_id=ticket_type.id, position=1, price=ticket.regular_price, label="Regular",
                      starts_on=day - timedelta(days=ticket.regular_days_before))])


def demo_organizer(session: Session) -> Profile:
    profile = session.get(Profile, DEMO_ORGANIZER_ID)
    if profile is None:
        profile = Profile(id=DEMO_ORGANIZER_ID, email="organizer@example.com",
                          full_name="Startline Demo Club")
        session.add(profile)
    return profile


def seed_demo(session: Session, now: datetime, storage: Storage | None = None) -> list[Race]:
    """Add the demo races that are not there yet; safe to run any number of times.

    With a storage, each new race also gets a generated cover picture (a race without one is still
    a complete race, so a storage failure is logged and the seeding goes on).
    """
    organizer = demo_organizer(session)
    existing = set(session.scalars(select(Race.slug).where(
        Race.slug.in_([s.slug for s in DEMO_RACES]))))
    added = [build_race(s, organizer, now) for s in DEMO_RACES if s.slug not in existing]
    session.add_all(added)
    session.flush()
    samples = {s.slug: s for s in DEMO_RACES}
    for race in added:
        session.add(RaceOrganizer(race_id=race.id, profile_id=organizer.id, role=OrganizerRole.OWNER))
        session.add_all(RaceText(race_id=race.id, language=language, description=text,
                                 description_html=render_markdown(text))
                        for language, text in samples[race.slug].descriptions.items())
        add_price_steps(session, samples[race.slug], race)
    session.commit()
    for race in added if storage is not None else ():
        try:
            save_race_image(session, storage, race, sample_cover(race.title), kind=MediaKind.COVER,
                            filename="demo-cover.png")
        except (MediaError, StorageError):
            log.warning("demo race %s seeded without a cover image", race.slug, exc_info=True)
    return added
