"""The cart in a real browser: add tickets without a reload, fill in runners with inline checks, reach payment."""
import io
import threading
import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import Registration, TaxMode
from services import race_editing
from tests.browser import ARTIFACTS, card, fill_runner, follow, page_at, screenshot
from tests.factories import login, make_code, make_profile, make_race

pytestmark = pytest.mark.browser


def browser_login(page, live_server, app, profile):
    client = app.test_client()
    login(client, profile)
    for name in ("sl_access", "sl_refresh"):
        page.context.add_cookies([{"name": name, "value": client.get_cookie(name).value,
                                   "url": live_server.url, "httpOnly": True, "sameSite": "Lax"}])


@pytest.fixture
def race(db):
    race = make_race(db, slug="lakeside", title="Lakeside Spring 10K", tax_mode=TaxMode.EXCLUSIVE, tax_rate_bps=825,
                     tax_label="Sales tax", tickets=[("10K", 4500, 300), ("5K", 3500, 400), ("Kids 1K", 1000, 40)])
    race.ticket_types[2].max_age = 12
    race_editing.set_waiver_text(db.session, race, race_editing.SAMPLE_WAIVER)
    db.session.commit()
    return race


def test_add_two_tickets_fill_both_runners_and_reach_payment(live_server, page, app, db, race):
    problems = []  # script errors and Content-Security-Policy refusals, which would break htmx quietly
    page.on("console", lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    def snap(name):
        # Playwright hides the caret with an inline style (a CSP refusal that isn't ours) unless told not to.
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, caret="initial")

    buyer = make_profile(db, full_name="Ana López", email="ana@example.com")
    browser_login(page, live_server, app, buyer)
    page.goto(f"{live_server.url}/races/lakeside")
    page.evaluate("window.__sameDocument = true")

    page.get_by_label("How many 10K tickets").select_option("2")
    follow(page, page.get_by_role("button", name="Add to cart"))  # on to the cart, to fill in the runners
    page.locator("#cart-badge .cart-count").filter(has_text="2").wait_for()
    snap("cart-added-390")
    page.evaluate("window.__sameDocument = true")
    first = card(page, 1)
    expect(card(page, 2)).to_have_attribute("open", "")  # every runner still to fill in is open

    # An inline error appears while typing, beside the field, and the input keeps what was typed and the focus.
    email = first.get_by_label("Email")
    email.press_sequentially("ana@")
    first.locator("[id$='-email-state'] .field-error").filter(has_text="Enter a real email address").wait_for()
    assert email.input_value() == "ana@"
    assert page.evaluate("document.activeElement.id") == email.get_attribute("id")
    snap("cart-runner-error-390")
    email.press_sequentially("example.com")
    first.locator("[id$='-email-state'] .field-error").wait_for(state="detached")

    first.get_by_role("button", name="This is me").click()
    expect(first.get_by_label("First name")).to_have_value("Ana")
    expect(first.get_by_label("Last name")).to_have_value("López")
    fill_runner(first, "Ana", "López", "ana@example.com")
    first.get_by_role("button", name="Save runner 1").click()

    first.get_by_text("Ana López · Ready").wait_for()
    expect(card(page, 2)).to_have_attribute("open", "")  # on to the next runner
    fill_runner(card(page, 2), "Bea", "Núñez", "bea@example.com")
    card(page, 2).get_by_role("button", name="Save runner 2").click()

    card(page, 2).get_by_text("Bea Núñez · Ready").wait_for()
    expect(page.locator("#cart-checkout")).not_to_contain_text("Before you continue")  # followed out of band
    assert page.locator(".runner-status.ok").count() == 2
    assert page.evaluate("window.__sameDocument") is True  # no reload
    snap("cart-ready-390")
    app.config["SITE_URL"] = live_server.url  # the test gateway's page is on this site
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url("**/test-gateway/**")
    assert problems == []


def serve_htmx_late(app, seconds: float = 1.0) -> None:
    """From now on the server answers for htmx late, as over a slow phone network or on a busy test machine."""
    serve = app.wsgi_app

    def late(environ, start_response):
        if environ["PATH_INFO"].startswith("/static/vendor/htmx-"):
            time.sleep(seconds)
        return serve(environ, start_response)

    app.wsgi_app = late


def add_a_5k_and_open_the_cart(page, live_server, app, db):
    browser_login(page, live_server, app, make_profile(db, full_name="Ana López"))
    page.goto(f"{live_server.url}/races/lakeside")
    page.get_by_label("How many 5K tickets").select_option("1")
    follow(page, page.get_by_role("button", name="Add to cart"))  # on to the cart


def test_the_inline_check_answers_typing_even_when_htmx_reaches_the_page_late(live_server, page, app, db, race):
    add_a_5k_and_open_the_cart(page, live_server, app, db)
    serve_htmx_late(app)
    with page.expect_navigation(wait_until="load"):
        page.reload()

    page.get_by_label("Email").press_sequentially("ana@")

    page.locator("[id$='-email-state'] .field-error").filter(has_text="Enter a real email address").wait_for()


def test_a_runner_who_types_before_htmx_has_loaded_gets_the_check_on_leaving_the_field(live_server, page, app, db,
                                                                                       race):
    add_a_5k_and_open_the_cart(page, live_server, app, db)
    htmx_on_its_way = []
    page.route("**/vendor/htmx-*.js*", lambda route: htmx_on_its_way.append(route))  # held until the runner has typed
    page.reload(wait_until="commit")

    email = page.get_by_label("Email")
    email.press_sequentially("ana@")  # keys no hx-trigger hears
    assert page.evaluate("typeof htmx") == "undefined"
    htmx_on_its_way[0].continue_()
    page.wait_for_load_state("load")  # the runner pauses; htmx arrives and wires up the form
    email.press("Tab")  # leaving the field: the change event, which htmx hears

    page.locator("[id$='-email-state'] .field-error").filter(has_text="Enter a real email address").wait_for()
    assert email.input_value() == "ana@"


def test_a_wrong_signature_is_flagged_and_fixing_the_name_clears_it(live_server, page, app, db, race):
    buyer = make_profile(db, full_name="Ana López")
    browser_login(page, live_server, app, buyer)
    page.goto(f"{live_server.url}/races/lakeside")
    page.get_by_label("How many 5K tickets").select_option("1")
    follow(page, page.get_by_role("button", name="Add to cart"))  # on to the cart

    page.get_by_label("First name").fill("Ana")
    page.get_by_label("Last name").fill("Lopez")
    page.get_by_label("Signature").fill("Ana López")
    page.locator("[id$='-waiver_signature-state']").get_by_text("The signature must match the runner's name").wait_for()
    page.get_by_label("Last name").fill("López")
    page.locator("[id$='-waiver_signature-state'] .field-error").wait_for(state="detached")


# Which runner-form checks htmx has started (confirm), sent, and seen answered, by field name.
COUNT_CHECKS = """() => {
  window.checks = {started: [], sent: [], answered: []};
  for (const [event, list] of [["htmx:confirm", "started"], ["htmx:beforeSend", "sent"], ["htmx:afterRequest", "answered"]]) {
    document.addEventListener(event, (e) => window.checks[list].push((e.detail.elt.name || "").replace(/^r[0-9]+-/, "")));
  }
}"""
IN_FLIGHT = "(window.checks.sent.length - window.checks.answered.length)"


def hold_checks_of(app, field: str):
    """The server holds every check of `field` until the returned event is set (a slow answer on a phone)."""
    serve, release, arrived = app.wsgi_app, threading.Event(), threading.Event()

    def held(environ, start_response):
        if environ["PATH_INFO"].endswith("/check"):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            if f"_field={field}&".encode() in body + b"&":
                arrived.set()
                release.wait(30)
        return serve(environ, start_response)

    app.wsgi_app = held
    return release, arrived


def test_a_late_answer_about_an_older_name_does_not_flag_the_signature_typed_since(live_server, page, app, db, race):
    add_a_5k_and_open_the_cart(page, live_server, app, db)
    ticket = db.session.scalar(select(Registration))
    ticket.first_name, ticket.last_name, ticket.waiver_signature = "Ana", "Lopez", "Ana Lopez"
    db.session.commit()
    with page.expect_navigation(wait_until="load"):
        page.reload()  # the saved details, as the tests arranged them
    page.evaluate(COUNT_CHECKS)
    release, arrived = hold_checks_of(app, "last_name")

    page.get_by_label("Last name").fill("López")  # its check (against the signature "Ana Lopez") is slow to come back
    assert arrived.wait(10)
    page.get_by_label("Signature").fill("Ana López")  # meanwhile the runner fixes the signature
    page.wait_for_function(f"() => window.checks.started.includes('waiver_signature') && {IN_FLIGHT} === 1")
    release.set()  # only the held answer was still out; now it lands, last
    page.wait_for_function(f"() => window.checks.answered.includes('waiver_signature') && {IN_FLIGHT} === 0")

    expect(page.locator("#waiver_signature-state .field-error")).to_have_count(0)


def test_adding_works_without_javascript(live_server, chromium, app, db, race):
    with page_at(chromium, 1280, height=720, java_script_enabled=False) as page:
        browser_login(page, live_server, app, make_profile(db))
        page.goto(f"{live_server.url}/races/lakeside")
        page.get_by_label("How many 5K tickets").select_option("2")
        page.get_by_role("button", name="Add to cart").click()
        page.wait_for_url("**/races/lakeside/cart")
        expect(page.get_by_text("2 × $35.00")).to_have_count(1)
        page.get_by_role("button", name="One more 5K ticket").click()  # back to the same URL: wait for the new text
        expect(page.get_by_text("3 × $35.00")).to_have_count(1)


@pytest.mark.parametrize("width", [390, 1280])
def test_cart_pages_fit_phone_and_desktop(live_server, chromium, app, db, race, width):
    buyer = make_profile(db, full_name="Ana López")
    make_code(db, race, code="FRIENDS", percent_off=20)
    with page_at(chromium, width) as page:
        browser_login(page, live_server, app, buyer)
        kids = race.ticket_types[2].id
        ten_k = race.ticket_types[0].id

        page.goto(f"{live_server.url}/races/lakeside?add={ten_k}:2,{kids}:1")  # back from sign-in with a choice
        page.get_by_text("Your choice is filled in below").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"cart-race-{width}")

        follow(page, page.get_by_role("button", name="Add to cart"))  # on to the cart
        page.get_by_label("Discount code").fill("friends")
        page.get_by_role("button", name="Apply").click()
        page.get_by_text("Discount (FRIENDS)").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"cart-{width}")  # runner cards with errors: test_browser_cart_runners.py


def test_pressing_enter_in_a_field_saves_rather_than_filling_in_the_buyer(live_server, page, app, db, race):
    browser_login(page, live_server, app, make_profile(db, full_name="Ana López"))
    page.goto(f"{live_server.url}/races/lakeside")
    page.get_by_label("How many 5K tickets").select_option("1")
    follow(page, page.get_by_role("button", name="Add to cart"))  # on to the cart

    fill_runner(page, "Bea", "Núñez", "bea@example.com")
    page.get_by_label("Signature").press("Enter")

    page.get_by_text("Saved Bea Núñez's details.").wait_for()
