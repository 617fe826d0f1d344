"""Race-morning check-in: find a runner, one tap in (or undo), the counter, and the QR link on a ticket."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from models import OrderStatus, Registration, RegistrationAudit
from services import clock
from services.registrants import checkin, query
from tests.factories import login, make_profile, recount_race
from tests.http import csrf_token
from tests.registrant_factories import add_co_organizer, organized_race, organizer, race, runner, signed_in  # noqa: E402,F401  (fixtures)

HX = {"HX-Request": "true"}
MORNING = datetime(2030, 5, 4, 11, 42, tzinfo=UTC)  # 7:42 AM in New York


@pytest.fixture
def ada(db, race):
    return runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=42)


@pytest.fixture(autouse=True)
def race_morning():
    clock.freeze(MORNING)
    yield
    clock.reset()


def desk(race):
    return f"/manage/races/{race.id}/checkin"


def text(response) -> str:
    return response.get_data(as_text=True).replace("&#39;", "'").replace("&amp;", "&")


def tap(client, race, registration, *, undo=False, htmx=True, **data):
    path = f"{desk(race)}/{registration.ticket_code}" + ("/undo" if undo else "")
    return client.post(path, headers=HX if htmx else {}, data={"csrf_token": csrf_token(client, desk(race)), **data})


def checked_in_at(db, registration):
    db.session.expire_all()
    return db.session.get(Registration, registration.id).checked_in_at


# --- the desk: full page, fragment, bad input ----------------------------------------------

def test_check_in_page_has_a_search_box_and_the_counter(signed_in, db, race, ada):
    runner(db, race, race.ticket_types[0], "Bob", "Bolt", checked_in_at=MORNING - timedelta(minutes=5))
    runner(db, race, race.ticket_types[0], "Ray", "Refund", status=OrderStatus.REFUNDED)
    response = signed_in.get(desk(race))
    page = text(response)
    assert response.status_code == 200 and "<html" in page and 'aria-current="page">Check-in' in page
    assert 'type="search" name="q"' in page and "autofocus" in page
    assert '<strong>1</strong> / 2 <span>checked in</span>' in page  # refunded tickets don't count
    assert "Lovelace" not in page  # nobody listed until a name or bib is typed


def test_searching_by_name_or_bib_returns_just_the_results(signed_in, db, race, ada):
    runner(db, race, race.ticket_types[0], "Grace", "Hopper", bib=7)
    by_name = signed_in.get(desk(race), query_string={"q": "love"}, headers=HX)
    body = text(by_name)
    assert by_name.status_code == 200 and "<html" not in body and body.lstrip().startswith('<div id="checkin-results"')
    assert "Ada Lovelace" in body and "Bib 42" in body and "Grace Hopper" not in body and ">Check in<" in body
    assert "Grace Hopper" in text(signed_in.get(desk(race), query_string={"q": "7"}, headers=HX))
    assert "Ada Lovelace" in text(signed_in.get(desk(race), query_string={"q": "42"}))  # also as a whole page


def test_a_search_that_finds_nobody_says_so(signed_in, db, race, ada):
    response = signed_in.get(desk(race), query_string={"q": "zzz%_"}, headers=HX)
    assert response.status_code == 200 and "Nobody called “zzz%_”" in text(response)



@pytest.mark.parametrize("typed", ["Ångström", "ångström", "ZOË", "zoe"])
def test_the_desk_finds_a_runner_however_the_name_is_typed(signed_in, db, race, ada, typed):
    runner(db, race, race.ticket_types[0], "Zoë", "Ångström", bib=8)
    body = text(signed_in.get(desk(race), query_string={"q": typed}, headers=HX))
    assert "Zoë Ångström" in body and "Ada Lovelace" not in body

@pytest.mark.parametrize("q", ["love\x00", "²", "x" * 5000, "%", "__"])
def test_odd_searches_at_the_desk_do_not_fail(signed_in, db, race, ada, q):
    response = signed_in.get(desk(race), query_string={"q": q}, headers=HX)
    assert response.status_code == 200
    assert ("Ada Lovelace" in text(response)) == (q == "love\x00")  # the control character is dropped


def test_unknown_and_malformed_codes_are_404(signed_in, db, race, ada):
    t = csrf_token(signed_in, desk(race))
    for code in ("doesnotexist123", "bad!code", "x"):
        assert signed_in.post(f"{desk(race)}/{code}", data={"csrf_token": t}, headers=HX).status_code == 404, code
        assert signed_in.post(f"{desk(race)}/{code}/undo", data={"csrf_token": t}, headers=HX).status_code == 404
    assert checked_in_at(db, ada) is None


def test_another_races_ticket_cannot_be_checked_in_here(signed_in, db, race, organizer):
    other = organized_race(db, organizer)  # even by someone who organizes both
    theirs = runner(db, other, other.ticket_types[0], "Other", "Runner")
    response = tap(signed_in, race, theirs)
    assert response.status_code == 404 and "no ticket with that code for this race" in text(response)
    assert checked_in_at(db, theirs) is None
    assert "Other Runner" not in text(signed_in.get(desk(race), query_string={"q": "other"}))


# --- tapping -------------------------------------------------------------------------------

def test_one_tap_checks_in_and_updates_the_counter_out_of_band(signed_in, db, race, ada, organizer):
    runner(db, race, race.ticket_types[1], "Grace", "Hopper")
    response = tap(signed_in, race, ada, q="love")
    body = text(response)
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith(f'<li id="reg-{ada.id}" class="checkin-row is-in"')
    assert "✓ In at 7:42 AM" in body and "Undo" in body
    assert 'id="checkin-counter" class="checkin-counter" aria-live="polite" hx-swap-oob="true"' in body
    assert "<strong>1</strong> / 2" in body
    assert checked_in_at(db, ada) == MORNING
    audit = db.session.scalar(select(RegistrationAudit).where(RegistrationAudit.registration_id == ada.id))
    assert (audit.field, audit.profile_id) == ("checked_in", organizer.id)


def test_a_second_tap_says_when_the_first_was(signed_in, db, race, ada):
    assert tap(signed_in, race, ada).status_code == 200
    clock.advance(timedelta(minutes=9))
    again = tap(signed_in, race, ada)
    assert again.status_code == 409
    assert "Already checked in at 7:42 AM." in text(again)
    assert checked_in_at(db, ada) == MORNING  # the first time stands


def test_a_check_in_from_the_day_before_names_the_day(signed_in, db, race):
    early = runner(db, race, race.ticket_types[0], "Early", "Bird", checked_in_at=MORNING - timedelta(days=1))
    response = tap(signed_in, race, early)
    assert response.status_code == 409 and "Already checked in at Fri 3 May, 7:42 AM." in text(response)


def test_undo_takes_the_check_in_back(signed_in, db, race, ada):
    tap(signed_in, race, ada)
    response = tap(signed_in, race, ada, undo=True)
    body = text(response)
    assert response.status_code == 200 and ">Check in<" in body and "<strong>0</strong> / 1" in body
    assert checked_in_at(db, ada) is None
    fields = list(db.session.scalars(select(RegistrationAudit.new_value).where(RegistrationAudit.registration_id == ada.id)
                                     .order_by(RegistrationAudit.id)))
    assert fields == [MORNING.isoformat(), ""]
    assert tap(signed_in, race, ada).status_code == 200  # and in again


def test_a_refunded_ticket_cannot_be_checked_in(signed_in, db, race):
    refunded = runner(db, race, race.ticket_types[0], "Ray", "Refund", status=OrderStatus.REFUNDED)
    partly = runner(db, race, race.ticket_types[0], "Pat", "Partial", refunded=True)
    for registration in (refunded, partly):
        response = tap(signed_in, race, registration)
        assert response.status_code == 422
        assert "This ticket was refunded, so it can't be checked in." in text(response)
        assert checked_in_at(db, registration) is None
    listed = text(signed_in.get(desk(race), query_string={"q": "refund"}))
    assert "Ray Refund" in listed and "Can't check in" in listed and f"/checkin/{refunded.ticket_code}\"" not in listed


def test_without_javascript_a_tap_posts_and_comes_back_to_the_search(signed_in, db, race, ada):
    response = tap(signed_in, race, ada, htmx=False, q="love")
    assert response.status_code == 303
    assert response.headers["Location"] == f"{desk(race)}?q=love#reg-{ada.id}"
    assert checked_in_at(db, ada) == MORNING
    assert "✓ In at 7:42 AM" in text(signed_in.get(response.headers["Location"]))


def test_without_javascript_a_refusal_is_said_in_the_runner_s_row_after_the_redirect(signed_in, db, race, ada):
    """The redirect that brings a form without JavaScript back to the desk once lost what the check-in said."""
    refunded = runner(db, race, race.ticket_types[0], "Ray", "Refund", status=OrderStatus.REFUNDED)
    response = tap(signed_in, race, refunded, htmx=False, q="refund")
    assert response.status_code == 303 and checked_in_at(db, refunded) is None
    page = text(signed_in.get(response.headers["Location"]))
    assert "This ticket was refunded, so it can't be checked in." in page
    assert "can't be checked in" not in text(signed_in.get(response.headers["Location"]))  # said once

    tap(signed_in, race, ada, htmx=False, q="love")
    again = tap(signed_in, race, ada, htmx=False, q="lovelace")
    listed = text(signed_in.get(again.headers["Location"]))
    assert "Already checked in at 7:42 AM." in listed and "Ray Refund" not in listed


def test_a_note_for_a_runner_the_search_no_longer_shows_is_said_above_the_list(signed_in, db, race, ada):
    refunded = runner(db, race, race.ticket_types[0], "Ray", "Refund", status=OrderStatus.REFUNDED)
    response = tap(signed_in, race, refunded, htmx=False)  # from a desk that searched for nothing
    assert response.headers["Location"] == f"{desk(race)}#reg-{refunded.id}"
    page = text(signed_in.get(response.headers["Location"]))
    assert "This ticket was refunded, so it can't be checked in." in page and "Ray Refund" not in page


def test_the_desk_takes_only_its_own_notes_and_leaves_other_pages_theirs(signed_in, db, race, ada):
    """Flask's get_flashed_messages takes every flash out of the session: the desk must leave the cart's notices
    (a sign-in that lands on the desk merges a guest cart and flashes them) for the cart page."""
    with signed_in.session_transaction() as session:
        session["_flashes"] = [("cart", "Your guest cart joined your account."), (f"checkin:{ada.id}", "Noted.")]
    assert "Noted." in text(signed_in.get(desk(race), query_string={"q": "love"}))
    with signed_in.session_transaction() as session:
        assert session["_flashes"] == [("cart", "Your guest cart joined your account.")]
    signed_in.get(desk(race))  # no note of its own: nothing taken
    with signed_in.session_transaction() as session:
        assert session["_flashes"] == [("cart", "Your guest cart joined your account.")]


def test_a_co_organizer_can_check_runners_in(app, db, race, ada):
    helper = make_profile(db, full_name="Vic Volunteer")
    add_co_organizer(db, race, helper)
    client = app.test_client()
    login(client, helper)
    assert tap(client, race, ada).status_code == 200 and checked_in_at(db, ada) == MORNING


# --- the QR link on the ticket ---------------------------------------------------------------

def test_an_organizer_opening_a_ticket_link_gets_one_big_check_in_button(signed_in, db, race, ada):
    page = text(signed_in.get(f"/tickets/{ada.ticket_code}"))
    assert "Ada Lovelace" in page and 'class="checkin-button checkin-button-large">Check in</button>' in page
    assert f'action="/manage/races/{race.id}/checkin/{ada.ticket_code}"' in page

    response = tap(signed_in, race, ada, view="ticket")
    body = text(response)
    assert response.status_code == 200 and body.lstrip().startswith('<div id="ticket-checkin"')
    assert "✓ Checked in at Sat 4 May 2030, 7:42 AM EDT" in body and "Undo check-in" in body

    again = tap(signed_in, race, ada, view="ticket")
    assert again.status_code == 409 and "Already checked in at 7:42 AM." in text(again)
    assert "✓ Checked in at Sat 4 May 2030, 7:42 AM EDT" in text(signed_in.get(f"/tickets/{ada.ticket_code}"))


def test_the_ticket_page_says_a_note_for_a_ticket_still_to_check_in(signed_in, db, race, ada):
    with signed_in.session_transaction() as session:
        session["_flashes"] = [(f"checkin:{ada.id}", "This ticket changed a moment ago.")]
    page = text(signed_in.get(f"/tickets/{ada.ticket_code}"))
    assert "This ticket changed a moment ago." in page and ">Check in</button>" in page


def test_the_ticket_button_without_javascript_comes_back_to_the_ticket(signed_in, db, race, ada):
    response = tap(signed_in, race, ada, view="ticket", htmx=False)
    assert response.status_code == 303 and response.headers["Location"] == f"/tickets/{ada.ticket_code}"
    assert checked_in_at(db, ada) == MORNING
    again = tap(signed_in, race, ada, view="ticket", htmx=False)
    assert "Already checked in at 7:42 AM." in text(signed_in.get(again.headers["Location"]))


@pytest.mark.parametrize("who", ["the runner", "another organizer", "signed out"])
def test_anyone_else_opening_the_ticket_link_sees_no_button(app, db, race, ada, who):
    visitor = app.test_client()
    if who == "the runner":
        login(visitor, make_profile(db, email="ada@example.com"))
    elif who == "another organizer":
        other = make_profile(db)
        organized_race(db, other)
        login(visitor, other)
    response = visitor.get(f"/tickets/{ada.ticket_code}")
    page = text(response)
    assert response.status_code == 200 and "Ada Lovelace" in page
    assert "Check in" not in page and "/checkin/" not in page
    forged = visitor.post(f"{desk(race)}/{ada.ticket_code}", data={"csrf_token": csrf_token(visitor, "/")})
    assert forged.status_code in (303, 403)
    assert checked_in_at(db, ada) is None


def test_an_organizer_opening_a_refunded_ticket_gets_no_button(signed_in, db, race):
    refunded = runner(db, race, race.ticket_types[0], "Ray", "Refund", status=OrderStatus.REFUNDED)
    page = text(signed_in.get(f"/tickets/{refunded.ticket_code}"))
    assert "refunded and is no longer valid" in page and "checkin-button" not in page


def test_two_volunteers_tapping_the_same_runner_at_once_check_in_once(db, race, ada, organizer):
    # Both desks loaded the runner before either tapped: each holds a copy that says "not checked in".
    first = query.registration_by_code(db.session, race.id, ada.ticket_code)
    db.session.expunge_all()
    second = query.registration_by_code(db.session, race.id, ada.ticket_code)
    assert first.registration.checked_in_at is None and second.registration.checked_in_at is None

    checkin.check_in(db.session, first, organizer.id, MORNING)
    with pytest.raises(checkin.AlreadyCheckedIn) as already:
        checkin.check_in(db.session, second, organizer.id, MORNING + timedelta(seconds=3))
    assert already.value.at == MORNING
    db.session.rollback()
    assert checked_in_at(db, ada) == MORNING
    assert len(list(db.session.scalars(select(RegistrationAudit).where(RegistrationAudit.registration_id == ada.id)))) == 1



@pytest.mark.parametrize("change", ["refunded", "transferred"])
def test_a_ticket_refunded_or_transferred_after_the_desk_looked_it_up_is_not_checked_in(db, race, ada, organizer,
                                                                                          change):
    """The desk loaded the runner, then the ticket was refunded (or given to someone else, a new code) before the
    tap: the tap says so and checks nobody in."""
    looked_up = query.registration_by_code(db.session, race.id, ada.ticket_code)
    db.session.expunge_all()
    if change == "refunded":
        db.session.execute(update(Registration).where(Registration.id == ada.id).values(refunded_at=MORNING))
        recount_race(db, race)
    else:
        db.session.execute(update(Registration).where(Registration.id == ada.id).values(ticket_code="NEWCODE2"))
    db.session.commit()

    with pytest.raises(checkin.CheckInRefused) as refused:
        checkin.check_in(db.session, looked_up, organizer.id, MORNING)
    assert ("refunded" if change == "refunded" else "transferred") in str(refused.value)
    assert checked_in_at(db, ada) is None

# --- the app's Check-in shortcut -------------------------------------------------------------

def test_the_check_in_shortcut_opens_the_desk_of_the_race_on_now_or_next(client, db, organizer):
    login(client, organizer)
    at = {"yesterday": MORNING - timedelta(days=1), "three days ago": MORNING - timedelta(days=3),
          "today at nine": MORNING + timedelta(hours=1, minutes=18), "next month": MORNING + timedelta(days=30)}
    races = {name: organized_race(db, organizer, starts_at=when) for name, when in at.items()}
    assert client.get("/manage/checkin").headers["Location"] == desk(races["today at nine"])
    db.session.delete(races["today at nine"])
    db.session.commit()
    assert client.get("/manage/checkin").headers["Location"] == desk(races["yesterday"])  # its desk is still open


def test_the_shortcut_skips_races_whose_roster_a_phone_has_forgotten(client, db, organizer):
    login(client, organizer)
    organized_race(db, organizer, starts_at=MORNING - timedelta(days=3))  # race day + 3: a phone forgot it
    assert client.get("/manage/checkin").headers["Location"] == "/manage/"
    later = organized_race(db, organizer, starts_at=MORNING + timedelta(days=90))
    assert client.get("/manage/checkin").headers["Location"] == desk(later)
    other = make_profile(db)
    login(client, other)  # another organizer's races are never theirs to open
    assert client.get("/manage/checkin").headers["Location"] == "/manage/"


def test_the_shortcut_asks_a_visitor_to_sign_in_first(client, db):
    response = client.get("/manage/checkin")
    assert response.status_code in (302, 303) and "/auth/sign-in" in response.headers["Location"]
