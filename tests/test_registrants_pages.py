"""The registrant list's pages by cursor: Next and Previous carry the row a page starts after (or ends before),
First and Last are plain links, and a page boundary inside rows with equal sort keys neither repeats nor skips."""
from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import select, update

from models import Registration, TicketType
from services import clock
from services.inventory import recount
from tests.factories import recount_race
from tests.registrant_factories import many_paid_runners, organizer, race, signed_in  # noqa: F401  (fixtures)

HX = {"HX-Request": "true"}


def url(race, tail=""):
    return f"/manage/races/{race.id}/registrants{tail}"


def ids(html: str) -> list[int]:
    """The registration ids in the table, in the order shown."""
    return [int(n) for n in re.findall(r'<td class="col-name">\s*<a href="/manage/races/\d+/registrants/(\d+)"', html)]


def link(html: str, text: str) -> str | None:
    """The href of the pagination link whose text starts with `text`."""
    nav = html.split('<nav class="pagination"', 1)[-1]
    found = re.search(r'<a href="([^"]+)"[^>]*>' + re.escape(text), nav)
    return found.group(1).replace("&amp;", "&") if found else None


def get(client, path: str) -> str:
    response = client.get(path, headers=HX)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def refund_straight(db, ids: list[int]) -> None:
    """Refund these tickets straight in the table, and recount the stored sold counts as a refund keeps them."""
    db.session.execute(update(Registration).where(Registration.id.in_(ids)).values(refunded_at=clock.now()))
    recount(db.session, db.session.scalars(select(TicketType.id)))
    db.session.commit()


def walk_forward(client, first: str) -> tuple[list[list[int]], list[str]]:
    """Every page from `first` by its Next links: the ids of each, and the paths followed."""
    pages, paths, path = [], [], first
    while path:
        html = get(client, path)
        pages.append(ids(html))
        paths.append(path)
        path = link(html, "Next")
    return pages, paths


def by_offset(client, race, query: str, pages: int) -> list[int]:
    """The same list read with bookmarked page numbers (OFFSET), as before cursors."""
    return [i for number in range(1, pages + 1) for i in ids(get(client, f"{url(race)}?{query}&page={number}"))]


@pytest.fixture
def twins(db, race):
    """130 paid runners; 70 of them called exactly the same (their order is their ids), some with bibs."""
    many_paid_runners(db, race, race.ticket_types[0], 70)
    many_paid_runners(db, race, race.ticket_types[1], 60)
    listed = list(db.session.scalars(select(Registration.id).where(Registration.race_id == race.id)
                                     .order_by(Registration.id)))
    db.session.execute(update(Registration).where(Registration.id.in_(listed[:70]))
                       .values(first_name="Twin", last_name="Same"))
    for n, registration_id in enumerate(listed[40:100]):  # bibs across the page boundary; the others have none
        db.session.execute(update(Registration).where(Registration.id == registration_id).values(bib=500 - n % 30 * 7 + n // 30))
    db.session.commit()
    return listed


def test_next_links_cover_everyone_once_across_equal_names(signed_in, db, race, twins):
    pages, paths = walk_forward(signed_in, url(race))
    assert [len(p) for p in pages] == [50, 50, 30]
    seen = [i for p in pages for i in p]
    assert sorted(seen) == sorted(twins)
    twins_order = [i for i in seen if i in set(twins[:70])]
    assert twins_order == sorted(twins_order)  # equal names: by id, also across the boundary at 50
    assert "after=" in paths[1] and "page=2" in paths[1] and "page=3" in paths[2]
    assert seen == by_offset(signed_in, race, "sort=name", 3)


@pytest.mark.parametrize("sort", ["name", "ticket", "bib", "registered"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_every_sort_pages_by_cursor_as_it_does_by_page_number(signed_in, db, race, twins, sort, direction):
    query = f"sort={sort}&dir={direction}"
    pages, _ = walk_forward(signed_in, f"{url(race)}?{query}")
    assert [i for p in pages for i in p] == by_offset(signed_in, race, query, 3)


def test_last_previous_and_first(signed_in, db, race, twins):
    pages, _ = walk_forward(signed_in, url(race))
    first = get(signed_in, url(race))
    assert link(first, "« First") is None and link(first, "← Previous") is None
    last_path = link(first, "Last")
    assert last_path == f"{url(race)}?page=3"
    last = get(signed_in, last_path)
    assert ids(last) == pages[2] and "Page 3 of 3" in last and link(last, "Next") is None
    previous = link(last, "← Previous")
    assert "before=" in previous and "page=2" in previous
    middle = get(signed_in, previous)
    assert ids(middle) == pages[1] and "Page 2 of 3" in middle and "showing 51–100" in middle
    back_to_first = link(middle, "← Previous")
    assert back_to_first == link(middle, "« First") == url(race)  # page 1 needs no cursor
    assert ids(get(signed_in, back_to_first)) == pages[0]


def test_a_refunded_row_between_pages_is_neither_repeated_nor_skipped(signed_in, db, race, twins):
    first = get(signed_in, url(race))
    shown = ids(first)
    after_link = link(first, "Next")
    expected_next = ids(get(signed_in, after_link))
    # Meanwhile: the row the cursor names is refunded, and so is the first row of the next page.
    refund_straight(db, [shown[-1], expected_next[0]])
    second = get(signed_in, after_link)
    assert ids(second) == expected_next[1:] + ids(second)[len(expected_next) - 1:]
    assert not set(ids(second)) & set(shown) and expected_next[0] not in ids(second)
    assert "<strong>128</strong> paid registrants" in second


def test_a_cursor_past_every_row_shows_the_last_page(signed_in, db, race, twins):
    pages, paths = walk_forward(signed_in, url(race))
    html = get(signed_in, paths[2])
    refund_straight(db, pages[2])
    # The page 3 link now points past every paid runner: the list shows its (new) last page, not nothing.
    again = get(signed_in, paths[2])
    assert ids(again) == pages[1] and "Page 2 of 2" in again
    assert ids(html) == pages[2]


def test_a_deleted_row_named_by_a_cursor_still_places_the_page(signed_in, db, race, twins):
    first = get(signed_in, url(race))
    after_link = link(first, "Next")
    expected = ids(get(signed_in, after_link))
    db.session.execute(Registration.__table__.delete().where(Registration.id == ids(first)[-1]))
    recount_race(db, race)
    db.session.commit()
    assert ids(get(signed_in, after_link)) == expected


def _cursor(value) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


# A name sort's cursor is [name_key, id]: the last and first names lower-cased with a tab between them.
@pytest.mark.parametrize("query", [
    "after=not-a-cursor", "before=%%%", "after=" + _cursor("{}"), "after=" + _cursor('["a\\tb"]'),
    "after=" + _cursor('["a\\tb",1.5]'), "after=" + _cursor('[2,3]'), "after=" + _cursor('["a\\tb\\u0000",3]'),
    "sort=bib&after=" + _cursor('["same\\ttwin",3]'), "sort=registered&after=" + _cursor('["yesterday",3]'),
    "sort=registered&after=" + _cursor('["2026-01-01T10:00:00",3]'), "after=" + _cursor('["a\\tb",1e400]'),
    "after=" + _cursor('["a\\tb",99999999999999999999999]'), "after=" + base64.urlsafe_b64encode(b"\xff\xfe[").decode(),
    "after=" + _cursor('["a\\tb",3]') + "&before=" + _cursor('["a\\tb",3]'),
    "after=" + _cursor('["\\udcff",3]'), "sort=registered&after=" + _cursor('[3,3]'),
    "sort=registered&after=" + _cursor('["0001-01-01T00:00:00+05:00",3]'), "after=" + _cursor('[null,3]'),
    "sort=ticket&after=" + _cursor('[true,"10K","a\\tb",3]'), "after=" + _cursor('["' + "x" * 501 + '",3]'),
    "after=" + _cursor('["a","b",3]'),  # a cursor of the name sort's keys before they were one (perf_name_key)
    # numbers no INTEGER column holds (Postgres compared them as one, and overflowed: a 500)
    "sort=bib&after=" + _cursor('[2147483648,3]'), "after=" + _cursor('["a\\tb",2147483648]'),
    "sort=registered&before=" + _cursor('["2026-01-01T10:00:00+00:00",4611686018427387904]'),
])
def test_a_bad_cursor_is_a_400_that_says_so(signed_in, db, race, twins, query):
    response = signed_in.get(f"{url(race)}?{query}", headers=HX)
    assert response.status_code == 400
    assert "page link is broken or out of date" in response.get_data(as_text=True)


def test_a_good_cursor_from_another_list_state_is_harmless(signed_in, db, race, twins):
    # A cursor made by hand (or for other filters) still only says where the page starts.
    html = get(signed_in, f"{url(race)}?page=2&after=" + _cursor('["same\\ttwin",0]'))
    assert ids(html)[:50] == sorted(twins[:70])[:50]


def test_sort_and_filter_links_leave_the_cursor_behind(signed_in, db, race, twins):
    page_two = get(signed_in, link(get(signed_in, url(race)), "Next"))
    header_links = re.findall(r'<th scope="col"[^>]*>\s*<a href="([^"]+)"', page_two)
    csv_links = re.findall(r'href="([^"]+\.csv[^"]*)"', page_two)
    assert header_links and csv_links
    assert not [href for href in header_links + csv_links if "after=" in href or "before=" in href]
    # ... but a bib saved without JavaScript comes back to this very page.
    assert re.search(r'name="next" value="[^"]*after=', page_two)


@pytest.mark.parametrize("query", ["", "?sort=ticket", "?sort=ticket&dir=desc", "?sort=bib&dir=desc",
                                   "?sort=registered&dir=desc", "?sort=registered", "?q=bulk"])
def test_cursor_pages_run_the_statements_the_first_page_does(signed_in, db, race, twins, count_queries, query):
    first = get(signed_in, url(race) + query)
    paths = [url(race) + query, link(first, "Next"), link(first, "Last"),
             link(get(signed_in, link(first, "Last")), "← Previous")]
    counts = []
    for path in paths:
        with count_queries() as counter:
            get(signed_in, path)
        counts.append(counter.count)
    assert len(set(counts)) == 1, counts


def test_a_statement_built_once_shows_each_race_and_filter_its_own_rows(signed_in, db, race, organizer):
    """The unsearched page's statement is built once per list shape and run with the race, ticket type and waiver
    as parameters (services/registrants/listing.py's _page_statement): the same shape for another race, ticket
    type or waiver version shows that one's runners, never the first one's."""
    from tests.registrant_factories import organized_race, runner, waiver_of

    other = organized_race(db, organizer, slug="hill-5k", title="Hill 5K")
    ten_k, five_k = race.ticket_types
    mine = [runner(db, race, ten_k, "Ada", "Lake").id, runner(db, race, five_k, "Bo", "Lake").id]
    theirs = runner(db, other, other.ticket_types[0], "Cy", "Hill").id
    assert sorted(ids(get(signed_in, url(race)))) == sorted(mine)
    assert ids(get(signed_in, url(other))) == [theirs]
    assert ids(get(signed_in, url(race, f"?ticket={ten_k.id}"))) == [mine[0]]
    assert ids(get(signed_in, url(race, f"?ticket={five_k.id}"))) == [mine[1]]
    assert ids(get(signed_in, url(race, f"?waiver={waiver_of(db, race).id}&sort=bib&dir=desc"))) != []
    assert ids(get(signed_in, url(race, f"?waiver={waiver_of(db, other).id}&sort=bib&dir=desc"))) == []


@pytest.mark.parametrize("query", ["q=runner", "q=runner&sort=registered&dir=desc", "q=runner&sort=ticket", "q=runner&sort=bib"])
def test_a_search_pages_its_matches_by_cursor_as_by_page_number(signed_in, db, race, twins, query):
    pages, _ = walk_forward(signed_in, f"{url(race)}?{query}")
    seen = [i for p in pages for i in p]
    assert sorted(seen) == sorted(twins)  # every one matches by the key they were added with, each once
    assert seen == by_offset(signed_in, race, query, 3)
    last = get(signed_in, link(get(signed_in, f"{url(race)}?{query}"), "Last"))
    assert ids(last) == pages[-1]


def test_a_search_past_the_cap_says_more_than_and_still_pages_through(signed_in, db, race, twins, monkeypatch):
    from blueprints.manage import registrants as view
    from services.registrants import search

    monkeypatch.setattr(search, "SEARCH_CAP", 100)
    monkeypatch.setattr(view, "SEARCH_CAP", 100)
    first = get(signed_in, f"{url(race)}?q=runner")
    assert "More than 100 registrations match the search" in first
    assert link(first, "Last") is None and "Page 1<" in first  # nobody counted them: no last page
    pages, _ = walk_forward(signed_in, f"{url(race)}?q=runner")
    assert [len(p) for p in pages] == [50, 50, 30]
    assert sorted(i for p in pages for i in p) == sorted(twins)
    back = get(signed_in, link(get(signed_in, link(first, "Next")), "← Previous"))
    assert ids(back) == pages[0]


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_the_name_sort_is_last_then_first_name_case_blind_however_the_names_overlap(signed_in, db, race, direction):
    """The name sort's one key (registrations.name_key: last name, a tab, first name) orders as the two names did:
    a last name that begins another ("De", "De Vries") comes first whatever the first names, case set aside."""
    many_paid_runners(db, race, race.ticket_types[0], 8)
    names = [("De Vries", "Anna"), ("De", "Zed"), ("de", "ann"), ("O'Brien", "Kai"), ("Obrien", "Al"),
             ("DE", "Bo"), ("Devries", "A"), ("De-Vries", "Cy")]
    listed = list(db.session.scalars(select(Registration.id).where(Registration.race_id == race.id)
                                     .order_by(Registration.id)))
    for registration_id, (last, first) in zip(listed, names, strict=True):
        db.session.execute(update(Registration).where(Registration.id == registration_id)
                           .values(last_name=last, first_name=first))
    db.session.commit()
    expected = [i for _, _, i in sorted((last.lower(), first.lower(), i) for i, (last, first) in zip(listed, names, strict=True))]
    shown = ids(get(signed_in, f"{url(race)}?sort=name&dir={direction}"))
    assert shown == (expected if direction == "asc" else expected[::-1])
