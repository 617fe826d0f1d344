"""The API's pages of a race's registrants: the list's search, filters and sorts read by cursor, or every
registrant changed since a moment, oldest change first (a device's delta sync).

The rows come from `registrants_query` and `filtered` (services/registrants/query.py), as the organizer's list
does, so the API reaches exactly the registrants the page does.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, tuple_
from sqlalchemy.orm import Session

from models import Order, Registration, TicketType, WaiverVersion
from services.registrants.query import (
    RegistrantFilters,
    decode_cursor,
    decode_keys,
    encode_cursor,
    filtered,
    order_by,
    registrant_status,
    registrants_query,
    sort_keys,
)

CHANGE_KEYS = (Registration.updated_at, Registration.id)


@dataclass(frozen=True)
class FeedRow:
    registration: Registration
    ticket_type_name: str
    status: str
    registered_at: datetime
    waiver_number: int | None


@dataclass(frozen=True)
class FeedPage:
    rows: list[FeedRow]
    next_cursor: str | None  # where the next page starts; None on the last page


def registrant_feed(session: Session, race_id: int, filters: RegistrantFilters, now: datetime, *, limit: int,
                    after: str = "", updated_since: datetime | None = None) -> FeedPage:
    """`limit` registrants of the race after the cursor `after`: in the list's sort, or, with `updated_since`,
    those changed at or after it by the time they changed. One query; BadFilter for a cursor that is not one."""
    if updated_since is not None:
        keys, descending = list(CHANGE_KEYS), False
        point = decode_keys(after, (datetime, int)) if after else None
        ordering = [key.asc() for key in keys]
    else:
        keys, descending = sort_keys(filters), filters.dir == "desc"
        point = decode_cursor(after, filters.sort) if after else None
        ordering = order_by(filters)
    query = filtered(registrants_query(race_id, Registration, TicketType.name, Order.status, Registration.registered_at,
                                       WaiverVersion.number, *keys, now=now)
                     .outerjoin(WaiverVersion, WaiverVersion.id == Registration.waiver_version_id), filters)
    if updated_since is not None:
        query = query.where(Registration.updated_at >= updated_since)
    if point is not None:
        bound = tuple_(*(bindparam(None, value, type_=key.type) for key, value in zip(keys, point, strict=True)))
        query = query.where(tuple_(*keys) < bound if descending else tuple_(*keys) > bound)
    rows = session.execute(query.order_by(*ordering).limit(limit + 1)).all()
    page = [FeedRow(registration, name, registrant_status(status, registration.refunded_at), registered, number)
            for registration, name, status, registered, number, *_ in rows[:limit]]
    more = len(rows) > limit
    return FeedPage(page, encode_cursor(tuple(rows[limit - 1][5:])) if more else None)
