"""An in-process cache of the race page as an anonymous visitor sees it, and the key that says when it is stale.

The key is read from the database on every request (so every gunicorn worker and every app server
agrees at once); the cache only saves rendering the page again while the key stays the same. The key
holds everything the page shows that can change:

- the race's `version`, which `Race.touch()` bumps on every edit of the race or of what its page shows
  (ticket types, price steps, social links, cover, publishing), and its organizer's name;
- what time changes: whether sign-up is open (and why not), each ticket type's sales window, the
  race's local date (price steps go by it);
- the availability: spots left per ticket type (tickets sold, pending holds, waitlist offers and people
  waiting: services.inventory.spots_left) and, for types with a step that ends "after N sold", the
  tickets taken at each step.

The availability comes with the race in the key's one statement (the stored sold counts make it cheap
whatever the race holds). Entries also expire after `max_age` seconds, a safety net for a
change made behind the app's back (a manual UPDATE).
"""
from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, and_, bindparam, exists, select
from sqlalchemy.orm import Session

from models import PriceTier, Profile, Race, TicketType
from services import inventory
from services.price_tiers import price_now, steps_and_sold
from services.races import PUBLIC_STATUSES, SLUG_RE, listed
from services.sales import on_sale, signup_closed_reason

# The keys' statements are built once (per search, for the list) with the slug and the time as parameters: building
# one costs more than Postgres takes to run it.
_NOW = bindparam("now", type_=DateTime(timezone=True))


@functools.cache
def _race_page_statement():
    counted = exists().where(and_(PriceTier.ticket_type_id == TicketType.id, PriceTier.until_sold.is_not(None)))
    # Plain columns, not ORM objects: a row answers the attribute names signup_closed_reason, on_sale and
    # left_for_buyer read (status, starts_at, …; hidden, sales_start, sales_end, name, capacity).
    return (select(Race.id, Race.version, Race.language, Race.status, Race.starts_at, Race.registration_closes_at,
                   Race.timezone, Profile.full_name, Profile.email, TicketType.id.label("type_id"), TicketType.name,
                   TicketType.hidden, TicketType.sales_start, TicketType.sales_end, TicketType.capacity,
                   TicketType.price, counted.label("counted"), *inventory.held_columns(_NOW))
            .join(Profile, Profile.id == Race.organizer_id)
            .outerjoin(TicketType, and_(TicketType.race_id == Race.id, TicketType.hidden.is_(False)))
            .where(Race.slug == bindparam("slug"))
            .order_by(TicketType.position, TicketType.id))


@functools.lru_cache(maxsize=256)
def _race_list_statement(search: tuple):
    arguments = dict(search)
    races = listed(select(Race.id, Race.version, Race.status, Race.starts_at, Race.registration_closes_at,
                          Race.timezone), _NOW, **arguments).subquery()
    order = (races.c.starts_at.desc(), races.c.id) if arguments.get("past") else (races.c.starts_at, races.c.id)
    lapsed = inventory.lapsed_holds(_NOW)
    return (select(races, TicketType.id.label("type_id"), TicketType.name, TicketType.hidden, TicketType.sales_start,
                   TicketType.sales_end, TicketType.capacity, *inventory.held_columns(_NOW, lapsed=lapsed))
            .select_from(races).outerjoin(TicketType, TicketType.race_id == races.c.id)
            .outerjoin(lapsed, lapsed.c.ticket_type_id == TicketType.id)
            .order_by(*order, TicketType.position, TicketType.id))


RACE_LANGUAGE = 2  # race_page_key(…)[RACE_LANGUAGE]


def race_page_key(session: Session, slug: str, now: datetime) -> tuple | None:
    """What the public page of the race at `slug` shows that can change, as a hashable value; None when no
    public race is there (a draft is a preview for its organizers, never cached). Its third item is the race's
    own language (RACE_LANGUAGE), which the page's language falls back to.

    One statement for the race, its organizer's name, its ticket types and their availability (the stored
    counts less the holds that ran out unreleased, and the live offers: services.inventory.held_columns), and one
    more only when a price step ends after a number sold.
    """
    if not SLUG_RE.match(slug):
        return None
    rows = session.execute(_race_page_statement(), {"slug": slug, "now": now}).all()
    if not rows or rows[0].status not in PUBLIC_STATUSES:
        return None
    race = rows[0]
    types = [row for row in rows if row.type_id is not None]
    today = now.astimezone(_zone(race.timezone)).date()  # as price_tiers.local_day
    prices = {}
    counted_ids = [t.type_id for t in types if t.counted]
    if counted_ids:
        steps, sold = steps_and_sold(session, counted_ids, now)
        prices = {t.type_id: price_now(t.price, steps.get(t.type_id, []), today, sold) for t in types if t.counted}
    return (race.id, race.version, race.language, race.full_name, race.email, signup_closed_reason(race, now), today.isoformat(),
            tuple((t.type_id, on_sale(t, now), inventory.left_for_buyer(t, inventory.held_from(*t[-4:])),
                   prices.get(t.type_id)) for t in types))


def race_list_key(session: Session, now: datetime, **search) -> tuple:
    """What one page of the race list (services.races.listed with these `search` arguments) shows that can
    change, in one statement: each listed race's `version` with what time changes on its card (sign-up
    open, its local date for price steps by date) and, per ticket type, whether it is on sale and what
    holds its spots (which also moves a step that ends after a number sold)."""
    rows = session.execute(_race_list_statement(tuple(sorted(search.items()))), {"now": now}).all()
    key, race_id = [], None
    for row in rows:  # a row answers the attributes the sales rules read, as in race_page_key
        if row.id != race_id:  # a race's first row (one per ticket type): the race's part, once
            race_id = row.id
            key.append((row.id, row.version, row.status, signup_closed_reason(row, now),
                        now.astimezone(_zone(row.timezone)).date()))
        if row.type_id is not None:
            key.append((row.type_id, on_sale(row, now), row.capacity, *row[-4:]))
    return (now.year, now.month, tuple(key))  # the month filter's choices start at this month


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    """ZoneInfo keeps only its last 8 zones for good: a list of races in more reads the others' files again."""
    return ZoneInfo(name)


@dataclass(frozen=True)
class CachedPage:
    key: Hashable
    body: bytes
    etag: str
    stored_at: float
    # The body compressed, by encoding, as clients ask (blueprints/response_compression.py): once per page.
    encoded: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)


def etag_of(body: bytes) -> str:
    """The entity tag of a page: its content's hash, so every worker (and a new release with changed
    templates) agrees on it without sharing anything."""
    return hashlib.sha256(body).hexdigest()[:32]


class PageCache:
    """Rendered pages by name (a race's slug and the variant: full page or htmx fragment), each valid for
    one key; the least recently used goes first beyond `size`. Thread-safe (gthread workers)."""

    def __init__(self, size: int = 256, max_age: float = 60.0):
        self.size, self.max_age = size, max_age
        self._pages: OrderedDict[Hashable, CachedPage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: Hashable, key: Hashable) -> CachedPage | None:
        """The page stored under `name` for exactly this key and younger than max_age, or None."""
        with self._lock:
            page = self._pages.get(name)
            if page is None or page.key != key or time.monotonic() - page.stored_at > self.max_age:
                return None
            self._pages.move_to_end(name)
            return page

    def put(self, name: Hashable, key: Hashable, body: bytes, etag: str | None = None) -> CachedPage:
        """Store `body` (a page, or a part of one with `etag=""`: its tag is then never asked for)."""
        page = CachedPage(key, body, etag_of(body) if etag is None else etag, time.monotonic())
        if self.max_age <= 0 or self.size <= 0:
            return page
        with self._lock:
            self._pages[name] = page
            self._pages.move_to_end(name)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)
        return page

    def __len__(self) -> int:
        return len(self._pages)


def app_cache(extensions: dict, name: str, seconds: float, size: int) -> PageCache:
    """The cache called `name` of one app (`app.extensions`), made on first use with these limits: per app, as tests
    run many apps on many databases."""
    if name not in extensions:
        extensions[name] = PageCache(size, seconds)
    return extensions[name]
