"""The API's pages of a race's registrants: the list's search, filters and sorts read by cursor, or every
registrant changed since a moment, oldest change first (a device's delta sync).

The rows come from `registrants_query` and `filtered` (services/registrants/query.py), as the organizer's list
does, so the API reaches exactly the registrants the page does.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

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
# A change is stamped with the app's clock when written, not when committed: a transaction stamped at t may
# commit after a sync read rows stamped later than t. A delta sync's `updated_until` is therefore never later
# than the moment its first page was read minus this window, so the next sync reads the window again and any
# transaction shorter than it is delivered (perhaps twice: clients apply rows by id).
CHANGE_WINDOW = timedelta(seconds=60)


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
    updated_until: datetime | None = None  # with updated_since: the next sync's updated_since (see CHANGE_WINDOW)


def registrant_feed(session: Session, race_id: int, filters: RegistrantFilters, now: datetime, *, limit: int,
                    after: str = "", updated_since: datetime | None = None) -> FeedPage:
    """`limit` registrants of the race after the cursor `after`: in the list's sort, or, with `updated_since`,
    those changed at or after it by the time they changed (and the page's `updated_until`, see CHANGE_WINDOW).
    One query; BadFilter for a cursor that is not one."""
    cap = None
    if updated_since is not None:
        keys, descending = list(CHANGE_KEYS), False
        # A delta sync's cursor carries the cap its first page set, so a sync paging slowly keeps it.
        point = decode_keys(after, (datetime, int, datetime)) if after else None
        point, cap = (point[:2], point[2]) if point else (None, now - CHANGE_WINDOW)
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
    cursor = None
    if more:
        keys_of_last = tuple(rows[limit - 1][5:])
        cursor = encode_cursor(keys_of_last if cap is None else (*keys_of_last, cap))
    latest = max((row.registration.updated_at for row in page), default=None)
    return FeedPage(page, cursor, min(latest, cap) if latest is not None and cap is not None else None)
