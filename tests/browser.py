"""A live server and headless Chromium (Debian's, driven by Playwright) for browser tests."""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


class LiveServer:
    """The test app served over real HTTP on a free loopback port, in a thread."""

    def __init__(self, app):
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._thread.join(5)


@pytest.fixture
def live_server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing and REQUIRE_BROWSER is set")
        pytest.skip(f"needs Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(chromium, *, service_workers: str = "block", width: int = 390, height: int = 844,
              timeout: int = 10_000, **context_options):
    """A page in a context of its own (`page.context`), with Playwright's `context_options` (java_script_enabled,
    locale, storage_state...). The service worker is blocked unless asked for: see the `page` fixture."""
    context = chromium.new_context(viewport={"width": width, "height": height}, service_workers=service_workers,
                                   **context_options)
    page = context.new_page()
    page.set_default_timeout(timeout)
    return page


@contextmanager
def page_at(chromium, width: int, height: int = 900, **options):
    """A page `width` pixels wide (the `page` fixture's, at another width, with `open_page`'s options), closed with
    its context afterwards, whether the test passed or not."""
    page = open_page(chromium, width=width, height=height, **options)
    try:
        yield page
    finally:
        page.context.close()


@pytest.fixture
def page(chromium):
    """A phone-sized page without the service worker (static/sw.js): a page it controls would be served the
    cached copies of static files, past the routes a test sets (Playwright's page.route never sees them), and
    whether it controls the page yet depends on timing. tests/test_browser_offline.py's pages have it."""
    page = open_page(chromium, service_workers="block")
    yield page
    page.context.close()


@pytest.fixture
def page_with_service_worker(chromium):
    page = open_page(chromium, service_workers="allow")
    yield page
    page.context.close()


def follow(page, link) -> None:
    """Click `link` and return once the page it opens has loaded, so htmx listens on that page.

    A click returns as soon as the next page starts loading, but htmx (a deferred script, fetched
    again or revalidated on every page) wires up the hx-triggers only at DOMContentLoaded. Keys typed
    in between reach the input and no trigger: an inline check the test then waits for never comes.
    """
    with page.expect_navigation(wait_until="load"):
        link.click()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under artifacts/ for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def card(page, number: int):
    """Runner `number`'s card on the cart page (its fields are found by label inside it)."""
    return page.locator("details.runner-card").nth(number - 1)


def fill_runner(runner, first, last, email, *, contact=True):
    """Fill in a whole runner form (details, emergency contact, signed waiver) as a person would; `runner` is a
    runner's card on the cart page, or a page holding one runner form."""
    runner.get_by_label("First name").fill(first)
    runner.get_by_label("Last name").fill(last)
    runner.get_by_label("Email", exact=True).fill(email)
    runner.get_by_label("Date of birth").fill("1990-04-21")
    runner.get_by_label("T-shirt size").select_option("M")
    if contact:
        runner.get_by_label("Emergency contact's name").fill("Luis López")
        runner.get_by_label("Emergency contact's phone").fill("+1 212 555 0100")
    runner.get_by_label("I have read the waiver above and accept it").check()
    runner.get_by_label("Signature").fill(f"{first} {last}")


CONTRAST = """element => {
  const luminance = css => {
    const [r, g, b] = css.match(/[\\d.]+/g).slice(0, 3).map(v => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const style = getComputedStyle(element);
  const [light, dark] = [luminance(style.color), luminance(style.backgroundColor)].sort((a, b) => b - a);
  return (light + 0.05) / (dark + 0.05);
}"""


def contrast_ratio(locator) -> float:
    """WCAG's contrast ratio of an element's text colour on its own (opaque) background colour."""
    return locator.evaluate(CONTRAST)
