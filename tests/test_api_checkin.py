"""The check-in API: the roster a phone keeps offline (with its ETag) and the batch of taps it syncs later, by
bearer token (a native app) or by the check-in page's cookies and CSRF token (static/js/checkin-offline.js)."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from blueprints.ticket_form import NO_SUCH_RACE
from models import CheckInEvent, OrderStatus, Registration
from services.registrants.checkin import NO_SUCH_TICKET, REFUNDED
from tests.api_factories import bearer, seed
from tests.factories import login, make_profile
from tests.http import csrf_token
from tests.registrant_factories import add_co_organizer, organized_race, runner
from tests.test_api import PROBLEM, problem

ROSTER = "/api/v1/races/harbour-run/roster"
CHECK_INS = "/api/v1/races/harbour-run/check-ins"


@pytest.fixture
def seeded(app, db):
    return seed(app, db)


@pytest.fixture
def ada(db, seeded):
    return db.session.scalar(select(Registration).where(Registration.bib == 42))


def tap(registration, action="check_in", minutes=1, client_id=None) -> dict:
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    return {"id": client_id or str(uuid.uuid4()), "ticket_code": registration.ticket_code, "action": action,
            "at": at.isoformat().replace("+00:00", "Z")}


def send(client, headers, body=None, *, raw=None):
    return client.post(CHECK_INS, data=raw if raw is not None else json.dumps(body), content_type="application/json",
                       headers=headers)


def events(db) -> int:
    return db.session.scalar(select(func.count()).select_from(CheckInEvent))


def test_both_operations_are_in_the_document(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    post = paths["/api/v1/races/{slug}/check-ins"]["post"]
    assert "get" in paths["/api/v1/races/{slug}/roster"]
    assert {"200", "401", "404", "413", "422"} <= set(post["responses"])
    assert list(post["responses"]["413"]["content"]) == [PROBLEM]


def test_the_roster_has_every_ticket_and_answers_304_until_something_changes(client, db, seeded, ada):
    refunded = runner(db, seeded.race, seeded.race.ticket_types[0], "Ray", "Refund", status=OrderStatus.REFUNDED)
    first = client.get(ROSTER, headers=seeded.organizer_headers)
    body = first.get_json()
    assert first.status_code == 200 and first.headers["ETag"] and "private" in first.headers["Cache-Control"]
    assert body["race"]["id"] == seeded.race.id and body["messages"]["refunded"] == REFUNDED
    by_code = {r["code"]: r for r in body["runners"]}
    assert by_code[ada.ticket_code]["name"] == "Ada Lovelace" and by_code[ada.ticket_code]["bib"] == 42
    assert by_code[refunded.ticket_code]["status"] == "refunded"
    assert "X-CSRFToken" not in first.headers  # a bearer call has no page to protect
    unchanged = client.get(ROSTER, headers={**seeded.organizer_headers, "If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304 and not unchanged.data
    send(client, seeded.organizer_headers, {"items": [tap(ada)]})
    changed = client.get(ROSTER, headers={**seeded.organizer_headers, "If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and {r["code"]: r for r in changed.get_json()["runners"]}[
        ada.ticket_code]["checked_in_at"]


def test_a_batch_answers_each_item_and_the_runners_state_once_however_often_sent(client, db, seeded, ada):
    item = tap(ada)
    first = send(client, seeded.organizer_headers, {"items": [item]})
    again = send(client, seeded.organizer_headers, {"items": [item]})
    assert first.status_code == 200, first.get_json()
    result = first.get_json()["results"][0]
    assert result == {"id": item["id"], "ticket_code": ada.ticket_code, "outcome": "checked_in",
                      "message": "Checked in.", "duplicate": False}
    assert again.get_json()["results"][0] == {**result, "duplicate": True}
    assert again.get_json()["runners"][0]["code"] == ada.ticket_code and again.get_json()["runners"][0]["checked_in_at"]
    assert events(db) == 1
    db.session.expire_all()
    assert db.session.get(Registration, ada.id).checked_in_at is not None


def test_the_first_check_in_stands_and_a_later_undo_takes_it_back(client, db, seeded, ada):
    results = send(client, seeded.organizer_headers, {"items": [
        tap(ada, minutes=0.2), tap(ada, minutes=0.5), tap(ada, "undo", minutes=1)]}).get_json()
    assert [r["outcome"] for r in results["results"]] == ["checked_in", "already_checked_in", "undone"]
    assert results["results"][1]["message"].startswith("Already checked in at ")
    assert results["runners"][0]["checked_in_at"] is None


def test_refused_items_are_answered_with_the_desks_words(client, db, seeded, ada):
    refunded = runner(db, seeded.race, seeded.race.ticket_types[0], "Ray", "Refund", status=OrderStatus.REFUNDED)
    response = send(client, seeded.organizer_headers, {"items": [
        tap(ada), {**tap(ada), "ticket_code": "other-race-code"}, tap(refunded)]})
    assert [r["outcome"] for r in response.get_json()["results"]] == ["checked_in", "refused", "refused"]
    assert [r["message"] for r in response.get_json()["results"][1:]] == [NO_SUCH_TICKET, REFUNDED]


def test_a_co_organizer_may_sync(client, app, db, seeded, ada):
    helper = make_profile(db, email="helper@example.com")
    add_co_organizer(db, seeded.race, helper)
    response = send(client, bearer(app, helper), {"items": [tap(ada)]})
    assert response.get_json()["results"][0]["outcome"] == "checked_in"


def test_a_runner_and_another_races_organizer_get_404_and_change_nothing(client, app, db, seeded, ada):
    other = make_profile(db)
    organized_race(db, other, slug="other-race")
    for headers in (seeded.buyer_headers, bearer(app, other)):
        assert problem(client.get(ROSTER, headers=headers), 404)["detail"] == NO_SUCH_RACE
        assert problem(send(client, headers, {"items": [tap(ada)]}), 404)["detail"] == NO_SUCH_RACE
    assert client.get("/api/v1/races/other-race/roster", headers=bearer(app, other)).status_code == 200
    assert events(db) == 0


def test_without_a_token_both_are_401(client, seeded, ada):
    assert problem(client.get(ROSTER), 401)["detail"].startswith("Sign in first")
    assert problem(send(client, {}, {"items": [tap(ada)]}), 401)
    assert problem(send(client, {"Authorization": "Bearer nonsense"}, {"items": [tap(ada)]}), 401)


NO_TIME = json.dumps({"items": [{"id": str(uuid.uuid4()), "ticket_code": "abc", "action": "check_in"}]})
NO_OFFSET = json.dumps({"items": [{"id": str(uuid.uuid4()), "ticket_code": "abc", "action": "check_in",
                                   "at": "2030-05-04T07:12:00"}]})


@pytest.mark.parametrize(("raw", "words", "field"), [
    ("[]", '"items"', "items"), ('{"items": {}}', '"items"', "items"), ('{"items": [{"id": "x"}]}', "Item 1", "items.0.id"),
    (NO_TIME, '"at"', "items.0.at"), (NO_OFFSET, "with its offset", "items.0.at"), ('{"items": [null]}', "Item 1", "items.0"),
    ('"\\u0000"', '"items"', "body"),
])
def test_a_bad_batch_is_a_422_problem_with_the_services_words(client, db, seeded, raw, words, field):
    body = problem(send(client, seeded.organizer_headers, raw=raw), 422)
    assert words in body["detail"]
    assert any(error["field"] == field for error in body["errors"]), body["errors"]


def test_text_with_a_nul_is_a_422_for_its_field_never_a_500(client, db, seeded, ada):
    """No column can hold a NUL (Postgres refuses the whole statement): found by schemathesis as a 500."""
    item = {**tap(ada), "ticket_code": ada.ticket_code[:4] + "\x00"}
    body = problem(send(client, seeded.organizer_headers, {"items": [item]}), 422)
    assert [error["field"] for error in body["errors"]] == ["items.0.ticket_code"]
    assert "NUL" in body["errors"][0]["detail"]
    assert events(db) == 0
    for url in ("/api/v1/races?q=a%00b", "/api/v1/races/harbour-run/registrants?q=a%00b"):
        body = problem(client.get(url, headers=seeded.organizer_headers), 422)
        assert [error["field"] for error in body["errors"]] == ["q"], url


def test_an_unreadable_or_form_encoded_body_is_refused(client, seeded):
    assert send(client, seeded.organizer_headers, raw="{not json").status_code in (400, 422)
    form = client.post(CHECK_INS, data={"items": "x"}, headers=seeded.organizer_headers)
    assert form.status_code in (415, 422) and form.mimetype == PROBLEM


def test_a_huge_batch_is_a_413_problem(client, db, seeded, ada):
    too_many = send(client, seeded.organizer_headers, {"items": [tap(ada) for _ in range(501)]})
    assert problem(too_many, 413)["detail"] == "Send at most 500 items at a time."
    too_big = send(client, seeded.organizer_headers, raw='{"items": [], "pad": "%s"}' % ("x" * 300_000))
    assert problem(too_big, 413)
    assert events(db) == 0


# --- the check-in page's script: the cookie session and its CSRF token ---------------------------

def test_the_page_syncs_with_its_cookies_and_csrf_token(client, db, seeded, ada):
    login(client, seeded.organizer)
    token = csrf_token(client, f"/manage/races/{seeded.race.id}/checkin")
    roster = client.get(ROSTER)
    assert roster.status_code == 200 and roster.headers["X-CSRFToken"]
    assert client.get(ROSTER, headers={"If-None-Match": roster.headers["ETag"]}).headers["X-CSRFToken"]
    refused = send(client, {}, {"items": [tap(ada)]})  # a forged POST carries the cookies but not the token
    assert problem(refused, 400) and events(db) == 0
    for header in (token, roster.headers["X-CSRFToken"]):
        assert send(client, {"X-CSRFToken": header}, {"items": [tap(ada)]}).status_code == 200
    assert events(db) == 2


def test_the_page_links_its_script_to_the_api(client, db, seeded):
    login(client, seeded.organizer)
    page = client.get(f"/manage/races/{seeded.race.id}/checkin").get_data(as_text=True)
    assert f'data-roster-url="{ROSTER}"' in page and f'data-sync-url="{CHECK_INS}"' in page


def test_the_old_page_json_routes_are_gone(client, db, seeded):
    login(client, seeded.organizer)
    assert client.get(f"/manage/races/{seeded.race.id}/checkin/roster.json").status_code in (404, 405)


def test_another_races_organizer_cant_take_up_this_races_ids(client, app, db, seeded):
    """Race M's organizer sends the id the old uuid5 rule gave race V's "checked in before" event, and an id V's
    phone uses later: V's sync still works (never 500), and each race keeps its own item."""
    old = runner(db, seeded.race, seeded.race.ticket_types[0], "Old", "Timer",
                 checked_in_at=datetime.now(UTC) - timedelta(minutes=5))
    mallory = make_profile(db)
    other = organized_race(db, mallory, slug="other-race")
    forged = str(uuid.uuid5(uuid.NAMESPACE_URL, f"startline:checked-in-before:{old.id}"))
    shared = str(uuid.uuid4())
    for client_id in (forged, shared):
        sent = client.post("/api/v1/races/other-race/check-ins", headers=bearer(app, mallory),
                           data=json.dumps({"items": [tap(old, "undo", client_id=client_id)]}),
                           content_type="application/json")
        assert sent.status_code == 200 and sent.get_json()["results"][0]["outcome"] == "refused"
    for _ in range(2):
        response = send(client, seeded.organizer_headers, {"items": [tap(old, "undo", client_id=shared)]})
        assert response.status_code == 200
        assert response.get_json()["results"][0]["outcome"] == "undone"
    assert response.get_json()["results"][0]["duplicate"] is True  # resent to this race: already applied
    assert db.session.scalar(select(func.count()).where(CheckInEvent.race_id == seeded.race.id)) == 2  # before + undo
    assert db.session.scalar(select(func.count()).where(CheckInEvent.race_id == other.id)) == 2
