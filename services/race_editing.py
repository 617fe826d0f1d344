"""Organizing a race: creating one, its waiver versions and social links, the sign-up deadline rule,
publishing, and deleting it.

The editor's field groups (services/race_fields.py) and ticket types (services/ticket_types.py) build on
the helpers here; each function below that is a use case commits once, or rolls back and raises.
"""
from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import bindparam, exists, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from models import (
    MediaKind,
    Order,
    OrderStatus,
    OrganizerRole,
    Profile,
    Race,
    RaceMedia,
    RaceOrganizer,
    RaceSocialLink,
    RaceStatus,
    TicketType,
    WaiverVersion,
    waiver_digest,
)
from services.demo import DEMO_RACES, add_price_steps, build_race
from services.locking import lock_ticket_types
from services.media import MediaError, save_race_image
from services.sample_images import sample_cover
from services.storage import Storage, StorageError

log = logging.getLogger(__name__)

DEFAULT_START = time(8, 0)


# --- values as the editor shows them -----------------------------------------------------

# Dates an organizer may type anywhere in the editor (race day, deadline, sales window, code window). Past
# either end a local time can't even be turned into UTC (year 9999 overflows), and no race needs it.
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2100, 1, 1)


def day_problem(day: date | None) -> str | None:
    """Why a typed date is out of the editor's range, or None."""
    if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
        return _("Pick a date between 2000 and 2100.")
    return None


def local_to_utc(day: date, at: time, timezone: str) -> datetime:
    return datetime.combine(day, at, tzinfo=ZoneInfo(timezone)).astimezone(ZoneInfo("UTC"))


def local_input(value: datetime | None, timezone: str) -> str:
    """A UTC time as a datetime-local input's value in the race's timezone."""
    return value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M") if value else ""


# --- the sign-up deadline: one rule for every path that moves it or the start ------------

def deadline_problem(starts_at: datetime, closes_at: datetime | None) -> str | None:
    """What is wrong with a sign-up deadline for a race starting at `starts_at`, or None."""
    if closes_at is not None and closes_at > starts_at:
        return _("Sign-up has to close before the start.")
    return None


# --- creating ----------------------------------------------------------------------------

def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:60].strip("-") or "race"


def unique_slug(session: Session, base: str) -> str:
    """A web address made from `base` that no race has yet."""
    slug = slugify(base)
    candidate = slug
    while True:
        if session.scalar(select(Race.id).where(Race.slug == candidate)) is None:
            return candidate
        candidate = f"{slug}-{secrets.token_hex(2)}"


def add_organizer(session: Session, race: Race, profile: Profile, role: OrganizerRole,
                  invited_by: Profile | None = None) -> RaceOrganizer:
    link = RaceOrganizer(race_id=race.id, profile_id=profile.id, role=role,
                         invited_by_id=invited_by.id if invited_by else None)
    session.add(link)
    return link


def create_race(session: Session, organizer: Profile, *, title: str, day: date, timezone: str,
                currency: str = "USD") -> Race:
    """A draft with just a title and a date; the organizer fills in the rest in the editor. Commits."""
    starts_at = local_to_utc(day, DEFAULT_START, timezone)
    race = Race(slug=unique_slug(session, title), organizer_id=organizer.id, title=title.strip(),
                starts_at=starts_at, timezone=timezone, currency=currency, status=RaceStatus.DRAFT,
                registration_closes_at=starts_at - timedelta(days=1))
    session.add(race)
    session.flush()
    add_organizer(session, race, organizer, OrganizerRole.OWNER)
    session.commit()
    return race


# The sample organizer's own text (organizer content, in the sample race's language: not translated).
SAMPLE_WAIVER = "\n\n".join((
    "I know that running a race is a potentially hazardous activity. I should not enter unless I am medically able and properly trained. I assume all risks associated with running in this event, including falls, contact with other participants, the effects of the weather, traffic and the conditions of the course.",  # noqa: E501
    "I grant the organizers permission to use photographs and recordings of me taken at the event. I have read this waiver, I understand it, and I sign it voluntarily.",  # noqa: E501
))


def create_sample_race(session: Session, storage: Storage, organizer: Profile, now: datetime) -> Race:
    """The old app's "mock race": a complete, realistic draft to look at, marked as a sample. Commits.

    Its generated cover is stored after the race is saved; a storage failure leaves a race without one.
    """
    sample = DEMO_RACES[0]
    race = build_race(sample, organizer, now, slug=unique_slug(session, f"sample {sample.title}"),
                      status=RaceStatus.DRAFT, is_sample=True)
    race.title = f"{sample.title} (sample)"
    session.add(race)
    session.flush()
    add_price_steps(session, sample, race)
    add_organizer(session, race, organizer, OrganizerRole.OWNER)
    set_waiver_text(session, race, SAMPLE_WAIVER)
    session.commit()
    try:
        save_race_image(session, storage, race, sample_cover(race.title), kind=MediaKind.COVER,
                        filename="sample-cover.png")
    except (MediaError, StorageError):
        log.warning("sample race %s created without a cover image", race.id, exc_info=True)
    return race


# --- editing -----------------------------------------------------------------------------

def touch(race: Race) -> None:
    """Count a change to the race, also one to its child rows: the row's update bumps `updated_at`,
    which the editor's conflict message names."""
    race.touch()


def current_waiver(session: Session, race_id: int) -> WaiverVersion | None:
    """The waiver a runner signs when none in their own language is kept: the newest in the race's language."""
    return session.scalar(_current_waiver_statement(), {"race_id": race_id})


@cache
def _current_waiver_statement():
    """`current_waiver`'s statement, built once (`race_id` bound at each run): building it cost more CPU than running
    it, on every cart and checkout (issue 17)."""
    return select(WaiverVersion).where(WaiverVersion.id == current_waiver_id(bindparam("race_id")))


def current_waiver_id(race_id):
    """SQL: the id of the race's current waiver version: the newest in the race's own language (else the newest
    in any, when the organizer changed the race's language since writing it); `race_id` may be a column, for a
    query that loads the waiver along with its race."""
    def newest(*conditions):
        return (select(WaiverVersion.id).where(WaiverVersion.race_id == race_id, *conditions)
                .order_by(WaiverVersion.number.desc()).limit(1).correlate_except(WaiverVersion).scalar_subquery())

    # Two lookups rather than one ordered by the language: SQLite can't read the outer race in a subquery's ORDER BY.
    return func.coalesce(newest(Race.id == WaiverVersion.race_id, WaiverVersion.language == Race.language), newest())


def newest_waiver_in(session: Session, race_id: int, language: str) -> WaiverVersion | None:
    """The race's newest waiver version written in `language`, or None."""
    return session.scalar(select(WaiverVersion).where(WaiverVersion.race_id == race_id,
                                                      WaiverVersion.language == language)
                          .order_by(WaiverVersion.number.desc()).limit(1))


def set_waiver_text(session: Session, race: Race, text: str, language: str | None = None) -> WaiverVersion | None:
    """A new immutable version in `language` (the race's own by default) when that language's text really
    changed; earlier signers keep theirs. No commit."""
    language = language or race.language
    text = text.strip().replace("\r\n", "\n")
    latest = newest_waiver_in(session, race.id, language)
    if latest is not None and latest.sha256 == waiver_digest(text):
        return latest
    if not text and latest is None:
        return None
    # Numbers count every version of the race, whatever its language: "version 4" names one text.
    number = (session.scalar(select(func.max(WaiverVersion.number)).where(WaiverVersion.race_id == race.id)) or 0) + 1
    version = WaiverVersion(race_id=race.id, number=number, language=language, text=text, sha256=waiver_digest(text))
    session.add(version)
    session.flush()
    return version


def set_social_link(session: Session, race: Race, kind: str, url: str) -> None:
    """Add, change or (with an empty url) remove the race's link of one kind. No commit."""
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
        ChecklistItem(_("The start is in the future"), race.starts_at > now, "when"),
        ChecklistItem(_("Sign-up closes before the start"),
                      deadline_problem(race.starts_at, race.registration_closes_at) is None, "when"),
        ChecklistItem(_("At least one ticket type on sale"), bool(visible), "tickets"),
        ChecklistItem(_("Waiver text"), bool(waiver and waiver.text.strip()), "waiver"),
        ChecklistItem(_("Location"), bool(race.location_name.strip() or race.address.strip()), "where"),
    ]


class NotReadyToPublish(Exception):
    def __init__(self, missing: list[ChecklistItem]):
        super().__init__(", ".join(item.label for item in missing))
        self.missing = missing


def publish(session: Session, race: Race, now: datetime) -> None:
    """Put the race on the public list when its checklist is complete. Commits, or raises NotReadyToPublish."""
    types = list(session.scalars(select(TicketType).where(TicketType.race_id == race.id)))
    missing = [item for item in publish_checklist(race, types, current_waiver(session, race.id), now)
               if not item.done]
    if missing:
        session.rollback()
        raise NotReadyToPublish(missing)
    race.status = RaceStatus.PUBLISHED
    touch(race)
    session.commit()


def unpublish(session: Session, race: Race) -> None:
    """Take the race off the public list (its page is a draft preview again). Commits."""
    race.status = RaceStatus.DRAFT
    touch(race)
    session.commit()


_DEADLOCK = "40P01"  # Postgres's SQLSTATE for a transaction it ended to break a deadlock


class RaceHasSales(Exception):
    """A race with tickets sold can't be deleted, only closed."""


def delete_race(session: Session, storage: Storage, race: Race) -> None:
    """Delete a race nobody has bought into, carts still being filled with it, then its stored images.

    The rows go first, in one commit; a file that can't be removed afterwards is logged and left
    unreferenced, never a page pointing at a missing image. Raises RaceHasSales (nothing deleted).
    """
    for attempt in range(3):
        try:
            keys = _delete_race_rows(session, race)
            break
        except (IntegrityError, OperationalError) as error:
            # A buyer made a new cart for the race after its carts were read (a row its delete couldn't see): the
            # delete waited for that cart's transaction, then met its foreign key; or, the buyer adding a ticket to it
            # meanwhile, the two waited for each other and Postgres ended the delete. Read the carts again.
            if isinstance(error, OperationalError) and getattr(error.orig, "sqlstate", None) != _DEADLOCK:
                raise
            session.rollback()
            if attempt == 2:
                raise
    for key in keys:
        try:
            storage.delete(key)
        except StorageError:
            log.warning("could not delete %s of deleted race", key)


def _delete_race_rows(session: Session, race: Race) -> list[str]:
    """delete_race's rows, in one commit; the stored images' keys, for their files. Raises RaceHasSales."""
    # The carts are read under their row locks, and only while still carts: a checkout making one a payment at this
    # moment is waited for, and its order is then one nobody may delete (its payment page is open). The race's ticket
    # types are locked first, as checkout locks them (services/locking.py), so the two never wait in a circle.
    lock_ticket_types(session, session.scalars(select(TicketType.id).where(TicketType.race_id == race.id)))
    carts = list(session.scalars(select(Order).where(Order.race_id == race.id, Order.status == OrderStatus.CART)
                                 .order_by(Order.id).with_for_update()))
    if session.scalar(select(exists().where(Order.race_id == race.id, Order.status != OrderStatus.CART))):
        session.rollback()
        raise RaceHasSales(race.title)
    keys = list(session.scalars(select(RaceMedia.storage_key).where(RaceMedia.race_id == race.id)))
    for cart in carts:
        session.delete(cart)
    session.flush()
    session.delete(race)
    session.commit()
    return keys
