"""Choose first, account at payment, in a real browser at phone width: a visitor with no account adds a
ticket, types the runner and the account, and one click on "Create account and pay" saves the runner, creates
the account and reaches the test gateway."""
import pytest
from playwright.sync_api import expect

from services import race_editing
from tests.browser import card, fill_runner, follow, page_at, screenshot
from tests.factories import make_account, make_race

pytestmark = pytest.mark.browser


@pytest.fixture
def race(app, db):
    app.config["LOCAL_AUTH_AUTOCONFIRM"] = True
    race = make_race(db, slug="lakeside", title="Lakeside Spring 10K", tickets=[("10K", 4500, 300), ("5K", 3500, 400)])
    race_editing.set_waiver_text(db.session, race, race_editing.SAMPLE_WAIVER)
    db.session.commit()
    return race


def test_a_visitor_chooses_fills_in_and_creates_an_account_and_pays_in_one_click(live_server, page, app, race):
    app.config["SITE_URL"] = live_server.url  # the test gateway's page is on this site
    problems = []  # script errors and Content-Security-Policy refusals, which would break htmx quietly
    page.on("console", lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{live_server.url}/races/lakeside")
    page.get_by_label("How many 10K tickets").select_option("1")
    follow(page, page.get_by_role("button", name="Add to cart"))  # on to the cart, no account yet
    page.locator("#cart-badge .cart-count").filter(has_text="1").wait_for()
    runner = card(page, 1)
    expect(runner).to_have_attribute("open", "")  # still to fill in: open without a click
    assert runner.get_by_role("button", name="This is me").count() == 0  # no account to fill from
    fill_runner(runner, "Vic", "Visitor", "vic@example.com")  # not saved: the paying click saves it

    account = page.locator("#account")
    account.get_by_label("Your name").fill("Vic Visitor")
    account.get_by_label("Email").fill("vic@example.com")
    account.get_by_label("Password").fill("correct horse battery")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "cart-guest-account-390")
    page.get_by_role("button", name="Create account and pay").click()
    page.wait_for_url("**/test-gateway/**")
    page.get_by_text("Test mode: no card is charged.").wait_for()
    page.get_by_role("button", name="Pay").first.click()
    page.wait_for_url("**/orders/**")
    page.get_by_text("Vic Visitor").first.wait_for()
    assert problems == []


def test_without_javascript_a_visitor_signs_in_from_the_cart_tab_and_pays(live_server, chromium, app, db, race):
    make_account(db, "ana@example.com", "correct horse battery", full_name="Ana López")
    app.config["SITE_URL"] = live_server.url
    with page_at(chromium, 390, height=844, java_script_enabled=False) as page:
        page.goto(f"{live_server.url}/races/lakeside")
        page.get_by_label("How many 5K tickets").select_option("1")
        page.get_by_role("button", name="Add to cart").click()
        page.wait_for_url("**/races/lakeside/cart")
        page.get_by_role("link", name="I have an account").click()
        fill_runner(card(page, 1), "Ana", "López", "ana@example.com")  # saved by the paying click
        account = page.locator("#account")
        account.get_by_label("Email").fill("ana@example.com")
        account.get_by_label("Password").fill("wrong password here")
        page.get_by_role("button", name="Sign in and pay").click()
        account.locator(".notice-error, .field-error").first.wait_for()  # told on the cart page, the cart intact
        page.get_by_text("Ana López · Ready").wait_for()  # the runner was saved on the way
        account.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Sign in and pay").click()
        page.wait_for_url("**/test-gateway/**")


def test_a_runner_typo_in_the_paying_click_is_shown_beside_the_field_and_the_next_click_pays(
        live_server, page, app, db, race):
    app.config["SITE_URL"] = live_server.url
    page.goto(f"{live_server.url}/races/lakeside")
    page.get_by_label("How many 10K tickets").select_option("1")
    follow(page, page.get_by_role("button", name="Add to cart"))  # on to the cart
    page.evaluate("window.__sameDocument = true")
    runner = card(page, 1)
    fill_runner(runner, "Vic", "Visitor", "vic@example.com")
    runner.get_by_label("Emergency contact's phone").fill("call my mum")
    account = page.locator("#account")
    account.get_by_label("Your name").fill("Vic Visitor")
    account.get_by_label("Email").fill("vic@example.com")
    account.get_by_label("Password").fill("correct horse battery")

    # The field's own inline check shows the same message, so wait for the paying click's answer itself: it
    # redraws the cart (the password is never sent back), and typing before it lands would be redrawn away.
    with page.expect_response(lambda response: response.request.method == "POST" and "/pay" in response.url):
        page.get_by_role("button", name="Create account and pay").click()
    expect(page.locator("#account").get_by_label("Password")).to_have_value("")

    expect(card(page, 1).locator("[id$='-emergency_phone-error']")).to_contain_text("Use only digits")
    expect(card(page, 1).get_by_label("First name")).to_have_value("Vic")  # what was typed stays
    expect(page.locator("#account").get_by_label("Email")).to_have_value("vic@example.com")
    assert "/test-gateway/" not in page.url and page.evaluate("window.__sameDocument") is True
    card(page, 1).get_by_label("Emergency contact's phone").fill("+1 212 555 0100")
    page.locator("#account").get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Create account and pay").click()
    page.wait_for_url("**/test-gateway/**")
