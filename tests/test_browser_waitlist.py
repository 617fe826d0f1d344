"""The waitlist in a real browser at phone width: a sold-out race page, joining (with htmx, and without
JavaScript), a refund frees a spot, the offer job runs, the offer link from the email, Accept, and the cart."""
import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import Profile, WaitlistEntry
from services.waitlist_offers import run_offers
from tests.browser import follow, page_at, screenshot
from tests.test_browser_manage import browser_login
from tests.waitlist_factories import emails_to, in_line, refund_one, sold_out_race

pytestmark = pytest.mark.browser


def offer_path(db, address: str) -> str:
    [offer] = emails_to(db, address, "waitlist_offer")
    return re.search(r"https?://[^/\s]+(/waitlist/offer/\S+)", offer.text_body).group(1)


def test_join_a_sold_out_race_get_the_offer_after_a_refund_accept_and_land_in_the_cart(live_server, page, db):
    race, ten_k, orders = sold_out_race(db, slug="lakeside", title="Lakeside Spring 10K")
    page.goto(f"{live_server.url}/races/lakeside")
    expect(page.get_by_text("Sold out")).to_be_visible()
    join = page.locator("#waitlist")
    join.get_by_label("Your name").fill("Wanda Waiting")
    join.get_by_label("Email address").fill("wanda@example.com")
    join.get_by_label("How many spots").select_option("1")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "waitlist-join-390")
    join.get_by_role("button", name="Join the waitlist").click()
    page.get_by_text("You're number 1 in line for the 10K").wait_for()
    assert page.url.endswith("/races/lakeside")                      # htmx swapped the section in place

    refund_one(db, orders[0])                                          # a spot frees up…
    assert run_offers(db.session, datetime.now(UTC)).offered == 1      # …and the worker's job offers it

    page.goto(live_server.url + offer_path(db, "wanda@example.com"))
    page.get_by_text("1 spot in the 10K").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "waitlist-offer-390")
    follow(page, page.get_by_role("button", name="Accept"))
    page.wait_for_url("**/races/lakeside/cart")
    page.locator("#cart-badge .cart-count").filter(has_text="1").wait_for()
    expect(page.get_by_text("sold out", exact=False)).to_have_count(0)
    screenshot(page, "waitlist-cart-390")
    entry = db.session.scalar(select(WaitlistEntry).execution_options(populate_existing=True))
    assert entry.order_id is not None


def test_the_organizers_waitlist_tab_at_phone_and_desk_width(live_server, page, app, db):
    race, ten_k, orders = sold_out_race(db, slug="lakeside", title="Lakeside Spring 10K")
    for n, name in enumerate(["Wanda Waiting", "Bert Behind", "Carla Later"]):
        in_line(db, race, ten_k, datetime.now(UTC), email=f"{name.split()[0].lower()}@example.com", name=name,
                spots=n + 1)
    refund_one(db, orders[0])
    run_offers(db.session, datetime.now(UTC))
    browser_login(page, live_server, app, db.session.get(Profile, race.organizer_id))
    page.goto(f"{live_server.url}/manage/races/{race.id}/waitlist")
    page.get_by_text("2 waiting · 0 spots free for offers").wait_for()
    screenshot(page, "waitlist-manage-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390   # the table scrolls inside its box
    page.get_by_role("button", name="Pause offers").click()
    page.get_by_text("Offers are paused:").wait_for()
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, "waitlist-manage-1280")


def test_without_javascript_the_join_form_posts_and_answers(live_server, chromium, db):
    sold_out_race(db, slug="lakeside", title="Lakeside Spring 10K")
    with page_at(chromium, 390, height=844, java_script_enabled=False) as page:
        page.goto(f"{live_server.url}/races/lakeside")
        page.get_by_label("Your name").fill("Nora Noscript")
        page.get_by_label("Email address").fill("not-an-address")
        page.get_by_role("button", name="Join the waitlist").click()
        page.get_by_text("Enter a full email address").wait_for()         # the 422 page, values kept
        expect(page.get_by_label("Your name")).to_have_value("Nora Noscript")
        page.get_by_label("Email address").fill("nora@example.com")
        page.get_by_role("button", name="Join the waitlist").click()
        page.get_by_text("You're number 1 in line").wait_for()
