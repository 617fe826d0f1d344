"""The API's documentation page in a real browser: Swagger UI (vendored) shows every operation, and breaks none of
the site's Content-Security-Policy."""
import pytest

pytestmark = pytest.mark.browser


def test_docs_page_shows_the_operations_within_the_csp(live_server, page):
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: violations.append(f"page error: {error}"))
    page.goto(live_server.url + "/api/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/races/{slug}/registrants" in path for path in paths)
    assert any("/api/v1/auth/token" in path for path in paths)
    page.locator(".opblock-summary-path", has_text="/api/v1/races/{slug}/registrants").first.click()
    page.wait_for_selector("text=updated_since")
    assert violations == []
