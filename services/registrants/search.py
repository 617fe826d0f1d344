"""A searched registrant list's matches, read once: counted per status and put in the list's order in one statement.

A search's matches come from its own index (the trigram index on `search_key` on Postgres), not in any sort's
order, and how many there are grows with the race. Walking the sort's index for them costs what the race holds
before the 50th match ("smith" sits late in the alphabet); counting and sorting them costs what they are. So a
search reads at most SEARCH_CAP + 1 of the race's matching registrations, and in the same statement counts them
per status and lists the ids the status and details filters show, in the list's order: the page then reads its
50 rows by id. A search that matches more than SEARCH_CAP is not counted: the list says "more than" and walks
the sort's index, where so many matches are soon found.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import ARRAY, Integer, Select, String, and_, case, cast, func, literal, null, select, true, union_all
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from models import Registration
from services.registrants.query import (
    RegistrantFilters,
    awaiting_runner_condition,
    filtered_but_status_and_details,
    registrants_query,
    search_condition,
    sort_keys,
    status_column,
    status_condition,
)

SEARCH_CAP = 1000
_FOUND = "found"  # the row that says how many registrations the search found (at most SEARCH_CAP + 1)


@dataclass(frozen=True)
class Matches:
    counts: list[tuple[str, int, int]]  # (status, registrants, of them waiting for their runner's details)
    ids: list[int]                      # the registrants the status and details filters show, in the list's order
    capped: bool                        # more than SEARCH_CAP matched: nothing above was read


def _details_condition(details: str):
    return {"": true(), "pending": awaiting_runner_condition(), "complete": ~awaiting_runner_condition()}[details]


def _found(race_id: int, q: str) -> Select:
    """The ids of the race's registrations `q` matches (any status), at most SEARCH_CAP + 1. A MATERIALIZED CTE,
    so Postgres finds them by the search's index whatever LIMIT the statement has (a LIMIT makes it walk the
    race's rows in some index's order instead, hoping for matches early)."""
    found = (select(Registration.id).where(Registration.race_id == race_id, search_condition(q))
             .cte("search_found").prefix_with("MATERIALIZED", dialect="postgresql"))
    return select(found.c.id).limit(SEARCH_CAP + 1)


def read_matches(session: Session, race_id: int, filters: RegistrantFilters, now: datetime) -> Matches:
    """The search's matches under the other filters: their counts per status and the shown ones' ids in order."""
    found = _found(race_id, filters.q)
    keys = sort_keys(filters)
    shown = and_(status_condition(filters.status), _details_condition(filters.details))
    listed = filtered_but_status_and_details(
        registrants_query(race_id, Registration.id.label("id"), cast(status_column(), String).label("status"),
                          case((awaiting_runner_condition(), 1), else_=0).label("awaiting"),
                          case((shown, 1), else_=0).label("shown"), *(key.label(f"k{i}") for i, key in enumerate(keys)),
                          now=now, ticket_type=True),
        replace(filters, q="")).where(Registration.id.in_(found))
    matched = listed.cte("search_matched").prefix_with("MATERIALIZED", dialect="postgresql")
    ordering = [matched.c[f"k{i}"].desc() if filters.dir == "desc" else matched.c[f"k{i}"].asc()
                for i in range(len(keys))]
    how_many = select(func.count()).select_from(found.subquery()).scalar_subquery()
    if session.get_bind().dialect.name == "postgresql":
        counts = select(matched.c.status, func.count(), func.sum(matched.c.awaiting),
                        cast(null(), ARRAY(Integer))).group_by(matched.c.status)
        ids = select(literal(_FOUND), how_many, literal(0),
                     func.array_agg(aggregate_order_by(matched.c.id, *ordering)).filter(matched.c.shown == 1))
        rows = session.execute(union_all(counts, ids)).all()
        found_count = next(int(n) for name, n, _, _ in rows if name == _FOUND)
        if found_count > SEARCH_CAP:
            return Matches([], [], True)
        return Matches([(name, int(n), int(awaiting or 0)) for name, n, awaiting, _ in rows if name != _FOUND],
                       next(list(order or ()) for name, _, _, order in rows if name == _FOUND), False)
    # Elsewhere (SQLite) no arrays: the matches themselves, in order, each with how many were found.
    rows = session.execute(select(matched.c.id, matched.c.status, matched.c.awaiting, matched.c.shown, how_many)
                           .order_by(*ordering)).all()
    found_count = rows[0][4] if rows else session.execute(select(how_many)).scalar_one()
    if found_count > SEARCH_CAP:
        return Matches([], [], True)
    return Matches([(status, 1, awaiting) for _, status, awaiting, _, _ in rows],
                   [id_ for id_, _, _, shown_, _ in rows if shown_], False)
