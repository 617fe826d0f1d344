"""The cart's *Email me a link* tab in a real browser at phone width: a visitor with no account fills in the
runner, asks for a sign-in link, and following it lands back on the cart, signed in, the runner still there."""
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import OutboxMessage
from services import race_editing
from tests.browser import card, fill_runner, screenshot
from tests.factories import make_race

pytestmark = pytest.mark.browser


@pytest.fixture
def race(app, db):
    race = make_race(db, slug="lakeside", title="Lakeside Spring 10K", tickets=[("10K", 4500, 300)])
    race_editing.set_waiver_text(db.session, race, race_editing.SAMPLE_WAIVER)
    db.session.commit()
    return race


def test_a_visitor_asks_for_a_sign_in_link_from_the_cart_and_comes_back_signed_in(live_server, page, app, db, race):
    app.config["SITE_URL"] = live_server.url
    problems = []
    page.on("console", lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{live_server.url}/races/lakeside")
    page.get_by_label("How many 10K tickets").select_option("1")
    page.get_by_role("button", name="Add to cart").click()
    page.locator("#cart-badge .cart-count").filter(has_text="1").wait_for()
    page.goto(f"{live_server.url}/races/lakeside/cart")
    fill_runner(card(page, 1), "Vic", "Visitor", "vic@example.com")  # saved by the link's click
    page.locator("#account").get_by_role("link", name="Email me a link").click()
    account = page.locator("#account")
    expect(account.get_by_role("link", name="Email me a link")).to_have_attribute("aria-current", "page")
    expect(account.get_by_label("Password")).to_have_count(0)
    fill_runner(card(page, 1), "Vic", "Visitor", "vic@example.com")  # the tab is a link: a new page
    account.get_by_label("Email").fill("vic@example.com")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "cart-guest-link-390")
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    page.get_by_text("We sent a sign-in link to vic@example.com").wait_for()

    db.session.expire_all()
    body = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == "vic@example.com")).one().text_body
    link = urlsplit(re.search(r"(http\S+token_hash=\S+)", body).group(1))
    page.goto(f"{live_server.url}{link.path}?{link.query}")
    page.wait_for_url(re.compile(r".*/races/lakeside/cart\?cart=[\w.-]+$"))  # the link carries the cart
    page.get_by_role("button", name="Continue to payment").wait_for()
    page.get_by_text("Vic Visitor · Ready").wait_for()
    assert problems == []
