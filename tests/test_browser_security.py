"""The Content-Security-Policy in a real browser: the main pages break none of it, and htmx still works."""
import pytest

from models import RaceStatus
from tests.factories import make_profile, make_race
from tests.test_browser_manage import browser_login

pytestmark = pytest.mark.browser


@pytest.fixture
def violations(page):
    """Every CSP violation and script error the browser reports while the test runs."""
    seen = []
    page.on("console", lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: seen.append(f"page error: {error}"))
    return seen


def test_the_listener_catches_a_violation(live_server, page, violations, db):
    """The check below can fail: an inline script is refused, and the refusal is seen."""
    page.goto(live_server.url + "/")
    with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
        page.evaluate("""() => { const s = document.createElement('script');
                                 s.textContent = 'window.__inline = true'; document.head.appendChild(s); }""")
    assert page.evaluate("window.__inline") is None
    assert any("Content Security Policy" in v for v in violations)


def test_main_pages_load_without_a_csp_violation(live_server, page, violations, runner, db):
    runner.invoke(args=["seed-demo"])
    for path in ["/", "/races/lakeside-spring-5k-10k", "/auth/sign-in", "/auth/sign-up", "/no/such/page"]:
        response = page.goto(live_server.url + path)
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        page.wait_for_load_state("load")
    assert violations == []


def test_htmx_search_still_works_under_the_policy(live_server, page, violations, db):
    make_race(db, title="Harbour Night Run")
    make_race(db, title="Sacred Valley Trail Half")
    page.goto(live_server.url + "/")
    page.evaluate("window.__sameDocument = true")

    page.get_by_label("Search by race name or place").fill("harbour")

    page.wait_for_url("**/?*q=harbour*")
    page.locator("#results").get_by_text("Harbour Night Run").wait_for()
    assert page.locator("#results").get_by_text("Sacred Valley Trail Half").count() == 0
    assert page.evaluate("window.__sameDocument") is True  # swapped by htmx, not a page load
    assert violations == []


def test_the_organizer_editor_autosaves_under_the_policy(live_server, page, violations, app, db):
    organizer = make_profile(db)
    race = make_race(db, organizer=organizer, title="Lake 10K", status=RaceStatus.DRAFT)
    browser_login(page, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}")

    page.get_by_label("Race name").fill("Lake 10K by Moonlight")
    page.locator("#state-title .autosave-status").filter(has_text="Saved").wait_for()
    page.goto(f"{live_server.url}/manage")
    assert violations == []
