"""Race morning on a phone: find a runner, tap Check in, watch the counter go up; the registrant list at two widths."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import OrderStatus, Registration
from tests.browser import page_at, screenshot
from tests.factories import make_profile
from tests.registrant_factories import many_paid_runners, organized_race, runner
from tests.test_browser_manage import browser_login

pytestmark = pytest.mark.browser


@pytest.fixture
def race_day(db):
    organizer = make_profile(db, full_name="Olga Organizer")
    race = organized_race(db, organizer, title="Lake 10K")
    ten, five = race.ticket_types
    runner(db, race, ten, "Ada", "Lovelace", bib=1001, email="ada.lovelace@analytical-engine.example")
    runner(db, race, ten, "Grace", "Hopper", bib=1002)
    runner(db, race, five, "Zoë", "Núñez-Brontë", bib=2001)
    runner(db, race, five, "Alan", "Turing")
    runner(db, race, ten, "Ray", "Refund", status=OrderStatus.REFUNDED)
    return organizer, race


def test_checking_a_runner_in_on_a_phone(live_server, page, app, db, race_day):
    organizer, race = race_day
    browser_login(page, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}/checkin")
    counter = page.locator("#checkin-counter")
    assert " ".join(counter.inner_text().split()) == "0 / 4 checked in"

    page.get_by_role("searchbox").fill("lovel")
    row = page.locator(".checkin-row").filter(has_text="Ada Lovelace")
    row.wait_for()
    assert page.locator(".checkin-row").count() == 1
    screenshot(page, "checkin-search-390")

    row.get_by_role("button", name="Check in").click()
    page.locator(".checkin-row.is-in").filter(has_text="Ada Lovelace").wait_for()
    expect(counter.locator("strong")).to_have_text("1")
    assert " ".join(counter.inner_text().split()) == "1 / 4 checked in"
    assert "In at" in row.inner_text()
    screenshot(page, "checkin-done-390")

    # A refunded ticket shows up, but there is nothing to tap.
    page.get_by_role("searchbox").fill("refund")
    refunded = page.locator(".checkin-row").filter(has_text="Ray Refund")
    refunded.wait_for()
    assert "Can't check in" in refunded.inner_text() and refunded.get_by_role("button").count() == 0
    screenshot(page, "checkin-refunded-390")


def test_scanning_a_ticket_qr_code_as_the_organizer(live_server, page, app, db, race_day):
    organizer, race = race_day
    grace = db.session.query(Registration).filter_by(last_name="Hopper").one()
    browser_login(page, live_server, app, organizer)
    page.goto(f"{live_server.url}/tickets/{grace.ticket_code}")
    screenshot(page, "ticket-organizer-390")
    page.get_by_role("button", name="Check in").click()
    page.locator(".ticket-checked-in").filter(has_text="Checked in at").wait_for()
    screenshot(page, "ticket-checkin-390")


@pytest.mark.parametrize("width", [390, 1280])
def test_registrant_list_at_phone_and_desk_widths(live_server, chromium, app, db, race_day, width):
    organizer, race = race_day
    with page_at(chromium, width) as page:
        browser_login(page, live_server, app, organizer)
        page.goto(f"{live_server.url}/manage/races/{race.id}/registrants")
        page.locator(".registrants-table").wait_for()
        # Nothing sticks out sideways on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"registrants-{width}")

        page.get_by_role("searchbox", name="Search").fill("zo")
        expect(page.locator(".registrants-table tbody tr")).to_have_count(1)
        assert "q=zo" in page.url  # the search is in the address, so it can be bookmarked
        assert "Núñez-Brontë" in page.locator(".registrants-table").inner_text()

        bib = page.get_by_label("Bib for Zoë Núñez-Brontë")
        bib.fill("1001")
        bib.press("Tab")
        page.locator(".bib-state .field-error").filter(has_text="already taken by Ada Lovelace").wait_for()
        screenshot(page, f"registrants-bib-taken-{width}")

        page.goto(f"{live_server.url}/manage/races/{race.id}/registrants")
        page.get_by_role("link", name="Lovelace, Ada").click()
        page.get_by_role("heading", name="Ada Lovelace").wait_for()
        screenshot(page, f"registrant-{width}")


def test_assigning_a_bib_range_refreshes_the_list_below(live_server, page, app, db, race_day):
    organizer, race = race_day
    browser_login(page, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}/registrants")
    page.get_by_text("Assign bib numbers").click()
    page.get_by_label("Ticket", exact=True).last.select_option(label="5K")
    page.get_by_label("From").fill("2000")
    page.get_by_label("To").fill("2999")
    page.get_by_role("button", name="Assign bibs").click()
    page.locator("#assign-bibs .notice-success").filter(has_text="Gave 1 5K runner bib 2000.").wait_for()
    # Alan Turing had no bib; 2001 was Zoë's already, so he gets 2000, and the table shows it without a reload.
    expect(page.get_by_label("Bib for Alan Turing")).to_have_value("2000")


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("runners", [0, 1, 60])
def test_registrant_list_with_none_one_and_many_runners(live_server, chromium, app, db, width, runners):
    organizer = make_profile(db, full_name="Olga Organizer")
    race = organized_race(db, organizer, title="Lake 10K")
    ten = race.ticket_types[0]
    if runners:
        runner(db, race, ten, "Zoë", "Ångström", bib=7)
    if runners > 1:
        many_paid_runners(db, race, ten, runners - 1)
    runner(db, race, ten, "Ray", "Refund", status=OrderStatus.REFUNDED)
    with page_at(chromium, width) as page:
        browser_login(page, live_server, app, organizer)
        page.goto(f"{live_server.url}/manage/races/{race.id}/registrants")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        # The default status filter says whom it leaves out, and links to them.
        assert "Not shown by the status filter: 1 refunded" in page.locator(".status-note").inner_text()
        if runners == 1:
            expect(page.get_by_label("Bib for Zoë Ångström")).to_have_value("7")
        if runners > 1:
            expect(page.get_by_label("Bib for Bulk00000 Runner")).to_have_attribute("placeholder", "Add bib")
        screenshot(page, f"registrants-{runners}-runners-{width}")
        page.get_by_role("link", name="1 refunded").click()
        expect(page.get_by_label("Status")).to_have_value("refunded")
        expect(page.locator(".registrants-table tbody tr")).to_have_count(1)  # retried: the new page may still be parsing


def test_the_registrant_list_in_spanish_on_a_phone(live_server, chromium, app, db, race_day):
    organizer, race = race_day
    with page_at(chromium, 390) as page:
        browser_login(page, live_server, app, organizer)
        # The switcher's cookie, so the list's htmx requests are in Spanish too (?lang= names one page only).
        page.context.add_cookies([{"name": "sl_lang", "value": "es", "url": live_server.url}])
        page.goto(f"{live_server.url}/manage/races/{race.id}/registrants")
        page.locator(".registrants-table").wait_for()
        assert page.locator("html").get_attribute("lang") == "es"
        page.get_by_role("heading", name="Inscritos").wait_for()
        summary = " ".join(page.locator("#results-summary").inner_text().split())
        assert summary == "4 inscritos pagados"
        assert "Descargar CSV" in page.locator(".csv-links").inner_text()
        # Longer Spanish words don't push the page sideways on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(page, "es-registrants-390")

        page.get_by_role("searchbox", name="Buscar").fill("zo")
        expect(page.locator(".registrants-table tbody tr")).to_have_count(1)
        summary = " ".join(page.locator("#results-summary").inner_text().split())
        assert summary == "1 inscrito pagado coincide con estos filtros"
        screenshot(page, "es-registrants-search-390")


@pytest.mark.parametrize("width", [390, 1280])
def test_a_correction_over_details_changed_since_shows_them_and_saves_nothing(live_server, chromium, app, db, race_day,
                                                                               width):
    """The organizer opened Ada's correction form; meanwhile her ticket went to Bo (a transfer). Saving shows the
    notice and the form with Bo's details, in place (htmx swaps the 409), and Ada is not written back."""
    from sqlalchemy import update

    organizer, race = race_day
    ada = db.session.scalar(select(Registration).where(Registration.last_name == "Lovelace"))
    with page_at(chromium, width) as page:
        browser_login(page, live_server, app, organizer)
        page.goto(f"{live_server.url}/manage/races/{race.id}/registrants/{ada.id}")
        page.get_by_text("Correct these details").click()
        db.session.execute(update(Registration).where(Registration.id == ada.id)
                           .values(first_name="Bo", last_name="Lee", email="bo@example.com"))
        db.session.commit()
        page.get_by_label("T-shirt size").select_option("L")
        page.get_by_role("button", name="Save changes").click()
        notice = page.get_by_role("alert").filter(has_text="These details changed since you opened the form")
        notice.wait_for()
        expect(page.get_by_label("First name", exact=True)).to_have_value("Bo")
        expect(page.get_by_text("Please fix the fields marked below")).to_have_count(0)  # no field is marked
        expect(page.get_by_role("heading", level=1)).to_have_text("Bo Lee")  # the name on top, swapped with the form
        expect(page.locator("#registrant-head")).to_have_count(1)
        expect(page.locator(".breadcrumb")).to_contain_text("Bo Lee")
        expect(page).to_have_title(re.compile(r"^Bo Lee · "))
        assert page.evaluate("document.querySelectorAll('title').length") == 1  # taken from the answer, not swapped in
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"registrant-changed-since-{width}")
    db.session.expire_all()
    saved = db.session.get(Registration, ada.id)
    assert (saved.first_name, saved.tshirt_size) == ("Bo", "M")
