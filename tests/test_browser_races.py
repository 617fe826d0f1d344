"""The public pages in a real browser: active search, and the pages at phone and desktop sizes."""
import pytest

from tests.browser import page_at, screenshot
from tests.factories import make_race

pytestmark = pytest.mark.browser


def test_typing_in_search_filters_the_list_without_a_reload(live_server, page, db):
    make_race(db, title="Harbour Night Run", location_name="Canary Wharf")
    make_race(db, title="Sacred Valley Trail Half", location_name="Ollantaytambo")
    page.goto(live_server.url + "/")
    page.evaluate("window.__sameDocument = true")

    page.get_by_label("Search by race name or place").fill("harbour")

    page.wait_for_url("**/?*q=harbour*")
    results = page.locator("#results")
    results.get_by_text("Harbour Night Run").wait_for()
    assert results.get_by_text("Sacred Valley Trail Half").count() == 0
    assert page.evaluate("window.__sameDocument") is True  # htmx swapped, no page load
    screenshot(page, "races-search-390")


def test_search_works_without_javascript(live_server, chromium, db):
    make_race(db, title="Harbour Night Run")
    make_race(db, title="Trail Half")
    with page_at(chromium, 1280, height=720, java_script_enabled=False) as page:
        page.goto(live_server.url + "/")
        page.get_by_label("Search by race name or place").fill("trail")
        page.get_by_role("button", name="Search").click()
        page.wait_for_url("**q=trail*")
        assert page.locator("#results").get_by_text("Trail Half").count() == 1
        assert page.locator("#results").get_by_text("Harbour Night Run").count() == 0


@pytest.mark.parametrize("width", [390, 1280])
def test_race_pages_render_at_phone_and_desktop_width(live_server, chromium, runner, width):
    runner.invoke(args=["seed-demo"])
    with page_at(chromium, width) as page:
        for path, name in [("/", "races"), ("/races/lakeside-spring-5k-10k", "race"),
                           ("/races/nope", "not-found")]:
            page.goto(live_server.url + path)
            # Nothing may stick out sideways on a phone.
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            screenshot(page, f"{name}-{width}")
