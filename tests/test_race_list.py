"""The public race list: upcoming and past races, active search, month filter, bad input."""
import re
from datetime import UTC, datetime, timedelta

import pytest

from models import OrderStatus, RaceStatus
from tests.factories import make_order, make_race


def test_list_shows_upcoming_published_races_with_price_and_spots(client, db):
    race = make_race(db, title="Lakeside 10K", location_name="Lake Harriet",
                     tickets=[("10K", 4500, 300), ("5K", 3500, 10)])
    make_order(db, race, race.ticket_types[1], 3)
    make_race(db, title="Secret draft", status=RaceStatus.DRAFT)
    make_race(db, title="Last year's run", starts_at=datetime.now(UTC) - timedelta(days=30))

    response = client.get("/")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Lakeside 10K" in page
    assert "Lake Harriet" in page
    assert "From <strong>$35.00</strong>" in page
    assert "307 spots left" in page
    assert "Secret draft" not in page
    assert "Last year&#39;s run" not in page


def test_a_race_card_shows_the_race_cover_image(client, db):
    make_race(db, title="Covered run", cover_image="races/covered/cover.jpg")
    make_race(db, title="Plain run")

    page = client.get("/").get_data(as_text=True)

    covers = re.findall(r'<img class="race-card-cover" src="([^"]+)"', page)
    assert len(covers) == 1 and covers[0].endswith("races/covered/cover.jpg")
    assert page.index("Covered run") > page.index(covers[0])


def test_past_tab_lists_races_that_have_happened(client, db):
    make_race(db, title="Upcoming run")
    make_race(db, title="Done and dusted", starts_at=datetime.now(UTC) - timedelta(days=3))

    page = client.get("/?when=past").get_data(as_text=True)

    assert "Done and dusted" in page
    assert "Upcoming run" not in page


def test_search_matches_title_or_place_case_insensitively(client, db):
    make_race(db, title="Harbour Night Run", location_name="Canary Wharf")
    make_race(db, title="Trail Half", location_name="Ollantaytambo")

    assert "Trail Half" in client.get("/?q=ollanta").get_data(as_text=True)
    by_title = client.get("/?q=HARBOUR").get_data(as_text=True)
    assert "Harbour Night Run" in by_title and "Trail Half" not in by_title


def test_search_treats_like_wildcards_literally(client, db):
    make_race(db, title="Plain race")
    page = client.get("/?q=%25").get_data(as_text=True)
    assert "Plain race" not in page
    assert "No upcoming races match your search." in page


def test_month_filter(client, db):
    soon = datetime.now(UTC).replace(day=15, hour=12, minute=0, second=0, microsecond=0) + timedelta(days=40)
    make_race(db, title="In that month", starts_at=soon)
    make_race(db, title="Months later", starts_at=soon + timedelta(days=70))

    page = client.get(f"/?month={soon:%Y-%m}").get_data(as_text=True)

    assert "In that month" in page
    assert "Months later" not in page


def test_htmx_search_returns_only_the_results_fragment(htmx_client, db):
    make_race(db, title="Fragment race")

    response = htmx_client.get("/?q=fragment")

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="results"')
    assert "<html" not in body
    assert "Fragment race" in body
    assert "HX-Request" in response.headers["Vary"]


def test_boosted_request_gets_the_full_page(client, db):
    response = client.get("/", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in response.get_data(as_text=True)


def test_sold_out_race_says_so(client, db):
    race = make_race(db, title="Tiny race", tickets=[("5K", 1000, 2)])
    make_order(db, race, race.ticket_types[0], 2)
    assert "Sold out" in client.get("/").get_data(as_text=True)


def test_expired_reservations_do_not_hold_spots(client, db):
    race = make_race(db, title="Held race", tickets=[("5K", 1000, 5)])
    now = datetime.now(UTC)
    make_order(db, race, race.ticket_types[0], 2, status=OrderStatus.PENDING,
               reserved_until=now + timedelta(minutes=20))
    make_order(db, race, race.ticket_types[0], 2, status=OrderStatus.PENDING,
               reserved_until=now - timedelta(minutes=1))
    make_order(db, race, race.ticket_types[0], 1, status=OrderStatus.CART)
    assert "3 spots left" in client.get("/").get_data(as_text=True)


def test_pagination_links_to_more_races(app, client, db):
    app.config["RACES_PER_PAGE"] = 2
    for i in range(3):
        make_race(db, title=f"Paged race {i}", starts_at=datetime.now(UTC) + timedelta(days=10 + i))

    first = client.get("/").get_data(as_text=True)
    second = client.get("/?page=2").get_data(as_text=True)

    assert "Paged race 0" in first and "Paged race 2" not in first and "More races" in first
    assert "Paged race 2" in second and "More races" not in second


@pytest.mark.parametrize("query", [
    "q=" + "x" * 10_000,
    "q=%00%00",
    "q=abc%0Ddef",
    "month=2026-13",
    "month=garbage",
    "month=%00",
    "page=abc",
    "page=-4",
    "page=99999999999999999999",
])
def test_junk_query_strings_get_a_clear_400(client, db, query):
    response = client.get(f"/?{query}")
    assert response.status_code == 400
    assert "We couldn't search for that." in response.get_data(as_text=True)


@pytest.mark.parametrize("query", ["q=%C3%A9t%C3%A9", "q=%F0%9F%8F%83", "q=%FF%FE", "when=sideways"])
def test_unusual_but_harmless_queries_answer_normally(client, db, query):
    assert client.get(f"/?{query}").status_code == 200


def test_search_with_accents_finds_the_race(client, db):
    make_race(db, title="Carrera de Montaña")
    assert "Carrera de Montaña" in client.get("/?q=Montaña").get_data(as_text=True)


@pytest.mark.parametrize("typed", ["Fjällräven", "FJÄLLRÄVEN", "fjallraven", "ÅRE", "are"])
def test_search_finds_a_race_however_its_case_and_accents_are_typed(client, db, typed):
    make_race(db, title="Fjällräven Classic", location_name="Åre")
    make_race(db, title="Harbour Night Run", location_name="Canary Wharf")
    page = client.get("/", query_string={"q": typed}).get_data(as_text=True)
    assert "Fjällräven Classic" in page and "Harbour Night Run" not in page


def test_a_renamed_race_is_found_by_its_new_title(client, db):
    race = make_race(db, title="Spring Run")
    race.title = "Ōtautahi Spring Run"
    db.session.commit()
    assert "Ōtautahi Spring Run" in client.get("/", query_string={"q": "otautahi"}).get_data(as_text=True)
