"""The installable app in Chromium: installable as Chromium judges it, a service worker in control after one
reload, a runner's tickets and an organizer's check-in page offline, the offline page, sign-out and another
account clearing what the device kept, and form posts never answered from a cache."""
import threading

import pytest
from flask import request
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser import CHROMIUM, CHROMIUM_ARGS, screenshot
from tests.browser import page_with_service_worker as page  # noqa: F401  (fixture: these tests need the worker)
from tests.factories import make_paid_order, make_profile, make_race
from tests.test_browser_manage import browser_login

pytestmark = pytest.mark.browser

KEPT_PAGES = """async () => {
  const names = (await caches.keys()).filter(name => name.startsWith("startline-pages-"));
  const paths = [];
  for (const name of names) {
    for (const request of await (await caches.open(name)).keys()) paths.push(new URL(request.url).pathname);
  }
  return paths;
}"""


def under_worker(page, url, tries=6):
    """Open `url` once the service worker controls the page, as it does from the second page on. Right after a
    sign-out's Clear-Site-Data unregistered it, Chromium may finish removing the old registration before the new
    one takes the page: another page load (as the runner's next click would) brings it."""
    for _ in range(tries):
        page.goto(url)
        try:
            page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=5_000)
            return
        except PlaywrightTimeoutError:
            continue
    assert page.evaluate("navigator.serviceWorker.controller !== null"), "no service worker took the page"


def kept_pages(page) -> list[str]:
    return page.evaluate(KEPT_PAGES)


def wait_until_kept(page, *paths, polls=300):
    """Until the worker has kept exactly `paths` (it keeps a page just after showing it)."""
    for _ in range(polls):
        if sorted(kept_pages(page)) == sorted(paths):
            return
        page.wait_for_timeout(100)
    assert sorted(kept_pages(page)) == sorted(paths)


def runner_with_a_ticket(db, *, email="rosa@example.com", name="Rosa Runner"):
    runner = make_profile(db, email=email, full_name=name)
    race = make_race(db, slug="lake", title="Lake 10K")
    order = make_paid_order(db, race, {race.ticket_types[0]: 1}, buyer=runner,
                            runners=[{"first_name": name.split()[0], "last_name": name.split()[1]}])
    return runner, race, order.registrations[0].ticket_code


def tickets_kept(page, live_server, app, db, *, with_the_ticket=False):
    """A runner signed in whose /tickets/ (and ticket page) the worker has kept; (runner, ticket code)."""
    runner, race, code = runner_with_a_ticket(db)
    browser_login(page, live_server, app, runner)
    under_worker(page, f"{live_server.url}/")
    page.goto(f"{live_server.url}/tickets/")
    if with_the_ticket:
        page.goto(f"{live_server.url}/tickets/{code}")
    wait_until_kept(page, "/tickets/", *([f"/tickets/{code}"] if with_the_ticket else []))
    return runner, code


def test_chromium_finds_the_site_installable_and_a_worker_controls_the_page_after_one_reload(live_server, chromium,
                                                                                            db, tmp_path):
    make_race(db, slug="lake")
    # A profile on disk: Chromium installs nothing from an off-the-record window, Playwright's usual context.
    context = chromium.browser_type.launch_persistent_context(tmp_path, executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.reload()
        worker = page.evaluate("navigator.serviceWorker.controller && navigator.serviceWorker.controller.scriptURL")
        assert worker.startswith(f"{live_server.url}/sw.js?v=")

        cdp = context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [] and manifest["url"] == f"{live_server.url}/manifest.webmanifest"
        assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    finally:
        context.close()


def test_a_runner_opens_their_tickets_offline_with_the_qr_code_and_when_they_were_saved(live_server, page, app, db):
    runner, code = tickets_kept(page, live_server, app, db, with_the_ticket=True)

    page.context.set_offline(True)
    page.goto(f"{live_server.url}/tickets/")
    assert page.get_by_role("heading", name="My tickets").is_visible()
    assert page.locator(".ticket-qr svg").is_visible()
    assert page.get_by_role("status").filter(has_text="you're offline").inner_text().startswith("Saved at ")
    page.goto(f"{live_server.url}/tickets")  # as typed, without the slash the server redirects to
    assert page.locator(".ticket-qr svg").is_visible()

    page.get_by_role("link", name="Open ticket").click()
    page.wait_for_url(f"**/tickets/{code}")
    assert page.locator(".ticket-runner").inner_text() == "Rosa Runner"
    assert page.locator(".ticket-qr svg").is_visible()
    assert "you're offline" in page.locator("#offline-saved").inner_text()
    screenshot(page, "ticket-offline-390")

    page.goto(f"{live_server.url}/races/lake")  # never opened: the offline page, not the browser's error
    assert page.get_by_role("heading", name="You're offline").is_visible()
    assert page.get_by_role("link", name="My tickets").is_visible()
    screenshot(page, "offline-page-390")

    page.context.set_offline(False)
    page.goto(f"{live_server.url}/tickets/")
    assert page.locator("#offline-saved").count() == 0  # online: the page itself, fresh


def test_on_a_network_too_slow_to_wait_for_the_kept_ticket_shows_at_once(live_server, page, app, db):
    slow, answer = threading.Event(), threading.Event()

    @app.before_request
    def one_bar_of_signal():
        if slow.is_set() and request.path.startswith("/tickets/"):
            answer.wait(30)

    runner, code = tickets_kept(page, live_server, app, db, with_the_ticket=True)
    slow.set()
    try:
        page.goto(f"{live_server.url}/tickets/{code}")  # the worker waits SLOW_MS (4 s), then shows its copy
        assert page.locator(".ticket-qr svg").is_visible()
        assert "the connection is slow" in page.locator("#offline-saved").inner_text()
    finally:
        answer.set()


def test_signing_out_clears_the_kept_tickets_and_signing_in_again_works(live_server, page, app, db):
    runner, code = tickets_kept(page, live_server, app, db, with_the_ticket=True)

    page.locator("summary", has_text="Account menu").click()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name="Sign in").wait_for()
    assert kept_pages(page) == []
    # Its Clear-Site-Data also took the worker (seen in Chromium 156); the next page brings it back.
    under_worker(page, f"{live_server.url}/")

    page.context.set_offline(True)
    page.goto(f"{live_server.url}/tickets/{code}")
    assert page.get_by_role("heading", name="You're offline").is_visible()
    assert page.locator(".ticket-qr").count() == 0

    page.context.set_offline(False)
    browser_login(page, live_server, app, runner)
    page.goto(f"{live_server.url}/tickets/")
    assert page.locator(".ticket-qr svg").is_visible()


def test_another_account_signed_in_on_the_device_never_sees_the_first_ones_tickets(live_server, page, app, db):
    tickets_kept(page, live_server, app, db)

    page.context.clear_cookies()  # no sign-out: say, the session ran out and someone else signs in
    browser_login(page, live_server, app, make_profile(db, email="tom@example.com", full_name="Tom Other"))
    page.goto(f"{live_server.url}/")
    wait_until_kept(page)

    page.context.set_offline(True)
    page.goto(f"{live_server.url}/tickets/")
    assert page.get_by_role("heading", name="You're offline").is_visible()


def test_form_posts_always_go_to_the_network_never_to_a_kept_page(live_server, page, app, db):
    tickets_kept(page, live_server, app, db)
    post = "url => fetch(url, {method: 'POST', body: 'x=1'}).then(r => r.status, e => 'failed: ' + e.name)"

    assert page.evaluate(post, "/tickets/") == 405  # the server's answer, not the kept page
    page.context.set_offline(True)
    assert page.evaluate(post, "/tickets/") == "failed: TypeError"
    assert page.evaluate(post, "/auth/sign-out") == "failed: TypeError"


def test_an_organizer_opens_the_check_in_page_again_offline(live_server, page, app, db):
    organizer = make_profile(db, full_name="Olga Organizer")
    race = make_race(db, organizer=organizer, slug="lake", title="Lake 10K")
    browser_login(page, live_server, app, organizer)
    under_worker(page, f"{live_server.url}/manage/")
    page.goto(f"{live_server.url}/manage/checkin")  # the manifest's Check-in shortcut: the desk of the race next
    assert page.url == f"{live_server.url}/manage/races/{race.id}/checkin"
    wait_until_kept(page, f"/manage/races/{race.id}/checkin")

    page.context.set_offline(True)
    page.goto(f"{live_server.url}/manage/races/{race.id}/checkin")
    assert page.get_by_role("heading", name="Check-in").is_visible()
    assert page.get_by_role("searchbox").is_visible()
    assert "you're offline" in page.locator("#offline-saved").inner_text()
    styled = page.evaluate("getComputedStyle(document.querySelector('#offline-saved')).borderTopStyle")
    assert styled != "none"  # the page's stylesheet came from the cache too

    page.goto(f"{live_server.url}/manage/checkin")  # the shortcut offline: the check-in page the phone kept
    assert page.get_by_role("heading", name="Check-in").is_visible()
    assert "you're offline" in page.locator("#offline-saved").inner_text()
