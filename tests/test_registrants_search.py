"""A searched registrant list's matches (services/registrants/search.py) come from one statement built once per
shape of search and run with the words as parameters: it finds, counts and orders exactly what the plain filtered
query of the list finds, for many searches under every status, details filter, filter and sort, and the second
search of a shape builds nothing."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from models import OrderStatus, Registration
from services.registrants import search
from services.registrants.counts import count_statuses, tally_statuses
from services.registrants.query import (
    RegistrantFilters,
    filtered,
    order_by,
    registrants_query,
    search_condition,
)
from tests.registrant_factories import (  # noqa: F401  (fixtures: organizer, race, signed_in)
    awaiting_runner,
    many_paid_runners,
    organized_race,
    organizer,
    race,
    runner,
    signed_in,
    waiver_of,
)

NOW = datetime.now(UTC).replace(microsecond=0)
SEARCHES = ["ada", "ADA", "smith", "Smith 5K", "zoe", "ÅNGSTRÖM", "lake ada", "a", "7", "0007", "1234567890",
            "%", "_", "\\", "o'hara", "100%", "under_score", "example.com", "fjord", "sm ith", "nobody",
            "smith smith", "friend fay", "a b c d e f g h i"]


@pytest.fixture
def crowd(db, race, organizer):
    """Runners of every status, with accents, bibs, check-ins, runners still to fill in their details (and sign no
    waiver), and a namesake in another race; the first of them, Ada Lovelace."""
    ten_k, five_k = race.ticket_types
    soon, gone = NOW + timedelta(minutes=20), NOW - timedelta(minutes=20)
    ada = runner(db, race, ten_k, "Ada", "Lovelace", bib=7, checked_in_at=NOW)
    runner(db, race, five_k, "Ada", "Lake", bib=70)
    runner(db, race, ten_k, "Zoë", "Ångström", email="zoe@fjord.example")
    runner(db, race, ten_k, "Bo", "Smith", status=OrderStatus.PENDING, reserved_until=soon)
    runner(db, race, five_k, "Cy", "Smith", status=OrderStatus.PENDING, reserved_until=gone)
    runner(db, race, ten_k, "Di", "Smith", status=OrderStatus.REFUNDED)
    runner(db, race, five_k, "Ed", "Smith", refunded=True, bib=5)
    runner(db, race, ten_k, "Gus", "Smith", status=OrderStatus.NEEDS_REFUND)
    runner(db, race, five_k, "Hal", "Smith", status=OrderStatus.CART)
    runner(db, race, ten_k, "Ivy", "Smith", checked_in_at=NOW - timedelta(hours=1))
    runner(db, race, ten_k, "Ann", "O'Hara")
    runner(db, race, five_k, "Sure", "100% Under_Score")
    awaiting_runner(db, race, five_k, "Fay", "Friend")
    awaiting_runner(db, race, ten_k, "Kit", "Smith")
    other = organized_race(db, organizer, slug="hill-5k", title="Hill 5K")
    runner(db, other, other.ticket_types[0], "Ada", "Smith", bib=7)
    return ada


def filter_sets(race, waiver: int) -> list[dict]:
    """The other filters a search is read under: each status, details filter, filter and sort at least once."""
    ten_k = race.ticket_types[0].id
    return [{}, {"status": "all"}, {"status": "pending"}, {"status": "refunded"}, {"status": "needs_refund"},
            {"status": "all", "details": "pending"}, {"details": "complete"}, {"ticket": ten_k},
            {"status": "all", "checked_in": "yes"}, {"checked_in": "no", "sort": "bib"},
            {"status": "all", "waiver": "none"}, {"waiver": str(waiver)},
            {"status": "all", "sort": "bib", "dir": "desc"}, {"status": "all", "sort": "ticket"},
            {"sort": "ticket", "dir": "desc", "ticket": ten_k}, {"status": "all", "sort": "registered", "dir": "desc"},
            {"status": "all", "dir": "desc"}]


def plainly(session, race_id: int, filters: RegistrantFilters):
    """What the list's plain filtered query finds for `filters` (the search's words as values in it): the counts
    per status, and the ids in the list's order."""
    ids = list(session.scalars(filtered(registrants_query(race_id, Registration.id, now=NOW), filters)
                               .order_by(*order_by(filters))))
    return count_statuses(session, race_id, filters, NOW, []), ids


@pytest.mark.parametrize("q", SEARCHES)
def test_a_search_finds_counts_and_orders_what_the_plain_query_does(db, race, crowd, q):
    for values in filter_sets(race, waiver_of(db, race).id):
        filters = RegistrantFilters(q=q, **values)
        matches = search.read_matches(db.session, race.id, filters, NOW)
        assert not matches.capped
        assert (tally_statuses(matches.counts, filters), matches.ids) == plainly(db.session, race.id, filters), values


def test_a_search_of_a_ticket_code_or_its_link_finds_that_ticket_alone(db, race, crowd):
    for q in (crowd.ticket_code, f"https://x.example/tickets/{crowd.ticket_code}/"):
        assert search.read_matches(db.session, race.id, RegistrantFilters(q=q), NOW).ids == [crowd.id]


@pytest.mark.parametrize("q", ["smith", "a", "ada", "7"])
def test_a_search_is_capped_exactly_when_the_race_holds_more_matches_of_any_status(db, race, crowd, monkeypatch, q):
    found = db.session.scalar(select(func.count()).where(Registration.race_id == race.id, search_condition(q)))
    for cap in (found - 1, found):
        monkeypatch.setattr(search, "SEARCH_CAP", cap)
        assert search.read_matches(db.session, race.id, RegistrantFilters(q=q), NOW).capped == (found > cap)


def test_the_search_statement_is_built_once_per_shape_and_run_with_each_searchs_words(db, race, crowd):
    other = db.session.scalar(select(Registration.race_id).where(Registration.race_id != race.id))
    search._matches_statement.cache_clear()
    shown = {q: search.read_matches(db.session, race.id, RegistrantFilters(q=q), NOW).ids for q in ("ada", "zoe")}
    namesake = search.read_matches(db.session, other, RegistrantFilters(q="ada"), NOW).ids
    built = search._matches_statement.cache_info()
    assert (built.misses, built.hits) == (1, 2)  # one shape (a word, the default filters) for three searches
    assert shown == {q: plainly(db.session, race.id, RegistrantFilters(q=q))[1] for q in ("ada", "zoe")}
    assert (len(shown["ada"]), len(shown["zoe"]), len(namesake)) == (2, 1, 1)
    search.read_matches(db.session, race.id, RegistrantFilters(q="ada 7", sort="bib"), NOW)
    assert search._matches_statement.cache_info().misses == 2  # another shape: a word and a bib, by bib


@pytest.mark.parametrize("dialect", [postgresql.dialect(), sqlite.dialect()], ids=["postgresql", "sqlite"])
def test_the_search_statement_reads_each_match_once(dialect):
    """The registrations are read by the search's CTE alone: what the counts, filters and order use is carried out
    of it, not read again by id (nor the table joined in whole, were a column not carried)."""
    statement = search._matches_statement(RegistrantFilters(sort="ticket", checked_in="no", waiver="0"),
                                          ("text", "bib"), dialect.name == "postgresql")
    after_the_search = str(statement.compile(dialect=dialect)).split("search_matched AS", 1)[1]
    assert "registrations" not in after_the_search


@pytest.mark.parametrize("dialect", [postgresql.dialect(), sqlite.dialect()], ids=["postgresql", "sqlite"])
def test_the_search_carries_out_only_the_columns_its_shape_reads(dialect):
    """Every match is copied into the search's CTE, so a column carried for nothing costs once per match: the
    status, the runner's details and the ticket type always, then only what the shape's sort and filters read."""
    always = {"id", "order_id", "order_status", "ticket_type_id", "refunded_at", "runner_fills_in", "runner_details_at"}
    for shape, read in [(RegistrantFilters(), {"name_key"}), (RegistrantFilters(sort="bib"), {"bib"}),
                        (RegistrantFilters(sort="registered", checked_in="no", waiver="0"),
                         {"registered_at", "checked_in_at", "waiver_version_id"})]:
        statement = search._matches_statement(shape, ("text",), dialect.name == "postgresql")
        selected = str(statement.compile(dialect=dialect)).split("(SELECT ", 1)[1].split("FROM registrations", 1)[0]
        assert {column.split(" AS ")[1].strip() for column in selected.split(", ")} == always | read, shape


@pytest.mark.postgres
def test_a_searched_page_of_50_reads_its_rows_with_few_enough_parameters_for_psycopg_to_keep_the_statement(
        app, db, race, signed_in):
    """psycopg keeps a statement's parsed text only under 51 parameters: the page's 50 ids go as one array."""
    many_paid_runners(db, race, race.ticket_types[0], 60)
    seen = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", note)
    try:
        html = signed_in.get(f"/manage/races/{race.id}/registrants?q=bulk").get_data(as_text=True)
    finally:
        event.remove(Engine, "before_cursor_execute", note)
    assert html.count("Bulk0") >= 50
    rows = [parameters for statement, parameters in seen if "registrations.id = ANY" in statement]
    assert len(rows) == 1 and len(rows[0]["ids"]) == 50
    assert max(len(parameters) for _, parameters in seen) <= 50
