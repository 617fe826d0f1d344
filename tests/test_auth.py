"""Accounts, run against both providers: the embedded one and Supabase Auth (a loopback GoTrue).

Each test gets `auth`, which knows how to read the emails its provider sent and how to make
the current access token expire, so the same story is told for both.
"""
from __future__ import annotations

import re
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from app import create_app
from blueprints.auth import ACCESS_COOKIE, REFRESH_COOKIE, login_required, safe_next
from models import OutboxMessage, Profile, RevokedSession
from services import clock
from services.auth import auth_error
from services.auth.local import LocalAuth, local_jwt_secret
from services.auth.providers import token_issuer, verifier_for
from tests.doubles.gotrue import GoTrueServer
from tests.factories import make_race
from tests.http import cookie, csrf_token, post_form

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def gotrue():
    with GoTrueServer() as server:
        yield server


class LocalBackend:
    name = "local"

    def __init__(self, app, db):
        self.app, self.db = app, db
        self.restore = []

    def confirmation_link(self, email: str) -> str:
        message = self.db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == email)
                                          .order_by(OutboxMessage.id.desc())).first()
        assert message is not None, f"no email to {email}"
        return re.search(r"(http\S+token_hash=\S+)", message.text_body).group(1)

    def expire_access_token(self):
        clock.advance(timedelta(hours=2))

    def fail_next_refresh(self, code: str):
        # The local provider is our own database: a refusal with GoTrue's code stands in for
        # a temporary failure, so the web layer's handling is the same story for both.
        real_refresh = LocalAuth.refresh

        def refuse_once(provider, refresh_token):
            LocalAuth.refresh = real_refresh
            raise auth_error(code)

        LocalAuth.refresh = refuse_once
        self.restore.append(lambda: setattr(LocalAuth, "refresh", real_refresh))

    def create_confirmed_user(self, client, email, password=PASSWORD, name="Ada Lovelace"):
        self.app.config["LOCAL_AUTH_AUTOCONFIRM"] = True
        try:
            response = post_form(client, "/auth/sign-up", {"full_name": name, "email": email, "password": password})
            assert response.status_code == 303, response.get_data(as_text=True)
        finally:
            self.app.config["LOCAL_AUTH_AUTOCONFIRM"] = False
        post_form(client, "/auth/sign-out", {})


class SupabaseBackend:
    name = "supabase"

    def __init__(self, server: GoTrueServer):
        self.server = server

    def confirmation_link(self, email: str) -> str:
        mail = self.server.last_mail(email)
        # What our Supabase email templates send: {{ .RedirectTo }}&token_hash={{ .TokenHash }}&type=…
        link_type = "email" if mail["type"] == "signup" else mail["type"]
        return f"{mail['redirect_to']}&token_hash={mail['token_hash']}&type={link_type}"

    def expire_access_token(self):
        # Tokens are judged by our clock; the next one the server issues must not be expired too.
        clock.advance(timedelta(hours=2))
        self.server.now_offset += 2 * 3600

    def fail_next_refresh(self, code: str):
        if code == "over_request_rate_limit":
            self.server.rate_limit("/token")
        else:
            self.server.fail("/token")

    def create_confirmed_user(self, client, email, password=PASSWORD, name="Ada Lovelace"):
        self.server.create_user(email, password, confirmed=True, user_metadata={"full_name": name})


@pytest.fixture(params=["local", "supabase"])
def auth(request, app, db):
    if request.param == "local":
        backend = LocalBackend(app, db)
        yield backend
        for undo in backend.restore:
            undo()
        return
    server = request.getfixturevalue("gotrue")
    server.now_offset = 0
    app.config.update(SUPABASE_URL=server.url, SUPABASE_PUBLISHABLE_KEY=server.anon_key)
    app.extensions["startline_token_verifier"] = verifier_for(app.config)
    yield SupabaseBackend(server)


def unique_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def location(response) -> str:
    return response.headers.get("Location") or response.headers.get("HX-Redirect")


def sign_in(client, email, password=PASSWORD, next_url=None):
    path = "/auth/sign-in" + (f"?next={next_url}" if next_url else "")
    data = {"email": email, "password": password}
    if next_url:
        data["next"] = next_url
    return post_form(client, "/auth/sign-in", data, page=path)


# --- sign-up, confirmation, sign-in -----------------------------------------------------

def test_sign_up_then_confirm_signs_in_and_returns_to_the_race(auth, client, db):
    email = unique_email("new")
    response = post_form(client, "/auth/sign-up", {"full_name": "Grace Hopper", "email": email,
                                                   "password": PASSWORD, "next": "/races/spring-5k"},
                         page="/auth/sign-up?next=/races/spring-5k")
    assert response.status_code == 200
    assert "Check your email" in response.get_data(as_text=True)
    assert cookie(client, ACCESS_COOKIE) is None

    link = urlsplit(auth.confirmation_link(email))
    assert link.path == "/auth/confirm"
    assert parse_qs(link.query)["next"] == ["/races/spring-5k"]

    confirmed = client.get(f"{link.path}?{link.query}")

    assert confirmed.status_code == 303
    assert location(confirmed) == "/races/spring-5k"
    assert cookie(client, ACCESS_COOKIE) and cookie(client, REFRESH_COOKIE)
    page = client.get("/").get_data(as_text=True)
    assert "Grace Hopper" in page and "Sign out" in page
    profile = db.session.scalar(select(Profile).where(Profile.email == email))
    assert profile is not None and profile.full_name == "Grace Hopper"


def test_confirmation_link_works_only_once(auth, client):
    email = unique_email("once")
    post_form(client, "/auth/sign-up", {"full_name": "Once", "email": email, "password": PASSWORD})
    link = urlsplit(auth.confirmation_link(email))
    assert client.get(f"{link.path}?{link.query}").status_code == 303
    client.delete_cookie(ACCESS_COOKIE)
    client.delete_cookie(REFRESH_COOKIE)

    again = client.get(f"{link.path}?{link.query}")

    assert again.status_code == 400
    assert "expired or was already used" in again.get_data(as_text=True)


def test_sign_in_lands_on_next(auth, client):
    email = unique_email("back")
    auth.create_confirmed_user(client, email)

    response = sign_in(client, email, next_url="/races/spring-5k")

    assert response.status_code == 303
    assert location(response) == "/races/spring-5k"
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith(f"{ACCESS_COOKIE}=") and "HttpOnly" in c and "SameSite=Lax" in c for c in cookies)


def test_htmx_sign_in_redirects_with_hx_redirect(auth, client):
    email = unique_email("hx")
    auth.create_confirmed_user(client, email)
    token = csrf_token(client, "/auth/sign-in")
    response = client.post("/auth/sign-in", data={"csrf_token": token, "email": email, "password": PASSWORD,
                                                   "next": "/races/x"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/races/x"


def test_wrong_password_is_a_plain_message_beside_the_form(auth, client, htmx_client):
    email = unique_email("wrong")
    auth.create_confirmed_user(client, email)

    response = sign_in(client, email, password="not the password")

    assert response.status_code == 422
    assert "email and password don" in response.get_data(as_text=True)
    assert cookie(client, ACCESS_COOKIE) is None

    token = csrf_token(htmx_client, "/auth/sign-in")
    fragment = htmx_client.post("/auth/sign-in", data={"csrf_token": token, "email": email, "password": "nope nope"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 422 and body.lstrip().startswith("<form") and "<html" not in body


def test_unconfirmed_email_is_told_to_confirm(auth, client):
    email = unique_email("unconfirmed")
    post_form(client, "/auth/sign-up", {"full_name": "Slow", "email": email, "password": PASSWORD})
    response = sign_in(client, email)
    assert response.status_code == 422
    assert "confirm your email address first" in response.get_data(as_text=True)


def test_weak_password_and_bad_email_are_refused_beside_their_fields(auth, client):
    response = post_form(client, "/auth/sign-up", {"full_name": "Weak", "email": "not-an-email", "password": "short"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "doesn&#39;t look like an email address" in page or "doesn't look like an email address" in page
    assert "at least 8 characters" in page
    assert 'aria-invalid="true"' in page


def test_email_already_registered_gets_a_message(app, client, db):
    backend = LocalBackend(app, db)
    email = unique_email("taken")
    backend.create_confirmed_user(client, email)
    response = post_form(client, "/auth/sign-up", {"full_name": "Again", "email": email, "password": PASSWORD})
    assert response.status_code == 422
    assert "already an account with this email" in response.get_data(as_text=True)


def test_supabase_refusing_a_taken_email_is_shown_beside_the_email_field(app, client, gotrue):
    gotrue.autoconfirm = True
    try:
        app.config.update(SUPABASE_URL=gotrue.url, SUPABASE_PUBLISHABLE_KEY=gotrue.anon_key)
        app.extensions["startline_token_verifier"] = verifier_for(app.config)
        email = unique_email("taken")
        gotrue.create_user(email, PASSWORD)
        response = post_form(client, "/auth/sign-up", {"full_name": "Again", "email": email, "password": PASSWORD})
    finally:
        gotrue.autoconfirm = False
    assert response.status_code == 422
    assert "already an account with this email" in response.get_data(as_text=True)


def test_supabase_down_is_a_message_not_a_500(app, client):
    app.config.update(SUPABASE_URL="http://127.0.0.1:9", SUPABASE_PUBLISHABLE_KEY="sb_publishable_x")
    response = sign_in(client, "a@example.com")
    assert response.status_code == 503
    assert "couldn&#39;t reach the sign-in service" in response.get_data(as_text=True) or \
        "couldn't reach the sign-in service" in response.get_data(as_text=True)


# --- what GoTrue refuses, in words people can act on -----------------------------------

# Every code GoTrue's endpoints that we call can answer (supabase/auth internal/api: token.go,
# token_refresh.go, tokens/service.go, signup.go, recover.go, verify.go, user.go, logout.go,
# auth.go, mail.go, middleware.go, helpers.go, hooks), apart from the outage ones.
GOTRUE_REFUSALS = [
    "invalid_credentials", "email_not_confirmed", "user_banned", "email_provider_disabled", "captcha_failed",
    "validation_failed", "bad_json", "request_entity_too_large", "over_request_rate_limit",
    "refresh_token_not_found", "refresh_token_already_used", "session_not_found", "session_expired",
    "signup_disabled", "weak_password", "user_already_exists", "email_address_invalid",
    "email_address_not_authorized", "over_email_send_rate_limit", "anonymous_provider_disabled",
    "phone_provider_disabled", "otp_expired", "flow_state_not_found", "no_authorization", "bad_jwt",
    "user_not_found", "same_password", "reauthentication_needed", "reauthentication_not_valid",
    "current_password_required", "current_password_invalid", "insufficient_aal", "user_sso_managed",
    "email_exists",
]
GOTRUE_OUTAGES = ["unexpected_failure", "request_timeout", "hook_timeout", "hook_timeout_after_retry",
                  "hook_payload_over_size_limit", "hook_payload_invalid_content_type"]


@pytest.mark.parametrize("code", GOTRUE_REFUSALS)
def test_every_gotrue_refusal_has_its_own_message_not_the_outage_one(code):
    assert auth_error(code).message != auth_error(None).message
    assert auth_error(code).message != auth_error("unexpected_failure").message


@pytest.mark.parametrize("code", GOTRUE_OUTAGES)
def test_gotrue_failing_inside_reads_as_an_outage(code):
    assert auth_error(code).message == auth_error(None).message and auth_error(code).status == 503


@pytest.fixture
def supabase(app, gotrue):
    """The app on the loopback GoTrue, whose project settings a test may change for itself."""
    settings = ("autoconfirm", "authorized_addresses", "email_enabled", "captcha_enabled", "disable_signup",
                "update_password_require_reauthentication")
    saved = {name: getattr(gotrue, name) for name in settings}
    gotrue.now_offset = 0
    app.config.update(SUPABASE_URL=gotrue.url, SUPABASE_PUBLISHABLE_KEY=gotrue.anon_key)
    app.extensions["startline_token_verifier"] = verifier_for(app.config)
    yield gotrue
    for name, value in saved.items():
        setattr(gotrue, name, value)


def _page_says(response, words: str) -> bool:
    return words in response.get_data(as_text=True).replace("&#39;", "'").replace("&#34;", '"')


def test_sign_up_with_an_address_supabase_may_not_mail_says_so_beside_the_email(supabase, client):
    supabase.authorized_addresses = {"team@example.com"}
    email = unique_email("outsider")
    response = post_form(client, "/auth/sign-up", {"full_name": "Out Sider", "email": email, "password": PASSWORD})
    assert response.status_code == 422
    assert _page_says(response, "We can't send email to this address yet")
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert supabase.find_user(email) is None


def test_password_reset_to_an_address_supabase_may_not_mail_says_so(supabase, client):
    email = unique_email("outsider")
    supabase.create_user(email, PASSWORD)
    supabase.authorized_addresses = {"team@example.com"}
    response = post_form(client, "/auth/forgot", {"email": email})
    assert response.status_code == 422
    assert _page_says(response, "We can't send email to this address yet")


@pytest.mark.parametrize("setting, words", [
    ("banned", "This account is suspended"),
    ("email_enabled", "Signing in with email is switched off"),
    ("captcha_enabled", "asked for a CAPTCHA check"),
])
def test_sign_in_refusals_are_told_as_they_are_not_as_an_outage(supabase, client, setting, words):
    email = unique_email("refused")
    supabase.create_user(email, PASSWORD)
    if setting == "banned":
        supabase.ban_user(email)
    else:
        setattr(supabase, setting, setting == "captcha_enabled")

    response = sign_in(client, email)

    assert _page_says(response, words)
    assert not _page_says(response, "couldn't reach the sign-in service")
    assert cookie(client, ACCESS_COOKIE) is None


def test_sign_ups_closed_are_told_as_such(supabase, client):
    supabase.disable_signup = True
    response = post_form(client, "/auth/sign-up", {"full_name": "Late", "email": unique_email("late"),
                                                   "password": PASSWORD})
    assert response.status_code == 422 and _page_says(response, "New sign-ups are closed")


def test_password_change_that_needs_reauthentication_points_to_the_emailed_link(supabase, client):
    email = unique_email("stale")
    supabase.create_user(email, PASSWORD)
    sign_in(client, email)
    supabase.update_password_require_reauthentication = True
    supabase.age_sessions(email, 25 * 3600)

    response = post_form(client, "/auth/reset", {"password": "a brand new phrase"})

    assert response.status_code == 422
    assert _page_says(response, "confirm it's you first")
    assert 'href="/auth/forgot"' in response.get_data(as_text=True)


def test_gotrue_failing_inside_is_an_outage_message(supabase, client):
    email = unique_email("outage")
    supabase.create_user(email, PASSWORD)
    supabase.fail("/token")
    response = sign_in(client, email)
    assert response.status_code == 503 and _page_says(response, "couldn't reach the sign-in service")


# --- next survives every hop -----------------------------------------------------------

def test_next_survives_switching_between_sign_in_and_sign_up(client, db):
    sign_in_page = client.get("/auth/sign-in?next=/races/spring-5k").get_data(as_text=True)
    assert 'href="/auth/sign-up?next=/races/spring-5k"' in sign_in_page
    assert 'name="next" type="hidden" value="/races/spring-5k"' in sign_in_page

    sign_up_page = client.get("/auth/sign-up?next=/races/spring-5k").get_data(as_text=True)
    assert 'href="/auth/sign-in?next=/races/spring-5k"' in sign_up_page
    assert 'name="next" type="hidden" value="/races/spring-5k"' in sign_up_page
    assert 'href="/auth/forgot?next=/races/spring-5k"' in client.get("/auth/sign-in?next=/races/spring-5k").get_data(
        as_text=True)


def test_sign_in_link_in_the_header_comes_back_to_this_page(client, db):
    make_race(db, slug="header-race")
    page = client.get("/races/header-race").get_data(as_text=True)
    assert 'href="/auth/sign-in?next=/races/header-race"' in page


def _header(page: str) -> str:
    return page.split('<header class="site-header">', 1)[1].split("</header>", 1)[0]


@pytest.mark.parametrize("page", ["/auth/sign-in?next=/races/spring-5k", "/auth/sign-up?next=/races/spring-5k",
                                  "/auth/forgot?next=/races/spring-5k",
                                  "/auth/confirm?token_hash=&type=email&next=/races/spring-5k"])
def test_header_sign_in_link_on_auth_pages_keeps_next(client, db, page):
    header = _header(client.get(page).get_data(as_text=True))
    assert 'href="/auth/sign-in?next=/races/spring-5k"' in header


def test_header_sign_in_link_after_a_refused_sign_up_keeps_next(client, db):
    response = post_form(client, "/auth/sign-up", {"full_name": "X", "email": "bad", "password": "short",
                                                   "next": "/races/spring-5k"}, page="/auth/sign-up?next=/races/spring-5k")
    assert response.status_code == 422
    assert 'href="/auth/sign-in?next=/races/spring-5k"' in _header(response.get_data(as_text=True))


def test_header_sign_in_link_on_an_auth_page_never_carries_a_foreign_next(client, db):
    header = _header(client.get("/auth/sign-up?next=//evil.com").get_data(as_text=True))
    assert 'href="/auth/sign-in"' in header and "evil" not in header


@pytest.mark.parametrize("payload", ["//evil.com", "https://evil.com", "/\\evil.com", "\\\\evil.com",
                                     "http:/evil.com", "javascript:alert(1)", "/%0d%0aSet-Cookie:x", "evil.com",
                                     "/ok\r\nLocation: https://evil.com", "///evil.com"])
def test_open_redirect_payloads_fall_back_to_home(auth, client, payload):
    email = unique_email("redir")
    auth.create_confirmed_user(client, email)
    response = post_form(client, "/auth/sign-in", {"email": email, "password": PASSWORD, "next": payload})
    assert response.status_code == 303
    target = location(response)
    assert target in ("/", "/%0d%0aSet-Cookie:x")
    assert safe_next(payload) == target


def test_protected_page_sends_visitor_to_sign_in_and_back(app, client, db):
    @app.get("/only-members")
    @login_required
    def only_members():
        return "members area"

    response = client.get("/only-members?tab=2")
    assert response.status_code == 303
    assert location(response) == "/auth/sign-in?next=/only-members?tab%3D2"

    htmx = client.get("/only-members", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/auth/sign-in?next=/only-members"


# --- sign out, reset ---------------------------------------------------------------------

def test_sign_out_clears_the_cookies_and_needs_csrf(auth, client):
    email = unique_email("out")
    auth.create_confirmed_user(client, email)
    sign_in(client, email)

    assert client.post("/auth/sign-out").status_code == 400  # no CSRF token
    assert cookie(client, ACCESS_COOKIE)

    response = post_form(client, "/auth/sign-out", {})

    assert response.status_code == 303
    assert cookie(client, ACCESS_COOKIE) is None and cookie(client, REFRESH_COOKIE) is None
    assert "Sign in" in client.get("/").get_data(as_text=True)


def test_sign_out_ends_the_session_at_once_for_a_copied_access_cookie(auth, app, client):
    email = unique_email("copied")
    auth.create_confirmed_user(client, email, name="Copied Cookie")
    sign_in(client, email)
    copied_access, copied_refresh = cookie(client, ACCESS_COOKIE), cookie(client, REFRESH_COOKIE)

    post_form(client, "/auth/sign-out", {})

    for cookies in ({ACCESS_COOKIE: copied_access}, {ACCESS_COOKIE: copied_access, REFRESH_COOKIE: copied_refresh}):
        elsewhere = app.test_client()
        for name, value in cookies.items():
            elsewhere.set_cookie(name, value)
        page = elsewhere.get("/").get_data(as_text=True)
        assert "Copied Cookie" not in page and "Sign in" in page
        assert cookie(elsewhere, ACCESS_COOKIE) is None


def test_sign_out_while_the_auth_server_cannot_refresh_still_ends_the_session(auth, app, client):
    email = unique_email("outageout")
    auth.create_confirmed_user(client, email, name="Leaving Now")
    sign_in(client, email)
    copied_access, copied_refresh = cookie(client, ACCESS_COOKIE), cookie(client, REFRESH_COOKIE)
    token = csrf_token(client, "/")
    auth.expire_access_token()
    auth.fail_next_refresh("over_request_rate_limit")

    assert client.post("/auth/sign-out", data={"csrf_token": token}).status_code == 303

    elsewhere = app.test_client()
    elsewhere.set_cookie(ACCESS_COOKIE, copied_access)
    elsewhere.set_cookie(REFRESH_COOKIE, copied_refresh)
    assert "Leaving Now" not in elsewhere.get("/").get_data(as_text=True)


def test_sign_out_on_one_app_server_is_refused_by_another(auth, app, client):
    other_server = create_app({**app.config})  # same database, its own memory
    other_server.extensions["startline_token_verifier"] = app.extensions["startline_token_verifier"]
    email = unique_email("twoservers")
    auth.create_confirmed_user(client, email, name="Two Servers")
    sign_in(client, email)
    copied = cookie(client, ACCESS_COOKIE)
    visitor = other_server.test_client()
    visitor.set_cookie(ACCESS_COOKIE, copied)
    assert "Two Servers" in visitor.get("/").get_data(as_text=True)

    post_form(client, "/auth/sign-out", {})

    assert "Two Servers" not in visitor.get("/").get_data(as_text=True)


def test_signing_out_keeps_the_session_id_only_until_its_tokens_expire(auth, client, db):
    first, second = unique_email("prune1"), unique_email("prune2")
    for email in (first, second):
        auth.create_confirmed_user(client, email)
    sign_in(client, first)
    post_form(client, "/auth/sign-out", {})
    first_sessions = set(db.session.scalars(select(RevokedSession.session_id)))
    assert first_sessions

    auth.expire_access_token()
    sign_in(client, second)
    post_form(client, "/auth/sign-out", {})

    kept = db.session.scalars(select(RevokedSession)).all()
    assert len(kept) == 1 and kept[0].session_id not in first_sessions
    assert kept[0].expires_at > clock.now()


def test_sign_in_gives_the_browser_a_new_csrf_secret(auth, client):
    email = unique_email("fixation")
    auth.create_confirmed_user(client, email)
    planted = csrf_token(client, "/auth/sign-in")

    response = post_form(client, "/auth/sign-in", {"email": email, "password": PASSWORD})

    assert response.status_code == 303
    assert client.post("/auth/sign-out", data={"csrf_token": planted}).status_code == 400
    assert csrf_token(client, "/") != planted
    assert post_form(client, "/auth/sign-out", {}).status_code == 303


def test_forgotten_password_reset_round_trip(auth, client):
    email = unique_email("forgot")
    auth.create_confirmed_user(client, email)

    response = post_form(client, "/auth/forgot", {"email": email, "next": "/races/r"}, page="/auth/forgot?next=/races/r")
    assert "a link to choose a new password is on its way" in response.get_data(as_text=True)

    link = urlsplit(auth.confirmation_link(email))
    landed = client.get(f"{link.path}?{link.query}")
    assert location(landed) == "/auth/reset?next=/races/r"

    changed = post_form(client, "/auth/reset", {"password": "a brand new phrase", "next": "/races/r"},
                        page="/auth/reset?next=/races/r")
    assert changed.status_code == 303 and location(changed) == "/races/r"

    post_form(client, "/auth/sign-out", {})
    assert sign_in(client, email, PASSWORD).status_code == 422
    assert sign_in(client, email, "a brand new phrase").status_code == 303


def test_forgot_password_does_not_reveal_who_has_an_account(auth, client):
    response = post_form(client, "/auth/forgot", {"email": unique_email("nobody")})
    assert response.status_code == 200
    assert "If <strong>" in response.get_data(as_text=True)


@pytest.mark.parametrize("query", ["", "?token_hash=abc", "?type=email", "?token_hash=abc&type=bogus",
                                   "?token_hash=" + "x" * 600 + "&type=email"])
def test_broken_email_links_get_a_clear_400(client, db, query):
    response = client.get(f"/auth/confirm{query}")
    assert response.status_code == 400
    assert "link" in response.get_data(as_text=True)


def test_unknown_token_hash_is_a_clear_400(auth, client):
    response = client.get("/auth/confirm?token_hash=deadbeef&type=email")
    assert response.status_code == 400
    assert "expired or was already used" in response.get_data(as_text=True)


# --- the cookie session on every request --------------------------------------------------

def test_expired_access_token_is_refreshed_and_cookies_rotated(auth, client):
    email = unique_email("refresh")
    auth.create_confirmed_user(client, email, name="Refresh Me")
    sign_in(client, email)
    old_access, old_refresh = cookie(client, ACCESS_COOKIE), cookie(client, REFRESH_COOKIE)

    auth.expire_access_token()
    response = client.get("/")

    assert "Refresh Me" in response.get_data(as_text=True)
    assert cookie(client, ACCESS_COOKIE) not in (None, old_access)
    assert cookie(client, REFRESH_COOKIE) not in (None, old_refresh)
    assert response.headers["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("failure", ["over_request_rate_limit", "unexpected_failure"])
def test_a_temporary_refresh_failure_keeps_the_session_and_retries_later(auth, client, failure):
    email = unique_email("flaky")
    auth.create_confirmed_user(client, email, name="Patient Runner")
    sign_in(client, email)
    old_access, old_refresh = cookie(client, ACCESS_COOKIE), cookie(client, REFRESH_COOKIE)

    auth.expire_access_token()
    auth.fail_next_refresh(failure)
    during = client.get("/")

    assert during.status_code == 200
    assert cookie(client, ACCESS_COOKIE) == old_access and cookie(client, REFRESH_COOKIE) == old_refresh
    assert not any(c.startswith((f"{ACCESS_COOKIE}=", f"{REFRESH_COOKIE}=")) for c in during.headers.getlist("Set-Cookie"))

    after = client.get("/")

    assert "Patient Runner" in after.get_data(as_text=True)
    assert cookie(client, REFRESH_COOKIE) not in (None, old_refresh)


def test_expired_token_with_a_used_refresh_token_means_signed_out(auth, client):
    email = unique_email("reuse")
    auth.create_confirmed_user(client, email, name="Reuse Me")
    sign_in(client, email)
    stolen_access, stolen_refresh = cookie(client, ACCESS_COOKIE), cookie(client, REFRESH_COOKIE)
    for _ in range(2):  # the owner's browser rotates the refresh token twice
        auth.expire_access_token()
        client.get("/")

    # Well past the reuse window, someone presents the first pair again.
    auth.expire_access_token()
    replay = client.application.test_client()
    replay.set_cookie(ACCESS_COOKIE, stolen_access)
    replay.set_cookie(REFRESH_COOKIE, stolen_refresh)
    response = replay.get("/")

    assert response.status_code == 200
    assert "Reuse Me" not in response.get_data(as_text=True)
    assert cookie(replay, ACCESS_COOKIE) is None


def _forged_tokens(app, gotrue_server: GoTrueServer | None):
    now = int(clock.now().timestamp())
    claims = {"sub": str(uuid.uuid4()), "aud": "authenticated", "exp": now + 3600, "iat": now,
              "email": "mallory@example.com", "role": "authenticated"}
    tokens = {
        "wrong signature": jwt.encode(claims, "not-the-secret-not-the-secret-123", algorithm="HS256"),
        "wrong aud": jwt.encode({**claims, "aud": "anon"}, "x" * 32, algorithm="HS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "truncated": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx",
        "garbage": "%%%not a token%%%",
        "sub not a uuid": jwt.encode({**claims, "sub": "admin"}, "x" * 32, algorithm="HS256"),
    }
    if gotrue_server is not None:
        issuer = f"{gotrue_server.url}/auth/v1"
        claims["iss"] = issuer
        tokens["wrong aud"] = gotrue_server.sign_token({**claims, "aud": "anon"})
        tokens["another project's issuer"] = gotrue_server.sign_token({**claims, "iss": "https://other.supabase.co/auth/v1"})
        tokens["no issuer"] = gotrue_server.sign_token({k: v for k, v in claims.items() if k != "iss"})
        tokens["anonymous user"] = gotrue_server.sign_token({**claims, "is_anonymous": True})
        tokens["HS256 when only JWKS is configured"] = jwt.encode(claims, gotrue_server.anon_key, algorithm="HS256")
        tokens["sub not a uuid"] = gotrue_server.sign_token({**claims, "sub": "admin"})
        tokens["wrong signature"] = gotrue_server.sign_token(claims, key=ec.generate_private_key(ec.SECP256R1()))
    else:
        secret = local_jwt_secret(app.config["SECRET_KEY"])
        claims["iss"] = token_issuer(app.config)
        tokens["another issuer"] = jwt.encode({**claims, "iss": "https://elsewhere.example/auth/v1"}, secret,
                                              algorithm="HS256")
        tokens["no issuer"] = jwt.encode({k: v for k, v in claims.items() if k != "iss"}, secret, algorithm="HS256")
        tokens["anonymous user"] = jwt.encode({**claims, "is_anonymous": True}, secret, algorithm="HS256")
        tokens["wrong aud"] = jwt.encode({**claims, "aud": "anon"}, local_jwt_secret(app.config["SECRET_KEY"]),
                                         algorithm="HS256")
        tokens["sub not a uuid"] = jwt.encode({**claims, "sub": "admin"}, local_jwt_secret(app.config["SECRET_KEY"]),
                                              algorithm="HS256")
    return tokens


def test_forged_and_broken_tokens_mean_signed_out_never_a_500(auth, app, client, db):
    server = auth.server if auth.name == "supabase" else None
    for name, token in _forged_tokens(app, server).items():
        visitor = app.test_client()
        visitor.set_cookie(ACCESS_COOKIE, token)
        visitor.set_cookie(REFRESH_COOKIE, "junk")
        response = visitor.get("/")
        assert response.status_code == 200, name
        assert "Sign in" in response.get_data(as_text=True), name
        assert cookie(visitor, ACCESS_COOKIE) is None, name
    assert db.session.scalar(select(Profile).where(Profile.email == "mallory@example.com")) is None


def test_a_valid_token_for_a_new_user_creates_their_profile(auth, app, client, db):
    email = unique_email("first")
    auth.create_confirmed_user(client, email, name="First Sight")
    sign_in(client, email)
    client.get("/")
    profile = db.session.scalar(select(Profile).where(Profile.email == email))
    assert profile.full_name == "First Sight"


# --- abuse -----------------------------------------------------------------------------

def test_sign_in_without_csrf_token_is_refused(client, db):
    response = client.post("/auth/sign-in", data={"email": "a@example.com", "password": "x"})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


def test_too_many_failed_sign_ins_get_429(app, client, db):
    app.config["AUTH_RATE_LIMIT"] = "3 per minute"
    token = csrf_token(client, "/auth/sign-in")
    statuses = [client.post("/auth/sign-in", data={"csrf_token": token, "email": "x@example.com",
                                                   "password": "wrong pass"}).status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 429]
    blocked = client.post("/auth/sign-in", data={"csrf_token": token, "email": "x@example.com", "password": "x"})
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.get_data(as_text=True)
