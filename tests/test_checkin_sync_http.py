"""The check-in page's JSON: the roster (with its ETag) and the sync of taps made offline, and their refusals."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from models import CheckInEvent, Registration
from tests.factories import login, make_profile
from tests.http import csrf_token
from tests.registrant_factories import add_co_organizer, organized_race, organizer, race, runner, signed_in  # noqa: F401


@pytest.fixture
def ada(db, race):
    return runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=42)


def roster_url(race):
    return f"/manage/races/{race.id}/checkin/roster.json"


def sync_url(race):
    return f"/manage/races/{race.id}/checkin/sync"


def tap(registration, action="check_in", minutes=1, client_id=None) -> dict:
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    return {"id": client_id or str(uuid.uuid4()), "ticket_code": registration.ticket_code, "action": action,
            "at": at.isoformat().replace("+00:00", "Z")}


def post_sync(client, race, body, *, token=True, raw=None):
    headers = {"Accept": "application/json"}
    if token:
        headers["X-CSRFToken"] = csrf_token(client, f"/manage/races/{race.id}/checkin")
    return client.post(sync_url(race), data=raw if raw is not None else json.dumps(body),
                       content_type="application/json", headers=headers)


def test_the_roster_downloads_with_an_etag_and_answers_304_when_unchanged(signed_in, db, race, ada):
    response = signed_in.get(roster_url(race))
    assert response.status_code == 200 and response.is_json and response.headers["ETag"]
    assert "private" in response.headers["Cache-Control"]
    assert [r["name"] for r in response.json["runners"]] == ["Ada Lovelace"] and response.json["csrf_token"]
    again = signed_in.get(roster_url(race), headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    post_sync(signed_in, race, {"items": [tap(ada)]})
    changed = signed_in.get(roster_url(race), headers={"If-None-Match": response.headers["ETag"]})
    assert changed.status_code == 200 and changed.json["runners"][0]["checked_in_at"]


def test_another_races_organizer_is_turned_away_as_on_the_page(client, db, race, ada):
    stranger = make_profile(db, email="stranger@example.com")
    organized_race(db, stranger)
    login(client, stranger)
    assert client.get(f"/manage/races/{race.id}/checkin").status_code == 403
    for response in (client.get(roster_url(race), headers={"Accept": "application/json"}),
                     post_sync(client, race, {"items": [tap(ada)]})):
        assert response.status_code == 403 and response.is_json and "organizers" in response.json["error"]
    assert client.get("/manage/races/999999/checkin/roster.json", headers={"Accept": "application/json"}
                      ).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(CheckInEvent)) == 0


def test_a_co_organizer_may_sync(client, db, race, ada):
    helper = make_profile(db, email="helper@example.com")
    add_co_organizer(db, race, helper)
    login(client, helper)
    assert post_sync(client, race, {"items": [tap(ada)]}).json["results"][0]["outcome"] == "checked_in"


def test_a_signed_out_browser_gets_401_to_wipe_its_roster(client, db, race, ada):
    response = client.get(roster_url(race))
    assert response.status_code == 401 and "signed out" in response.json["error"]
    post = client.post(sync_url(race), json={"items": []})  # no session, so no CSRF token either
    assert post.status_code in (400, 401) and post.is_json


def test_sync_answers_each_item_and_the_runners_state_once(signed_in, db, race, ada):
    item = tap(ada)
    first = post_sync(signed_in, race, {"items": [item]})
    again = post_sync(signed_in, race, {"items": [item]})
    assert first.status_code == 200 and first.json["results"][0]["outcome"] == "checked_in"
    assert again.json["results"][0] == {**first.json["results"][0], "duplicate": True}
    assert again.json["runners"][0]["code"] == ada.ticket_code and again.json["runners"][0]["checked_in_at"]
    assert db.session.scalar(select(func.count()).select_from(CheckInEvent)) == 1
    db.session.expire_all()
    assert db.session.get(Registration, ada.id).checked_in_at is not None


def test_sync_needs_the_csrf_header(signed_in, db, race, ada):
    response = post_sync(signed_in, race, {"items": [tap(ada)]}, token=False)
    assert response.status_code == 400 and response.is_json and response.json["error"]
    assert db.session.scalar(select(func.count()).select_from(CheckInEvent)) == 0


NO_TIME = json.dumps({"items": [{"id": str(uuid.uuid4()), "ticket_code": "abc", "action": "check_in"}]})


@pytest.mark.parametrize(("raw", "status", "words"), [
    ("{not json", 400, "JSON"), ("", 400, "JSON"), ("[]", 422, '"items"'), ('{"items": {}}', 422, '"items"'),
    ('{"items": [{"id": "x"}]}', 422, "Item 1"), (NO_TIME, 422, '"at"'),
    ('{"items": [null]}', 422, "Item 1"), ('"\\u0000"', 422, '"items"'),
])
def test_bad_input_gets_a_clear_json_answer(signed_in, db, race, ada, raw, status, words):
    response = post_sync(signed_in, race, None, raw=raw)
    assert response.status_code == status and response.is_json and words in response.json["error"]


def test_a_huge_batch_is_refused_with_413(signed_in, db, race, ada):
    too_many = post_sync(signed_in, race, {"items": [tap(ada) for _ in range(501)]})
    assert too_many.status_code == 413 and "at most 500" in too_many.json["error"]
    too_big = post_sync(signed_in, race, None, raw='{"items": [], "pad": "%s"}' % ("x" * 300_000))
    assert too_big.status_code == 413
    assert db.session.scalar(select(func.count()).select_from(CheckInEvent)) == 0


def test_a_batch_with_refused_and_good_items_answers_each(signed_in, db, race, ada):
    response = post_sync(signed_in, race, {"items": [tap(ada), {**tap(ada), "ticket_code": "other-race-code"}]})
    assert [r["outcome"] for r in response.json["results"]] == ["checked_in", "refused"]
    assert response.json["results"][1]["message"] == "There's no ticket with that code for this race."


def test_another_races_organizer_cant_take_up_this_races_ids(client, db, race, organizer):
    """Race M's organizer sends the id the old uuid5 rule gave race V's "checked in before" event, and an id V's
    phone uses later: V's sync still works (never 500), and each race keeps its own item."""
    old = runner(db, race, race.ticket_types[0], "Old", "Timer", checked_in_at=datetime.now(UTC) - timedelta(minutes=5))
    mallory = make_profile(db)
    other = organized_race(db, mallory, slug="other-race")
    login(client, mallory)
    forged = str(uuid.uuid5(uuid.NAMESPACE_URL, f"startline:checked-in-before:{old.id}"))
    shared = str(uuid.uuid4())
    for client_id in (forged, shared):
        sent = post_sync(client, other, {"items": [{**tap(old, "undo"), "id": client_id}]})
        assert sent.status_code == 200 and sent.get_json()["results"][0]["outcome"] == "refused"
    login(client, organizer)
    for _ in range(2):
        response = post_sync(client, race, {"items": [{**tap(old, "undo"), "id": shared}]})
        assert response.status_code == 200
        assert response.get_json()["results"][0]["outcome"] == "undone"
    assert response.get_json()["results"][0]["duplicate"] is True  # resent to this race: already applied
    assert db.session.scalar(select(func.count()).where(CheckInEvent.race_id == race.id)) == 2  # before + undo
    assert db.session.scalar(select(func.count()).where(CheckInEvent.race_id == other.id)) == 2
