"""In Chromium on a phone: a runner transfers their ticket (the fee paid on the test gateway) and the new runner's
link works; an organizer changes a runner's distance from the registrant page."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from models import Profile
from tests.browser import screenshot
from tests.change_factories import make_change_race, outbox, paid_ticket
from tests.factories import make_profile
from tests.runner_invite_factories import LINK
from tests.test_browser_cart import browser_login

pytestmark = pytest.mark.browser


def test_a_runner_pays_the_fee_and_transfers_and_the_new_runners_link_works(live_server, page, app, db):
    app.config["SITE_URL"] = live_server.url  # the test gateway's page is on this site
    race = make_change_race(db, fee=500, title="Lakeside Spring 10K")
    ticket = paid_ticket(db, race)
    runner = make_profile(db, email="ada@example.com", full_name="Ada Lovelace")
    ticket.runner_profile_id = runner.id  # the ticket is in the runner's own account
    db.session.commit()
    browser_login(page, live_server, app, runner)
    old_code = ticket.ticket_code

    page.goto(f"{live_server.url}/tickets/{old_code}")
    page.get_by_role("link", name="Transfer or change distance").click()
    expect(page.get_by_role("heading", name="Transfer to another runner")).to_be_visible()
    page.get_by_label("New runner's first name").fill("Bo")
    page.get_by_label("Last name").fill("Lee")
    page.get_by_label("Their email").fill("bo@example.com")
    screenshot(page, "ticket-change-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_role("button", name="Pay $5.00 and transfer").click()

    expect(page.get_by_text("Test mode: no card is charged.")).to_be_visible()
    expect(page.get_by_text("Transfer fee")).to_be_visible()
    page.get_by_role("button", name="Pay $5.00").click()
    expect(page.get_by_text("The ticket now belongs to Bo Lee")).to_be_visible()
    screenshot(page, "ticket-change-done-390")

    invite = next(m for m in outbox(db, "runner_invite") if "bo@example.com" in m.to_address)
    link = LINK.search(invite.text_body).group(0)
    page.goto(live_server.url + "/runner-details/" + link.rsplit("/runner-details/", 1)[1])
    expect(page.get_by_role("heading", name="Fill in your details")).to_be_visible()
    expect(page.get_by_label("First name")).to_have_value("Bo")
    response = page.goto(f"{live_server.url}/tickets/{old_code}")
    assert response.status == 410  # the old code stopped working


def test_an_organizer_changes_a_runners_distance_from_the_registrant_page(live_server, page, app, db):
    race = make_change_race(db, title="Lakeside Spring 10K")
    ticket = paid_ticket(db, race)
    browser_login(page, live_server, app, db.session.get(Profile, race.organizer_id))
    page.goto(f"{live_server.url}/manage/races/{race.id}/registrants/{ticket.id}")
    expect(page.get_by_role("heading", name="Transfer or change distance")).to_be_visible()
    page.get_by_label("Half").check()
    screenshot(page, "registrant-change-390")
    page.get_by_role("button", name="Change distance").click()
    expect(page.get_by_text("changed the distance from")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, "registrant-change-1280")
