"""The waitlist over HTTP: the join form on the race page (with and without htmx, bad input), the offer and
leave links, the organizer's Waitlist tab, the editor's hold time, the dashboard, the job and its command."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models import Order, OrderStatus, Race, Registration, WaitlistEntry, WaitlistStatus
from services import clock
from services.scheduler import JOBS
from services.waitlist_offers import run_offers
from tests.factories import login, make_profile, make_race
from tests.http import csrf_token, post_form
from tests.waitlist_factories import emails_to, in_line, refund_one, sold_out_race


@pytest.fixture
def organizer(db):
    return make_profile(db, full_name="Olga Organizer", email="olga@example.com")


@pytest.fixture
def sold_out(db, organizer):
    return sold_out_race(db, organizer=organizer, slug="lake-10k", title="Lake 10K")


def entries(db) -> list[WaitlistEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(WaitlistEntry).order_by(WaitlistEntry.id)))


def join(client, tt, headers=None, **fields):
    data = {"ticket_type": str(tt.id), "name": "Ann Wait", "email": "ann@example.com", "spots": "2", **fields}
    return post_form(client, "/races/lake-10k/waitlist", {k: v for k, v in data.items() if v is not None},
                     page="/races/lake-10k", headers=headers or {})


def link_in(message, kind: str) -> str:
    return re.search(rf"https?://[^/\s]+(/waitlist/{kind}/\S+)", message.text_body).group(1)


# --- the race page and joining -----------------------------------------------------------------

def test_a_sold_out_type_offers_the_waitlist_on_the_race_page(client, sold_out):
    page = client.get("/races/lake-10k").get_data(as_text=True)
    assert "Join the waitlist" in page and 'action="/races/lake-10k/waitlist"' in page
    assert 'href="#waitlist"' in page


def test_a_signed_in_runner_finds_their_name_and_email_filled_in(client, db, sold_out):
    login(client, make_profile(db, full_name="Rosa Runner", email="rosa@example.com"))
    page = client.get("/races/lake-10k").get_data(as_text=True)
    assert 'value="Rosa Runner"' in page and 'value="rosa@example.com"' in page


def test_a_race_with_spots_left_has_no_waitlist_form(client, db):
    make_race(db, slug="open-5k")
    page = client.get("/races/open-5k").get_data(as_text=True)
    assert "Add to cart" in page and "Join the waitlist" not in page


def test_joining_without_javascript_shows_the_place_in_line(client, db, sold_out):
    _, ten_k, _ = sold_out
    response = join(client, ten_k)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "You're on the waitlist" in body and "number 1 in line for the 10K" in body
    assert "<html" in body
    [entry] = entries(db)
    assert (entry.name, entry.email, entry.spots) == ("Ann Wait", "ann@example.com", 2)


def test_joining_with_htmx_swaps_the_section_and_a_second_join_merges(client, db, sold_out):
    _, ten_k, _ = sold_out
    join(client, ten_k)
    response = join(client, ten_k, name="Ann Later", spots="1", email="ANN@example.com", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and 'id="waitlist"' in body
    assert "You were in line already" in body
    [entry] = entries(db)
    assert (entry.name, entry.spots) == ("Ann Later", 1)


@pytest.mark.parametrize(("fields", "message"), [
    ({"spots": "0"}, "between 1 and 4"), ({"spots": "5"}, "between 1 and 4"), ({"spots": "x"}, "between 1 and 4"),
    ({"spots": None}, "between 1 and 4"), ({"spots": "9" * 50}, "between 1 and 4"),
    ({"email": None}, "full email address"), ({"email": "ann"}, "full email address"),
    ({"email": "a" * 5000 + "@example.com"}, "full email address"),
    ({"name": None}, "Enter your name"), ({"name": "x" * 70000}, "at most 120"),
    ({"ticket_type": "abc"}, "isn&#39;t part of this race"), ({"ticket_type": None}, "isn&#39;t part of this race"),
    ({"ticket_type": "999999"}, "isn&#39;t part of this race"),
])
def test_bad_join_input_is_a_422_with_the_message_and_nothing_saved(client, db, sold_out, fields, message):
    _, ten_k, _ = sold_out
    response = join(client, ten_k, **fields)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert entries(db) == []


def test_joining_without_the_csrf_token_is_refused(client, db, sold_out):
    _, ten_k, _ = sold_out
    csrf_token(client, "/auth/sign-in")  # a browser with a session (one without has no token to forge: test_page_cache)
    response = client.post("/races/lake-10k/waitlist", data={"ticket_type": ten_k.id, "name": "A", "email": "a@b.co",
                                                              "spots": "1"})
    assert response.status_code == 400 and entries(db) == []


def test_joining_a_missing_race_is_404(client, db, sold_out):
    response = post_form(client, "/races/no-such-race/waitlist", {"name": "A"}, page="/races/lake-10k")
    assert response.status_code == 404


# --- the offer link ----------------------------------------------------------------------------

def offer_to_ann(db, sold_out, now):
    race, ten_k, orders = sold_out
    in_line(db, race, ten_k, now, email="ann@example.com", spots=1)
    in_line(db, race, ten_k, now + timedelta(seconds=1), email="bob@example.com", spots=1)
    refund_one(db, orders[0])
    run_offers(db.session, now)
    [offer] = emails_to(db, "ann@example.com", "waitlist_offer")
    return link_in(offer, "offer")


def test_the_offer_link_shows_the_offer_and_accept_fills_a_guest_cart(client, db, sold_out):
    now = datetime.now(UTC)
    link = offer_to_ann(db, sold_out, now)
    page = client.get(link)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "1 spot in the 10K" in body and "held for you until" in body
    response = post_form(client, f"{link}/accept", {}, page=link)
    assert response.status_code == 303 and response.headers["Location"].endswith("/races/lake-10k/cart")
    cart_page = client.get("/races/lake-10k/cart").get_data(as_text=True)
    assert "10K" in cart_page and "sold out" not in cart_page.lower()
    [ann, _] = entries(db)
    tickets = db.session.scalars(select(Registration).where(Registration.order_id == ann.order_id)).all()
    assert len(tickets) == 1 and db.session.get(Order, ann.order_id).status == OrderStatus.CART


def test_the_normal_add_form_still_refuses_the_sold_out_type(client, db, sold_out):
    now = datetime.now(UTC)
    offer_to_ann(db, sold_out, now)
    _, ten_k, _ = sold_out
    response = post_form(client, "/races/lake-10k/cart", {f"qty-{ten_k.id}": "1"}, page="/races/lake-10k")
    assert response.status_code == 422 and "sold out" in response.get_data(as_text=True)


def test_accepting_after_the_offer_expired_is_410_and_says_so(client, db, sold_out):
    now = datetime.now(UTC)
    link = offer_to_ann(db, sold_out, now)
    token = csrf_token(client, link)
    clock.freeze(now + timedelta(hours=24, seconds=1))
    response = client.post(f"{link}/accept", data={"csrf_token": token})
    assert response.status_code == 410 and "This offer has expired" in response.get_data(as_text=True)
    assert client.get(link).status_code == 410
    [ann, _] = entries(db)
    assert ann.order_id is None


def test_declining_passes_the_offer_on(client, db, sold_out):
    now = datetime.now(UTC)
    link = offer_to_ann(db, sold_out, now)
    response = post_form(client, f"{link}/decline", {}, page=link)
    assert response.status_code == 200 and "Offer declined" in response.get_data(as_text=True)
    ann, bob = entries(db)
    assert (ann.status, bob.status) == (WaitlistStatus.DECLINED, WaitlistStatus.OFFERED)
    assert client.get(link).status_code == 410



def test_declining_an_offer_accepted_a_moment_ago_says_it_was_accepted(client, db, sold_out, monkeypatch):
    """Ann accepted on her phone just as the decline was pressed on her laptop (after the link was checked): the
    page says the offer was accepted, as the link now does, and the cart keeps it."""
    from sqlalchemy.orm import Session

    from services import waitlist as waitlist_service
    from services.cart import CartOwner

    now = datetime.now(UTC)
    link = offer_to_ann(db, sold_out, now)
    declining = waitlist_service.decline

    def accepted_first(session, entry, at):
        with Session(db.engine) as phone:
            waitlist_service.accept(phone, phone.get(WaitlistEntry, entry.id), CartOwner(profile_id=make_profile(db).id),
                                    at)
        return declining(session, entry, at)

    monkeypatch.setattr(waitlist_service, "decline", accepted_first)
    response = post_form(client, f"{link}/decline", {}, page=link)
    assert response.status_code == 410 and "This offer was accepted" in response.get_data(as_text=True)
    ann, _ = entries(db)
    assert ann.status == WaitlistStatus.OFFERED and ann.order_id is not None

@pytest.mark.parametrize("path", ["/waitlist/offer/nonsense", "/waitlist/leave/nonsense", "/waitlist/offer/" + "x" * 500])
def test_forged_links_are_404(client, db, path):
    assert client.get(path).status_code == 404


def test_leaving_by_the_emailed_link(client, db, sold_out):
    race, ten_k, _ = sold_out
    in_line(db, race, ten_k, datetime.now(UTC), email="ann@example.com")
    [joined] = emails_to(db, "ann@example.com", "waitlist_joined")
    link = link_in(joined, "leave")
    page = client.get(link)
    assert page.status_code == 200 and "Leave the waitlist" in page.get_data(as_text=True)
    assert entries(db)[0].status == WaitlistStatus.WAITING            # opening the link changes nothing
    response = post_form(client, link, {}, page=link)
    assert response.status_code == 200 and "left the waitlist" in response.get_data(as_text=True)
    assert entries(db)[0].status == WaitlistStatus.LEFT
    assert "nothing to leave" in client.get(link).get_data(as_text=True)


# --- the organizer ------------------------------------------------------------------------------

def test_the_waitlist_tab_lists_each_line_for_organizers_only(client, db, organizer, sold_out):
    race, ten_k, _ = sold_out
    in_line(db, race, ten_k, datetime.now(UTC), email="ann@example.com", spots=3, name="Ann Wait")
    stranger = make_profile(db)
    login(client, stranger)
    assert client.get(f"/manage/races/{race.id}/waitlist").status_code == 403
    login(client, organizer)
    response = client.get(f"/manage/races/{race.id}/waitlist")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Ann Wait" in body and "ann@example.com" in body
    assert "1 waiting" in body and 'aria-current="page"' in body
    fragment = client.get(f"/manage/races/{race.id}/waitlist", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "Ann Wait" in fragment


def test_organizer_removes_offers_by_hand_and_pauses(client, db, organizer, sold_out):
    race, ten_k, orders = sold_out
    ann = in_line(db, race, ten_k, datetime.now(UTC), email="ann@example.com")
    bob = in_line(db, race, ten_k, datetime.now(UTC) + timedelta(seconds=1), email="bob@example.com")
    login(client, organizer)
    page = f"/manage/races/{race.id}/waitlist"
    refused = post_form(client, f"{page}/{bob.id}/offer", {}, page=page, headers={"HX-Request": "true"})
    assert refused.status_code == 409 and "raise its capacity first" in refused.get_data(as_text=True)
    refund_one(db, orders[0])
    assert post_form(client, f"{page}/pause", {"paused": "1"}, page=page).status_code == 303
    assert db.session.get(Race, race.id, populate_existing=True).waitlist_paused
    assert post_form(client, f"{page}/{bob.id}/offer", {}, page=page).status_code == 303
    assert entries(db)[1].status == WaitlistStatus.OFFERED               # Bob, by hand, ahead of Ann
    assert post_form(client, f"{page}/{ann.id}/remove", {}, page=page).status_code == 303
    assert entries(db)[0].status == WaitlistStatus.REMOVED
    assert post_form(client, f"{page}/pause", {"paused": "maybe"}, page=page).status_code == 400
    assert post_form(client, f"{page}/{ann.id}/remove", {}, page=page).status_code == 409
    assert post_form(client, f"{page}/999999/remove", {}, page=page).status_code == 404
    assert client.post(f"{page}/{bob.id}/remove").status_code == 400                  # no CSRF token


def test_an_entry_of_another_race_is_404(client, db, organizer, sold_out):
    race, _, _ = sold_out
    other, other_type, _ = sold_out_race(db)
    theirs = in_line(db, other, other_type, datetime.now(UTC), email="zed@example.com")
    login(client, organizer)
    page = f"/manage/races/{race.id}/waitlist"
    assert post_form(client, f"{page}/{theirs.id}/remove", {}, page=page).status_code == 404


@pytest.mark.parametrize(("value", "status"), [("6", 200), ("0", 422), ("169", 422), ("x", 422), ("", 422), ("9" * 40, 422)])
def test_the_editor_saves_the_hold_time(client, db, organizer, sold_out, value, status):
    race, _, _ = sold_out
    login(client, organizer)
    token = csrf_token(client, f"/manage/races/{race.id}")
    response = client.post(f"/manage/races/{race.id}/fields/waitlist", data={
        "csrf_token": token, "waitlist_hold_hours": value}, headers={"HX-Request": "true"})
    assert response.status_code == status
    assert db.session.get(Race, race.id, populate_existing=True).waitlist_hold_hours == (6 if status == 200 else 24)


def test_the_dashboard_shows_the_waitlist_length(client, db, organizer, sold_out):
    race, ten_k, _ = sold_out
    in_line(db, race, ten_k, datetime.now(UTC), email="ann@example.com")
    in_line(db, race, ten_k, datetime.now(UTC), email="bob@example.com")
    login(client, organizer)
    assert "2 on the waitlist" in client.get(f"/manage/races/{race.id}/dashboard").get_data(as_text=True)


# --- the job ------------------------------------------------------------------------------------

def test_the_offer_job_is_scheduled_and_has_a_command(app, db, runner, sold_out):
    assert any(job.name == "waitlist-offers" and job.interval_setting == "SCHEDULE_WAITLIST_OFFERS_SECONDS"
               for job in JOBS)
    assert app.config["SCHEDULE_WAITLIST_OFFERS_SECONDS"] == 0          # tests turn it off; the default is 60
    race, ten_k, orders = sold_out
    in_line(db, race, ten_k, datetime.now(UTC), email="ann@example.com")
    refund_one(db, orders[0])
    result = runner.invoke(args=["waitlist-offers"])
    assert result.exit_code == 0 and "1 offer(s) made" in result.output
    assert entries(db)[0].status == WaitlistStatus.OFFERED


def test_joining_is_rate_limited_like_other_public_forms(client, db, sold_out):
    _, ten_k, _ = sold_out
    statuses = [join(client, ten_k, email=f"ann{i}@example.com").status_code for i in range(11)]
    assert statuses[:10] == [200] * 10 and statuses[10] == 429
    assert len(entries(db)) == 10
