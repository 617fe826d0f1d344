"""The installable app over HTTP: the service worker's address and headers, the manifest, the offline page,
the mark on the pages a device may keep, and sign-out clearing the device."""
import struct

import pytest

from tests.factories import login, make_paid_order, make_profile, make_race
from tests.http import post_form

SW_HEADERS_FROM = ("/sw.js", "/sw.js?v=0123abcd")


@pytest.mark.parametrize("url", SW_HEADERS_FROM)
def test_the_service_worker_is_served_from_the_root_for_the_whole_site_and_never_from_a_cache(client, db, url):
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.headers["Cache-Control"] == "no-cache"
    assert "self.addEventListener(\"fetch\"" in response.get_data(as_text=True)


def test_the_service_worker_runs_under_the_same_content_security_policy_as_the_pages(client, db):
    worker, page = client.get("/sw.js"), client.get("/")
    policy = worker.headers["Content-Security-Policy"]
    assert policy == page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-eval" not in policy and "unsafe-inline" not in policy
    assert worker.headers["X-Content-Type-Options"] == "nosniff"


def test_every_page_registers_the_worker_with_the_static_build_in_its_address(client, db):
    html = client.get("/").get_data(as_text=True)
    assert 'data-sw="/sw.js?v=' in html
    assert "/static/js/offline." in html
    assert 'data-account=""' in html  # nobody signed in: the worker drops any kept pages


def _png_size(data: bytes) -> str:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return f"{width}x{height}"


def test_the_manifest_has_every_field_chromium_asks_for_and_its_images_exist(client, db):
    response = client.get("/manifest.webmanifest")
    assert response.mimetype == "application/manifest+json"
    manifest = response.json
    for field in ("id", "name", "short_name", "description", "start_url", "scope", "theme_color",
                  "background_color"):
        assert manifest[field], field
    assert manifest["display"] == "standalone"
    assert manifest["start_url"].startswith(manifest["scope"])
    purposes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= purposes
    assert {shot["form_factor"] for shot in manifest["screenshots"]} == {"narrow", "wide"}
    assert {shortcut["name"]: shortcut["url"] for shortcut in manifest["shortcuts"]} == {
        "My tickets": "/tickets/", "Check-in": "/manage/checkin"}
    for image in [*manifest["icons"], *manifest["screenshots"], *manifest["shortcuts"][0]["icons"]]:
        answer = client.get(image["src"])
        assert answer.status_code == 200, image["src"]
        assert _png_size(answer.data) == image["sizes"], image["src"]
        answer.close()


def test_the_offline_page_names_nobody_and_sets_no_cookie(client, db):
    response = client.get("/offline")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "You're offline" in html and 'name="offline-page"' in html
    assert "Set-Cookie" not in response.headers


def test_only_the_signed_in_tickets_and_check_in_pages_are_marked_for_keeping(app, client, db):
    organizer = make_profile(db, email="olga@example.com")
    runner = make_profile(db, email="rosa@example.com")
    race = make_race(db, organizer=organizer, slug="lake")
    order = make_paid_order(db, race, {race.ticket_types[0]: 1}, buyer=runner)
    code = order.registrations[0].ticket_code

    assert "X-Offline-Account" not in client.get(f"/tickets/{code}").headers  # by its code, nobody signed in
    login(client, runner)
    kept = [client.get("/tickets/"), client.get(f"/tickets/{code}")]
    assert {response.status_code for response in kept} == {200}
    keys = {response.headers["X-Offline-Account"] for response in kept}
    assert len(keys) == 1 and str(runner.id) not in keys.pop()  # one key for the account, not its id
    for other in ("/races/lake", "/", "/cart/"):
        assert "X-Offline-Account" not in client.get(other).headers, other
    assert "X-Offline-Account" not in client.get("/tickets/", headers={"HX-Request": "true"}).headers

    organizers = app.test_client()
    login(organizers, organizer)
    checkin = organizers.get(f"/manage/races/{race.id}/checkin")
    assert checkin.status_code == 200 and checkin.headers["X-Offline-Account"] not in keys
    assert "X-Offline-Account" not in organizers.get(f"/manage/races/{race.id}/registrants").headers


def test_signing_out_clears_what_the_device_kept(client, db):
    login(client, make_profile(db))
    response = post_form(client, "/auth/sign-out", {})
    assert response.status_code == 303
    assert response.headers["Clear-Site-Data"] == '"cache", "storage"'
