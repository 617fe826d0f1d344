"""On a phone: every race tab is in sight, and the header says who is signed in and shows the cart."""
import pytest

from tests.browser import screenshot
from tests.factories import make_profile, make_race
from tests.test_browser_manage import browser_login

pytestmark = pytest.mark.browser


def in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width and box["width"] > 0


@pytest.mark.parametrize("width", [320, 390, 1280])
def test_every_race_tab_and_the_signed_in_organizer_are_in_sight(live_server, page, app, db, width):
    organizer = make_profile(db, full_name="Olga Organizer-Castellanos")
    race = make_race(db, organizer=organizer, title="Lakeside Spring 5K & 10K")
    browser_login(page, live_server, app, organizer)
    page.set_viewport_size({"width": width, "height": 844})

    page.goto(f"{live_server.url}/manage/races/{race.id}/dashboard")

    tabs = page.locator(".race-tabs a")
    assert tabs.count() == 8  # Dashboard, Registrants, Check-in, Waitlist, Messages, Codes, Edit race, Team
    for i in range(tabs.count()):
        assert in_viewport(page, tabs.nth(i)), tabs.nth(i).inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for text in ("Olga", "Cart", "Organize"):
        assert in_viewport(page, page.locator("header").get_by_text(text, exact=False).first), text
    screenshot(page, f"manage-tabs-{width}")


def test_the_account_menu_says_who_is_signed_in_and_signs_out(live_server, page, app, db):
    runner = make_profile(db, full_name="Rosalind Runner", email="rosalind@example.com")
    make_race(db, slug="lake")
    browser_login(page, live_server, app, runner)

    page.goto(f"{live_server.url}/races/lake")
    assert page.locator("header").get_by_text("Organize").count() == 0
    page.locator("summary", has_text="Account menu, signed in as Rosalind Runner").click()
    assert page.get_by_text("rosalind@example.com").is_visible()
    assert page.get_by_role("link", name="Host a race").is_visible()
    screenshot(page, "account-menu-390")
    page.get_by_role("button", name="Sign out").click()

    page.get_by_role("link", name="Sign in").wait_for()
