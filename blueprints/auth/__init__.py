"""Accounts: the cookie session on every request, where people go next, and signing a browser in or out.

The pages (sign-in, sign-up, email links, password reset) are in `pages`.
"""
from __future__ import annotations

import functools
from urllib.parse import urlsplit

import flask_babel
import jwt
from flask import Blueprint, Flask, current_app, g, request, session, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from blueprints.rendering import is_htmx_request, redirect_to, render
from extensions import db, limiter
from services.auth import AuthError, AuthProvider, AuthSession
from services.auth.access_tokens import TemporaryAuthFailure, TokenVerifier, profile_for_claims
from services.auth.providers import provider_for, verifier_for
from services.languages import supported
from services.links import public_url

bp = Blueprint("auth", __name__, url_prefix="/auth")

ACCESS_COOKIE = "sl_access"
REFRESH_COOKIE = "sl_refresh"
COOKIE_MAX_AGE = 60 * 60 * 24 * 30  # the refresh token's life; the JWT inside expires far sooner
_CLEAR = object()


# --- where people go next ----------------------------------------------------------------

def safe_next(value: str | None, default: str = "/") -> str:
    """`value` if it is a path on this site, else `default`: never an open redirect."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def with_next(endpoint: str, next_url: str, **values) -> str:
    if next_url and next_url != "/":
        values["next"] = next_url
    return url_for(endpoint, **values)


def email_link_target(next_url: str) -> str:
    """Where email links point. It always has a query string, because the Supabase email
    templates append `&token_hash=…&type=…` to it (see README, Deploying). On SITE_URL, whatever
    host the request came in on."""
    return public_url("auth.confirm", next=next_url)


def requested_next() -> str:
    g.requested_next = safe_next(request.values.get("next"))
    return g.requested_next


def sign_in_link_next() -> str | None:
    """The `next` of the header's Sign in link: on an auth page, the page's own `next` (so the
    hop keeps it); elsewhere, this page. None when that is the home page."""
    if request.blueprint == bp.name:
        # What the view read (a form posts `next` in its body); an error page reads only the
        # query string, never a body that may be the error.
        here = g.get("requested_next") or safe_next(request.args.get("next"))
    else:
        here = safe_next(request.full_path.rstrip("?"))
    return None if here == "/" else here


# --- the session on every request --------------------------------------------------------

def auth_provider() -> AuthProvider:
    """The configured provider, built for this request (Supabase clients are never shared)."""
    return provider_for(current_app.config, db.session)


def _verifier() -> TokenVerifier:
    return current_app.extensions["startline_token_verifier"]


def start_session(tokens: AuthSession) -> None:
    """Write these tokens to the cookies on the way out."""
    g.auth_cookies = tokens


def begin_session(tokens: AuthSession):
    """Sign this browser in with fresh tokens, and let the rest of this request act as that person
    (g.user), as the cart's "Sign in and pay" needs. The browser takes the language on their profile (chosen
    on another device). Returns the Profile, or None when the token can't be read just now (the next request
    will be signed in all the same)."""
    new_csrf_secret()
    start_session(tokens)
    try:
        claims = _verifier().verify(tokens.access_token)
    except (jwt.PyJWTError, TemporaryAuthFailure):
        return None
    g.user = profile_for_claims(db.session, claims)
    g.auth_claims = claims
    if g.user is not None:
        g.sign_in_language = supported(g.user.language)
        flask_babel.refresh()  # what this request still writes (a flashed notice) is in their language
    return g.user


def end_session() -> None:
    g.auth_cookies = _CLEAR


def new_csrf_secret() -> None:
    """Sign-in and sign-out change who the browser is: a Flask session (and with it the CSRF
    secret) planted or seen before must not carry over."""
    session.clear()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)


def current_tokens() -> AuthSession:
    """This browser's tokens, as refreshed earlier in this very request if they were."""
    pending = g.get("auth_cookies")
    if isinstance(pending, AuthSession):
        return pending
    return AuthSession(request.cookies.get(ACCESS_COOKIE, ""), request.cookies.get(REFRESH_COOKIE, ""))


def expired_claims() -> dict | None:
    """The access cookie's claims though it has expired (its refresh failed for now), so that
    signing out still ends its session; None when it is not a token of ours at all."""
    try:
        return _verifier().verify(request.cookies.get(ACCESS_COOKIE, ""), allow_expired=True)
    except (jwt.PyJWTError, TemporaryAuthFailure):
        return None


def _claims_for_request() -> dict | None:
    """Verify the access cookie; refresh it once if it has expired. None means signed out."""
    access = request.cookies.get(ACCESS_COOKIE)
    refresh = request.cookies.get(REFRESH_COOKIE)
    if not access and not refresh:
        return None
    verifier = _verifier()
    try:
        return verifier.verify(access or "")
    except TemporaryAuthFailure:
        current_app.logger.warning("auth keys unavailable; treating request as signed out")
        return None
    except jwt.ExpiredSignatureError:
        pass  # the signature is good, only the time is up: try the refresh token
    except jwt.PyJWTError:
        end_session()  # forged, wrong audience, garbage: signed out
        return None
    if not refresh:
        end_session()
        return None
    try:
        refreshed = auth_provider().refresh(refresh)
    except AuthError as error:
        if error.ends_session:
            end_session()
        else:  # rate-limited or the auth server is down: keep the cookies, try again next request
            current_app.logger.warning("token refresh failed for now (%s); cookies kept", error.code)
        return None
    # The old refresh token is spent now, so the new pair is written whatever happens next.
    start_session(refreshed)
    try:
        return verifier.verify(refreshed.access_token)
    except TemporaryAuthFailure:
        current_app.logger.warning("auth keys unavailable; treating request as signed out")
        return None
    except jwt.PyJWTError:
        end_session()
        return None


def load_current_user() -> None:
    """Set g.user (the Profile) from the auth cookies, or None."""
    g.user = None
    if request.endpoint == "static":
        return
    claims = _claims_for_request()
    if claims is not None:
        g.user = profile_for_claims(db.session, claims)
        if g.user is None:  # its session was signed out, here or on another app server
            end_session()
        else:
            g.auth_claims = claims


def know_the_user_of_a_refusal() -> None:
    """A request refused before load_current_user ran (Flask-WTF's CSRF check and the rate limiter come first):
    learn who is asking now, so the refusal is in their profile's language and the header shows them signed in."""
    if "user" not in g:
        load_current_user()
        flask_babel.refresh()


def write_auth_cookies(response):
    change = g.pop("auth_cookies", None)
    if change is None:
        return response
    secure = current_app.config["SESSION_COOKIE_SECURE"]
    if change is _CLEAR:
        for name in (ACCESS_COOKIE, REFRESH_COOKIE):
            response.delete_cookie(name, httponly=True, secure=secure, samesite="Lax")
    else:
        for name, value in ((ACCESS_COOKIE, change.access_token), (REFRESH_COOKIE, change.refresh_token)):
            response.set_cookie(name, value, max_age=COOKIE_MAX_AGE, httponly=True, secure=secure,
                                samesite="Lax", path="/")
    # A response that changes who you are must never be cached by anything in between.
    response.headers["Cache-Control"] = "private, no-store"
    response.vary.add("Cookie")
    return response


def login_required(view):
    """Send signed-out visitors to sign in, with a way back here afterwards."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            here = request.full_path.rstrip("?") if request.method == "GET" else request.referrer or "/"
            if is_htmx_request() and request.method != "GET":  # boosted too: htmx says which page it was on
                here = request.headers.get("HX-Current-URL", here)
            target = urlsplit(here)
            local = safe_next(target.path + (f"?{target.query}" if target.query else ""))
            return redirect_to(with_next("auth.sign_in", local))
        return view(*args, **kwargs)

    return wrapped


def register(app: Flask) -> None:
    app.extensions["startline_token_verifier"] = verifier_for(app.config)
    app.before_request(load_current_user)
    app.after_request(write_auth_cookies)
    app.register_blueprint(bp)

    @app.context_processor
    def user_context():
        return {"current_user": g.get("user"), "sign_in_link_next": sign_in_link_next}

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        know_the_user_of_a_refusal()
        return render("errors.html", code=400, title=_("This form has expired"),
                      detail=_("Reload the page and try again. (The security token was missing or too old.)"),
                      status=400)


# --- the form pages' rate limits, and the sign-in link ----------------------------------------

def _failed_attempt(response) -> bool:
    """Rate limits count only attempts that failed (a success redirects)."""
    return response.status_code >= 400


def _failed_or_mailed(response) -> bool:
    """A sign-in link counts whether it was sent or refused: each one is an email to someone."""
    return _failed_attempt(response) or bool(g.get("link_sent"))


auth_limit = limiter.shared_limit(lambda: current_app.config["AUTH_RATE_LIMIT"], scope="auth-forms",
                                   methods=["POST"], deduct_when=_failed_attempt)
link_limit = limiter.shared_limit(lambda: current_app.config["AUTH_RATE_LIMIT"], scope="auth-forms",
                                  methods=["POST"], deduct_when=_failed_or_mailed)


def send_sign_in_link(email: str, next_url: str) -> None:
    """Email a one-time sign-in link that brings them to `next_url`; raises AuthError when refused."""
    auth_provider().send_magic_link(email, redirect_to=email_link_target(next_url))
    g.link_sent = True


# The form pages add their views to `bp`, so they are imported once it and the session helpers exist.
from blueprints.auth import pages  # noqa: E402, F401, I001
