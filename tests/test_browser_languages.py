"""The site in Spanish in a real browser: the header's switcher (by keyboard too) at phone and desktop width,
the race list and a race page at 390 px, and the offline page."""
import pytest
from playwright.sync_api import expect

from tests.browser import screenshot
from tests.factories import make_profile
from tests.test_browser_manage import browser_login

pytestmark = pytest.mark.browser


def fits(page, locator) -> bool:
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width and box["width"] > 0


def html_lang(page) -> str:
    return page.evaluate("document.documentElement.lang")


def tab_to(page, locator, most: int = 15) -> None:
    """Press Tab until `locator` has the focus, as someone on a keyboard does."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if locator.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError("never reached by Tab")


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "signed-in"])
def test_the_switcher_is_in_the_header_and_works_from_the_keyboard(live_server, page, app, db, runner, width,
                                                                    signed_in):
    runner.invoke(args=["seed-demo"])
    if signed_in:
        browser_login(page, live_server, app, make_profile(db, full_name="Rosalind Runner-Castellanos"))
    page.set_viewport_size({"width": width, "height": 844})
    page.goto(f"{live_server.url}/races/lakeside-spring-5k-10k")
    assert html_lang(page) == "en"

    switch = page.locator("header").get_by_role("button", name="Español")
    # Its name starts with what it shows (label in name): the code on a phone, the language's name beside it.
    expect(switch).to_have_accessible_name("ES Español" if width < 600 else "Español")
    assert switch.locator(".language-code" if width < 600 else ".language-name").is_visible()
    assert fits(page, switch) and page.evaluate("document.documentElement.scrollWidth") <= width
    if signed_in:
        assert fits(page, page.locator(".account-menu summary"))
    tab_to(page, switch)
    outline = switch.evaluate("element => getComputedStyle(element).outlineStyle")
    assert outline not in ("", "none")  # the focus shows
    screenshot(page, f"language-switch-{'signed-in' if signed_in else 'visitor'}-{width}")

    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "es")  # retried across the reload
    assert page.url == f"{live_server.url}/races/lakeside-spring-5k-10k"  # back on the same page
    expect(page.get_by_role("heading", name="Inscripciones")).to_be_visible()
    back = page.locator("header").get_by_role("button", name="English")
    expect(back).to_have_accessible_name("EN English" if width < 600 else "English")
    assert fits(page, back) and page.evaluate("document.documentElement.scrollWidth") <= width
    back.click()
    expect(page.locator("html")).to_have_attribute("lang", "en")  # retried across the reload


def test_the_race_list_and_a_race_page_in_spanish_on_a_phone(live_server, page, runner):
    runner.invoke(args=["seed-demo"])
    page.context.add_cookies([{"name": "sl_lang", "value": "es", "url": live_server.url}])

    page.goto(live_server.url + "/")
    assert html_lang(page) == "es"
    page.get_by_role("heading", name="Encuentra tu próxima carrera").wait_for()
    assert page.get_by_role("button", name="Buscar").is_visible()
    assert page.locator(".race-card").first.get_by_text("Desde").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "es-races-390")

    page.goto(live_server.url + "/races/lakeside-spring-5k-10k")
    assert html_lang(page) == "es"
    assert page.get_by_role("button", name="Agregar al carrito").is_visible()
    assert page.get_by_text("Salida", exact=True).is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "es-race-390")

    page.goto(live_server.url + "/?lang=es")
    page.get_by_label("Buscar por nombre de carrera o lugar").fill("lakeside")
    page.wait_for_url("**q=lakeside*")
    page.locator("#results").get_by_text("Lakeside", exact=False).first.wait_for()


def test_the_offline_page_in_spanish(live_server, page, db):
    page.goto(live_server.url + "/offline?lang=es")
    assert html_lang(page) == "es"
    page.get_by_role("heading", name="No tienes conexión").wait_for()
    assert page.get_by_role("link", name="Mis entradas").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "es-offline-390")
