"""Tests that the GoTrue/Storage test double is faithful enough for the real supabase client.

Everything goes through `supabase.create_client` and its auth/storage clients,
so a change in the library's request building or response parsing shows up
here first. The one raw-HTTP test pins the error-body shape that non-library
callers (curl, plain httpx) see.
"""

from __future__ import annotations

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from storage3.exceptions import StorageApiError
from supabase import ClientOptions, create_client
from supabase_auth import SyncMemoryStorage
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from tests.doubles.gotrue import GoTrueServer

PASSWORD = "correct-horse-1"


@pytest.fixture
def server():
    with GoTrueServer() as srv:
        yield srv


@pytest.fixture
def autoconfirm_server():
    with GoTrueServer(autoconfirm=True) as srv:
        yield srv


def make_client(server: GoTrueServer, **options):
    # What a Flask request handler should build: no background refresh timer,
    # no session shared between requests.
    opts = ClientOptions(auto_refresh_token=False, persist_session=False, storage=SyncMemoryStorage(), **options)
    return create_client(server.url, server.anon_key, opts)


def signed_in(server: GoTrueServer, email: str = "rider@example.com"):
    server.create_user(email, PASSWORD)
    client = make_client(server)
    res = client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    return client, res.session


# ---------------------------------------------------------------------- sign-up


def test_signup_with_confirmation_then_verify_email_link(server):
    client = make_client(server)
    res = client.auth.sign_up(
        {
            "email": "New.Rider@Example.com",
            "password": PASSWORD,
            "options": {"email_redirect_to": "http://app.test/confirmed", "data": {"name": "Ada"}},
        }
    )
    assert res.session is None
    assert res.user.email == "new.rider@example.com"
    assert res.user.confirmation_sent_at is not None
    assert res.user.email_confirmed_at is None
    assert res.user.user_metadata == {"name": "Ada"}

    mail = server.last_mail("new.rider@example.com", "signup")
    assert mail["redirect_to"] == "http://app.test/confirmed"
    assert mail["token_hash"]

    with pytest.raises(AuthApiError) as err:
        client.auth.sign_in_with_password({"email": "new.rider@example.com", "password": PASSWORD})
    assert (err.value.status, err.value.code) == (400, "email_not_confirmed")

    verified = make_client(server).auth.verify_otp({"token_hash": mail["token_hash"], "type": "email"})
    assert verified.session is not None
    assert verified.user.email_confirmed_at is not None

    # Email links are single use.
    with pytest.raises(AuthApiError) as err:
        make_client(server).auth.verify_otp({"token_hash": mail["token_hash"], "type": "email"})
    assert (err.value.status, err.value.code) == (403, "otp_expired")

    ok = client.auth.sign_in_with_password({"email": "new.rider@example.com", "password": PASSWORD})
    assert ok.session.user.email == "new.rider@example.com"


def test_email_link_expires_after_an_hour(server):
    make_client(server).auth.sign_up({"email": "late@example.com", "password": PASSWORD})
    mail = server.last_mail("late@example.com")
    server.now_offset = 3601
    with pytest.raises(AuthApiError) as err:
        make_client(server).auth.verify_otp({"token_hash": mail["token_hash"], "type": "signup"})
    assert err.value.code == "otp_expired"


def test_signup_with_autoconfirm_returns_a_session(autoconfirm_server):
    client = make_client(autoconfirm_server)
    res = client.auth.sign_up({"email": "auto@example.com", "password": PASSWORD})
    assert res.session is not None
    assert res.session.token_type == "bearer"
    assert res.session.expires_in == 3600
    assert res.user.email_confirmed_at is not None
    assert autoconfirm_server.mailbox == []

    with pytest.raises(AuthApiError) as err:
        make_client(autoconfirm_server).auth.sign_up({"email": "auto@example.com", "password": PASSWORD})
    assert (err.value.status, err.value.code) == (422, "user_already_exists")


def test_repeated_signup_with_confirmation_on_hides_the_existing_account(server):
    existing = server.create_user("taken@example.com", PASSWORD)
    res = make_client(server).auth.sign_up({"email": "taken@example.com", "password": "another-pass"})
    # GoTrue's anti-enumeration answer: a fake user with no identities.
    assert res.session is None
    assert res.user.id != existing["id"]
    assert res.user.identities == []
    assert server.mailbox == []


def test_signup_validation_errors(server):
    client = make_client(server)
    with pytest.raises(AuthWeakPasswordError) as weak:
        client.auth.sign_up({"email": "short@example.com", "password": "12345"})
    assert (weak.value.status, weak.value.code, weak.value.reasons) == (422, "weak_password", ["length"])

    with pytest.raises(AuthApiError) as bad:
        client.auth.sign_up({"email": "not-an-email", "password": PASSWORD})
    assert (bad.value.status, bad.value.code) == (400, "validation_failed")


def test_confirmation_resend_is_rate_limited_per_user(server):
    client = make_client(server)
    client.auth.sign_up({"email": "eager@example.com", "password": PASSWORD})
    with pytest.raises(AuthApiError) as err:
        client.auth.sign_up({"email": "eager@example.com", "password": PASSWORD})
    assert (err.value.status, err.value.code) == (429, "over_email_send_rate_limit")
    server.now_offset = 61
    client.auth.sign_up({"email": "eager@example.com", "password": PASSWORD})
    assert len([m for m in server.mailbox if m["email"] == "eager@example.com"]) == 2


# ---------------------------------------------------------------------- sign-in and tokens


def test_sign_in_with_wrong_password_or_unknown_user(server):
    server.create_user("rider@example.com", PASSWORD)
    client = make_client(server)
    for email, password in [("rider@example.com", "wrong-password"), ("nobody@example.com", PASSWORD)]:
        with pytest.raises(AuthApiError) as err:
            client.auth.sign_in_with_password({"email": email, "password": password})
        assert (err.value.status, err.value.code, err.value.message) == (
            400,
            "invalid_credentials",
            "Invalid login credentials",
        )


def test_access_token_claims_and_get_user(server):
    client, session = signed_in(server)
    claims = jwt.decode(session.access_token, options={"verify_signature": False})
    assert claims["sub"] == session.user.id
    assert claims["iss"] == f"{server.url}/auth/v1"
    assert (claims["aud"], claims["role"], claims["aal"]) == ("authenticated", "authenticated", "aal1")
    assert claims["amr"][0]["method"] == "password"
    assert claims["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert claims["exp"] - claims["iat"] == 3600
    assert jwt.get_unverified_header(session.access_token) == {"alg": "ES256", "kid": server.kid, "typ": "JWT"}

    fresh = make_client(server).auth.get_user(session.access_token)
    assert fresh.user.email == "rider@example.com"
    assert fresh.user.identities[0].provider == "email"


def test_get_user_rejects_expired_and_forged_tokens(server):
    client, session = signed_in(server)
    forged = server.sign_token(
        jwt.decode(session.access_token, options={"verify_signature": False}),
        key=ec.generate_private_key(ec.SECP256R1()),
    )
    with pytest.raises(AuthApiError) as err:
        make_client(server).auth.get_user(forged)
    assert (err.value.status, err.value.code) == (403, "bad_jwt")

    server.now_offset = 3601
    with pytest.raises(AuthApiError) as err:
        make_client(server).auth.get_user(session.access_token)
    assert (err.value.status, err.value.code) == (403, "bad_jwt")
    assert "token is expired" in err.value.message


def test_refresh_rotates_and_detects_reuse(server):
    client, session = signed_in(server)
    first = session.refresh_token

    second = client.auth.refresh_session(first).session
    assert second.refresh_token != first
    assert second.access_token != session.access_token

    # GoTrue hands the active child back for a retried refresh of its parent.
    retried = make_client(server).auth.refresh_session(first).session
    assert retried.refresh_token == second.refresh_token

    third = client.auth.refresh_session(second.refresh_token).session
    server.now_offset = 11  # past the 10 s reuse interval
    with pytest.raises(AuthApiError) as err:
        make_client(server).auth.refresh_session(first)
    assert (err.value.status, err.value.code) == (400, "refresh_token_already_used")
    assert err.value.message == "Invalid Refresh Token: Already Used"

    # Reuse detection revoked the whole family, including the live token.
    with pytest.raises(AuthApiError) as err:
        make_client(server).auth.refresh_session(third.refresh_token)
    assert err.value.code == "refresh_token_already_used"

    with pytest.raises(AuthApiError) as err:
        make_client(server).auth.refresh_session("abcdefghijkl")  # well formed, never issued
    assert (err.value.status, err.value.code) == (400, "refresh_token_not_found")

    with pytest.raises(AuthApiError) as err:
        make_client(server).auth.refresh_session("no-such-token")
    assert (err.value.status, err.value.code, err.value.message) == (400, "validation_failed",
                                                                     "Refresh token is not valid")


def test_sign_out_ends_every_session_of_the_user(server):
    client, session = signed_in(server)
    other_device = make_client(server)
    elsewhere = other_device.auth.sign_in_with_password({"email": "rider@example.com", "password": PASSWORD}).session

    client.auth.sign_out()  # the library's default scope is "global"
    assert client.auth.get_session() is None
    assert server.requests[-1]["path"] == "/auth/v1/logout"
    assert server.requests[-1]["query"] == {"scope": "global"}

    for token in (session.access_token, elsewhere.access_token):
        with pytest.raises(AuthApiError) as err:
            make_client(server).auth.get_user(token)
        assert (err.value.status, err.value.code) == (403, "session_not_found")
    with pytest.raises(AuthApiError) as err:
        make_client(server).auth.refresh_session(elsewhere.refresh_token)
    assert err.value.code == "refresh_token_not_found"


def test_sign_out_local_keeps_other_sessions(server):
    client, session = signed_in(server)
    elsewhere = make_client(server).auth.sign_in_with_password({"email": "rider@example.com", "password": PASSWORD}).session
    client.auth.sign_out({"scope": "local"})
    assert make_client(server).auth.get_user(elsewhere.access_token).user.email == "rider@example.com"
    with pytest.raises(AuthApiError):
        make_client(server).auth.get_user(session.access_token)


# ---------------------------------------------------------------------- password recovery


def test_password_recovery_flow(server):
    server.create_user("forgetful@example.com", PASSWORD)
    client = make_client(server)
    client.auth.reset_password_for_email("forgetful@example.com", {"redirect_to": "http://app.test/reset"})
    client.auth.reset_password_for_email("stranger@example.com")  # same answer, no mail
    assert [m["email"] for m in server.mailbox] == ["forgetful@example.com"]
    mail = server.last_mail("forgetful@example.com", "recovery")
    assert mail["redirect_to"] == "http://app.test/reset"

    recovering = make_client(server)
    res = recovering.auth.verify_otp({"token_hash": mail["token_hash"], "type": "recovery"})
    assert res.session is not None

    with pytest.raises(AuthApiError) as err:
        recovering.auth.update_user({"password": PASSWORD})
    assert (err.value.status, err.value.code) == (422, "same_password")
    with pytest.raises(AuthWeakPasswordError):
        recovering.auth.update_user({"password": "abc"})

    updated = recovering.auth.update_user({"password": "brand-new-pass", "data": {"team": "blue"}})
    assert updated.user.user_metadata == {"team": "blue"}

    with pytest.raises(AuthApiError) as err:
        make_client(server).auth.sign_in_with_password({"email": "forgetful@example.com", "password": PASSWORD})
    assert err.value.code == "invalid_credentials"
    ok = make_client(server).auth.sign_in_with_password({"email": "forgetful@example.com", "password": "brand-new-pass"})
    assert ok.session is not None


# ---------------------------------------------------------------------- magic links (/otp)


def _otp(client, email, **options):
    return client.auth.sign_in_with_otp({"email": email, "options": {"email_redirect_to": "http://app.test/in?x=1",
                                                                     **options}})


def test_magic_link_for_a_confirmed_account_signs_in_once(server):
    server.create_user("runner@example.com", PASSWORD)
    _otp(make_client(server), "Runner@Example.com")
    mail = server.last_mail("runner@example.com", "magiclink")
    assert mail["redirect_to"] == "http://app.test/in?x=1"
    otp_request = next(r for r in server.requests if r["path"].endswith("/otp"))
    assert otp_request["json"]["create_user"] is True and otp_request["query"]["redirect_to"] == "http://app.test/in?x=1"

    res = make_client(server).auth.verify_otp({"token_hash": mail["token_hash"], "type": "magiclink"})
    assert res.session is not None and res.user.email == "runner@example.com"
    status, code, _ = _refusal(lambda: make_client(server).auth.verify_otp(
        {"token_hash": mail["token_hash"], "type": "magiclink"}))
    assert (status, code) == (403, "otp_expired")
    # Its own password still works: a magic link changes nothing about the account.
    assert make_client(server).auth.sign_in_with_password(
        {"email": "runner@example.com", "password": PASSWORD}).session is not None


def test_magic_link_for_a_new_address_signs_up_and_mails_the_confirmation(server):
    _otp(make_client(server), "new@example.com", data={"full_name": "Nia"})
    assert [m["type"] for m in server.mailbox] == ["signup"]
    user = server.find_user("new@example.com")
    assert "email_confirmed_at" not in user and user["user_metadata"] == {"full_name": "Nia"}
    mail = server.last_mail("new@example.com", "signup")
    res = make_client(server).auth.verify_otp({"token_hash": mail["token_hash"], "type": "email"})
    assert res.session is not None and res.user.email_confirmed_at is not None


def test_magic_link_with_autoconfirm_confirms_and_mails_a_magic_link(autoconfirm_server):
    _otp(make_client(autoconfirm_server), "quick@example.com")
    mail = autoconfirm_server.last_mail("quick@example.com")
    assert mail["type"] == "magiclink"
    assert make_client(autoconfirm_server).auth.verify_otp(
        {"token_hash": mail["token_hash"], "type": "magiclink"}).session is not None


def test_magic_link_refusals(server):
    client = make_client(server)
    assert _refusal(lambda: _otp(client, "nobody@example.com", should_create_user=False))[:2] == (422, "otp_disabled")
    assert server.find_user("nobody@example.com") is None
    assert _refusal(lambda: _otp(client, "not-an-address"))[:2] == (400, "validation_failed")
    server.create_user("again@example.com", PASSWORD)
    _otp(client, "again@example.com")
    assert _refusal(lambda: _otp(client, "again@example.com"))[:2] == (429, "over_email_send_rate_limit")
    server.disable_signup = True
    assert _refusal(lambda: _otp(client, "closed@example.com"))[:2] == (422, "signup_disabled")
    server.email_enabled = False
    assert _refusal(lambda: _otp(client, "again@example.com"))[:2] == (400, "email_provider_disabled")
    raw = httpx.post(f"{server.url}/auth/v1/otp", headers={"apikey": server.anon_key},
                     json={"email": "a@example.com", "phone": "+15550100"})
    assert raw.status_code == 400 and raw.json()["error_code"] == "validation_failed"


def test_magic_link_expires_with_the_otp_ttl(server):
    server.create_user("late@example.com", PASSWORD)
    _otp(make_client(server), "late@example.com")
    mail = server.last_mail("late@example.com", "magiclink")
    server.now_offset = server.otp_ttl + 1
    status, code, _ = _refusal(lambda: make_client(server).auth.verify_otp(
        {"token_hash": mail["token_hash"], "type": "magiclink"}))
    assert (status, code) == (403, "otp_expired")


# ---------------------------------------------------------------------- project settings and their refusals


def _refusal(call) -> tuple:
    with pytest.raises(AuthApiError) as err:
        call()
    return err.value.status, err.value.code, err.value.message


def test_built_in_smtp_mails_only_the_team_and_saves_nothing_else(server):
    server.authorized_addresses = {"team@example.com"}
    client = make_client(server)
    refused = 'Email address "runner@example.com" cannot be used as it is not authorized'

    assert _refusal(lambda: client.auth.sign_up({"email": "runner@example.com", "password": PASSWORD})) == \
        (400, "email_address_not_authorized", refused)
    assert server.find_user("runner@example.com") is None
    assert client.auth.sign_up({"email": "team@example.com", "password": PASSWORD}).user.email == "team@example.com"

    server.create_user("runner@example.com", PASSWORD)
    assert _refusal(lambda: client.auth.reset_password_for_email("runner@example.com")) == \
        (400, "email_address_not_authorized", refused)
    assert [m["email"] for m in server.mailbox] == ["team@example.com"]


def test_a_banned_user_is_refused_everywhere_with_each_endpoints_status(server):
    client, session = signed_in(server)
    server.ban_user("rider@example.com")

    assert _refusal(lambda: make_client(server).auth.sign_in_with_password(
        {"email": "rider@example.com", "password": "not the password"})) == (400, "user_banned", "User is banned")
    assert _refusal(lambda: make_client(server).auth.refresh_session(session.refresh_token)) == \
        (400, "user_banned", "Invalid Refresh Token: User Banned")
    assert _refusal(lambda: make_client(server).auth.get_user(session.access_token)) == \
        (403, "user_banned", "User is banned")


def test_email_provider_switched_off(server):
    server.create_user("rider@example.com", PASSWORD)
    server.email_enabled = False
    client = make_client(server)
    assert _refusal(lambda: client.auth.sign_up({"email": "new@example.com", "password": PASSWORD})) == \
        (400, "email_provider_disabled", "Email signups are disabled")
    assert _refusal(lambda: client.auth.sign_in_with_password({"email": "rider@example.com", "password": PASSWORD})) \
        == (422, "email_provider_disabled", "Email logins are disabled")
    assert _refusal(lambda: client.auth.reset_password_for_email("rider@example.com")) == \
        (400, "email_provider_disabled", "Email logins are disabled")


def test_captcha_protection_refuses_requests_without_a_token_but_not_refreshes(server):
    _, session = signed_in(server)
    server.captcha_enabled = True
    client = make_client(server)
    no_token = (400, "captcha_failed", "captcha protection: request disallowed (no captcha_token found)")
    assert _refusal(lambda: client.auth.sign_up({"email": "new@example.com", "password": PASSWORD})) == no_token
    assert _refusal(lambda: client.auth.sign_in_with_password({"email": "rider@example.com", "password": PASSWORD})) \
        == no_token
    assert _refusal(lambda: client.auth.reset_password_for_email("rider@example.com")) == no_token
    assert client.auth.refresh_session(session.refresh_token).session is not None


def test_password_change_in_an_old_session_needs_reauthentication(server):
    client, _ = signed_in(server)
    server.update_password_require_reauthentication = True
    assert client.auth.update_user({"password": "fresh-session-pass"}).user

    server.age_sessions("rider@example.com", 25 * 3600)

    assert _refusal(lambda: client.auth.update_user({"password": "old-session-pass"})) == \
        (400, "reauthentication_needed", "Password update requires reauthentication")


def test_password_grant_without_an_address_is_a_validation_failure(server):
    response = httpx.post(f"{server.url}/auth/v1/token?grant_type=password", json={"password": PASSWORD},
                          headers={"apikey": server.anon_key})
    assert (response.status_code, response.json()) == (
        400, {"code": 400, "error_code": "validation_failed", "msg": "missing email or phone"})


def test_sign_ups_switched_off(server):
    server.disable_signup = True
    assert _refusal(lambda: make_client(server).auth.sign_up({"email": "new@example.com", "password": PASSWORD})) == \
        (422, "signup_disabled", "Signups not allowed for this instance")


def test_a_failure_inside_gotrue_is_a_500_unexpected_failure(server):
    server.create_user("rider@example.com", PASSWORD)
    server.fail("/token")
    assert _refusal(lambda: make_client(server).auth.sign_in_with_password(
        {"email": "rider@example.com", "password": PASSWORD})) == \
        (500, "unexpected_failure", "Unexpected failure, please check server logs for more information")
    assert make_client(server).auth.sign_in_with_password({"email": "rider@example.com", "password": PASSWORD})


# ---------------------------------------------------------------------- rate limits, JWKS, wire shape


def test_rate_limit_surfaces_as_429(server):
    server.create_user("rider@example.com", PASSWORD)
    server.rate_limit("/auth/v1/token")
    client = make_client(server)
    with pytest.raises(AuthApiError) as err:
        client.auth.sign_in_with_password({"email": "rider@example.com", "password": PASSWORD})
    assert (err.value.status, err.value.code) == (429, "over_request_rate_limit")
    assert client.auth.sign_in_with_password({"email": "rider@example.com", "password": PASSWORD}).session


def test_access_token_verifies_against_served_jwks(server):
    client, session = signed_in(server)
    jwks_client = jwt.PyJWKClient(f"{server.url}/auth/v1/.well-known/jwks.json")
    signing_key = jwks_client.get_signing_key_from_jwt(session.access_token)
    claims = jwt.decode(
        session.access_token,
        signing_key.key,
        algorithms=["ES256"],
        audience="authenticated",
        issuer=f"{server.url}/auth/v1",
    )
    assert claims["email"] == "rider@example.com"
    # The library's own JWKS path (get_claims) agrees.
    assert make_client(server).auth.get_claims(session.access_token)["claims"]["sub"] == session.user.id


def test_error_body_shape_depends_on_api_version_header(server):
    # Non-library callers get GoTrue's legacy shape; the library (which sends
    # X-Supabase-Api-Version: 2024-01-01) gets the newer one.
    url = f"{server.url}/auth/v1/token?grant_type=password"
    body = {"email": "nobody@example.com", "password": PASSWORD}
    legacy = httpx.post(url, json=body, headers={"apikey": server.anon_key})
    assert legacy.status_code == 400
    assert legacy.json() == {"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"}

    modern = httpx.post(url, json=body, headers={"apikey": server.anon_key, "X-Supabase-Api-Version": "2024-01-01"})
    assert modern.json() == {"code": "invalid_credentials", "message": "Invalid login credentials"}
    assert modern.headers["X-Supabase-Api-Version"] == "2024-01-01"

    assert httpx.post(url, json=body).status_code == 401  # the gateway wants an apikey
    missing = httpx.get(f"{server.url}/auth/v1/nope", headers={"apikey": server.anon_key})
    assert missing.json() == {"code": 404, "error_code": "not_found", "msg": "Not Found"}


# ---------------------------------------------------------------------- storage


def test_storage_upload_list_download_public_url_remove(server):
    client, _ = signed_in(server)
    bucket = client.storage.from_("race-media")
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))

    uploaded = bucket.upload("events/42/cover image.png", png, {"content-type": "image/png", "upsert": "true"})
    assert uploaded.full_path == "race-media/events/42/cover image.png"
    assert server.objects[("race-media", "events/42/cover image.png")]["content_type"] == "image/png"
    assert server.objects[("race-media", "events/42/cover image.png")]["data"] == png
    bucket.upload("events/42/cover image.png", b"v2", {"content-type": "image/png", "upsert": "true"})
    bucket.upload("events/42/cover image.png", png, {"content-type": "image/png", "upsert": "true"})
    bucket.upload("events/42/gallery/1.jpg", b"jpeg", {"content-type": "image/jpeg"})

    with pytest.raises(StorageApiError) as dup:
        bucket.upload("events/42/gallery/1.jpg", b"jpeg", {"content-type": "image/jpeg"})
    assert dup.value.status == "409"

    listing = bucket.list("events/42")
    assert [(e["name"], e["id"] is None) for e in listing] == [("cover image.png", False), ("gallery", True)]
    assert listing[0]["metadata"]["mimetype"] == "image/png"
    assert listing[0]["metadata"]["size"] == len(png)

    assert bucket.download("events/42/cover image.png") == png

    public_url = bucket.get_public_url("events/42/cover image.png")
    assert public_url.startswith(f"{server.url}/storage/v1/object/public/race-media/")
    fetched = httpx.get(public_url)
    assert fetched.status_code == 200
    assert fetched.content == png
    assert fetched.headers["content-type"] == "image/png"

    removed = bucket.remove(["events/42/cover image.png", "events/42/not-there.png"])
    assert [r["name"] for r in removed] == ["events/42/cover image.png"]
    assert httpx.get(public_url).status_code == 400  # Storage reports 404s as HTTP 400
    with pytest.raises(StorageApiError) as gone:
        bucket.download("events/42/cover image.png")
    assert (gone.value.status, gone.value.code) == ("404", "not_found")


def test_storage_rejects_unknown_bucket_and_bad_tokens(server):
    client, session = signed_in(server)
    with pytest.raises(StorageApiError) as err:
        client.storage.from_("nope").upload("a.txt", b"x", {"content-type": "text/plain"})
    assert (err.value.status, err.value.message) == ("404", "Bucket not found")

    forged = make_client(server, headers={"Authorization": "Bearer not-a-jwt"})
    with pytest.raises(StorageApiError) as err:
        forged.storage.from_("race-media").upload("a.txt", b"x", {"content-type": "text/plain"})
    assert err.value.status == "403"
    assert server.objects == {}

    server.now_offset = 3601
    with pytest.raises(StorageApiError) as err:
        client.storage.from_("race-media").upload("a.txt", b"x", {"content-type": "text/plain"})
    assert err.value.status == "403"
