"""Security headers on every kind of response, request ids in headers, logs and the 500 page, size limits."""
from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest
from flask import request

from app import create_app
from blueprints.request_log import log_handler
from blueprints.security import content_security_policy
from tests.factories import make_race
from tests.http import post_form

ROOT = Path(__file__).resolve().parent.parent

EXPECTED_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
        "form-action 'self' https://checkout.stripe.com; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"),
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "X-Frame-Options": "DENY",
}


@pytest.fixture
def boom(app):
    """A page that fails the way a bug would."""
    @app.get("/boom")
    def boom_page():
        raise RuntimeError("kaboom: secret detail")


def _responses(client, htmx_client):
    race = "/races/lake-10k"
    yield "page", client.get(race)
    yield "htmx fragment", htmx_client.get("/?q=lake")
    yield "JSON", client.get("/healthz")
    yield "404 page", client.get("/no/such/page")
    yield "500 page", client.get("/boom")
    yield "static file", client.get("/static/css/site.css")


def test_every_kind_of_response_carries_the_security_headers(client, htmx_client, db, boom):
    make_race(db, slug="lake-10k", title="Lake 10K")
    seen = set()
    for kind, response in _responses(client, htmx_client):
        seen.add((kind, response.status_code))
        for name, value in EXPECTED_HEADERS.items():
            assert response.headers.get(name) == value, f"{name} on the {kind}"
        assert "Strict-Transport-Security" not in response.headers, "HSTS is for production only"
        assert re.fullmatch(r"[0-9a-f]{16}", response.headers["X-Request-ID"])
    assert seen == {("page", 200), ("htmx fragment", 200), ("JSON", 200), ("404 page", 404), ("500 page", 500),
                    ("static file", 200)}


def test_the_policy_allows_no_inline_script_or_style_and_no_eval():
    policy = EXPECTED_HEADERS["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "*" not in policy


def test_images_may_come_from_supabase_storage_when_it_holds_them():
    policy = content_security_policy({"STORAGE": "supabase", "SUPABASE_URL": "https://abc.supabase.co/"})
    assert "img-src 'self' data: blob: https://abc.supabase.co;" in policy
    assert "supabase" not in content_security_policy({"STORAGE": "local", "SUPABASE_URL": "https://abc.supabase.co"})


def test_a_local_stripe_stand_in_may_receive_the_checkout_redirect():
    policy = content_security_policy({"STRIPE_API_BASE": "http://127.0.0.1:4567"})
    assert "form-action 'self' https://checkout.stripe.com http://127.0.0.1:4567;" in policy


@pytest.mark.parametrize("hops, seen", [(0, "127.0.0.1"), (1, "203.0.113.9")])
def test_forwarded_client_addresses_are_believed_only_behind_a_configured_proxy(app, hops, seen):
    app = create_app({**app.config, "PROXY_HOPS": hops})

    @app.get("/whoami")
    def whoami():
        return request.remote_addr

    response = app.test_client().get("/whoami", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"},
                                     environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.get_data(as_text=True) == seen


def test_pages_have_no_inline_scripts_styles_or_event_handlers():
    """What the policy would block: inline <script>, <style>, style="…", on…= handlers, hx-on, javascript: links."""
    forbidden = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|\bhx-on|[\"']\s*(?:javascript|js):", re.I)
    offenders = []
    for folder in ("templates", "partials"):
        for path in (ROOT / folder).rglob("*.html"):
            if "emails" in path.relative_to(ROOT).parts:
                continue  # emails are read in mail clients, never served as pages
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if forbidden.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_htmx_evaluates_nothing_and_injects_no_styles(client, db):
    page = client.get("/").get_data(as_text=True)
    config = json.loads(re.search(r'<meta name="htmx-config" content=\'([^\']+)\'', page).group(1))
    assert config["allowEval"] is False
    assert config["includeIndicatorStyles"] is False
    assert "style" not in config["attributesToSettle"]  # a style attribute set by an extension is not copied


def test_session_and_auth_cookies_are_httponly_secure_and_samesite(app, client, db):
    app.config.update(SESSION_COOKIE_SECURE=True, LOCAL_AUTH_AUTOCONFIRM=True)
    response = post_form(client, "/auth/sign-up", {"full_name": "Ada Lovelace", "email": "ada@example.com",
                                                   "password": "correct horse battery staple 42"})
    assert response.status_code in (200, 303)
    cookies = {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}
    assert {"sl_access", "sl_refresh"} <= cookies.keys()
    for name, header in cookies.items():
        attributes = {part.strip().lower() for part in header.split(";")}
        assert {"secure", "httponly", "samesite=lax"} <= attributes, name
    session = app.test_client().get("/auth/sign-in").headers["Set-Cookie"]  # the CSRF token's session
    assert session.startswith("session=")
    assert {"secure", "httponly", "samesite=lax"} <= {p.strip().lower() for p in session.split(";")}


# --- request ids ---------------------------------------------------------------------------

def test_an_incoming_request_id_is_kept_when_it_is_a_plain_token(client, db):
    assert client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"}).headers["X-Request-ID"] == "lb-7f3a.42"
    uuid_id = "3f1c2b9e-0d5e-4a43-9b59-1f2e3d4c5b6a"
    assert client.get("/healthz", headers={"X-Request-ID": uuid_id}).headers["X-Request-ID"] == uuid_id


@pytest.mark.parametrize("incoming", ["two words", "x" * 101, "<script>", "-leading-dash", "a\\nb", ""])
def test_an_odd_request_id_is_replaced_by_a_fresh_one(client, db, incoming):
    answer = client.get("/healthz", headers={"X-Request-ID": incoming}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{16}", answer)


def test_every_request_gets_its_own_id(client, db):
    assert client.get("/healthz").headers["X-Request-ID"] != client.get("/healthz").headers["X-Request-ID"]


@pytest.fixture
def capture_log(app):
    """`capture_log("json")` → a stream that receives what the app logs, formatted as configured."""
    handlers = []

    def capture(log_format: str) -> io.StringIO:
        stream = io.StringIO()
        handler = log_handler(log_format)
        handler.setStream(stream)
        app.logger.addHandler(handler)
        handlers.append(handler)
        return stream

    yield capture
    for handler in handlers:
        app.logger.removeHandler(handler)


def test_an_error_is_logged_as_json_with_the_id_shown_to_the_user(client, db, boom, capture_log):
    stream = capture_log("json")
    response = client.get("/boom", headers={"X-Request-ID": "req-500-abc"})

    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Reference: <code>req-500-abc</code>" in page
    assert "kaboom" not in page
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    error = next(line for line in lines if line["level"] == "ERROR")
    assert error["request_id"] == "req-500-abc"
    assert error["message"] == "unhandled error on GET /boom"
    assert "RuntimeError: kaboom: secret detail" in error["exception"]
    assert error["time"].endswith("+00:00")


def test_the_500_fragment_for_htmx_shows_the_reference_too(app, htmx_client, db, boom):
    response = htmx_client.get("/boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "<html" not in body
    assert f"Reference: <code>{response.headers['X-Request-ID']}</code>" in body


def test_plain_log_lines_carry_the_request_id(app, client, db, capture_log):
    @app.get("/noisy")
    def noisy():
        app.logger.warning("something to look at")
        return "ok"

    stream = capture_log("plain")
    response = client.get("/noisy")
    line = stream.getvalue().strip()
    assert f"WARNING app [{response.headers['X-Request-ID']}] something to look at" in line


def test_log_lines_outside_a_request_say_so(app, capture_log):
    stream = capture_log("json")
    app.logger.warning("from the worker")
    assert json.loads(stream.getvalue())["request_id"] == "-"


def test_client_errors_show_no_reference(client, db):
    assert "Reference:" not in client.get("/no/such/page").get_data(as_text=True)


# --- size limits ---------------------------------------------------------------------------

def test_a_too_large_post_gets_the_friendly_413_page(app, client, db):
    body = {"email": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)}
    response = client.post("/auth/sign-in", data=body)
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "<html" in page and "That file is too big" in page and "Browse races" in page
    assert response.headers["Content-Security-Policy"] == EXPECTED_HEADERS["Content-Security-Policy"]


def test_a_too_large_htmx_post_gets_a_413_fragment(app, htmx_client, db):
    body = {"email": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)}
    response = htmx_client.post("/auth/sign-in", data=body)
    assert response.status_code == 413
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and "That file is too big" in fragment


def test_logging_to_the_root_handler_is_configured_once_per_app(app):
    create_app({**app.config})
    ours = [h for h in logging.getLogger().handlers if getattr(h, "startline", False)]
    assert len(ours) == 1
