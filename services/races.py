"""Reading races for the public pages: the list with its search, and one race's page."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from models import Race, RaceStatus, RaceText, TicketType
from services import inventory
from services.permissions import can_manage
from services.price_tiers import PriceNow, prices_now
from services.sales import on_sale
from services.search import matches

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
PUBLIC_STATUSES = (RaceStatus.PUBLISHED, RaceStatus.CLOSED)


@dataclass
class TicketOffer:
    """A ticket type as a visitor sees it right now."""

    ticket_type: TicketType
    spots_left: int
    on_sale: bool
    price: PriceNow  # today's price and the next step (services/price_tiers.py)

    @property
    def sold_out(self) -> bool:
        return self.spots_left <= 0


@dataclass
class RaceCard:
    """A race with its visible ticket types and what is left of them."""

    race: Race
    offers: list[TicketOffer] = field(default_factory=list)

    @property
    def spots_left(self) -> int:
        return sum(o.spots_left for o in self.offers)

    @property
    def price_from(self) -> int | None:
        prices = [o.price.price for o in self.offers if not o.sold_out]
        return min(prices) if prices else None

    @property
    def sold_out(self) -> bool:
        return bool(self.offers) and self.spots_left == 0


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """"2026-12" → (2026-12-01, 2027-01-01) in UTC."""
    year, mon = (int(p) for p in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _cards(session: Session, races: list[Race], now: datetime) -> list[RaceCard]:
    types = [t for race in races for t in race.ticket_types if not t.hidden]
    left = inventory.spots_left(session, types, now)
    prices = prices_now(session, races, types, now)
    return [
        RaceCard(race, [TicketOffer(t, left[t.id], on_sale(t, now), prices[t.id])
                        for t in race.ticket_types if not t.hidden])
        for race in races
    ]


def listed(stmt, now: datetime, *, q: str = "", month: str = "", past: bool = False, page: int = 1,
           per_page: int = 24, after: tuple[datetime, int] | None = None):
    """`stmt` (a SELECT from races) narrowed to one page of the list: published races, upcoming (soonest
    first) or past (latest first), searched and in a month; one row more than the page, to tell whether
    another page follows. `after` (a race's start and id, the API's cursor) starts the page after that race."""
    stmt = stmt.where(Race.status.in_(PUBLIC_STATUSES))
    if past:
        stmt = stmt.where(Race.starts_at < now).order_by(Race.starts_at.desc(), Race.id)
        if after:
            stmt = stmt.where(or_(Race.starts_at < after[0], and_(Race.starts_at == after[0], Race.id > after[1])))
    else:
        stmt = stmt.where(Race.starts_at >= now).order_by(Race.starts_at, Race.id)
        if after:
            stmt = stmt.where(or_(Race.starts_at > after[0], and_(Race.starts_at == after[0], Race.id > after[1])))
    if q:
        stmt = stmt.where(matches(Race.search_key, q))  # title, place, address or summary
    if month:
        start, end = month_bounds(month)
        stmt = stmt.where(Race.starts_at >= start, Race.starts_at < end)
    return stmt.offset((page - 1) * per_page).limit(per_page + 1)


def list_races(session: Session, now: datetime, *, q: str = "", month: str = "",
               past: bool = False, page: int = 1, per_page: int = 24, after: tuple[datetime, int] | None = None
               ) -> tuple[list[RaceCard], bool]:
    """One page of the race list (`listed`) as cards; three queries."""
    stmt = listed(select(Race).options(selectinload(Race.ticket_types)), now, q=q, month=month, past=past,
                  page=page, per_page=per_page, after=after)
    races = list(session.scalars(stmt))
    has_more = len(races) > per_page
    return _cards(session, races[:per_page], now), has_more


def description_html(session: Session, race: Race, language: str) -> str:
    """The race's description for a page in `language`: the organizer's text in that language when they wrote
    one (race_texts), else the race's own."""
    if language != race.language:
        text = session.scalar(select(RaceText.description_html).where(
            RaceText.race_id == race.id, RaceText.language == language, RaceText.description_html != ""))
        if text:
            return text
    return race.description_html or ""


def may_see(session: Session, race: Race, viewer_id: uuid.UUID | None) -> bool:
    """Published and closed races are public; a draft only for its organizers, as a preview."""
    return race.status in PUBLIC_STATUSES or can_manage(session, race.id, viewer_id)


def race_by_slug(session: Session, slug: str, *options) -> Race | None:
    """The race at this address (loaded with `options`), whoever may see it; None for no such race."""
    if not SLUG_RE.match(slug):
        return None
    return session.scalar(select(Race).where(Race.slug == slug).options(*options))


def race_for_page(session: Session, slug: str, now: datetime,
                  viewer_id: uuid.UUID | None = None) -> RaceCard | None:
    """The race behind a public URL, or None when it does not exist or the viewer may not see it."""
    race = race_by_slug(session, slug, joinedload(Race.organizer), selectinload(Race.ticket_types),
                        selectinload(Race.social_links))
    if race is None or not may_see(session, race, viewer_id):
        return None
    return _cards(session, [race], now)[0]
