"""The friend's own page, over HTTP: the form by link, its checks, the ticket after, keeping it in an account,
and what the buyer sees meanwhile. Links come from the invitation email, read from the outbox or an SMTP server."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from models import Order, Profile, Registration, WaiverVersion
from services import clock
from services import runner_invites as invites
from services.mail.worker import send_due_for
from services.sales import signup_deadline
from tests.factories import forged, login, make_profile
from tests.http import csrf_token
from tests.runner_invite_factories import LINK, buy_for_friend, emails, link_in, make_friend_race

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def race(db):
    return make_friend_race(db, title="Lake 10K", slug="lake-10k")


@pytest.fixture
def ticket(db, race):
    return buy_for_friend(db, race)


@pytest.fixture
def link(db, ticket):
    return link_in(emails(db, "runner_invite")[0])


def ben_form(client, link: str, **changes) -> dict:
    form = {"csrf_token": csrf_token(client, link), "first_name": "Ben", "last_name": "Okafor", "email": "ben@example.com",
            "date_of_birth": "1992-03-04", "tshirt_size": "M", "emergency_name": "Ife Okafor",
            "emergency_phone": "+44 20 7946 0000", "address": "1 Canal St", "city": "Leeds", "country": "UK",
            "club": "Leeds Harriers", "waiver_accepted": "y", "waiver_signature": "Ben Okafor"}
    page = client.get(link).get_data(as_text=True)
    version = re.search(r'name="waiver_version" value="(\d+)"', page)
    form["waiver_version"] = version.group(1) if version else ""
    form.update(changes)
    return {name: value for name, value in form.items() if value is not None}


def _saved(db, ticket) -> Registration:
    db.session.expire_all()
    return db.session.get(Registration, ticket.id)


def test_the_link_opens_the_friends_form_with_their_name_and_who_bought_it_and_nothing_else(client, db, race, ticket, link):
    response = client.get(link)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Fill in your details" in page and "<dd>Lake 10K</dd>" in page and "10K <span" in page
    assert "<dt>Bought by</dt><dd>Ana López</dd>" in page
    assert "Ana López bought this ticket for Ben Okafor" in page
    assert 'value="Ben"' in page and 'value="Okafor"' in page and 'value="ben@example.com"' in page
    assert "I run at my own risk." in page and 'name="waiver_signature"' in page
    assert 'name="runner_fills_in"' not in page and "This is me" not in page
    # The buyer's own ticket (Ada Runner1) and email stay theirs.
    assert "Runner1" not in page and "ana@example.com" not in page


def test_an_adult_fills_in_signs_and_gets_their_ticket_with_a_qr_code(client, db, race, ticket, link):
    response = client.post(link, data=ben_form(client, link), environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert response.status_code == 303
    ticket_page = response.headers["Location"]
    saved = _saved(db, ticket)
    assert saved.runner_details_at is not None and saved.waiver_signature == "Ben Okafor"
    assert saved.waiver_ip == "203.0.113.7" and saved.club == "Leeds Harriers" and saved.country == "UK"

    page = client.get(ticket_page).get_data(as_text=True)
    assert "your details are in" in page and "<svg" in page and "Ticket QR code" in page
    assert "Create an account to keep this ticket" in page
    assert f"/auth/sign-up?next=/runner-details/ticket/{invites.claim_token(saved)}" in page

    used = client.get(link)
    assert used.status_code == 410 and "Your details are already in" in used.get_data(as_text=True)
    again = client.post(link, data=ben_form(client, ticket_page, first_name="Mallory"))
    assert again.status_code == 410 and _saved(db, ticket).first_name == "Ben"


def test_a_minor_on_the_kids_ticket_is_signed_for_by_a_guardian(client, db, race):
    kid = buy_for_friend(db, race, ticket_type=race.ticket_types[1], friend=("Mia", "Okafor", "ife@example.com"))
    link = link_in(emails(db, "runner_invite", to="ife@example.com")[0])
    born = f"{NOW.year - 9}-02-01"
    refused = client.post(link, data=ben_form(client, link, first_name="Mia", email="ife@example.com",
                                              date_of_birth=born, waiver_signature="Mia Okafor"))
    assert refused.status_code == 422
    assert "Enter the parent or guardian&#39;s name." in refused.get_data(as_text=True)
    assert _saved(db, kid).runner_details_at is None

    response = client.post(link, data=ben_form(client, link, first_name="Mia", email="ife@example.com", date_of_birth=born,
                                               waiver_guardian_name="Ife Okafor", waiver_signature="Ife Okafor"))
    assert response.status_code == 303
    saved = _saved(db, kid)
    assert saved.waiver_guardian_name == "Ife Okafor" and saved.waiver_signature == "Ife Okafor"


def test_an_age_that_doesnt_fit_is_explained_and_nothing_is_saved(client, db, race, ticket, link):
    teen = ben_form(client, link, date_of_birth=f"{NOW.year - 15}-06-01", waiver_guardian_name="Ife Okafor",
                    waiver_signature="Ife Okafor")
    for _ in range(2):
        response = client.post(link, data=teen)
        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert "This ticket doesn't fit your age, so your details weren't saved." in page
        assert "must be 18 or older on race day" in page
        assert "We've told Ana López, who bought the ticket, and the race's organizers" in page
        assert "switch you to a distance that fits, or refund the ticket" in page
    saved = _saved(db, ticket)
    assert saved.runner_details_at is None and saved.date_of_birth is None and saved.details_problem
    assert len(emails(db, "runner_age_problem")) == 2  # buyer and organizer, once


def test_a_forged_link_and_an_expired_one_are_clear_pages_that_change_nothing(client, db, race, ticket, link):
    refused = client.get(forged(link))
    assert refused.status_code == 404 and "find that link" in refused.get_data(as_text=True)
    assert client.get("/runner-details/" + "x" * 5000).status_code == 404
    clock.freeze(signup_deadline(race) + timedelta(minutes=1))
    expired = client.get(link)
    assert expired.status_code == 410 and "This link has expired" in expired.get_data(as_text=True)
    assert client.post(link, data=ben_form(client, "/")).status_code == 410
    assert _saved(db, ticket).runner_details_at is None


@pytest.mark.parametrize("junk", [
    {},
    {"first_name": None, "last_name": None, "email": None, "date_of_birth": None},
    {"first_name": "B" * 100_000},
    {"email": "x" * 5000 + "@example.com"},
    {"date_of_birth": "yesterday"},
    {"date_of_birth": "9" * 400},
    {"date_of_birth": "1800-01-01"},
    {"tshirt_size": "XXXXXXXL"},
    {"emergency_phone": "☎" * 50},
    {"city": "\x00\x1b"},
    {"waiver_accepted": None},
    {"waiver_version": "9" * 40},
    {"waiver_version": "-1"},
    {"waiver_signature": "Ben\nOkafor"},
    {"tshirt_size": ["XXL", "M"]},
])
def test_bad_input_is_answered_with_422_and_saves_nothing(client, db, race, ticket, link, junk):
    form = ben_form(client, link, **{k: v for k, v in junk.items()}) if junk else {"csrf_token": csrf_token(client, link)}
    response = client.post(link, data=form)
    assert response.status_code == 422, response.status_code
    assert "another look" in response.get_data(as_text=True)
    assert _saved(db, ticket).runner_details_at is None


def test_an_htmx_post_answers_with_the_form_only(htmx_client, db, race, ticket, link):
    response = htmx_client.post(link, data=ben_form(htmx_client, link, emergency_phone=""))
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and page.lstrip().startswith("<form") and "<html" not in page
    assert "Enter a phone number for the emergency contact." in page


def test_each_field_is_checked_as_it_is_typed_through_the_link(client, db, race, ticket, link):
    check = link + "/check"
    token = csrf_token(client, link)
    bad = client.post(check, data={"csrf_token": token, "_field": "email", "email": "ben@"},
                      headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "Enter a real email address" in bad.get_data(as_text=True)
    ok = client.post(check, data={"csrf_token": token, "_field": "date_of_birth", "date_of_birth": "1992-03-04"},
                     headers={"HX-Request": "true"})
    assert ok.status_code == 200 and "Age on race day" in ok.get_data(as_text=True)
    assert client.post(check, data={"csrf_token": token, "_field": "runner_fills_in"}).status_code == 400
    assert client.post(check, data={"csrf_token": token, "_field": "nope"}).status_code == 400
    assert client.post("/runner-details/forged/check", data={"csrf_token": token, "_field": "email"}).status_code == 404


def test_the_runner_keeps_the_ticket_in_their_new_account_and_sees_only_their_own(client, db, race, ticket, link):
    ticket_page = client.post(link, data=ben_form(client, link)).headers["Location"]
    ben = make_profile(db, email="ben@example.com", full_name="Ben Okafor")
    login(client, ben)
    page = client.get(ticket_page).get_data(as_text=True)
    assert "Keep this ticket in your account" in page
    response = client.post(ticket_page + "/keep", data={"csrf_token": csrf_token(client, ticket_page)})
    assert response.status_code == 303 and response.headers["Location"].endswith("/tickets/")
    assert _saved(db, ticket).runner_profile_id == ben.id
    tickets = client.get("/tickets/").get_data(as_text=True)
    assert "Ben Okafor" in tickets and "Lake 10K" in tickets and "Runner1" not in tickets
    assert "This ticket is in your account" in client.get(ticket_page).get_data(as_text=True)

    mallory = make_profile(db)
    login(client, mallory)
    refused = client.post(ticket_page + "/keep", data={"csrf_token": csrf_token(client, ticket_page)})
    assert refused.status_code == 409 and _saved(db, ticket).runner_profile_id == ben.id


def test_keeping_a_ticket_needs_a_signed_in_account(client, db, race, ticket, link):
    ticket_page = client.post(link, data=ben_form(client, link)).headers["Location"]
    response = client.post(ticket_page + "/keep", data={"csrf_token": csrf_token(client, ticket_page)})
    assert response.status_code == 303 and "/auth/sign-in" in response.headers["Location"]
    assert _saved(db, ticket).runner_profile_id is None


def test_the_buyer_sees_waiting_for_the_friends_details_and_no_qr_code_for_them(client, db, race, ticket):
    order_id = ticket.order_id
    buyer = db.session.get(Profile, db.session.get(Order, order_id).buyer_id)
    login(client, buyer)
    sent = ticket.invite_sent_at.replace(tzinfo=UTC).astimezone(race.tz)
    for path in (f"/orders/{order_id}", "/tickets/", f"/tickets/{ticket.ticket_code}"):
        page = client.get(path).get_data(as_text=True)
        assert f"Waiting for Ben's details: we emailed them on {sent.day} {sent:%b}" in page, path
    orders_page = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert f"/tickets/{ticket.ticket_code}" not in orders_page
    assert orders_page.count("Show ticket") == 1  # the buyer's own
    assert "Ticket QR code" not in client.get(f"/tickets/{ticket.ticket_code}").get_data(as_text=True)
    assert client.get("/tickets/").get_data(as_text=True).count("Ticket QR code") == 1


def test_refused_link_attempts_are_rate_limited_per_address(client, db, race, ticket, link):
    for _ in range(30):
        assert client.get("/runner-details/guess").status_code == 404
    assert client.get("/runner-details/guess").status_code == 429
    assert client.get(link).status_code == 429
    assert client.get(link, environ_base={"REMOTE_ADDR": "198.51.100.20"}).status_code == 200


def test_a_valid_link_is_not_slowed_down_by_a_runner_filling_in(client, db, race, ticket, link):
    for _ in range(40):
        assert client.get(link).status_code == 200


def test_the_invitation_arrives_by_smtp_and_its_link_works(app, client, db, race, ticket, smtp_server):
    app.config["SMTP_URL"] = smtp_server.url
    assert send_due_for(app).failed == 0
    invite = next(m for m in smtp_server.messages if m["To"] == "Ben Okafor <ben@example.com>"
                  and "fill in your details" in m["Subject"])
    text = invite.get_body(preferencelist=("plain",)).get_content()
    html = invite.get_body(preferencelist=("html",)).get_content()
    assert "Ana López (ana@example.com) bought you a ticket for Lake 10K." in text
    link = LINK.search(text).group(0)
    assert link in html
    path = "/runner-details/" + link.rsplit("/runner-details/", 1)[1]
    assert client.post(path, data=ben_form(client, path)).status_code == 303

    assert send_due_for(app).failed == 0
    ticket_email = next(m for m in smtp_server.messages if m["Subject"] == "Your ticket for Lake 10K")
    assert ticket_email["To"] == "Ben Okafor <ben@example.com>"
    assert sum(1 for part in ticket_email.walk() if part.get_content_type() == "image/png") == 1
    confirmation = next(m for m in smtp_server.messages if m["Subject"] == "You're in: Lake 10K")
    assert "Waiting for Ben's details" in confirmation.get_body(preferencelist=("plain",)).get_content()


def test_a_waiver_change_after_the_form_was_shown_asks_to_sign_again(client, db, race, ticket, link):
    form = ben_form(client, link)
    db.session.add(WaiverVersion(race_id=race.id, number=2, text="New text.", sha256="0" * 64))
    db.session.commit()
    response = client.post(link, data=form)
    assert response.status_code == 422 and "The waiver has changed" in response.get_data(as_text=True)


def test_born_date_parsing_stays_on_the_page(client, db, race, ticket, link):
    response = client.post(link, data=ben_form(client, link, date_of_birth="31/02/1990"))
    assert response.status_code == 422 and "Enter a real date" in response.get_data(as_text=True)
    assert date(1992, 3, 4) != _saved(db, ticket).date_of_birth


def test_sending_details_needs_the_csrf_token(client, db, race, ticket, link):
    form = ben_form(client, link)
    del form["csrf_token"]
    assert client.post(link, data=form).status_code == 400
    assert client.post(link + "/check", data={"_field": "email", "email": "x"}).status_code == 400
    assert _saved(db, ticket).runner_details_at is None


def _queries(client, count_queries, url) -> int:
    with count_queries() as counter:
        assert client.get(url).status_code == 200
    return counter.count


def test_the_runners_page_and_the_buyers_tickets_run_a_fixed_number_of_queries(client, db, race, ticket, link,
                                                                                count_queries):
    buyer = db.session.get(Profile, db.session.get(Order, ticket.order_id).buyer_id)
    small = _queries(client, count_queries, link)
    login(client, buyer)
    tickets_small = _queries(client, count_queries, "/tickets/")
    for n in range(4):  # more orders, each with a friend still to fill in
        buy_for_friend(db, race, buyer=buyer, friend=(f"Friend{n}", "Okafor", f"friend{n}@example.com"))
    assert _queries(client, count_queries, "/tickets/") == tickets_small
    client.delete_cookie("sl_access")
    client.delete_cookie("sl_refresh")
    assert _queries(client, count_queries, link) == small <= 12
