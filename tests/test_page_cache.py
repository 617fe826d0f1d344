"""The public race page and list for a visitor without cookies: no cookie set, cacheable (ETag, 304), served
from the in-process page cache that sees every change at once; and the cookieless forms' CSRF rule."""
from __future__ import annotations

import gzip
import io
from datetime import time, timedelta

import brotli
import pytest
from PIL import Image
from sqlalchemy import func, select

from models import OrderStatus, WaitlistEntry
from services import clock, price_tier_editing, race_fields, ticket_types
from services.media import save_race_image
from services.storage import storage_for
from services.waitlist_offers import run_offers
from tests.factories import login, make_order, make_profile, make_race
from tests.http import csrf_token
from tests.waitlist_factories import in_line, refund_one


@pytest.fixture
def race(db):
    clock.freeze(clock.now().replace(microsecond=0))
    return make_race(db, slug="lake", title="Lake 10K", tickets=(("10K", 4000, 2), ("5K", 2500, 50)))


def _no_cookie(response) -> bool:
    return "Set-Cookie" not in response.headers


# --- no cookie, cacheable ------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/races/lake", "/"])
def test_the_anonymous_race_page_sets_no_cookie_and_answers_304_to_a_matching_if_none_match(client, race, path):
    page = client.get(path)
    assert page.status_code == 200 and _no_cookie(page)
    assert page.headers["Cache-Control"] == "public, max-age=5"
    assert {"Cookie", "HX-Request"} <= set(page.vary)
    etag = page.headers["ETag"]
    assert etag.startswith('W/"')
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b"" and _no_cookie(again)
    assert again.headers["ETag"] == etag
    assert client.get(path, headers={"If-None-Match": 'W/"something-else"'}).status_code == 200


def test_a_missing_page_sets_no_cookie_either(client, db):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and _no_cookie(response)


def test_the_htmx_fragment_is_cached_apart_from_the_whole_page(client, htmx_client, race):
    whole = client.get("/races/lake").get_data(as_text=True)
    fragment = htmx_client.get("/races/lake").get_data(as_text=True)
    assert "<html" in whole and "<html" not in fragment
    assert client.get("/races/lake").get_data(as_text=True) == whole
    assert "<html" not in htmx_client.get("/races/lake").get_data(as_text=True)


def test_signed_in_and_cart_holding_visitors_get_their_own_pages(app, client, db, race):
    buyer = make_profile(db)
    login(client, buyer)
    for path in ("/races/lake", "/"):
        response = client.get(path)
        assert response.headers["Cache-Control"] == "private, no-cache"
        assert "ETag" not in response.headers
    guest = app.test_client()
    assert guest.post("/races/lake/cart", data={f"qty-{race.ticket_types[1].id}": "1"}).status_code == 303
    page = guest.get("/races/lake")
    assert "public" not in page.headers["Cache-Control"] and "private" in page.headers["Cache-Control"]
    assert "1 in your cart" in page.get_data(as_text=True)
    assert "1 in your cart" not in app.test_client().get("/races/lake").get_data(as_text=True)


def test_a_cached_race_page_costs_one_statement(client, race, count_queries):
    client.get("/races/lake")
    with count_queries() as counter:
        assert client.get("/races/lake").status_code == 200
    assert counter.count == 1  # the race with its organizer, its types and what holds their spots


# --- the cookieless forms ------------------------------------------------------------------------

def _add(client, race, headers=None, **data):
    return client.post("/races/lake/cart", data={f"qty-{race.ticket_types[1].id}": "2", **data}, headers=headers or {})


def _join(client, race, headers=None, **data):
    return client.post("/races/lake/waitlist", headers=headers or {}, data={
        "ticket_type": race.ticket_types[0].id, "name": "Wanda", "email": "wanda@example.com", "spots": "1", **data})


def _waiting(db) -> int:
    return db.session.scalar(select(func.count(WaitlistEntry.id)))


def test_a_cookieless_visitor_adds_to_the_cart_and_joins_the_waitlist_without_a_token(client, db, race):
    assert "csrf_token" not in client.get("/races/lake").get_data(as_text=True)
    added = _add(client, race, headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert added.status_code == 303 and added.headers["Location"] == "/races/lake/cart"
    assert "2 in your cart" in client.get("/races/lake").get_data(as_text=True)
    make_order(db, race, race.ticket_types[0], 2)
    joined = _join(client, race, headers={"Sec-Fetch-Site": "same-origin"})  # as a browser sends it
    assert joined.status_code == 200 and "You're on the waitlist" in joined.get_data(as_text=True)
    assert _waiting(db) == 1


def test_a_guest_cart_holder_needs_the_token_unless_the_browser_says_same_origin(client, db, race):
    """A guest's cart is theirs: a POST that carries its cookie, with neither a token nor a browser's word that
    it comes from our own page (very old browsers send neither), is refused like a signed-in one."""
    assert _add(client, race, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 303
    page = client.get("/races/lake")
    assert "csrf_token" in page.get_data(as_text=True) and "public" not in page.headers["Cache-Control"]
    assert _add(client, race).status_code == 400  # no token, no Sec-Fetch-Site
    assert "2 in your cart" in client.get("/races/lake").get_data(as_text=True)
    assert _add(client, race, csrf_token=csrf_token(client, "/races/lake")).status_code == 303


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                                     {"Sec-Fetch-Site": "same-site", "Origin": "https://shop.localhost"},
                                     {"Origin": "null"}])
def test_a_cross_site_post_is_refused_with_a_clear_page(client, db, race, headers):
    make_order(db, race, race.ticket_types[0], 2)
    for response in (_add(client, race, headers), _join(client, race, headers)):
        assert response.status_code == 403
        page = response.get_data(as_text=True)
        assert "This form was sent from another site" in page and "Open the race page here" in page
        assert _no_cookie(response)
    assert _waiting(db) == 0
    assert client.get("/cart").status_code in (200, 302, 303) and client.get_cookie("startline_cart") is None


def test_a_request_with_a_session_still_needs_its_token_unless_the_browser_says_same_origin(client, db, race):
    token = csrf_token(client, "/auth/sign-in")  # now the browser has a session
    assert token and "csrf_token" in client.get("/races/lake").get_data(as_text=True)  # and pages give it its token
    assert _add(client, race).status_code == 400
    assert _add(client, race, {"Origin": "http://localhost"}).status_code == 400
    assert _add(client, race, csrf_token=token).status_code == 303
    assert _add(client, race, {"Sec-Fetch-Site": "same-origin"}).status_code == 303
    make_order(db, race, race.ticket_types[0], 2)
    assert _join(client, race).status_code == 400 and _waiting(db) == 0
    assert _join(client, race, csrf_token=token).status_code == 200 and _waiting(db) == 1


# --- every change shows at once --------------------------------------------------------------------

def _fresh(app, client, path="/races/lake") -> str:
    """The page rendered from the database now, bypassing the page cache."""
    app.config["PAGE_CACHE_SECONDS"] = 0
    try:
        return client.get(path).get_data(as_text=True)
    finally:
        app.config["PAGE_CACHE_SECONDS"] = 60


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _save(db, race, group, values):
    race_fields.save_field_group(db.session, race, group, values, race_fields.current_values(db.session, race, group))


def _each_change_is_seen_at_once(app, client, db, path: str, changes) -> str:
    """For each (name, change, expected text): the page comes from the cache before the change, and right after
    it is what a fresh render gives, shows the expected text, and has a new ETag if it changed. The last page."""
    for name, change, expected in changes:
        shown = client.get(path)
        before = shown.get_data(as_text=True)
        assert client.get(path).get_data(as_text=True) == before  # from the cache
        change()
        db.session.expire_all()
        after = client.get(path)
        page = after.get_data(as_text=True)
        assert page == _fresh(app, client, path), name
        assert expected in page, name
        if page != before:
            assert after.headers["ETag"] != shown.headers["ETag"], name
    return page


def test_every_change_to_what_the_race_page_shows_is_seen_on_the_next_get(app, client, db, race):
    ten_k, five_k = race.ticket_types
    today = clock.now().astimezone(race.tz).date()
    step_day = today + timedelta(days=3)
    type_fields = {"name": "5K fun run", "price": "25", "capacity": "50", "description": ""}
    first_order = {}

    def sell_out():
        first_order["order"] = make_order(db, race, ten_k, 2)

    changes = [
        ("title", lambda: _save(db, race, "title", {"title": "Lake Ten"}), "Lake Ten"),
        ("description", lambda: _save(db, race, "description", {"description": "**Flat** course"}),
         "<strong>Flat</strong> course"),
        ("date", lambda: _save(db, race, "when", {"day": today + timedelta(days=40), "start": time(9, 30),
                                                  "timezone": race.timezone}), "9:30"),
        ("place", lambda: _save(db, race, "where", {"location_name": "Harbour Point", "address": "Pier 4"}),
         "Harbour Point"),
        ("cover", lambda: save_race_image(db.session, storage_for(app), race, _png(), kind="cover"), "race-cover"),
        ("type name", lambda: ticket_types.save_ticket_type(db.session, race, five_k, type_fields, clock.now()),
         "5K fun run"),
        ("type price", lambda: ticket_types.save_ticket_type(db.session, race, five_k, {**type_fields, "price": "27"},
                                                             clock.now()), "$27"),
        ("type capacity", lambda: ticket_types.save_ticket_type(db.session, race, five_k,
                                                                {**type_fields, "price": "27", "capacity": "40"},
                                                                clock.now()), "40 spots left"),
        ("price step", lambda: price_tier_editing.save_steps(
            db.session, race, five_k, [], {"starts_on": step_day.isoformat(), "price": "35", "until_sold": "",
                                           "label": ""}), "then $35"),
        ("step by date", lambda: clock.freeze(clock.now() + timedelta(days=3)), "$35"),
        ("a sale fills the last spot", sell_out, "Sold out"),
        ("a refund frees one", lambda: refund_one(db, first_order["order"]), "1 spot left"),
        ("the last spot sold again", lambda: make_order(db, race, ten_k, 1), "Join the waitlist"),
        ("a waitlist join", lambda: in_line(db, race, ten_k, clock.now(), email="wanda@example.com"), "Sold out"),
        ("a refund with someone waiting", lambda: refund_one(db, first_order["order"]), "Sold out"),
        ("an offer", lambda: (run_offers(db.session, clock.now()), db.session.commit()), "Sold out"),
        ("sales closing by the clock", lambda: clock.freeze(race.starts_at + timedelta(minutes=1)),
         "This race has already taken place."),
    ]
    _each_change_is_seen_at_once(app, client, db, "/races/lake", changes)


def test_a_spot_left_changes_the_list_and_its_etag(client, db, race):
    first = client.get("/")
    make_order(db, race, race.ticket_types[1], 3)
    second = client.get("/", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200 and second.headers["ETag"] != first.headers["ETag"]


def test_every_change_to_what_the_race_list_shows_is_seen_on_the_next_get(app, client, db, race):
    ten_k, five_k = race.ticket_types
    today = clock.now().astimezone(race.tz).date()
    type_fields = {"name": "5K fun run", "price": "25", "capacity": "50", "description": ""}
    orders = {}

    def sell_out():
        orders["first"] = make_order(db, race, ten_k, 2)
        orders["rest"] = make_order(db, race, five_k, 50)

    changes = [
        ("title", lambda: _save(db, race, "title", {"title": "Lake Ten"}), "Lake Ten"),
        ("date", lambda: _save(db, race, "when", {"day": today + timedelta(days=40), "start": time(9, 30),
                                                  "timezone": race.timezone}), "Lake Ten"),
        ("place", lambda: _save(db, race, "where", {"location_name": "Harbour Point", "address": "Pier 4"}),
         "Harbour Point"),
        ("cover", lambda: save_race_image(db.session, storage_for(app), race, _png(), kind="cover"), "race-card-cover"),
        ("type name", lambda: ticket_types.save_ticket_type(db.session, race, five_k, type_fields, clock.now()),
         "5K fun run"),
        ("type price", lambda: ticket_types.save_ticket_type(db.session, race, five_k, {**type_fields, "price": "17"},
                                                             clock.now()), "$17"),
        ("a price step by date", lambda: price_tier_editing.save_steps(
            db.session, race, five_k, [], {"starts_on": (today + timedelta(days=3)).isoformat(), "price": "15",
                                           "until_sold": "", "label": ""}), "$17"),
        ("the step's day comes", lambda: clock.freeze(clock.now() + timedelta(days=3)), "$15"),
        ("a sale", lambda: make_order(db, race, five_k, 3), "49 spots left"),
        ("a hold at the payment step", lambda: make_order(db, race, five_k, 2, status=OrderStatus.PENDING,
                                                          reserved_until=clock.now() + timedelta(minutes=5)),
         "47 spots left"),
        ("the hold runs out by the clock", lambda: clock.freeze(clock.now() + timedelta(minutes=6)), "49 spots left"),
        ("everything sold", sell_out, "Sold out"),
        ("a refund frees one", lambda: refund_one(db, orders["first"]), "1 spot left"),
        ("another race published", lambda: make_race(db, slug="hill", title="Hill 5K",
                                                     starts_at=race.starts_at + timedelta(days=30)), "Hill 5K"),
        ("the race takes place", lambda: clock.freeze(race.starts_at + timedelta(minutes=1)), "Hill 5K"),
    ]
    page = _each_change_is_seen_at_once(app, client, db, "/", changes)
    assert "Lake Ten" not in page  # taken place: no longer upcoming


def test_a_cached_race_list_costs_one_statement(client, race, count_queries):
    client.get("/")
    with count_queries() as counter:
        assert client.get("/").status_code == 200
    assert counter.count == 1  # the listed races, their types and what holds their spots


def test_the_list_sets_no_cookie_for_a_search_either(client, race):
    response = client.get("/?q=lake&when=upcoming")
    assert response.status_code == 200 and _no_cookie(response) and "Lake 10K" in response.get_data(as_text=True)


def test_the_description_is_stored_rendered_and_the_page_renders_no_markdown(app, client, db, race, monkeypatch):
    _save(db, race, "description", {"description": "## Course\n\n<script>x</script> **fast**"})
    assert race.description_html.startswith("<h2>Course</h2>") and "<script>" not in race.description_html

    def no_markdown(text):
        raise AssertionError("Markdown rendered per request")

    monkeypatch.setitem(app.jinja_env.filters, "markdown", no_markdown)
    assert "<strong>fast</strong>" in _fresh(app, client)


def test_a_page_rendered_while_its_key_moved_is_not_kept(client, db, race, monkeypatch):
    """A hold taken between reading the key and rendering is in the page but not in the key it was read under:
    kept, that page would come back when the hold runs out and the key is the old one again."""
    from blueprints import races as race_views

    five_k = race.ticket_types[1]
    rendering = race_views._race_page

    def a_hold_meanwhile(slug, now):
        make_order(db, race, five_k, 3, status=OrderStatus.PENDING, reserved_until=now + timedelta(minutes=5))
        return rendering(slug, now)

    monkeypatch.setattr(race_views, "_race_page", a_hold_meanwhile)
    assert "47 spots left" in client.get("/races/lake").get_data(as_text=True)
    monkeypatch.setattr(race_views, "_race_page", rendering)
    clock.freeze(clock.now() + timedelta(minutes=6))  # the hold has run out: the key is the first one again
    assert "50 spots left" in client.get("/races/lake").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/races/lake", "/"])
def test_a_cached_page_is_compressed_once_per_encoding_and_each_copy_is_the_page(app, client, race, path,
                                                                                 monkeypatch):
    from blueprints import response_compression

    app.config["PAGE_CACHE_SECONDS"] = 60
    made = []
    compress = response_compression.compress

    def counted(body, encoding):
        made.append(encoding)
        return compress(body, encoding)

    monkeypatch.setattr(response_compression, "compress", counted)
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers and len(plain.data) >= response_compression.MIN_BYTES
    for encoding, decode in (("br", brotli.decompress), ("gzip", gzip.decompress)):
        for _ in range(3):
            sent = client.get(path, headers={"Accept-Encoding": encoding})
            assert sent.headers["Content-Encoding"] == encoding and "Accept-Encoding" in sent.headers["Vary"]
            assert decode(sent.data) == plain.data and sent.headers["ETag"] == plain.headers["ETag"]
            assert int(sent.headers["Content-Length"]) == len(sent.data)
    assert made == ["br", "gzip"]
    again = client.get(path, headers={"Accept-Encoding": "br", "If-None-Match": plain.headers["ETag"]})
    assert again.status_code == 304 and again.data == b"" and "Content-Encoding" not in again.headers
