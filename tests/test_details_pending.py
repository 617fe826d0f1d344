"""Runners who fill in their own details, as the organizer sees them: the list's filter and count, both CSV files,
the registrant page with its *Resend the link* button, corrections of address and club, and the dashboard."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models import OrderStatus, OutboxMessage, Registration, RegistrationAudit
from services import clock, runner_invites
from services.registrants.edits import details_version
from tests.factories import login, make_profile
from tests.http import csrf_token
from tests.registrant_factories import (  # noqa: F401  (fixtures)
    add_co_organizer,
    awaiting_runner,
    organized_race,
    organizer,
    race,
    runner,
    signed_in,
)

HX = {"HX-Request": "true"}
NOW = datetime(2030, 4, 1, 15, 0, tzinfo=UTC)  # 11 AM in New York, the race's zone
TOO_OLD = "Runners in the 10K must be 18 or younger on race day (this runner will be 40)."


@pytest.fixture(autouse=True)
def frozen():
    clock.freeze(NOW)
    yield
    clock.reset()


def url(race, tail=""):
    return f"/manage/races/{race.id}/registrants{tail}"


def text(response) -> str:
    return response.get_data(as_text=True).replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&")


def fresh(db, registration_id) -> Registration:
    db.session.expire_all()
    return db.session.get(Registration, registration_id)


@pytest.fixture
def crew(db, race):
    """Two friends still to fill in (one whose age didn't fit), one who did, one complete, one refunded waiting."""
    ten, five = race.ticket_types
    return {
        "fay": awaiting_runner(db, race, ten, "Fay", "Friend", invite_sent_at=NOW - timedelta(days=4),
                               invite_reminded_at=NOW - timedelta(days=1), invite_reminders=1),
        "old": awaiting_runner(db, race, ten, "Otto", "Older", details_problem=TOO_OLD),
        "done": runner(db, race, five, "Dora", "Done", runner_fills_in=True, runner_details_at=NOW - timedelta(days=2),
                       club="Lake Striders", city="Lakeside", country="Canada"),
        "ada": runner(db, race, ten, "Ada", "Lovelace"),
        "gone": awaiting_runner(db, race, ten, "Gus", "Gone", status=OrderStatus.REFUNDED),
    }


# --- the list -----------------------------------------------------------------------------------

def test_the_list_counts_runners_waiting_for_their_details_and_marks_their_rows(signed_in, db, race, crew):
    page = text(signed_in.get(url(race)))

    assert f'href="{url(race)}?details=pending"><strong>2</strong> waiting for their runner\'s details</a>' in page
    assert page.count('<span class="badge status-waiting">Waiting for details</span>') == 2
    assert f'<span class="details-problem" role="note">{TOO_OLD}</span>' in page
    assert 'id="filter-details" name="details"' in page and ">Pending<" in page


def test_the_details_filter_shows_only_those_waiting_or_only_the_complete(signed_in, db, race, crew):
    pending = signed_in.get(url(race), query_string={"details": "pending"}, headers=HX)
    body = text(pending)
    assert pending.status_code == 200 and "<html" not in body
    assert "<strong>2</strong> paid registrants waiting for their runner's details" in body
    assert "Fay" in body and "Otto" in body and "Dora" not in body and "Lovelace" not in body
    assert "Show everyone" in body and "Gus" not in body  # refunded: under its own status
    assert "1 refunded" in body  # the status note counts within the details filter too

    complete = text(signed_in.get(url(race), query_string={"details": "complete"}))
    assert "<strong>2</strong> paid registrants with complete details" in complete
    assert "Dora" in complete and "Lovelace" in complete and "Fay" not in complete
    assert f'Not shown: <a href="{url(race)}?details=pending"><strong>2</strong>' in complete

    everyone = text(signed_in.get(url(race), query_string={"details": "pending", "status": "all"}))
    assert "<strong>3</strong> registrants waiting for their runner's details" in everyone and "Gus" in everyone


def test_nobody_waiting_means_no_note(signed_in, db, race):
    runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    page = text(signed_in.get(url(race)))
    assert "waiting for their runner's details" not in page and "Waiting for details</span>" not in page
    empty = text(signed_in.get(url(race), query_string={"details": "pending"}))
    assert "Nobody matches" in empty


@pytest.mark.parametrize("value", ["yes", "PENDING", "x" * 5000])
def test_an_unknown_details_filter_is_a_400(signed_in, db, race, value):
    response = signed_in.get(url(race), query_string={"details": value})
    assert response.status_code == 400 and "Pick details waiting for the runner" in text(response)


def test_the_list_runs_the_same_statements_with_and_without_runners_waiting(signed_in, db, race, organizer,
                                                                            count_queries):
    runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    busy = organized_race(db, organizer)
    for n in range(30):
        awaiting_runner(db, busy, busy.ticket_types[0], "Fay", f"Friend{n}", details_problem=TOO_OLD if n % 3 else "")
        runner(db, busy, busy.ticket_types[1], "Ann", f"Other{n}")

    def statements(of, **args):
        with count_queries() as counter:
            assert signed_in.get(url(of), query_string=args).status_code == 200
        return counter.count

    for args in ({}, {"details": "pending"}, {"details": "complete", "status": "all", "page": "2"}):
        assert statements(race, **args) == statements(busy, **args), args
    listed = text(signed_in.get(url(busy), query_string={"details": "pending"}))
    assert listed.count("Waiting for details</span>") == 30 and listed.count('class="details-problem"') == 20


# --- the CSV files ----------------------------------------------------------------------------

def test_the_spreadsheet_csv_says_whose_details_are_pending_and_has_address_and_club(signed_in, db, race, crew):
    crew["ada"].club, crew["ada"].address = '=HYPERLINK("http://evil.example","x")', "1 Lake Rd"
    db.session.commit()
    raw = signed_in.get(url(race, ".csv"), query_string={"status": "all"}).get_data().decode("utf-8-sig")
    rows = {row["First name"]: row for row in csv.DictReader(io.StringIO(raw))}

    assert {name: row["Details"] for name, row in rows.items()} == {
        "Fay": "pending", "Otto": "pending", "Dora": "complete", "Ada": "complete", "Gus": "pending"}
    assert rows["Otto"]["Details problem"] == TOO_OLD and rows["Fay"]["Details problem"] == ""
    assert (rows["Dora"]["City"], rows["Dora"]["Country"], rows["Dora"]["Club or team"]) == \
        ("Lakeside", "Canada", "Lake Striders")
    assert rows["Ada"]["Club or team"] == '\'=HYPERLINK("http://evil.example","x")' and rows["Ada"]["Address"] == "1 Lake Rd"
    assert rows["Fay"]["Waiver signed at"] == "" and rows["Ada"]["Waiver signed at check-in"] == ""
    only_pending = signed_in.get(url(race, ".csv"), query_string={"details": "pending"}).get_data().decode("utf-8-sig")
    assert sorted(row["First name"] for row in csv.DictReader(io.StringIO(only_pending))) == ["Fay", "Otto"]


def test_the_timing_csv_fills_team_city_and_country_with_raw_values(signed_in, db, race, crew):
    crew["ada"].bib, crew["ada"].club, crew["ada"].city, crew["ada"].country = 7, "=Sum Club", "Zürich", "Switzerland"
    crew["done"].bib = 8
    db.session.commit()
    raw = signed_in.get(url(race, "-timing.csv")).get_data(as_text=True)
    assert raw.splitlines()[0].endswith("Ticket type,Team,City,Country,T-shirt")
    rows = [(row["Bib"], row["First name"], row["Team"], row["City"], row["Country"])
            for row in csv.DictReader(io.StringIO(raw))]
    assert rows == [("7", "Ada", "=Sum Club", "Zürich", "Switzerland"),  # raw, as the file promises
                    ("8", "Dora", "Lake Striders", "Lakeside", "Canada"),
                    ("", "Fay", "", "", ""), ("", "Otto", "", "", "")]  # still to fill in: empty, not guessed


# --- one registrant ---------------------------------------------------------------------------

def test_a_registrant_waiting_for_their_details_says_so_with_when_the_link_went_out(signed_in, db, race, crew):
    page = text(signed_in.get(url(race, f"/{crew['fay'].id}")))
    assert '<span class="badge status-waiting">Waiting for details</span>' in page
    assert "Waiting for the runner's details" in page and "<strong>fay." in page
    assert "28 Mar" in page and "31 Mar" in page  # sent four days ago, reminded yesterday
    assert "<dt>Reminders</dt><dd>1 · last" in page
    fay_id = crew["fay"].id
    assert f'action="{url(race, f"/{fay_id}/resend-invite")}"' in page and ">Resend the link</button>" in page
    assert "The runner signs when they fill in their details, or at check-in." in page

    problem = text(signed_in.get(url(race, f"/{crew['old'].id}")))
    assert TOO_OLD in problem and "Switch them to another distance or refund the ticket." in problem
    assert "<dt>Link sent</dt><dd>Not yet</dd>" in problem and "<dt>Reminders</dt><dd>None yet</dd>" in problem


def test_a_complete_registrant_shows_address_and_club_and_no_link_to_resend(signed_in, db, race, crew):
    page = text(signed_in.get(url(race, f"/{crew['done'].id}")))
    for fact in ("<dt>City</dt><dd>Lakeside</dd>", "<dt>Country</dt><dd>Canada</dd>",
                 "<dt>Club or team</dt><dd>Lake Striders</dd>", "<dt>Address</dt><dd>–</dd>"):
        assert fact in page, fact
    assert "Resend the link" not in page and "Waiting for details" not in page


@pytest.fixture
def sent(monkeypatch):
    """Stands in for services.runner_invites.resend_invite, to see what the page does with its answers; the
    real one is tested in tests/test_runner_invites.py and below."""
    calls = []

    def resend_invite(session, registration, now):
        calls.append((registration.id, now))
        registration.invite_reminded_at, registration.invite_reminders = now, registration.invite_reminders + 1
        session.commit()

    monkeypatch.setattr(runner_invites, "resend_invite", resend_invite)
    return calls


def resend(client, race, registration, *, htmx=True, token=None):
    return client.post(url(race, f"/{registration.id}/resend-invite"), headers=HX if htmx else {},
                       data={"csrf_token": token or csrf_token(client, url(race))})


def test_resending_the_link_calls_the_invite_service_and_says_so(signed_in, db, race, crew, sent):
    response = resend(signed_in, race, crew["fay"])
    body = text(response)
    assert response.status_code == 200 and body.lstrip().startswith('<section id="runner-invite"')
    assert f"Sent the link again to {crew['fay'].email}." in body and "<dt>Reminders</dt><dd>2 · last" in body
    assert sent == [(crew["fay"].id, NOW)]

    plain = resend(signed_in, race, crew["fay"], htmx=False)
    assert plain.status_code == 303 and plain.headers["Location"].endswith(url(race, f"/{crew['fay'].id}"))
    assert len(sent) == 2 and fresh(db, crew["fay"].id).invite_reminders == 3


def test_resending_for_real_queues_a_new_link_to_the_runner(signed_in, db, race, crew):
    race.starts_at, race.registration_closes_at = NOW + timedelta(days=30), None  # sign-up still open
    db.session.commit()
    response = resend(signed_in, race, crew["fay"])
    assert response.status_code == 200 and f"Sent the link again to {crew['fay'].email}." in text(response), text(response)[-600:]
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address.contains(crew["fay"].email))).all()
    assert len(mail) == 1 and "/runner-details/" in mail[0].text_body
    again = resend(signed_in, race, crew["fay"])  # an hour between two sends, whoever asks
    assert again.status_code == 422 and "minute" in text(again)


def test_a_refused_resend_shows_the_services_reason(signed_in, db, race, crew, monkeypatch):
    def refuse(session, registration, now):
        raise runner_invites.ResendRefused("Sign-up has closed, so the link can't be sent again.")

    monkeypatch.setattr(runner_invites, "resend_invite", refuse)
    fragment = resend(signed_in, race, crew["fay"])
    assert fragment.status_code == 422 and "Sign-up has closed, so the link can't be sent again." in text(fragment)
    assert '<section id="runner-invite"' in text(fragment) and "<html" not in text(fragment)
    page = resend(signed_in, race, crew["fay"], htmx=False)
    assert page.status_code == 422 and "<html" in text(page) and "Sign-up has closed" in text(page)


def test_there_is_no_link_to_resend_to_a_runner_who_filled_in_their_details(signed_in, db, race, crew, sent):
    for who in ("done", "ada"):
        response = resend(signed_in, race, crew[who])
        assert response.status_code == 409 and "already filled in their details" in text(response)
    assert sent == []


def test_resending_is_for_this_races_organizers_only(app, db, race, organizer, crew, sent):
    other_race = organized_race(db, organizer)
    theirs = awaiting_runner(db, other_race, other_race.ticket_types[0], "Not", "Here")
    owner = app.test_client()
    login(owner, organizer)
    assert resend(owner, race, theirs).status_code == 404
    assert owner.post(url(race, f"/{crew['fay'].id}/resend-invite"), data={}).status_code == 400  # no CSRF token

    stranger = app.test_client()
    login(stranger, make_profile(db, email="mallory@example.com"))
    assert resend(stranger, race, crew["fay"], token=csrf_token(stranger, "/")).status_code == 403
    signed_out = app.test_client()
    answer = resend(signed_out, race, crew["fay"], htmx=False, token=csrf_token(signed_out, "/"))
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/auth/sign-in")
    assert sent == []

    helper = make_profile(db, email="co@example.com")
    add_co_organizer(db, race, helper)
    co = app.test_client()
    login(co, helper)
    assert resend(co, race, crew["fay"]).status_code == 200 and len(sent) == 1


# --- corrections ------------------------------------------------------------------------------

def _edit_form(registration, **changes):
    data = {name: getattr(registration, name) or "" for name in (
        "first_name", "last_name", "email", "gender", "tshirt_size", "emergency_name", "emergency_phone",
        "address", "city", "country", "club")}
    data["date_of_birth"] = registration.date_of_birth.isoformat() if registration.date_of_birth else ""
    data["opened"] = details_version(registration)  # as the page sends it: the details it was opened with
    data.update(changes)
    return data


def test_the_organizer_corrects_a_pending_runner_s_email_and_the_link_to_the_old_one_stops_working(
        signed_in, db, race, crew):
    fay = crew["fay"]
    fay.invite_nonce = "an-old-nonce"
    db.session.commit()
    old_link = runner_invites.link_token(fay)
    response = signed_in.post(url(race, f"/{fay.id}"), headers=HX, data={
        "csrf_token": csrf_token(signed_in, url(race)), **_edit_form(fay, email="fay.right@example.com")})
    assert response.status_code == 200 and "Saved: email." in text(response)  # no birth date or contact asked
    saved = fresh(db, fay.id)
    assert saved.email == "fay.right@example.com" and saved.awaiting_runner and saved.invite_nonce != "an-old-nonce"
    with pytest.raises(runner_invites.LinkRefused) as refused:
        runner_invites.open_invitation(db.session, old_link, NOW)
    assert refused.value.status == 410
    # Half a contact is still a mistake, pending or not.
    half = signed_in.post(url(race, f"/{fay.id}"), headers=HX, data={
        "csrf_token": csrf_token(signed_in, url(race)), **_edit_form(saved, emergency_name="Mum")})
    assert half.status_code == 422


def test_the_organizer_corrects_address_city_country_and_club_with_an_audit_line_each(signed_in, db, race, crew):
    ada = crew["ada"]
    response = signed_in.post(url(race, f"/{ada.id}"), headers=HX, data={
        "csrf_token": csrf_token(signed_in, url(race)),
        **_edit_form(ada, address=" 12 Shore Rd ", city="Lakeside", country="Canada", club="Lake Striders")})
    body = text(response)
    assert response.status_code == 200 and "Saved: address, city, country, club or team." in body
    assert "changed club or team from <q>empty</q> to <q>Lake Striders</q>" in body
    saved = fresh(db, ada.id)
    assert (saved.address, saved.city, saved.country, saved.club) == ("12 Shore Rd", "Lakeside", "Canada", "Lake Striders")
    assert sorted(db.session.scalars(select(RegistrationAudit.field).where(
        RegistrationAudit.registration_id == ada.id))) == ["address", "city", "club", "country"]
    assert 'id="club" name="club"' in body and 'value="Lake Striders"' in body


@pytest.mark.parametrize("changes, field, message", [
    ({"club": "x" * 101}, "club", "Keep the club or team to 100 characters or fewer"),
    ({"city": "Lake\x1bside"}, "city", "Remove the invisible control characters from the city"),
    ({"address": "y" * 70_000}, "address", "Keep the address to 200 characters or fewer"),
])
def test_a_bad_address_or_club_is_422_beside_it_and_nothing_is_saved(signed_in, db, race, crew, changes, field,
                                                                      message):
    ada = crew["ada"]
    response = signed_in.post(url(race, f"/{ada.id}"), headers=HX, data={
        "csrf_token": csrf_token(signed_in, url(race)), **_edit_form(ada, last_name="Changed", **changes)})
    assert response.status_code == 422 and message in text(response) and f'id="{field}-error"' in text(response)
    assert fresh(db, ada.id).last_name == "Lovelace"


@pytest.mark.parametrize("left_out", ["address", "city", "country", "club"])
def test_an_edit_without_the_address_fields_is_refused_rather_than_blanking_them(signed_in, db, race, crew, left_out):
    done = crew["done"]
    data = _edit_form(done, last_name="Changed")
    del data[left_out]
    response = signed_in.post(url(race, f"/{done.id}"), headers=HX,
                              data={"csrf_token": csrf_token(signed_in, url(race)), **data})
    assert response.status_code == 422 and "missing from what your browser sent" in text(response)
    assert (fresh(db, done.id).last_name, fresh(db, done.id).club) == ("Done", "Lake Striders")


# --- the dashboard ----------------------------------------------------------------------------

def test_the_dashboard_says_how_many_registrations_wait_for_their_runners(signed_in, db, race, crew):
    page = text(signed_in.get(f"/manage/races/{race.id}/dashboard"))
    assert "<strong>2</strong> registrations waiting for runners' details" in page  # the refunded one doesn't count
    assert f'<a href="{url(race)}?details=pending">see who</a>' in page


def test_one_registration_waiting_reads_in_the_singular_and_none_shows_nothing(signed_in, db, race):
    runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    assert "waiting for" not in text(signed_in.get(f"/manage/races/{race.id}/dashboard"))
    awaiting_runner(db, race, race.ticket_types[0])
    page = text(signed_in.get(f"/manage/races/{race.id}/dashboard"))
    assert "<strong>1</strong> registration waiting for the runner's details" in page
