"""One page of a race's registrant list: its counts per status and 50 rows, read by keyset.

The search, filters, sort and cursors are `services/registrants/query.py`'s; this module reads a page with them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import CompoundSelect, Select, String, bindparam, case, cast, func, literal, select, tuple_, union_all
from sqlalchemy.orm import Session

from models import Order, OrderStatus, Registration, TicketType, WaiverVersion
from services.inventory import sold_for_good
from services.registrants.query import (
    PER_PAGE,
    STATUSES,
    RegistrantFilters,
    awaiting_runner_condition,
    encode_cursor,
    filtered,
    filtered_but_status_and_details,
    order_by,
    registrant_status,
    registrants_query,
    sort_keys,
    status_column,
)


def _beyond(filters: RegistrantFilters, cursor: tuple, *, backwards: bool = False):
    """SQL condition: the row comes after `cursor` (a row's sort keys) in the list's order, or before it."""
    keys = sort_keys(filters)
    point = tuple_(*(bindparam(None, value, type_=key.type) for key, value in zip(keys, cursor, strict=True)))
    return tuple_(*keys) < point if (filters.dir == "desc") != backwards else tuple_(*keys) > point


class ListedRegistration:
    """What the list shows of one registration (the columns it reads, not the whole row)."""

    __slots__ = ("id", "first_name", "last_name", "email", "runner_fills_in", "runner_details_at", "details_problem",
                 "bib", "checked_in_at")

    def __init__(self, *values):
        for name, value in zip(self.__slots__, values, strict=True):
            setattr(self, name, value)

    awaiting_runner = Registration.awaiting_runner
    runner_name = Registration.runner_name


_LISTED_COLUMNS = [getattr(Registration, name) for name in ListedRegistration.__slots__]


@dataclass(frozen=True)
class RegistrantRow:
    registration: ListedRegistration
    ticket_type_name: str
    status: str
    registered_at: datetime
    waiver_number: int | None
    cursor: str  # where a page that ends (or starts) at this row ends (or starts)


@dataclass
class RegistrantPage:
    rows: list[RegistrantRow]
    total: int
    page: int
    per_page: int = PER_PAGE
    # Registrants per status under the other filters, so the list can say whom the status filter hides.
    status_counts: dict[str, int] = field(default_factory=dict)
    # Of the registrants the status and other filters show (the details filter aside): how many wait for their
    # runner's own details.
    awaiting: int = 0
    pages: int = field(init=False)

    def __post_init__(self):
        self.pages = max(1, -(-self.total // self.per_page))

    def hidden_by_status(self, status: str) -> dict[str, int]:
        """The other statuses' counts, where not zero, that the status filter `status` leaves out."""
        if status == "all":
            return {}
        return {name: count for name, count in self.status_counts.items() if name not in (status, "all") and count}

    @property
    def first_index(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.per_page + 1

    @property
    def last_index(self) -> int:
        return min(self.page * self.per_page, self.total)


def _counted(everyone: int, awaiting: int, details: str) -> int:
    """How many of `everyone` (of whom `awaiting` wait for their runner's details) the details filter shows."""
    return {"": everyone, "pending": awaiting, "complete": everyone - awaiting}[details]


def _count(session: Session, race_id: int, filters: RegistrantFilters, now: datetime) -> tuple[dict[str, int], int]:
    """A COUNT per status (and of those waiting for their runner) in one query: the status counts, and how many
    of the registrants the status filter shows wait for their runner's details."""
    rows = session.execute(_stored_counts(race_id, filters, now) if _unnarrowed(filters)
                           else _counted_rows(race_id, filters, now)).all()
    counted: dict[str, tuple[int, int]] = {}
    for name, everyone, awaiting in rows:
        had = counted.get(name, (0, 0))
        counted[name] = (had[0] + int(everyone or 0), had[1] + int(awaiting or 0))
    names = [name for name in STATUSES if name != "all"]
    status_counts = {name: _counted(*counted.get(name, (0, 0)), filters.details) for name in names}
    status_counts["all"] = sum(status_counts.values())
    shown = names if filters.status == "all" else [filters.status]
    return status_counts, sum(counted.get(name, (0, 0))[1] for name in shown)


def _unnarrowed(filters: RegistrantFilters) -> bool:
    """Whether the counts may come from the stored sold counts: no search or filter but status, details, ticket."""
    return not (filters.q or filters.checked_in or filters.waiver)


def _status_counts(query: Select) -> Select:
    """(status, registrants, of them waiting for their runner) per status of `query`'s registrants."""
    status = cast(status_column(), String).label("listed_status")
    return (query.with_only_columns(status, func.count(Registration.id),
                                    func.count(case((awaiting_runner_condition(), Registration.id))))
            .group_by(status))


def _counted_rows(race_id: int, filters: RegistrantFilters, now: datetime) -> Select:
    """The counts of a searched or filtered list: its matching registrants counted (the search's indexes find them)."""
    return _status_counts(filtered_but_status_and_details(registrants_query(race_id, now=now), filters))


def _stored_counts(race_id: int, filters: RegistrantFilters, now: datetime) -> CompoundSelect:
    """The same counts for the whole list (or one ticket type), flat in the data: the paid registrants are the
    ticket types' stored `sold_count` (services/inventory.py keeps it: paid, not refunded, exactly the "paid"
    status); the rest are the few registrants found through partial indexes: paid ones waiting for their
    runner, orders needing or given a refund, live reservations, tickets refunded on their own. The parts
    share no registrant, and together they are every listed one."""
    listed = filtered_but_status_and_details(registrants_query(race_id, now=now), filters)
    sold = select(literal("paid"), func.coalesce(func.sum(TicketType.sold_count), 0), literal(0)).where(
        TicketType.race_id == race_id, *([TicketType.id == filters.ticket] if filters.ticket is not None else []))
    paid_awaiting = listed.with_only_columns(literal("paid"), literal(0), func.count(Registration.id)).where(
        sold_for_good(), awaiting_runner_condition())
    return union_all(
        sold, paid_awaiting,
        _status_counts(listed.where(Order.status.in_([OrderStatus.NEEDS_REFUND, OrderStatus.REFUNDED]))),
        _status_counts(listed.where(Order.status == OrderStatus.PENDING, Order.reserved_until > now)),
        _status_counts(listed.where(Order.status == OrderStatus.PAID, Registration.refunded_at.is_not(None))))


def registrant_page(session: Session, race_id: int, filters: RegistrantFilters, now: datetime,
                    per_page: int = PER_PAGE) -> RegistrantPage:
    """One page of registrants: a COUNT per status and one page query, however many there are and whichever page.

    A page reached by its Next or Previous link starts right after (or ends right before) the row its cursor
    names, read off the sort's index; the last page is the first one read backwards. Only a page number typed
    or bookmarked without a cursor skips rows with OFFSET. A cursor past every row (the rows after it were
    refunded or removed meanwhile) shows the last page.
    """
    status_counts, awaiting = _count(session, race_id, filters, now)
    total = status_counts[filters.status]
    pages = max(1, -(-total // per_page))
    page = min(filters.page, pages)
    keys = sort_keys(filters)
    query = filtered(registrants_query(race_id, *_LISTED_COLUMNS, Registration.refunded_at, TicketType.name,
                                       Order.status, Registration.registered_at, WaiverVersion.number, *keys, now=now)
                     .outerjoin(WaiverVersion, WaiverVersion.id == Registration.waiver_version_id), filters)

    def backwards(limit: int, *where) -> list:
        return list(session.execute(query.where(*where).order_by(*order_by(filters, backwards=True)).limit(limit)))[::-1]

    def last_page() -> list:
        return backwards(total - (pages - 1) * per_page)

    if filters.after:
        rows = list(session.execute(query.where(_beyond(filters, filters.after_keys))
                                    .order_by(*order_by(filters)).limit(per_page)))
        if not rows and total:
            rows, page = last_page(), pages
    elif filters.before:
        rows = backwards(per_page, _beyond(filters, filters.before_keys, backwards=True))
        if len(rows) < per_page:  # nothing more before these: the first page
            page = 1
    elif page == pages > 1:
        rows = last_page()
    else:
        rows = list(session.execute(query.order_by(*order_by(filters)).limit(per_page).offset((page - 1) * per_page)))
    width = len(_LISTED_COLUMNS)
    return RegistrantPage(
        rows=[RegistrantRow(ListedRegistration(*row[:width]), name, registrant_status(status, refunded), registered,
                            number, encode_cursor(tuple(row[width + 5:])))
              for row in rows for refunded, name, status, registered, number in [row[width:width + 5]]],
        total=total, page=page, per_page=per_page, status_counts=status_counts, awaiting=awaiting)


