"""One page of a race's registrant list: its counts per status and 50 rows, read by keyset.

The search, filters, sort and cursors are `services/registrants/query.py`'s; this module reads a page with them.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import (
    Integer,
    Select,
    any_,
    bindparam,
    literal,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from models import Order, Registration
from services.registrants.choices import TicketChoice, WaiverChoice, race_choices
from services.registrants.counts import count_statuses, tally_statuses
from services.registrants.query import (
    LISTED_BY_STATUS,
    PER_PAGE,
    RegistrantFilters,
    encode_cursor,
    filtered,
    order_by,
    registrant_status,
    registrants_query,
    sort_keys,
)
from services.registrants.search import read_matches
from services.registrants.shapes import NOW, RACE, filtered_by_shape, filters_shape, shape_values


def _beyond(filters: RegistrantFilters, cursor: tuple, *, backwards: bool = False):
    """SQL condition: the row comes after `cursor` (a row's sort keys) in the list's order, or before it."""
    keys = sort_keys(filters)
    point = tuple_(*(bindparam(None, value, type_=key.type) for key, value in zip(keys, cursor, strict=True)))
    return tuple_(*keys) < point if (filters.dir == "desc") != backwards else tuple_(*keys) > point


class ListedRegistration(NamedTuple):
    """What the list shows of one registration (the columns it reads, not the whole row): a tuple, made from the
    page's row without a call per column."""

    id: int
    first_name: str
    last_name: str
    email: str
    runner_fills_in: bool
    runner_details_at: datetime | None
    details_problem: str
    bib: int | None
    checked_in_at: datetime | None

    awaiting_runner = Registration.awaiting_runner
    runner_name = Registration.runner_name


_LISTED_COLUMNS = [getattr(Registration, name) for name in ListedRegistration._fields]
# A page's row: what it shows of the registration, then what names its ticket type, status, time and waiver, and
# its order's race (checked here: see _Reader).
_PAGE_COLUMNS = [*_LISTED_COLUMNS, Registration.refunded_at, Registration.ticket_type_id, Order.status,
                 Registration.registered_at, Registration.waiver_version_id, Order.race_id]
TICKET_TYPE = len(_LISTED_COLUMNS) + 1
# The same read without the order (a searched page's rows by id): its status as the ticket carries it, and the
# registration's race, which the search has already required.
_MATCH_COLUMNS = [*_PAGE_COLUMNS[:TICKET_TYPE + 1], Registration.order_status, Registration.registered_at,
                  Registration.waiver_version_id, Registration.race_id]


class RegistrantRow(NamedTuple):
    registration: ListedRegistration
    ticket_type_name: str
    status: str
    registered_at: datetime
    waiver_number: int | None
    keys: tuple  # the row's sort keys

    @property
    def cursor(self) -> str:
        """Where a page that ends (or starts) at this row ends (or starts): written when a link asks, which only
        the page's first and last rows' do."""
        return encode_cursor(self.keys)


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
    # A search that found more than SEARCH_CAP registrations is not counted: `total` is then the registrants up
    # to this page's last, the counts are empty, and `more` says whether a page follows.
    capped: bool = False
    more: bool = False
    pages: int = field(init=False)

    def __post_init__(self):
        self.pages = self.page + self.more if self.capped else max(1, -(-self.total // self.per_page))

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


class _Reader:
    """Reads rows of the list in its order, off the sort's index: `read(limit, cursor, backwards, offset)` gives
    up to `limit` rows after `cursor` (before it, `backwards`), in the list's order, each ending with its sort keys.

    The page reads its order alone (no ticket type or waiver version: their few names come from the lists the
    page has), and names the race on the registration only, so Postgres reads the sort's index in order and
    stops after `limit` rows. A row whose order or ticket type is of another race (which only a broken row
    can be) is then left out by `registrant_page`, as registrants_query's conditions on them would."""

    def __init__(self, session: Session, race_id: int, filters: RegistrantFilters, now: datetime):
        self.session, self.filters, self.race_id, self.now = session, filters, race_id, now
        searched = bool(filters.q)  # a search's matches are found by its own index, not in the sort's order
        self.query = filtered(registrants_query(race_id, *_PAGE_COLUMNS, *sort_keys(filters), now=now,
                                                ticket_type=True, order_race=True), filters) if searched else None

    def read(self, limit: int, cursor: tuple | None = None, *, backwards: bool = False, offset: int = 0) -> list:
        if self.query is None:  # not searched: the statement built once for the list's shape
            params = {**shape_values(self.race_id, self.filters, self.now), "limit": limit, "offset": offset,
                      **{f"k{i}": value for i, value in enumerate(cursor or ())}}
            rows = list(self.session.execute(_page_statement(
                filters_shape(self.filters), cursor is not None, backwards, bool(offset)), params))
            return rows[::-1] if backwards else rows
        query = self.query if cursor is None else self.query.where(_beyond(self.filters, cursor, backwards=backwards))
        query = query.order_by(*order_by(self.filters, backwards=backwards)).limit(limit)
        rows = list(self.session.execute(query.offset(offset) if offset else query))
        return rows[::-1] if backwards else rows


@functools.lru_cache(maxsize=512)
def _page_statement(shape: RegistrantFilters, cursor: bool, backwards: bool, offset: bool) -> Select:
    """A page of an unsearched list (`filters_shape`), read off its sort's index: built once, run with
    `shape_values` and {"limit", "offset", and "k0", "k1", … the cursor's sort keys}."""
    keys = sort_keys(shape)
    query = filtered_by_shape(registrants_query(RACE, *_PAGE_COLUMNS, *keys, now=NOW, ticket_type=False,
                                                order_race=False, listed_only=shape.status not in LISTED_BY_STATUS),
                              shape)
    if cursor:
        point = tuple_(*(bindparam(f"k{i}", type_=key.type) for i, key in enumerate(keys)))
        query = query.where(tuple_(*keys) < point if (shape.dir == "desc") != backwards else tuple_(*keys) > point)
    # The limit written into the text (a page's size, and one more: a handful of values): bound, it left Postgres's
    # generic plan guessing a tenth of the list, dearer than the plan for 51 rows, so every page was planned afresh.
    query = query.order_by(*order_by(shape, backwards=backwards)).limit(bindparam("limit", type_=Integer,
                                                                                  literal_execute=True))
    return query.offset(bindparam("offset", type_=Integer)) if offset else query


class _TicketReader(_Reader):
    """The ticket sort (ticket type's position and name, then runner's name): each ticket type's runners read by
    name off ix_registrations_race_ticket_name, at most `limit` of each, in one statement; the types' order is
    known here. Types sharing a position and name are one group, their runners merged by name."""

    _NAMES = (Registration.name_key, Registration.id)

    def __init__(self, session: Session, race_id: int, filters: RegistrantFilters, now: datetime,
                 ticket_types: list[TicketChoice]):
        self.session, self.filters, self.race_id, self.now = session, filters, race_id, now
        groups: dict[tuple[int, str], list[int]] = {}
        for ticket_type in ticket_types:
            if filters.ticket is None or ticket_type.id == filters.ticket:
                groups.setdefault((ticket_type.position, ticket_type.name), []).append(ticket_type.id)
        self.groups = sorted(groups.items())
        self.group_of = {tid: key for key, ids in self.groups for tid in ids}

    def read(self, limit: int, cursor: tuple | None = None, *, backwards: bool = False, offset: int = 0) -> list:
        descending = (self.filters.dir == "desc") != backwards
        width = len(_PAGE_COLUMNS) + len(self._NAMES)
        parts = []
        for rank, (key, ids) in enumerate(self.groups):
            where = [Registration.ticket_type_id.in_(ids) if len(ids) > 1 else Registration.ticket_type_id == ids[0]]
            if cursor is not None:
                if key == tuple(cursor[:2]):
                    point = tuple_(*(bindparam(None, v, type_=k.type) for k, v in zip(self._NAMES, cursor[2:], strict=True)))
                    where.append(tuple_(*self._NAMES) < point if descending else tuple_(*self._NAMES) > point)
                elif (key < tuple(cursor[:2])) != descending:
                    continue  # the whole group is on the other side of the cursor
            columns = [c.label(f"c{i}") for i, c in enumerate([*_PAGE_COLUMNS, *self._NAMES])]
            part = filtered(registrants_query(self.race_id, *columns, literal(rank).label("rank"), now=self.now,
                                              ticket_type=False, order_race=False), self.filters).where(*where)
            part = part.order_by(*(k.desc() if descending else k.asc() for k in self._NAMES)).limit(limit + offset)
            parts.append(select(part.subquery()))
        if not parts:
            return []
        every = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
        keys = [every.c.rank, *(every.c[f"c{i}"] for i in range(len(_PAGE_COLUMNS), width))]
        query = select(*(every.c[f"c{i}"] for i in range(width))).order_by(
            *(k.desc() if descending else k.asc() for k in keys)).limit(limit)
        rows = [(*row[:len(_PAGE_COLUMNS)], *self.group_of[row[TICKET_TYPE]], *row[len(_PAGE_COLUMNS):])
                for row in self.session.execute(query.offset(offset) if offset else query)]
        return rows[::-1] if backwards else rows


class _MatchReader:
    """Reads rows of a searched list from its matches' ids (services/registrants/search.py), already in the
    list's order: a window of them by position, or after (before) the cursor's row, then those rows by id. A
    cursor whose row no longer matches is looked for by its keys (`walker`), as an unsearched list's would be."""

    def __init__(self, session: Session, race_id: int, filters: RegistrantFilters, now: datetime, ids: list[int],
                 walker):
        self.session, self.race_id, self.filters, self.now, self.ids, self.walker = (
            session, race_id, filters, now, ids, walker)
        self.position = {id_: at for at, id_ in enumerate(ids)}

    def read(self, limit: int, cursor: tuple | None = None, *, backwards: bool = False, offset: int = 0) -> list:
        if cursor is None:
            end = len(self.ids) - offset if backwards else offset + limit
            start = max(0, end - limit) if backwards else offset
        elif cursor[-1] in self.position:  # every sort's keys end with the registration's id
            at = self.position[cursor[-1]]
            start, end = (max(0, at - limit - offset), at - offset) if backwards else (at + 1 + offset, at + 1 + offset + limit)
        else:
            return self.walker().read(limit, cursor, backwards=backwards, offset=offset)
        window = self.ids[max(0, start):max(0, end)]
        if not window:
            return []
        postgres = self.session.get_bind().dialect.name == "postgresql"
        return list(self.session.execute(_rows_by_id(self.filters.sort, self.filters.dir, postgres),
                                          {"race_id": self.race_id, "now": self.now, "ids": window}))


@functools.lru_cache(maxsize=16)
def _rows_by_id(sort: str, direction: str, postgres: bool) -> Select:
    """A page's rows by their ids, in the list's order: built once per sort, run with {"race_id", "now", "ids"}.

    On Postgres the ids go as one array (`id = ANY(...)`), so the statement's text is the same for any number of
    them: written out as a list, 50 ids made 53 parameters, past the 50 under which psycopg keeps a statement's
    parsed text, and it parsed the statement again at every page (~0.7 ms of CPU), where 9 were not (issue 17).

    The rows' orders are not joined: each row's status is the copy its ticket carries, as the search's was, and
    only a pending one's hold is looked up (at 50,000 registrations, 50 rows: ~0.4 ms of Postgres less)."""
    shape = RegistrantFilters(sort=sort, dir=direction)
    ids = (Registration.id == any_(bindparam("ids", type_=ARRAY(Integer))) if postgres
           else Registration.id.in_(bindparam("ids", expanding=True)))
    return (registrants_query(RACE, *_MATCH_COLUMNS, *sort_keys(shape), now=NOW, ticket_type=sort == "ticket",
                              order_joined=False)
            .where(ids).order_by(*order_by(shape)))


def registrant_page(session: Session, race_id: int, filters: RegistrantFilters, now: datetime,
                    per_page: int = PER_PAGE, *, ticket_types: list[TicketChoice] | None = None,
                    waivers: list[WaiverChoice] | None = None) -> RegistrantPage:
    """One page of registrants: a COUNT per status and one page query, however many there are and whichever page.

    A page reached by its Next or Previous link starts right after (or ends right before) the row its cursor
    names, read off the sort's index; the last page is the first one read backwards. Only a page number typed
    or bookmarked without a cursor skips rows with OFFSET. A cursor past every row (the rows after it were
    refunded or removed meanwhile) shows the last page. `ticket_types` and `waivers` are the race's (read here
    when not given): the paid count is their stored counts, and the rows name them.
    """
    if ticket_types is None or waivers is None:
        ticket_types, waivers = race_choices(session, race_id)
    def walker() -> _Reader:
        return (_TicketReader(session, race_id, filters, now, ticket_types) if filters.sort == "ticket"
                else _Reader(session, race_id, filters, now))

    if filters.q:
        matches = read_matches(session, race_id, filters, now)
        if matches.capped:
            return _uncounted_page(walker(), race_id, filters, per_page, ticket_types, waivers)
        status_counts, awaiting = tally_statuses(matches.counts, filters)
        reader = _MatchReader(session, race_id, filters, now, matches.ids, walker)
    else:
        status_counts, awaiting = count_statuses(session, race_id, filters, now, ticket_types)
        reader = walker()
    total = status_counts[filters.status]
    pages = max(1, -(-total // per_page))
    page = min(filters.page, pages)

    def last_page() -> list:
        return reader.read(total - (pages - 1) * per_page, backwards=True)

    if filters.after:
        rows = reader.read(per_page, filters.after_keys)
        if not rows and total:
            rows, page = last_page(), pages
    elif filters.before:
        rows = reader.read(per_page, filters.before_keys, backwards=True)
        if len(rows) < per_page:  # nothing more before these: the first page
            page = 1
    elif page == pages > 1:
        rows = last_page()
    else:
        rows = reader.read(per_page, offset=(page - 1) * per_page)
    return RegistrantPage(rows=_rows(rows, race_id, ticket_types, waivers), total=total, page=page,
                          per_page=per_page, status_counts=status_counts, awaiting=awaiting)


def _uncounted_page(reader: _Reader, race_id: int, filters: RegistrantFilters, per_page: int,
                    ticket_types: list[TicketChoice], waivers: list[WaiverChoice]) -> RegistrantPage:
    """A page of a search that found more than SEARCH_CAP registrations: read off the sort's index, stopping at
    the page (one row more says whether another follows); its Next and Previous links carry cursors as ever."""
    page = filters.page
    if filters.before:
        rows = reader.read(per_page + 1, filters.before_keys, backwards=True)
        if len(rows) <= per_page:  # nothing more before these: the first page
            page = 1
        more, rows = True, rows[-per_page:]
    else:
        rows = reader.read(per_page + 1, filters.after_keys or None, offset=0 if filters.after else (page - 1) * per_page)
        more, rows = len(rows) > per_page, rows[:per_page]
    return RegistrantPage(rows=_rows(rows, race_id, ticket_types, waivers), total=(page - 1) * per_page + len(rows),
                          page=page, per_page=per_page, capped=True, more=more)


def _rows(rows: list, race_id: int, ticket_types: list[TicketChoice], waivers: list[WaiverChoice]) -> list:
    """The page's rows as the list shows them, each with its cursor (see _Reader for the race's check)."""
    names = {t.id: t.name for t in ticket_types}
    numbers = {w.id: w.number for w in waivers}
    width = len(_LISTED_COLUMNS)
    listed = tuple.__new__
    return [RegistrantRow(listed(ListedRegistration, row[:width]), names[ticket_type_id],
                          registrant_status(status, refunded), registered, numbers.get(waiver_id), tuple(row[width + 6:]))
            for row in rows
            for refunded, ticket_type_id, status, registered, waiver_id, order_race in [row[width:width + 6]]
            if order_race == race_id and ticket_type_id in names]
