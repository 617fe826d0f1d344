"""A number in a URL or a filter that no INTEGER column holds is no route (404) or a bad filter (400), never an
overflow in the query that looks it up (a 500; Postgres's INTEGER ends at 2**31 - 1, SQLite's at 2**63 - 1)."""
from __future__ import annotations

import re

import pytest

from app import create_app
from config import TestConfig
from tests.factories import login, make_profile
from tests.http import csrf_token
from tests.registrant_factories import organized_race, runner

HUGE = [2**31, 10**20]


def _int_routes() -> list[tuple[str, str]]:
    """(method, rule) of every route with an <int:…> in it."""
    app = create_app(TestConfig)
    return sorted((method, rule.rule) for rule in app.url_map.iter_rules() if "<int:" in rule.rule
                  for method in rule.methods - {"HEAD", "OPTIONS"})


@pytest.mark.parametrize("number", HUGE)
@pytest.mark.parametrize("method, rule", _int_routes())
def test_a_huge_id_in_any_url_is_no_route(app, client, db, method, rule, number):
    organizer = make_profile(db)
    race = organized_race(db, organizer)
    registration = runner(db, race, race.ticket_types[0])
    login(client, organizer)
    token = csrf_token(client, f"/manage/races/{race.id}/registrants")
    # The first number is the huge one; the rest name the organizer's own race and runner, so nothing else refuses.
    numbers = iter([number, race.id, registration.id, registration.id])
    path = re.sub(r"<int:\w+>", lambda _: str(next(numbers)), rule)
    path = re.sub(r"<(?:\w+:)?\w+>", registration.ticket_code, path)
    response = client.open(path, method=method, data={"csrf_token": token} if method != "GET" else None,
                           headers={"X-CSRFToken": token})
    # No route takes it: 404, or 405 where Werkzeug has matched the path of a route with other methods.
    assert response.status_code in (404, 405), (path, response.status_code)


@pytest.mark.parametrize("waiver", ["2147483648", "999999999999"])
def test_a_waiver_filter_no_version_could_have_is_a_400(client, db, waiver):
    organizer = make_profile(db)
    race = organized_race(db, organizer)
    login(client, organizer)
    response = client.get(f"/manage/races/{race.id}/registrants?waiver={waiver}")
    assert response.status_code == 400 and "Pick a waiver version from the list." in response.get_data(as_text=True)
