"""Runners who fill in their own details, in Chromium: signing the waiver at the desk on a phone, with and
without JavaScript, and the registrant list and page showing who still has to (screenshots at 390 and 1280 px)."""
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from models import Registration
from tests.browser import contrast_ratio, page_at, screenshot
from tests.factories import make_profile
from tests.registrant_factories import awaiting_runner, organized_race, runner
from tests.test_browser_manage import browser_login

pytestmark = pytest.mark.browser
TOO_OLD = "Runners in the Kids 2K must be 12 or younger on race day (this runner will be 14)."


@pytest.fixture
def race_day(db):
    organizer = make_profile(db, full_name="Olga Organizer")
    race = organized_race(db, organizer, title="Lake 10K", tickets=[("10K", 4500, 300), ("Kids 2K", 1000, 100)])
    ten, kids = race.ticket_types
    runner(db, race, ten, "Ada", "Lovelace", bib=1001, club="Analytical Runners", city="London", country="UK")
    runner(db, race, ten, "Grace", "Hopper", bib=1002)
    now = datetime.now(UTC)
    awaiting_runner(db, race, ten, "Fay", "Friend", bib=1003, email="fay.friend@example.com",
                    invite_sent_at=now - timedelta(days=4), invite_reminded_at=now - timedelta(days=1),
                    invite_reminders=1)
    awaiting_runner(db, race, kids, "Kim", "Kid", details_problem=TOO_OLD)
    return organizer, race


def test_a_runner_signs_the_waiver_at_the_desk_on_a_phone(live_server, page, app, db, race_day):
    organizer, race = race_day
    browser_login(page, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}/checkin")
    page.get_by_role("searchbox").fill("friend")
    row = page.locator(".checkin-row").filter(has_text="Fay Friend")
    row.wait_for()
    assert "Waiver not signed" in row.inner_text() and row.get_by_role("button", name="Check in").count() == 0
    screenshot(page, "checkin-unsigned-390")
    assert contrast_ratio(row.get_by_role("button", name="Sign waiver")) >= 4.5  # bold 17.6 px is not "large" text

    row.get_by_role("button", name="Sign waiver").click()  # htmx: the row becomes the signing form
    form = page.locator(".checkin-sign")
    form.get_by_label("Signature: type your full name").wait_for()
    assert page.url.endswith("/checkin?q=friend")  # still the desk
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    form.get_by_label("Signature: type your full name").fill("Fay Fiend")
    form.get_by_role("button", name="Sign and check in").click()
    form.locator(".field-error").filter(has_text="Tick the box").wait_for()
    expect(form.locator(".field-error").filter(has_text="must match the runner's name: Fay Friend")).to_be_visible()
    screenshot(page, "checkin-sign-errors-390")

    accepted = form.get_by_label("Fay has read the waiver above and accepts it")
    accepted.check()
    form.get_by_label("Signature: type your full name").fill("Fay Friend")
    expect(accepted).to_have_css("background-color", "rgb(11, 110, 79)")  # ticked reads as ticked, after the error
    screenshot(page, "checkin-sign-390")
    form.get_by_role("button", name="Sign and check in").click()
    done = page.locator(".checkin-row.is-in").filter(has_text="Fay Friend")
    done.wait_for()
    assert "Waiver signed. Checked in." in done.inner_text()
    expect(page.locator("#checkin-counter strong")).to_have_text("1")
    screenshot(page, "checkin-signed-390")
    db.session.expire_all()
    fay = db.session.query(Registration).filter_by(last_name="Friend").one()
    assert fay.waiver_signed_at_checkin and fay.waiver_signature == "Fay Friend" and fay.checked_in_at is not None


def test_signing_at_the_desk_without_javascript(live_server, chromium, app, db, race_day):
    organizer, race = race_day
    with page_at(chromium, 390, height=844, java_script_enabled=False) as page:
        browser_login(page, live_server, app, organizer)
        page.goto(f"{live_server.url}/manage/races/{race.id}/checkin?q=kid")
        page.get_by_role("button", name="Sign waiver").click()
        page.get_by_role("heading", name="Sign the waiver: Kim Kid").wait_for()
        page.get_by_label("Kim has read the waiver above and accepts it").check()
        page.get_by_label("A parent or guardian is signing").check()
        page.get_by_label("Parent or guardian's full name").fill("Pat Parent")
        page.get_by_label("Signature: type your full name").fill("Pat Parent")
        page.get_by_role("button", name="Sign and check in").click()
        page.locator(".checkin-row.is-in").filter(has_text="Kim Kid").wait_for()
        assert page.url.endswith(f"/checkin?q=kid#reg-{db.session.query(Registration).filter_by(last_name='Kid').one().id}")


@pytest.mark.parametrize("width", [390, 1280])
def test_the_list_and_page_of_a_runner_still_to_fill_in(live_server, chromium, app, db, race_day, width):
    organizer, race = race_day
    with page_at(chromium, width) as page:
        browser_login(page, live_server, app, organizer)
        page.goto(f"{live_server.url}/manage/races/{race.id}/registrants")
        page.locator(".registrants-table").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        expect(page.locator(".registrants-table .status-waiting")).to_have_count(2)
        expect(page.locator(".details-problem")).to_have_text(TOO_OLD)
        screenshot(page, f"registrants-pending-{width}")

        page.get_by_role("link", name="2 waiting for their runner's details").click()
        expect(page.get_by_label("Runner's details", exact=True)).to_have_value("pending")
        expect(page.locator(".registrants-table tbody tr")).to_have_count(2)

        page.get_by_role("link", name="Friend, Fay").click()
        page.get_by_role("heading", name="Waiting for the runner's details").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"registrant-pending-{width}")
        page.goto(f"{live_server.url}/manage/races/{race.id}/registrants")
        page.get_by_role("link", name="Kid, Kim").click()
        page.get_by_role("heading", name="Waiting for the runner's details").wait_for()
        screenshot(page, f"registrant-pending-problem-{width}")
        page.goto(f"{live_server.url}/manage/races/{race.id}/dashboard")
        expect(page.locator("#awaiting-runners")).to_contain_text("2 registrations waiting for runners' details")
        screenshot(page, f"dashboard-pending-{width}")


def test_the_sign_form_at_desk_width(live_server, chromium, app, db, race_day):
    organizer, race = race_day
    with page_at(chromium, 1280) as page:
        browser_login(page, live_server, app, organizer)
        fay = db.session.query(Registration).filter_by(last_name="Friend").one()
        page.goto(f"{live_server.url}/manage/races/{race.id}/checkin/{fay.ticket_code}/sign?q=fay")
        page.get_by_role("heading", name="Sign the waiver: Fay Friend").wait_for()
        screenshot(page, "checkin-sign-1280")
