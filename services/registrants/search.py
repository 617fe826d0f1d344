"""A searched registrant list's matches, read once: counted per status and put in the list's order in one statement.

A search's matches come from its own index (the trigram index on `search_key` on Postgres), not in any sort's
order, and how many there are grows with the race. Walking the sort's index for them costs what the race holds
before the 50th match ("smith" sits late in the alphabet); counting and sorting them costs what they are. So a
search reads at most SEARCH_CAP + 1 of the race's matching registrations, and in the same statement counts them
per status and lists the ids the status and details filters show, in the list's order: the page then reads its
50 rows by id. A search that matches more than SEARCH_CAP is not counted: the list says "more than" and walks
the sort's index, where so many matches are soon found.

The statement is built once per shape of search (its words' kinds, the filters' shape: `filters_shape`) and run
with the words, the race, the time and the filters' values as parameters, so a request spends no Python on
building it (issue 17). Each match is read from the table once: the columns the counts, filters and order of its
shape use are carried out of the search (`_carried`), not read again by id, and no others: every match is copied
into the search's CTE, so a column carried for nothing costs once per match. A match's status is the copy of its
order's the ticket carries (Registration.order_status), so no match costs a lookup of its order, but a pending one,
whose hold's end only the order knows (at 50,000 registrations "smith"'s 936 matches: 3.35 → 2.27 ms of Postgres).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Column,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session
from sqlalchemy.sql import visitors
from sqlalchemy.sql.util import ClauseAdapter

from models import Registration
from services.registrants.query import (
    STATUSES,
    RegistrantFilters,
    awaiting_runner_condition,
    registrants_query,
    search_words,
    sort_keys,
    status_column,
    status_condition,
    word_condition,
)
from services.registrants.shapes import NOW, filtered_by_shape, filters_shape, shape_values
from services.search import typed_pattern

SEARCH_CAP = 1000
# The race and the cap are written into the statement's text when it runs, not sent as parameters: Postgres plans
# a statement the driver has prepared (psycopg does after five runs) once for any values: for any race it reads the
# race's whole index beside the search's, and for any cap it expects a tenth of the matches.
_RACE = bindparam("race_id", type_=Integer, literal_execute=True)
_CAP = bindparam("cap", type_=Integer, literal_execute=True)
_LISTED_STATUSES = tuple(name for name in STATUSES if name != "all")  # what a listed registrant's status can be


@dataclass(frozen=True)
class Matches:
    counts: list[tuple[str, int, int]]  # (status, registrants, of them waiting for their runner's details)
    ids: list[int]                      # the registrants the status and details filters show, in the list's order
    capped: bool                        # more than SEARCH_CAP matched: nothing above was read


def _details_condition(details: str):
    return {"": true(), "pending": awaiting_runner_condition(), "complete": ~awaiting_runner_condition()}[details]


def _word_values(words: list[tuple[str, str]]) -> dict:
    """The search words' parameters (`_matches_statement`): "word0", "pattern0", "word1", …"""
    values = {}
    for i, (kind, word) in enumerate(words):
        if kind == "bib":
            values[f"word{i}"] = int(word)
        elif kind == "text":
            values[f"word{i}"], values[f"pattern{i}"] = word, typed_pattern(word)
    return values


def read_matches(session: Session, race_id: int, filters: RegistrantFilters, now: datetime) -> Matches:
    """The search's matches under the other filters: their counts per status and the shown ones' ids in order."""
    words = search_words(filters.q)
    kinds = tuple(kind for kind, _ in words)
    postgres = session.get_bind().dialect.name == "postgresql"
    statement = _matches_statement(filters_shape(filters), kinds, postgres)
    values = {**shape_values(race_id, filters, now), **_word_values(words), "cap": SEARCH_CAP + 1}
    if postgres:
        found_count, *counted, order = session.execute(statement, values).one()
        if found_count > SEARCH_CAP:
            return Matches([], [], True)
        return Matches([(name, counted[2 * i], counted[2 * i + 1]) for i, name in enumerate(_LISTED_STATUSES)],
                       list(order or ()), False)
    rows = session.execute(statement, values).all()
    # Elsewhere (SQLite) no arrays: the matches themselves, in order, each with how many were found.
    found_count = rows[0][4] if rows else session.execute(_found_count_statement(kinds), values).scalar_one()
    if found_count > SEARCH_CAP:
        return Matches([], [], True)
    return Matches([(status, 1, awaiting) for _, status, awaiting, _, _ in rows],
                   [id_ for id_, _, _, shown_, _ in rows if shown_], False)


def _carried(query: Select) -> list:
    """The registration's columns `query` reads, in the table's order: what the search carries out for it."""
    read = {element for element in visitors.iterate(query) if isinstance(element, Column)}
    return [column for column in Registration.__table__.c if column in read]


def _found(words: tuple[str, ...], columns: list) -> Select:
    """The race's registrations the search's words match (any status), at most "cap" of them, with `columns`. From
    a MATERIALIZED CTE, so Postgres finds them by the search's index whatever LIMIT the statement has (a LIMIT
    makes it walk the race's rows in some index's order instead, hoping for matches early)."""
    conditions = [word_condition(kind, bindparam(f"word{i}"), bindparam(f"pattern{i}")) for i, kind in enumerate(words)]
    found = (select(*columns).where(Registration.race_id == _RACE, *conditions)
             .cte("search_found").prefix_with("MATERIALIZED", dialect="postgresql"))
    return select(found).limit(_CAP)


@functools.lru_cache(maxsize=512)
def _found_count_statement(words: tuple[str, ...]) -> Select:
    """How many registrations the search found, at most "cap": SQLite's, for a search none of whose matches the
    filters show."""
    return select(func.count()).select_from(_found(words, [Registration.id]).subquery())


@functools.lru_cache(maxsize=512)
def _matches_statement(shape: RegistrantFilters, words: tuple[str, ...], postgres: bool) -> Select:
    """The matches' counts and ordered ids for a shape of search: built once, run with `shape_values`, the words'
    values (`_word_values`) and "cap"."""
    keys = sort_keys(shape)
    status = Registration.order_status  # each match's order's status as copied on it: no lookup of its order
    shown = and_(status_condition(shape.status, status), _details_condition(shape.details))
    listed = filtered_by_shape(
        registrants_query(_RACE, Registration.id.label("id"), cast(status_column(status), String).label("status"),
                          case((awaiting_runner_condition(), 1), else_=0).label("awaiting"),
                          case((shown, 1), else_=0).label("shown"), *(key.label(f"k{i}") for i, key in enumerate(keys)),
                          now=NOW, ticket_type=True, registration_race=False, order_joined=False),
        shape, status_and_details=False)
    found = _found(words, _carried(listed))
    # The same query on the search's matches: each registration's column is the found row's.
    matched = ClauseAdapter(found.subquery("search_limited")).traverse(listed)
    # On Postgres OFFSET 0 keeps the matches a subquery of their own, each one's status worked out once for the
    # eight counts that compare it (inlined, every count would work it out again), and not copied as a MATERIALIZED
    # CTE would copy them: the one aggregate reads them as they come.
    matched = (matched.offset(0) if postgres else matched).cte("search_matched")
    ordering = [matched.c[f"k{i}"].desc() if shape.dir == "desc" else matched.c[f"k{i}"].asc()
                for i in range(len(keys))]
    how_many = select(func.count()).select_from(found.subquery()).scalar_subquery()
    if postgres:
        counts = []
        for name in _LISTED_STATUSES:
            of_status = matched.c.status == name
            counts += [func.count().filter(of_status), func.count().filter(and_(of_status, matched.c.awaiting == 1))]
        return select(how_many, *counts,
                      func.array_agg(aggregate_order_by(matched.c.id, *ordering)).filter(matched.c.shown == 1))
    return select(matched.c.id, matched.c.status, matched.c.awaiting, matched.c.shown, how_many).order_by(*ordering)
