"""The editor's Prices by date: adding, editing and removing a ticket type's price steps, and what it refuses."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from models import PriceTier, RaceStatus, TicketType
from services import clock
from tests.factories import login, make_profile, make_race
from tests.http import csrf_token

RACE_DAY = datetime(2027, 3, 6, 13, 0, tzinfo=UTC)


@pytest.fixture
def organizer(db):
    return make_profile(db, full_name="Olga Organizer", email="olga@example.com")


@pytest.fixture
def race(db, organizer):
    clock.freeze(datetime(2027, 1, 10, tzinfo=UTC))
    return make_race(db, organizer=organizer, slug="lake-10k", status=RaceStatus.DRAFT, starts_at=RACE_DAY,
                     tickets=[("10K", 4000, 50), ("5K", 3000, 80)])


@pytest.fixture
def signed_in(client, organizer):
    login(client, organizer)
    return client


def post_steps(client, race, tt, data, *, htmx=True):
    body = {"csrf_token": csrf_token(client, f"/manage/races/{race.id}"), **data}
    return client.post(f"/manage/races/{race.id}/tickets/{tt.id}/prices", data=body,
                       headers={"HX-Request": "true"} if htmx else {})


def stored(db, tt) -> list[tuple]:
    db.session.expire_all()
    return [(t.position, t.price, t.starts_on, t.until_sold, t.label) for t in db.session.scalars(
        select(PriceTier).where(PriceTier.ticket_type_id == tt.id).order_by(PriceTier.position))]


def add_regular(client, race, tt, **more):
    return post_steps(client, race, tt, {"steps": "0", "add": "1", "new-starts_on": "2027-02-01",
                                         "new-price": "50", **more})


def test_adding_a_later_price_makes_the_price_field_the_first_step(signed_in, db, race):
    tt = race.ticket_types[0]
    response = add_regular(signed_in, race, tt)
    assert response.status_code == 200 and "Saved" in response.get_data(as_text=True)
    assert stored(db, tt) == [(0, 4000, None, None, ""), (1, 5000, date(2027, 2, 1), None, "")]


def test_the_first_step_gets_a_name_and_a_count_and_a_third_price_is_added(signed_in, db, race):
    tt = race.ticket_types[0]
    add_regular(signed_in, race, tt)
    response = post_steps(signed_in, race, tt, {
        "steps": "2", "step0-label": "Early bird", "step0-until_sold": "100",
        "step1-starts_on": "2027-02-01", "step1-price": "50.00", "step1-label": "Regular",
        "add": "1", "new-starts_on": "2027-03-01", "new-price": "60", "new-label": "Late"})
    assert response.status_code == 200
    assert stored(db, tt) == [(0, 4000, None, 100, "Early bird"), (1, 5000, date(2027, 2, 1), None, "Regular"),
                              (2, 6000, date(2027, 3, 1), None, "Late")]


def test_autosave_leaves_a_half_typed_new_price_alone(signed_in, db, race):
    tt = race.ticket_types[0]
    add_regular(signed_in, race, tt)
    response = post_steps(signed_in, race, tt, {"steps": "2", "step1-starts_on": "2027-02-02", "step1-price": "55",
                                                "new-starts_on": "2027-03-01"})
    assert response.status_code == 200
    assert stored(db, tt) == [(0, 4000, None, None, ""), (1, 5500, date(2027, 2, 2), None, "")]


def test_removing_the_only_later_price_leaves_the_plain_price(signed_in, db, race):
    tt = race.ticket_types[0]
    add_regular(signed_in, race, tt)
    response = post_steps(signed_in, race, tt, {"steps": "2", "step1-starts_on": "2027-02-01", "step1-price": "50",
                                                "remove": "1"})
    assert response.status_code == 200
    assert stored(db, tt) == []
    assert db.session.get(TicketType, tt.id).price == 4000


def test_the_price_field_edits_the_first_step(signed_in, db, race):
    tt = race.ticket_types[0]
    add_regular(signed_in, race, tt)
    response = signed_in.post(f"/manage/races/{race.id}/tickets/{tt.id}", headers={"HX-Request": "true"}, data={
        "csrf_token": csrf_token(signed_in, f"/manage/races/{race.id}"), "name": "10K", "price": "35",
        "capacity": "50", "description": "", "min_age": "", "max_age": "", "sales_start": "", "sales_end": ""})
    assert response.status_code == 200
    assert stored(db, tt)[0][1] == 3500


def test_without_javascript_the_form_posts_and_comes_back_to_the_ticket(signed_in, db, race):
    tt = race.ticket_types[0]
    response = post_steps(signed_in, race, tt, {"steps": "0", "add": "1", "new-starts_on": "2027-02-01",
                                                "new-price": "50"}, htmx=False)
    assert response.status_code == 303 and response.headers["Location"].endswith(f"#prices-tt{tt.id}")
    page = signed_in.get(f"/manage/races/{race.id}").get_data(as_text=True)
    assert 'value="2027-02-01"' in page and "Prices by date: 2 prices" in page


@pytest.mark.parametrize("data, field, message", [
    ({"new-starts_on": "2027-03-07", "new-price": "50"}, "new-starts_on", "after race day (2027-03-06)"),
    ({"new-starts_on": "", "new-price": "50"}, "new-starts_on", "Pick the day this price starts."),
    ({"new-starts_on": "2027-02-30", "new-price": "50"}, "new-starts_on", "like 2027-02-01"),
    ({"new-starts_on": "9999-01-01", "new-price": "50"}, "new-starts_on", "between 2000 and 2100"),
    ({"new-starts_on": "2027-02-01", "new-price": "-5"}, "new-price", "Use a price from 0"),
    ({"new-starts_on": "2027-02-01", "new-price": "abc"}, "new-price", "Enter the price as a number"),
    ({"new-starts_on": "2027-02-01", "new-price": "50", "new-label": "x" * 41}, "new-label", "40 characters"),
])
def test_a_bad_new_price_is_refused_beside_its_field_and_nothing_is_saved(signed_in, db, race, data, field, message):
    tt = race.ticket_types[0]
    response = post_steps(signed_in, race, tt, {"steps": "0", "add": "1", **data})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="tt{tt.id}-{field}-error"' in page and message in page
    assert stored(db, tt) == []


@pytest.mark.parametrize("changes, field, message", [
    ({"new-starts_on": "2027-02-01"}, "new-starts_on", "can't start on the same day"),
    ({"new-starts_on": "2027-01-20"}, "new-starts_on", "start after the one above it"),
    ({"step0-until_sold": "0"}, "step0-until_sold", "1 or more"),
    ({"step0-until_sold": "-3"}, "step0-until_sold", "1 or more"),
    ({"step0-until_sold": "١٢"}, "step0-until_sold", "1 or more"),
    ({"step1-until_sold": "10", "new-starts_on": "", "new-price": ""}, "step1-until_sold", "The last price has no later price"),
    ({"step1-price": "-1"}, "step1-price", "Use a price from 0"),
])
def test_a_list_that_breaks_a_rule_is_refused_whole(signed_in, db, race, changes, field, message):
    tt = race.ticket_types[0]
    add_regular(signed_in, race, tt)
    before = stored(db, tt)
    data = {"steps": "2", "step0-label": "Early", "step1-starts_on": "2027-02-01", "step1-price": "50",
            "add": "1", "new-starts_on": "2027-03-01", "new-price": "60", **changes}
    response = post_steps(signed_in, race, tt, data)
    page = response.get_data(as_text=True).replace("&#39;", "'")
    assert response.status_code == 422
    assert f'id="tt{tt.id}-{field}-error"' in page and message in page
    assert stored(db, tt) == before


def test_without_javascript_a_refusal_shows_the_editor_with_the_message(signed_in, db, race):
    tt = race.ticket_types[0]
    response = post_steps(signed_in, race, tt, {"steps": "0", "add": "1", "new-starts_on": "2027-04-01",
                                                "new-price": "50"}, htmx=False)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "after race day" in page and 'value="2027-04-01"' in page


def test_a_stale_tab_is_told_to_reload(signed_in, db, race):
    tt = race.ticket_types[0]
    add_regular(signed_in, race, tt)
    response = post_steps(signed_in, race, tt, {"steps": "0", "add": "1", "new-starts_on": "2027-03-01",
                                                "new-price": "60"})
    assert response.status_code == 422 and "reload the page" in response.get_data(as_text=True)
    assert len(stored(db, tt)) == 2


def test_another_race_s_ticket_type_is_404_and_another_organizer_is_403(signed_in, client, db, race):
    other = make_race(db, tickets=[("5K", 1000, 10)])
    response = post_steps(signed_in, race, other.ticket_types[0], {"steps": "0", "add": "1",
                                                                    "new-starts_on": "2027-02-01", "new-price": "5"})
    assert response.status_code == 404
    login(client, make_profile(db))
    assert add_regular(client, race, race.ticket_types[0]).status_code == 403
    assert stored(db, race.ticket_types[0]) == []
