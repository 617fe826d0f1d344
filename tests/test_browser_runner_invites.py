"""A friend fills in their own details by the link in their email, in Chromium on a phone (and with JavaScript off)."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from models import Order, Profile, Registration
from services import runner_invites as invites
from services.mail.worker import send_due_for
from tests.browser import ARTIFACTS, page_at
from tests.runner_invite_factories import LINK, buy_for_friend, make_friend_race
from tests.test_browser_cart import browser_login

pytestmark = pytest.mark.browser


@pytest.fixture
def race(db):
    return make_friend_race(db, title="Lakeside Spring 10K", slug="lakeside", location_name="Lakeside Park",
                            address="Shore Rd, Austin")


def link_from_smtp(app, smtp_server, to: str) -> str:
    """The personal link in the invitation that reached the SMTP server, as a path."""
    app.config["SMTP_URL"] = smtp_server.url
    assert send_due_for(app).failed == 0
    invite = next(m for m in smtp_server.messages if to in m["To"] and "fill in your details" in m["Subject"])
    url = LINK.search(invite.get_body(preferencelist=("plain",)).get_content()).group(0)
    return "/runner-details/" + url.rsplit("/runner-details/", 1)[1]


def snap(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, caret="initial")


def fill_in(page, *, born: str, guardian: str | None = None, signature: str) -> None:
    page.get_by_label("Date of birth").fill(born)
    page.get_by_label("T-shirt size").select_option("M")
    page.get_by_label("Emergency contact's name").fill("Ife Okafor")
    page.get_by_label("Emergency contact's phone").fill("+44 20 7946 0000")
    page.get_by_label("City").fill("Leeds")
    page.get_by_label("Club or team").fill("Leeds Harriers")
    if guardian:
        page.get_by_label("Parent or guardian's name").fill(guardian)
    page.get_by_label("I have read the waiver above and accept it").check()
    page.get_by_label("Signature").fill(signature)


def test_a_friend_fills_in_and_signs_on_a_phone_then_keeps_the_ticket(live_server, page, app, db, race, smtp_server):
    problems = []
    page.on("console", lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    ticket = buy_for_friend(db, race, friend=("Ben", "Okafor", "ben@example.com"))
    path = link_from_smtp(app, smtp_server, "ben@example.com")

    page.goto(live_server.url + path)
    expect(page.get_by_role("heading", name="Fill in your details")).to_be_visible()
    expect(page.get_by_text("Ana López bought this ticket for Ben Okafor")).to_be_visible()
    expect(page.get_by_label("First name")).to_have_value("Ben")
    expect(page.get_by_label("Email")).to_have_value("ben@example.com")
    snap(page, "runner-invite-form-390")

    # Checked as it is typed, through the link (htmx): a signature that isn't the runner's name.
    page.get_by_label("Signature").press_sequentially("Ana López")
    page.locator("#waiver_signature-state .field-error").filter(has_text="must match the runner's name").wait_for()
    fill_in(page, born="1992-03-04", signature="Ben Okafor")
    page.locator("#date_of_birth-state .field-note").filter(has_text="Age on race day").wait_for()
    expect(page.locator("#waiver_signature-state .field-error")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.get_by_role("button", name="Send my details").click()
    page.get_by_text("your details are in").wait_for()
    expect(page.locator(".ticket-qr svg")).to_be_visible()
    expect(page.get_by_role("heading", name="Create an account to keep this ticket")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    snap(page, "runner-invite-ticket-390")

    db.session.expire_all()
    saved = db.session.get(Registration, ticket.id)
    assert saved.runner_details_at is not None and saved.waiver_signature == "Ben Okafor" and saved.club == "Leeds Harriers"

    # Create an account from here, and come back to keep the ticket in it.
    page.get_by_role("button", name="Create an account").click()
    page.get_by_label("Your name").fill("Ben Okafor")
    page.get_by_label("Email").fill("ben@example.com")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Create account").click()
    page.get_by_text("ben@example.com").first.wait_for()  # "check your email"
    assert send_due_for(app).failed == 0
    confirm = next(m for m in smtp_server.messages if m["Subject"].startswith("Confirm your email"))
    page.goto(re.search(r"https?://\S+/auth/confirm\S+", confirm.get_body(preferencelist=("plain",)).get_content())
              .group(0).replace("http://localhost", live_server.url))
    page.wait_for_url(lambda url: urlsplit(url).path.startswith("/runner-details/ticket/"))
    page.get_by_role("button", name="Add to my account").click()
    page.wait_for_url("**/tickets/")
    expect(page.get_by_role("link", name="Open ticket for Ben Okafor")).to_be_visible()
    assert page.locator(".ticket-grid li").count() == 1  # Ben's ticket only, not the buyer's
    snap(page, "runner-invite-kept-390")
    assert problems == []


def test_a_minor_whose_guardian_signs_with_javascript_off(live_server, chromium, app, db, race, smtp_server):
    kid = buy_for_friend(db, race, ticket_type=race.ticket_types[1], friend=("Mia", "Okafor", "ife@example.com"))
    path = link_from_smtp(app, smtp_server, "ife@example.com")
    with page_at(chromium, 390, height=844, java_script_enabled=False) as page:
        page.goto(live_server.url + path)
        fill_in(page, born=f"{datetime.now(UTC).year - 9}-02-01", signature="Mia Okafor")
        page.get_by_role("button", name="Send my details").click()
        expect(page.locator("#runner-errors")).to_be_visible()  # the whole form again, errors beside the fields
        expect(page.locator("#waiver_guardian_name-state")).to_contain_text("Enter the parent or guardian's name.")
        expect(page.get_by_label("City")).to_have_value("Leeds")
        snap(page, "runner-invite-errors-nojs-390")

        page.get_by_label("Parent or guardian's name").fill("Ife Okafor")
        page.get_by_label("I have read the waiver above and accept it").check()
        page.get_by_label("Signature").fill("Ife Okafor")
        page.get_by_role("button", name="Send my details").click()
        page.get_by_text("your details are in").wait_for()
        db.session.expire_all()
        assert db.session.get(Registration, kid.id).waiver_guardian_name == "Ife Okafor"


def test_an_age_that_doesnt_fit_is_explained_on_the_page(live_server, page, app, db, race, smtp_server):
    buy_for_friend(db, race, friend=("Ben", "Okafor", "ben@example.com"))
    page.goto(live_server.url + link_from_smtp(app, smtp_server, "ben@example.com"))
    fill_in(page, born=f"{datetime.now(UTC).year - 15}-06-01", guardian="Ife Okafor", signature="Ife Okafor")
    page.get_by_role("button", name="Send my details").click()
    expect(page.locator("#age-problem")).to_contain_text("This ticket doesn't fit your age")
    expect(page.locator("#age-problem")).to_contain_text("The organizer can switch you to a distance that fits")
    snap(page, "runner-invite-age-390")


@pytest.mark.parametrize("width", [390, 1280])
def test_the_runner_and_buyer_pages_fit_phone_and_desktop(live_server, chromium, app, db, race, width):
    ticket = buy_for_friend(db, race, friend=("Ben", "Okafor", "ben@example.com"))
    waiting = buy_for_friend(db, race, buyer=db.session.get(Profile, db.session.get(Order, ticket.order_id).buyer_id),
                             friend=("Cy", "Mensah", "cy@example.com"))
    with page_at(chromium, width) as page:
        with app.app_context():
            path = "/runner-details/" + invites.link_token(ticket)
        page.goto(live_server.url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        snap(page, f"runner-invite-form-{width}")

        fill_in(page, born="1992-03-04", signature="Ben Okafor")
        page.get_by_role("button", name="Send my details").click()
        page.get_by_text("your details are in").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        snap(page, f"runner-invite-ticket-{width}")

        page.goto(live_server.url + "/runner-details/not-a-real-link")
        expect(page.get_by_role("heading", name="We couldn't find that link")).to_be_visible()
        snap(page, f"runner-invite-forged-{width}")

        buyer = db.session.get(Profile, db.session.get(Order, ticket.order_id).buyer_id)
        browser_login(page, live_server, app, buyer)
        page.goto(f"{live_server.url}/orders/{waiting.order_id}")
        expect(page.get_by_text("Waiting for Cy's details")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        snap(page, f"runner-invite-buyer-order-{width}")
        page.goto(f"{live_server.url}/tickets/")
        expect(page.get_by_text("Waiting for Cy's details")).to_be_visible()
        snap(page, f"runner-invite-buyer-tickets-{width}")
