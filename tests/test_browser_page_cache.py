"""A visitor with no cookie at all, in a real browser at phone width: the race page sets none and is
public, Add to cart and Join the waitlist work without a CSRF token (the browser's Sec-Fetch-Site vouches)."""
import pytest

from tests.browser import follow
from tests.factories import make_order, make_race

pytestmark = pytest.mark.browser


def test_a_cookieless_visitor_adds_to_the_cart_and_joins_a_waitlist(live_server, page, db):
    race = make_race(db, slug="lakeside", title="Lakeside Spring 10K", tickets=[("10K", 4500, 1), ("5K", 3500, 40)])
    make_order(db, race, race.ticket_types[0], 1)  # the 10K is sold out
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))

    response = page.goto(f"{live_server.url}/races/lakeside")
    assert response.headers["cache-control"] == "public, max-age=5"
    assert page.context.cookies() == []
    waitlist = page.locator("#waitlist")
    waitlist.get_by_label("Your name").fill("Wanda Waiting")
    waitlist.get_by_label("Email address").fill("wanda@example.com")
    waitlist.get_by_role("button", name="Join the waitlist").click()
    page.get_by_role("heading", name="You're on the waitlist").wait_for()
    assert page.context.cookies() == []  # joining a line needs no cookie either

    page.get_by_label("How many 5K tickets").select_option("2")
    follow(page, page.get_by_role("button", name="Add to cart"))
    page.wait_for_url("**/races/lakeside/cart")
    page.locator("#cart-badge .cart-count").filter(has_text="2").wait_for()
    assert "startline_cart" in [c["name"] for c in page.context.cookies()]  # (the cart page's forms then start a session)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert problems == []
