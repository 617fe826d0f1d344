"""All runners on the cart page in a real browser: cards, Same as runner 1, Let them fill in and sign."""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import Registration, TaxMode
from services import race_editing
from tests.browser import card, fill_runner, page_at, screenshot
from tests.factories import make_cart, make_profile, make_race
from tests.test_browser_cart import browser_login

pytestmark = pytest.mark.browser


@pytest.fixture
def race(db):
    race = make_race(db, slug="lakeside", title="Lakeside Spring 10K", tax_mode=TaxMode.EXCLUSIVE, tax_rate_bps=825,
                     tickets=[("10K", 4500, 300), ("5K", 3500, 400)], tshirt_sizes="S,M,L")
    race_editing.set_waiver_text(db.session, race, race_editing.SAMPLE_WAIVER)
    db.session.commit()
    return race


def open_cart(page, live_server, app, buyer):
    browser_login(page, live_server, app, buyer)
    page.goto(f"{live_server.url}/races/lakeside/cart")
    page.evaluate("window.__sameDocument = true")


def test_two_friends_on_one_page_one_same_as_runner_1_one_filling_in_themselves(live_server, page, app, db, race):
    problems = []
    page.on("console", lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    buyer = make_profile(db, full_name="Ana López", email="ana@example.com")
    make_cart(db, race, {race.ticket_types[0]: 3}, buyer=buyer, complete=False)
    open_cart(page, live_server, app, buyer)

    me, friend, invited = card(page, 1), card(page, 2), card(page, 3)
    expect(me).to_have_attribute("open", "")
    expect(me.get_by_label("Let them fill in and sign")).to_have_count(0)  # not for runner 1
    me.get_by_role("button", name="This is me").click()
    expect(me.get_by_label("First name")).to_have_value("Ana")
    fill_runner(me, "Ana", "López", "ana@example.com")
    me.get_by_label("City").fill("Lima")
    me.get_by_label("Club or team").fill("Lima Runners")

    # Runner 3's name is typed before runner 2 is saved: saving 2 must not lose it.
    expect(invited).to_have_attribute("open", "")  # every runner still to fill in starts open
    invited.get_by_label("Let them fill in and sign").check()
    expect(invited.get_by_label("Date of birth")).to_be_hidden()
    expect(invited.get_by_label("Signature")).to_be_hidden()
    invited.get_by_label("First name").fill("Caro")
    invited.get_by_label("Last name").fill("Díaz")
    invited.get_by_label("Email").fill("caro@example.com")

    expect(friend).to_have_attribute("open", "")
    friend.get_by_label("Same as runner 1").check()  # fills in from runner 1's fields as typed, before any save
    expect(friend.get_by_label("Emergency contact's phone")).to_have_value("+1 212 555 0100")
    expect(friend.get_by_label("Club or team")).to_have_value("Lima Runners")
    fill_runner(friend, "Bea", "Núñez", "bea@example.com", contact=False)
    screenshot(page, "cart-runners-typing-390")
    friend.get_by_role("button", name="Save runner 2").click()
    friend.get_by_text("Bea Núñez · Ready").wait_for()
    expect(invited.get_by_label("Email")).to_have_value("caro@example.com")  # untouched by runner 2's save

    me.get_by_role("button", name="Save runner 1").click()
    me.get_by_text("Ana López · Ready").wait_for()
    invited.get_by_role("button", name="Save runner 3").click()
    invited.get_by_text("Caro Díaz · will fill in and sign after payment").wait_for()

    expect(page.get_by_role("button", name="Continue to payment")).to_be_enabled()
    expect(page.locator("#cart-checkout")).to_contain_text("we email Caro Díaz a link")
    assert page.evaluate("window.__sameDocument") is True  # three saves, no reload
    db.session.expire_all()
    ana, bea, caro = db.session.scalars(select(Registration).order_by(Registration.id))
    assert (bea.emergency_phone, bea.city, bea.club) == ("+1 212 555 0100", "Lima", "Lima Runners")
    assert caro.runner_fills_in and caro.waiver_signed_at is None and caro.date_of_birth is None
    screenshot(page, "cart-runners-ready-390")
    assert problems == []


@pytest.mark.parametrize("width", [390, 1280])
def test_the_runner_cards_fit_phone_and_desktop(live_server, chromium, app, db, race, width):
    buyer = make_profile(db, full_name="Ana López", email="ana@example.com")
    cart = make_cart(db, race, {race.ticket_types[0]: 1, race.ticket_types[1]: 2}, buyer=buyer, complete=False)
    first, invited, _ = sorted(cart.registrations, key=lambda r: r.id)
    first.first_name, first.last_name, first.email = "Ana", "López", "ana@example.com"
    first.date_of_birth = invited.date_of_birth = None
    invited.first_name, invited.last_name, invited.email, invited.runner_fills_in = "Caro", "Díaz", "caro@example.com", True
    db.session.commit()
    with page_at(chromium, width) as page:
        open_cart(page, live_server, app, buyer)

        screenshot(page, f"cart-runners-three-{width}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        card(page, 1).get_by_label("Email").fill("not-an-email")
        card(page, 1).get_by_role("button", name="Save runner 1").click()
        card(page, 1).locator(".runner-errors").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"cart-runners-errors-{width}")


def test_without_javascript_the_runners_are_one_form_saved_at_once(live_server, chromium, app, db, race):
    buyer = make_profile(db, full_name="Ana López", email="ana@example.com")
    make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer, complete=False)
    with page_at(chromium, 390, height=844, java_script_enabled=False) as page:
        browser_login(page, live_server, app, buyer)
        page.goto(f"{live_server.url}/races/lakeside/cart")

        card(page, 1).get_by_role("button", name="This is me").click()  # the whole page posts; nothing is saved
        expect(card(page, 1).get_by_label("First name")).to_have_value("Ana")
        fill_runner(card(page, 1), "Ana", "López", "ana@example.com")
        expect(card(page, 2)).to_have_attribute("open", "")
        card(page, 2).get_by_label("Let them fill in and sign").check()
        card(page, 2).get_by_label("First name").fill("Caro")
        card(page, 2).get_by_label("Email").fill("caro@example.com")  # no last name: refused, beside the field
        page.get_by_role("button", name="Save all runners").click()

        page.get_by_text("Saved Ana López's details.").wait_for()
        expect(card(page, 2).locator("[id$='-last_name-error']")).to_have_text("Enter the runner's last name.")
        expect(card(page, 2).get_by_label("Email")).to_have_value("caro@example.com")
        card(page, 2).get_by_label("Last name").fill("Díaz")
        card(page, 2).get_by_role("button", name="Save runner 2").click()  # without JavaScript: saves the page's form

        card(page, 2).get_by_text("Caro Díaz · will fill in and sign after payment").wait_for()
        expect(page.get_by_role("button", name="Continue to payment")).to_be_enabled()


def test_after_this_is_me_the_keyboard_is_on_the_first_field_still_empty(live_server, page, app, db, race):
    buyer = make_profile(db, full_name="Ana López", email="ana@example.com")
    make_cart(db, race, {race.ticket_types[0]: 1}, buyer=buyer, complete=False)
    open_cart(page, live_server, app, buyer)

    card(page, 1).get_by_role("button", name="This is me").click()

    expect(card(page, 1).get_by_label("First name")).to_have_value("Ana")
    expect(card(page, 1).get_by_label("Date of birth")).to_be_focused()
