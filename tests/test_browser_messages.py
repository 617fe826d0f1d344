"""Messages to runners in a real browser at phone width: write, preview, test, send; a runner unsubscribes."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from models import OutboxMessage, RaceMessage
from tests.browser import open_page, screenshot
from tests.factories import make_profile
from tests.registrant_factories import organized_race, runner
from tests.test_browser_manage import browser_login

pytestmark = pytest.mark.browser


def test_an_organizer_sends_a_message_and_a_runner_who_unsubscribes_is_skipped_next_time(
        live_server, page, app, db):
    organizer = make_profile(db, full_name="Olga Organizer", email="olga@example.com")
    race = organized_race(db, organizer, slug="lake-10k", title="Lake 10K")
    ten_k, five_k = race.ticket_types
    runner(db, race, ten_k, "Ann", email="ann@example.com")
    runner(db, race, five_k, "Bob", email="bob@example.com")
    browser_login(page, live_server, app, organizer)

    page.goto(f"{live_server.url}/manage/races/{race.id}/messages")
    assert page.get_by_text("No messages sent yet.").is_visible()
    page.get_by_label("Subject").fill("Packet pick-up")
    page.get_by_role("textbox", name="Message").fill("Pick up your bib **Friday 4-8 pm** at the boathouse.\n\n"
                                                     "- Bring your QR code")
    page.get_by_label("Ticket type").select_option(label="5K")
    page.get_by_text("1 person will get it").wait_for()
    page.get_by_label("Ticket type").select_option(label="Every ticket type")
    page.get_by_text("2 people will get it").wait_for()

    page.get_by_role("button", name="Preview").click()
    frame = page.frame_locator("iframe[title='Email preview']")
    frame.get_by_text("Hi Ann,").wait_for()
    assert frame.locator("strong", has_text="Friday 4-8 pm").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    screenshot(page, "messages-preview-390")

    page.get_by_role("button", name="Send me a test").click()
    page.get_by_text("A test is on its way to olga@example.com").wait_for()
    page.get_by_role("button", name="Send to 2 runners…").click()
    page.get_by_role("heading", name="Send to 2 runners?").wait_for()
    screenshot(page, "messages-confirm-390")
    page.get_by_role("button", name="Send to 2 runners", exact=True).click()
    page.get_by_text("Queued for 2 people").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    screenshot(page, "messages-sent-390")

    first = db.session.scalar(select(RaceMessage))
    ann = db.session.scalar(select(OutboxMessage).where(OutboxMessage.message_id == first.id,
                                                        OutboxMessage.to_address == "ann@example.com"))
    link = re.search(r"Stop messages about Lake 10K: (\S+)", ann.text_body).group(1)

    runner_page = open_page(page.context.browser)
    runner_page.goto(live_server.url + urlsplit(link).path)
    runner_page.get_by_role("heading", name="Stop messages about Lake 10K?").wait_for()
    runner_page.get_by_role("button", name="Unsubscribe").click()
    runner_page.get_by_role("heading", name="You're unsubscribed").wait_for()
    screenshot(runner_page, "messages-unsubscribed-390")
    runner_page.context.close()

    page.goto(f"{live_server.url}/manage/races/{race.id}/messages")
    assert page.get_by_text("1 unsubscribed, not included").is_visible()
    page.get_by_label("Subject").fill("Course map")
    page.get_by_role("textbox", name="Message").fill("The map is up.")
    page.get_by_role("button", name="Send to 1 runner…").click()
    page.get_by_role("button", name="Send to 1 runner", exact=True).click()
    page.get_by_text("Queued for 1 person").wait_for()

    second = db.session.scalar(select(RaceMessage).where(RaceMessage.subject == "Course map"))
    assert list(db.session.scalars(select(OutboxMessage.to_address).where(OutboxMessage.message_id == second.id))) \
        == ["bob@example.com"]
    page.goto(f"{live_server.url}/manage/races/{race.id}/messages")
    assert page.locator(".sent-card").count() == 2
    screenshot(page, "messages-tab-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, "messages-tab-1280")
