"""Organizing a race: who may, creating one, saving its fields, its waiver versions, publishing."""
from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from models import (
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
from services.demo import DEMO_RACES, build_race

DEFAULT_START = time(8, 0)


# --- creating ----------------------------------------------------------------------------

def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:60].strip("-") or "race"


def unique_slug(session: Session, base: str, *, exclude_race_id: int | None = None) -> str:
    slug = slugify(base)
    candidate = slug
    while True:
        query = select(Race.id).where(Race.slug == candidate)
        if exclude_race_id is not None:
            query = query.where(Race.id != exclude_race_id)
        if session.scalar(query) is None:
            return candidate
        candidate = f"{slug}-{secrets.token_hex(2)}"


def local_to_utc(day: date, at: time, timezone: str) -> datetime:
    return datetime.combine(day, at, tzinfo=ZoneInfo(timezone)).astimezone(ZoneInfo("UTC"))


def add_organizer(session: Session, race: Race, profile: Profile, role: OrganizerRole,
                  invited_by: Profile | None = None) -> RaceOrganizer:
    link = RaceOrganizer(race_id=race.id, profile_id=profile.id, role=role,
                         invited_by_id=invited_by.id if invited_by else None)
    session.add(link)
    return link


def create_race(session: Session, organizer: Profile, *, title: str, day: date, timezone: str,
                currency: str = "USD") -> Race:
    """A draft with just a title and a date; the organizer fills in the rest in the editor."""
    starts_at = local_to_utc(day, DEFAULT_START, timezone)
    race = Race(slug=unique_slug(session, title), organizer_id=organizer.id, title=title.strip(),
                starts_at=starts_at, timezone=timezone, currency=currency, status=RaceStatus.DRAFT,
                registration_closes_at=starts_at - timedelta(days=1))
    session.add(race)
    session.flush()
    add_organizer(session, race, organizer, OrganizerRole.OWNER)
    session.commit()
    return race


SAMPLE_WAIVER = """\
I know that running a race is a potentially hazardous activity. I should not enter unless I am \
medically able and properly trained. I assume all risks associated with running in this event, \
including falls, contact with other participants, the effects of the weather, traffic and the \
conditions of the course.

I grant the organizers permission to use photographs and recordings of me taken at the event. \
I have read this waiver, I understand it, and I sign it voluntarily."""


def create_sample_race(session: Session, organizer: Profile, now: datetime) -> Race:
    """The old app's "mock race": a complete, realistic draft to look at, marked as a sample."""
    sample = DEMO_RACES[0]
    race = build_race(sample, organizer, now, slug=unique_slug(session, f"sample {sample.title}"),
                      status=RaceStatus.DRAFT, is_sample=True)
    race.title = f"{sample.title} (sample)"
    session.add(race)
    session.flush()
    add_organizer(session, race, organizer, OrganizerRole.OWNER)
    set_waiver_text(session, race, SAMPLE_WAIVER)
    session.commit()
    return race


# --- editing -----------------------------------------------------------------------------

class EditConflict(Exception):
    """The field changed in another tab (or by a co-organizer) since this page loaded."""

    def __init__(self, field: str, changed_at: datetime):
        super().__init__(field)
        self.field, self.changed_at = field, changed_at


def check_unchanged(race: Race, originals: dict[str, str], current: dict[str, str], submitted: dict[str, str]) -> None:
    """Refuse to overwrite a value someone else changed since the editor loaded it.

    `originals` are the values the page showed; `current` what the database holds now. A value
    that already equals what is being submitted is no conflict (two tabs typing the same thing).
    """
    for name, shown in originals.items():
        now_value = current.get(name)
        if name in current and now_value != shown and now_value != submitted.get(name):
            raise EditConflict(name, race.updated_at)


def touch(race: Race) -> None:
    race.version = (race.version or 0) + 1


def current_waiver(session: Session, race_id: int) -> WaiverVersion | None:
    return session.scalar(select(WaiverVersion).where(WaiverVersion.race_id == race_id)
                          .order_by(WaiverVersion.number.desc()).limit(1))


def set_waiver_text(session: Session, race: Race, text: str) -> WaiverVersion | None:
    """A new immutable version when the text really changed; earlier signers keep theirs."""
    text = text.strip().replace("\r\n", "\n")
    latest = current_waiver(session, race.id)
    if latest is not None and latest.sha256 == waiver_digest(text):
        return latest
    if not text and latest is None:
        return None
    version = WaiverVersion(race_id=race.id, number=(latest.number + 1) if latest else 1, text=text,
                            sha256=waiver_digest(text))
    session.add(version)
    session.flush()
    return version


def set_social_link(session: Session, race: Race, kind: str, url: str) -> None:
    link = session.scalar(select(RaceSocialLink).where(RaceSocialLink.race_id == race.id,
                                                       RaceSocialLink.kind == kind))
    if not url:
        if link is not None:
            session.delete(link)
        return
    if link is None:
        position = session.scalar(select(func.count(RaceSocialLink.id)).where(RaceSocialLink.race_id == race.id))
        session.add(RaceSocialLink(race_id=race.id, kind=kind, url=url, position=position or 0))
    else:
        link.url = url


# --- ticket types ------------------------------------------------------------------------

def sold_counts(session: Session, ticket_type_ids: list[int]) -> dict[int, int]:
    """Registrations ever issued or held per ticket type (any order status but cart)."""
    if not ticket_type_ids:
        return {}
    rows = session.execute(
        select(Registration.ticket_type_id, func.count(Registration.id))
        .join(Order, Order.id == Registration.order_id)
        .where(Registration.ticket_type_id.in_(ticket_type_ids), Order.status != OrderStatus.CART)
        .group_by(Registration.ticket_type_id))
    return dict(rows.all())


def add_ticket_type(session: Session, race: Race, *, name: str = "New distance", price: int = 0,
                    capacity: int = 100) -> TicketType:
    position = session.scalar(select(func.coalesce(func.max(TicketType.position), -1))
                              .where(TicketType.race_id == race.id)) + 1
    ticket_type = TicketType(race_id=race.id, name=name, price=price, capacity=capacity, position=position)
    session.add(ticket_type)
    session.flush()
    return ticket_type


def move_ticket_type(session: Session, race: Race, ticket_type: TicketType, direction: int) -> None:
    """Swap with the neighbour above (-1) or below (+1); positions are renumbered 0..n-1."""
    types = list(session.scalars(select(TicketType).where(TicketType.race_id == race.id)
                                 .order_by(TicketType.position, TicketType.id)))
    index = types.index(ticket_type)
    target = index + direction
    if 0 <= target < len(types):
        types[index], types[target] = types[target], types[index]
    for position, each in enumerate(types):
        each.position = position


class TicketTypeInUse(Exception):
    """Tickets of this type exist; it can be hidden but not deleted."""


def delete_ticket_type(session: Session, ticket_type: TicketType) -> None:
    if sold_counts(session, [ticket_type.id]).get(ticket_type.id) or session.scalar(
            select(exists().where(Registration.ticket_type_id == ticket_type.id))):
        raise TicketTypeInUse(ticket_type.name)
    session.delete(ticket_type)


# --- publishing --------------------------------------------------------------------------

@dataclass(frozen=True)
class ChecklistItem:
    label: str
    done: bool
    anchor: str  # the editor section that fixes it


def publish_checklist(race: Race, ticket_types: list[TicketType], waiver: WaiverVersion | None,
                      now: datetime) -> list[ChecklistItem]:
    visible = [t for t in ticket_types if not t.hidden]
    return [
        ChecklistItem("The start is in the future", race.starts_at > now, "when"),
        ChecklistItem("At least one ticket type on sale", bool(visible), "tickets"),
        ChecklistItem("Waiver text", bool(waiver and waiver.text.strip()), "waiver"),
        ChecklistItem("Location", bool(race.location_name.strip() or race.address.strip()), "where"),
    ]


class NotReadyToPublish(Exception):
    def __init__(self, missing: list[ChecklistItem]):
        super().__init__(", ".join(item.label for item in missing))
        self.missing = missing


def publish(session: Session, race: Race, now: datetime) -> None:
    types = list(session.scalars(select(TicketType).where(TicketType.race_id == race.id)))
    missing = [item for item in publish_checklist(race, types, current_waiver(session, race.id), now)
               if not item.done]
    if missing:
        raise NotReadyToPublish(missing)
    race.status = RaceStatus.PUBLISHED
    touch(race)


def unpublish(race: Race) -> None:
    race.status = RaceStatus.DRAFT
    touch(race)


class RaceHasSales(Exception):
    """A race with tickets sold can't be deleted, only closed."""


def delete_race(session: Session, race: Race) -> None:
    """Delete a race nobody has bought into; carts still being filled go with it."""
    if session.scalar(select(exists().where(Order.race_id == race.id, Order.status != OrderStatus.CART))):
        raise RaceHasSales(race.title)
    for cart in session.scalars(select(Order).where(Order.race_id == race.id)):
        session.delete(cart)
    session.flush()
    session.delete(race)
