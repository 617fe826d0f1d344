"""The JSON API v1: bearer tokens, public races, the caller's orders and tickets, the organizer's registrants and
dashboard, problem documents, cursors, ETags and the delta sync."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from blueprints.api.organizers import OUT_OF_RANGE
from blueprints.ticket_form import NO_SUCH_RACE
from extensions import db as _db
from models import Order, OrderStatus, RaceStatus, Registration
from services import clock
from services.auth.providers import provider_for
from services.auth.sessions import sign_out
from services.notifications import ticket_url
from services.registrants import checkin, query
from services.registrants.feed import CHANGE_WINDOW
from tests.api_factories import bearer, seed
from tests.factories import login, make_account, make_paid_order, make_profile, make_race, recount_race, tokens_for
from tests.http import csrf_token, post_form
from tests.registrant_factories import add_co_organizer, organized_race, runner

PROBLEM = "application/problem+json"


@pytest.fixture
def seeded(app, db):
    return seed(app, db)


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status and body["type"] == "about:blank" and body["detail"]
    return body


def field_errors(response) -> dict[str, str]:
    return {error["field"]: error["detail"] for error in problem(response, 422)["errors"]}


# --- the document and its page -------------------------------------------------------------

def test_openapi_document_is_3_1_and_lists_every_endpoint(client):
    response = client.get("/api/openapi.json")
    document = response.get_json()
    assert response.status_code == 200 and document["openapi"].startswith("3.1")
    assert {"/api/v1/auth/token", "/api/v1/races", "/api/v1/races/{slug}", "/api/v1/me/orders", "/api/v1/me/tickets",
            "/api/v1/races/{slug}/registrants", "/api/v1/races/{slug}/dashboard"} <= set(document["paths"])
    not_found = document["paths"]["/api/v1/races/{slug}"]["get"]["responses"]["404"]
    assert list(not_found["content"]) == [PROBLEM]


def test_docs_page_loads_vendored_swagger_ui_without_inline_script_or_style(client):
    response = client.get("/api/docs")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts and all('src="/static/' in tag for tag in scripts)
    assert "<style" not in page and "style=" not in page
    assert "swagger-ui-bundle-5.35.0" in page and "swagger-ui-5.35.0" in page
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
        assert client.get(asset).status_code == 200


# --- tokens --------------------------------------------------------------------------------

def test_password_grant_gives_tokens_that_work_and_sets_no_cookie(client, db):
    make_account(db, "ada@example.com", "correct horse battery")
    response = client.post("/api/v1/auth/token", json={"grant_type": "password", "email": "ada@example.com",
                                                       "password": "correct horse battery"})
    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    assert tokens["token_type"] == "bearer" and 0 < tokens["expires_in"] <= 3600
    assert "Set-Cookie" not in response.headers
    mine = client.get("/api/v1/me/tickets", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert mine.status_code == 200 and "Set-Cookie" not in mine.headers


def test_refresh_grant_swaps_a_refresh_token_once(client, app, db):
    profile = make_profile(db)
    refresh = tokens_for(app, profile).refresh_token
    first = client.post("/api/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": refresh})
    assert first.status_code == 200 and first.get_json()["refresh_token"] != refresh
    clock.advance(timedelta(minutes=5))  # past the provider's grace for a retried refresh
    again = client.post("/api/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": refresh})
    assert problem(again, 401)["detail"] == "Your session has ended. Please sign in again."


def test_wrong_password_is_refused_with_the_sign_in_page_message(client, db):
    make_account(db, "ada@example.com", "correct horse battery")
    response = client.post("/api/v1/auth/token", json={"grant_type": "password", "email": "ada@example.com",
                                                       "password": "wrong"})
    assert problem(response, 422)["detail"] == ("That email and password don't match. Check them, or reset your "
                                                "password.")


@pytest.mark.parametrize(("body", "fields"), [
    ({"grant_type": "password"}, {"email": "Enter your email address.", "password": "Enter your password."}),
    ({"grant_type": "password", "email": "not-an-address", "password": "x"},
     {"email": "That doesn't look like an email address."}),
    ({"grant_type": "refresh_token"}, {"refresh_token": "Send the refresh token you were given with your access token."}),
    ({"grant_type": "client_credentials"}, {"grant_type"}),
    ({}, {"grant_type"}),
])
def test_bad_token_requests_are_422_problems_field_by_field(client, body, fields):
    errors = field_errors(client.post("/api/v1/auth/token", json=body))
    assert set(errors) == set(fields)
    if isinstance(fields, dict):
        assert errors == fields


def test_a_form_encoded_token_request_is_asked_for_json(client):
    response = client.post("/api/v1/auth/token", data={"grant_type": "password"})
    assert problem(response, 415)["detail"].startswith("Send the request as JSON")


def test_failed_sign_ins_are_rate_limited_like_the_sign_in_page(app, db):
    app.config["AUTH_RATE_LIMIT"] = "3 per minute"
    client = app.test_client()
    make_account(db, "ada@example.com", "correct horse battery")
    wrong = {"grant_type": "password", "email": "ada@example.com", "password": "wrong"}
    assert [client.post("/api/v1/auth/token", json=wrong).status_code for _ in range(3)] == [422] * 3
    limited = client.post("/api/v1/auth/token", json=wrong)
    assert problem(limited, 429)["detail"] == "Too many attempts. Please wait a minute and try again."
    # the page and the API share the count
    page = post_form(client, "/auth/sign-in", {"email": "ada@example.com", "password": "x"})
    assert page.status_code == 429


def test_a_cookie_session_must_send_its_csrf_token_a_bearer_call_need_not(client, app, db):
    make_account(db, "ada@example.com", "correct horse battery")
    good = {"grant_type": "password", "email": "ada@example.com", "password": "correct horse battery"}
    login(client, make_profile(db))
    assert problem(client.post("/api/v1/auth/token", json=good), 400)["detail"].startswith("Reload the page")
    token = csrf_token(client, "/tickets/")
    assert client.post("/api/v1/auth/token", json=good, headers={"X-CSRFToken": token}).status_code == 200
    fresh = app.test_client()  # no cookie at all: nothing to forge
    assert fresh.post("/api/v1/auth/token", json=good).status_code == 200


# --- who is calling ------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/me/tickets", "/api/v1/me/orders", "/api/v1/races/harbour-run/registrants",
                                  "/api/v1/races/harbour-run/dashboard"])
def test_without_a_token_the_private_endpoints_are_401(client, seeded, path):
    response = client.get(path)
    assert problem(response, 401)["detail"].startswith("Sign in first")
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer not-a-jwt", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "Basic abc"])
def test_a_bad_token_is_401(client, seeded, header):
    response = client.get("/api/v1/me/tickets", headers={"Authorization": header})
    assert problem(response, 401)["detail"]


def test_an_expired_token_is_401_and_a_signed_out_one_too(client, app, db, seeded):
    assert client.get("/api/v1/me/tickets", headers=seeded.buyer_headers).status_code == 200
    clock.advance(timedelta(hours=2))
    expired = client.get("/api/v1/me/tickets", headers=seeded.buyer_headers)
    assert problem(expired, 401)["detail"] == "Your session has ended. Please sign in again."
    clock.reset()
    tokens = tokens_for(app, seeded.buyer)
    with app.test_request_context():  # signed out on the web: that session's tokens stop working here too
        claims = app.extensions["startline_token_verifier"].verify(tokens.access_token)
        sign_out(_db.session, provider_for(app.config, _db.session), tokens, claims)
        _db.session.remove()
    signed_out = client.get("/api/v1/me/tickets", headers={"Authorization": f"Bearer {tokens.access_token}"})
    assert problem(signed_out, 401)["status"] == 401


# --- races ---------------------------------------------------------------------------------

def test_race_list_searches_and_pages_by_cursor(client, db):
    organizer = make_profile(db)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    for n in range(5):
        make_race(db, organizer=organizer, title=f"Lake Loop {n}", slug=f"lake-loop-{n}", starts_at=start)
    make_race(db, organizer=organizer, title="Hill Climb", slug="hill-climb", starts_at=start + timedelta(days=1))
    make_race(db, organizer=organizer, title="Secret draft", slug="secret", status=RaceStatus.DRAFT)

    seen, after = [], ""
    while True:
        page = client.get("/api/v1/races", query_string={"q": "lake", "limit": 2, "after": after}).get_json()
        seen += [race["slug"] for race in page["items"]]
        if page["next_cursor"] is None:
            break
        after = page["next_cursor"]
    assert seen == [f"lake-loop-{n}" for n in range(5)]  # same start: by id, none twice, none lost
    everything = client.get("/api/v1/races").get_json()["items"]
    assert [race["slug"] for race in everything][-1] == "hill-climb" and "secret" not in str(everything)
    card = everything[0]
    assert card["price_from"] == {"amount": 2500, "currency": "USD"} and card["spots_left"] == 100
    assert card["url"].endswith("/races/lake-loop-0")


@pytest.mark.parametrize(("args", "field", "message"), [
    ({"month": "next year"}, "month", "Pick a month from the list."),
    ({"q": "x" * 101}, "q", "Searches can be at most 100 characters."),
    ({"after": "garbage"}, "after", query.BAD_CURSOR),
    ({"limit": "0"}, "limit", None),
    ({"when": "someday"}, "when", None),
])
def test_race_list_bad_input_is_a_422_problem_with_the_pages_message(client, args, field, message):
    errors = field_errors(client.get("/api/v1/races", query_string=args))
    assert field in errors
    if message:
        assert errors[field] == message


def test_race_detail_has_ticket_types_todays_price_and_spots_left(client, db, seeded):
    runner(db, seeded.race, seeded.race.ticket_types[0], "Dee")
    body = client.get("/api/v1/races/harbour-run").get_json()
    assert body["title"] == "Harbour Run" and body["status"] == "published"
    ten_k, five_k = body["ticket_types"]
    assert ten_k["name"] == "10K" and ten_k["price"] == {"amount": 4500, "currency": "USD"}
    assert ten_k["spots_left"] == 3000 - 3 and five_k["spots_left"] == 3000 - 3
    assert ten_k["on_sale"] is True and ten_k["next_price"] is None


def test_unknown_race_is_404_with_the_race_page_message(client):
    assert problem(client.get("/api/v1/races/no-such-race"), 404)["detail"] == NO_SUCH_RACE


def test_a_draft_is_seen_only_by_its_organizers(client, app, db, seeded):
    seeded.race.status = RaceStatus.DRAFT
    db.session.commit()
    assert client.get("/api/v1/races/harbour-run").status_code == 404
    assert client.get("/api/v1/races/harbour-run", headers=seeded.buyer_headers).status_code == 404
    assert client.get("/api/v1/races/harbour-run", headers=seeded.organizer_headers).status_code == 200


def test_gets_carry_an_etag_and_answer_304_when_it_matches(client, seeded):
    first = client.get("/api/v1/races/harbour-run")
    etag = first.headers["ETag"]
    again = client.get("/api/v1/races/harbour-run", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.get_data()
    assert "Authorization" in again.headers["Vary"]
    mine = client.get("/api/v1/me/orders", headers=seeded.buyer_headers)
    assert client.get("/api/v1/me/orders", headers={**seeded.buyer_headers,
                                                    "If-None-Match": mine.headers["ETag"]}).status_code == 304


# --- the caller's orders and tickets -------------------------------------------------------

def test_my_tickets_carry_the_qr_payload_of_the_ticket_page(client, app, seeded):
    body = client.get("/api/v1/me/tickets", headers=seeded.buyer_headers).get_json()
    assert len(body["items"]) == 2
    ticket = body["items"][0]
    with app.test_request_context():
        assert ticket["qr_payload"] == ticket_url(ticket["code"])
    assert ticket["race"]["slug"] == "harbour-run" and ticket["status"] == "paid" and ticket["ticket_type"] == "5K"


def test_my_orders_are_newest_first_and_page_by_cursor(client, app, db, seeded):
    make_paid_order(db, seeded.race, {seeded.race.ticket_types[0]: 1}, buyer=seeded.buyer)
    first = client.get("/api/v1/me/orders", query_string={"limit": 1}, headers=seeded.buyer_headers).get_json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = client.get("/api/v1/me/orders", query_string={"limit": 1, "after": first["next_cursor"]},
                        headers=seeded.buyer_headers).get_json()
    assert second["next_cursor"] is None
    orders = first["items"] + second["items"]
    assert [len(order["tickets"]) for order in orders] == [1, 2]
    assert orders[1]["total"]["amount"] > 0 and orders[1]["status"] == "paid"
    others = client.get("/api/v1/me/orders", headers=seeded.organizer_headers).get_json()
    assert others["items"] == []
    assert "after" in field_errors(client.get("/api/v1/me/orders", query_string={"after": "zz"},
                                              headers=seeded.buyer_headers))


# --- the organizer's registrants and dashboard ---------------------------------------------

def registrants(client, headers, **args):
    return client.get("/api/v1/races/harbour-run/registrants", query_string=args, headers=headers)


def test_organizer_lists_registrants_with_the_pages_filters(client, app, db, seeded):
    body = registrants(client, seeded.organizer_headers).get_json()
    assert [r["last_name"] for r in body["items"]] == ["Bolt", "Clay", "Lovelace", "Runner1", "Runner2"]
    assert body["next_cursor"] is None
    ada = body["items"][2]
    assert ada["bib"] == 42 and ada["status"] == "paid" and ada["ticket_type"] == "10K" and ada["waiver_version"] == 1
    five_k = registrants(client, seeded.organizer_headers, ticket=seeded.race.ticket_types[1].id).get_json()["items"]
    assert [r["last_name"] for r in five_k] == ["Bolt", "Runner1", "Runner2"]
    found = registrants(client, seeded.organizer_headers, q="lovelace").get_json()["items"]
    assert [r["first_name"] for r in found] == ["Ada"]
    by_bib = registrants(client, seeded.organizer_headers, sort="bib").get_json()["items"]
    assert [r["bib"] for r in by_bib][:2] == [7, 42]


def test_a_co_organizer_may_read_them_too(client, app, db, seeded):
    helper = make_profile(db)
    add_co_organizer(db, seeded.race, helper)
    assert registrants(client, bearer(app, helper)).status_code == 200


def test_registrants_page_by_cursor_without_losing_anyone(client, seeded):
    seen, after = [], ""
    while True:
        body = registrants(client, seeded.organizer_headers, limit=2, after=after, sort="name", dir="desc").get_json()
        seen += [r["id"] for r in body["items"]]
        if not body["next_cursor"]:
            break
        after = body["next_cursor"]
    everyone = [r["id"] for r in registrants(client, seeded.organizer_headers, dir="desc").get_json()["items"]]
    assert seen == everyone and len(seen) == 5


@pytest.mark.parametrize(("args", "field", "message"), [
    ({"status": "lost"}, "status", "Pick a status from the list."),
    ({"sort": "shoe size"}, "sort", "Sort by name, ticket, bib or registration time."),
    ({"checked_in": "maybe"}, "checked_in", "Pick checked in, not checked in, or either."),
    ({"after": "nonsense"}, "after", query.BAD_CURSOR),
    ({"ticket": "ten"}, "ticket", None),
    ({"ticket": "999999"}, "ticket", query.FOREIGN_TICKET),
    ({"updated_since": "yesterday"}, "updated_since", None),
    ({"updated_since": "0001-01-01T00:00:00+01:00"}, "updated_since", OUT_OF_RANGE),  # before the first moment
    ({"updated_since": "9999-12-31T23:59:59-01:00"}, "updated_since", OUT_OF_RANGE),  # after the last
])
def test_bad_registrant_filters_are_422_problems_with_the_pages_message(client, seeded, args, field, message):
    errors = field_errors(registrants(client, seeded.organizer_headers, **args))
    assert field in errors
    if message:
        assert errors[field] == message


def test_a_runner_and_another_races_organizer_get_404(client, app, db, seeded):
    assert problem(registrants(client, seeded.buyer_headers), 404)["detail"] == NO_SUCH_RACE
    other = make_profile(db)
    organized_race(db, other, slug="other-race")
    stranger = bearer(app, other)
    assert registrants(client, stranger).status_code == 404
    assert client.get("/api/v1/races/harbour-run/dashboard", headers=stranger).status_code == 404
    assert client.get("/api/v1/races/other-race/dashboard", headers=stranger).status_code == 200
    assert client.get("/api/v1/races/harbour-run/dashboard", headers=seeded.buyer_headers).status_code == 404


def test_dashboard_figures(client, seeded):
    body = client.get("/api/v1/races/harbour-run/dashboard", headers=seeded.organizer_headers).get_json()
    assert body["runners"] == 5 and body["capacity"] == 6000 and body["checked_in"] == 0
    assert {t["name"]: t["sold"] for t in body["ticket_types"]} == {"10K": 2, "5K": 3}
    assert body["money"]["currency"] == "USD" and body["money"]["orders"] == 4


# --- delta sync ----------------------------------------------------------------------------

def test_updated_since_lists_only_what_changed_oldest_change_first(client, app, db, seeded):
    everyone = registrants(client, seeded.organizer_headers).get_json()["items"]
    synced = max(datetime.fromisoformat(r["updated_at"]) for r in everyone)
    since = (synced + timedelta(microseconds=1)).isoformat()
    assert registrants(client, seeded.organizer_headers, updated_since=since).get_json()["items"] == []

    ada = db.session.scalar(select(Registration).where(Registration.last_name == "Lovelace"))
    bob = db.session.scalar(select(Registration).where(Registration.last_name == "Bolt"))
    registrant = query.registration_for_race(db.session, seeded.race.id, ada.id)
    checkin.check_in(db.session, registrant, seeded.organizer.id, clock.now())  # a bulk UPDATE
    db.session.commit()
    order = db.session.get(Order, bob.order_id)
    order.status = OrderStatus.REFUNDED  # the ticket's status changes with its order's
    recount_race(db, seeded.race)
    db.session.commit()

    body = registrants(client, seeded.organizer_headers, updated_since=since).get_json()
    assert [(r["last_name"], r["status"]) for r in body["items"]] == [("Lovelace", "paid"), ("Bolt", "refunded")]
    assert body["items"][0]["checked_in_at"] is not None
    assert body["updated_until"] == body["items"][-1]["updated_at"] or (  # just changed: capped, see below
        datetime.fromisoformat(body["updated_until"]) <= datetime.now(UTC) - CHANGE_WINDOW)


def test_a_change_stamped_before_the_last_sync_but_committed_after_it_is_still_delivered(client, db, seeded):
    """updated_at is the app's clock when written, not when committed: a transaction stamped before a sync's
    newest row may commit after it. `updated_until` stays a window behind, so the next sync reads it."""
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    first = registrants(client, seeded.organizer_headers, updated_since=since).get_json()
    newest = max(datetime.fromisoformat(r["updated_at"]) for r in first["items"])
    until = datetime.fromisoformat(first["updated_until"])
    assert until <= datetime.now(UTC) - CHANGE_WINDOW
    ada = db.session.scalar(select(Registration).where(Registration.last_name == "Lovelace"))
    db.session.execute(update(Registration).where(Registration.id == ada.id)  # committed now, stamped earlier
                       .values(updated_at=newest - timedelta(milliseconds=1), bib=777))
    db.session.commit()
    body = registrants(client, seeded.organizer_headers, updated_since=first["updated_until"]).get_json()
    assert [(r["last_name"], r["bib"]) for r in body["items"] if r["id"] == ada.id] == [("Lovelace", 777)]
    assert registrants(client, {**seeded.organizer_headers, "If-Modified-Since": first_last_modified(
        client, seeded)}).status_code == 200  # a device syncing by Last-Modified reads it again too


def first_last_modified(client, seeded) -> str:
    earlier = (datetime.now(UTC) - timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    return registrants(client, {**seeded.organizer_headers, "If-Modified-Since": earlier}).headers["Last-Modified"]


def test_if_modified_since_answers_304_when_nothing_changed(client, db, seeded):
    later = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    response = registrants(client, {**seeded.organizer_headers, "If-Modified-Since": later})
    assert response.status_code == 304
    earlier = (datetime.now(UTC) - timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    changed = registrants(client, {**seeded.organizer_headers, "If-Modified-Since": earlier})
    assert changed.status_code == 200 and len(changed.get_json()["items"]) == 5
    assert changed.headers["Last-Modified"]


def test_an_unexpected_error_is_a_500_problem_with_the_request_id(client, seeded, monkeypatch):
    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr("blueprints.api.account.tickets_of", broken)
    body = problem(client.get("/api/v1/me/tickets", headers=seeded.buyer_headers), 500)
    assert body["request_id"] and "boom" not in str(body)


def test_an_answer_that_does_not_fit_its_schema_is_never_sent(client, seeded, monkeypatch):
    monkeypatch.setattr("blueprints.api.account.TicketList", lambda items: {"items": "not a list"})
    body = problem(client.get("/api/v1/me/tickets", headers=seeded.buyer_headers), 500)
    assert "not a list" not in str(body)


def test_a_change_later_in_the_same_second_as_if_modified_since_is_not_hidden(client, db, seeded):
    moment = datetime(2030, 1, 1, 12, 0, 5, tzinfo=UTC)
    ada = db.session.scalar(select(Registration).where(Registration.last_name == "Lovelace"))
    db.session.execute(update(Registration).where(Registration.id == ada.id)
                       .values(updated_at=moment + timedelta(milliseconds=500)))
    db.session.commit()
    response = registrants(client, {**seeded.organizer_headers, "If-Modified-Since": "Tue, 01 Jan 2030 12:00:05 GMT"})
    assert response.status_code == 200
    assert [r["last_name"] for r in response.get_json()["items"]] == ["Lovelace"]
    # a change stamped in the future is no reason to skip the window (CHANGE_WINDOW) on the next sync
    last_modified = datetime.strptime(response.headers["Last-Modified"], "%a, %d %b %Y %H:%M:%S GMT")
    assert last_modified.replace(tzinfo=UTC) <= datetime.now(UTC) - CHANGE_WINDOW


def test_a_delta_sync_pages_by_cursor_through_every_change(client, seeded):
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    seen, after = [], ""
    while True:
        body = registrants(client, seeded.organizer_headers, updated_since=since, limit=2, after=after).get_json()
        seen += [r["id"] for r in body["items"]]
        if not body["next_cursor"]:
            break
        after = body["next_cursor"]
    assert sorted(seen) == sorted({*seen}) and len(seen) == 5
    # a cursor of the delta sync is no cursor of the sorted list, and the other way round
    assert "after" in field_errors(registrants(client, seeded.organizer_headers, after=after or "x"))
