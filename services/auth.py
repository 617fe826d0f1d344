"""Authentication: one interface, two providers (Supabase Auth, or the embedded local one).

Both hand out the same kind of session: a short-lived JWT access token (aud "authenticated",
sub = the user's UUID) and a rotating refresh token. The web layer keeps them in HttpOnly
cookies and verifies the access token locally on every request with `TokenVerifier`.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import jwt
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from models import LocalOneTimeToken, LocalRefreshToken, LocalUser, Profile
from services import clock

log = logging.getLogger(__name__)

EMAIL_LINK_TYPES = {"email", "signup", "recovery", "magiclink", "invite", "email_change"}
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 72  # bcrypt's limit, which Supabase Auth inherits
COMMON_PASSWORDS = {"password", "password1", "12345678", "123456789", "1234567890", "qwertyuiop",
                    "iloveyou", "11111111", "00000000", "abcdefgh", "letmein1", "startline"}


@dataclass(frozen=True)
class AuthSession:
    access_token: str
    refresh_token: str


@dataclass(frozen=True)
class SignUpResult:
    session: AuthSession | None  # None: the email address must be confirmed first


class AuthError(Exception):
    """A refusal a person can act on. `field` names the input the message belongs beside."""

    def __init__(self, code: str, message: str, *, field: str | None = None, status: int = 422):
        super().__init__(message)
        self.code, self.message, self.field, self.status = code, message, field, status


# Supabase Auth's error codes, and what we tell people about them.
_ERRORS = {
    "invalid_credentials": ("That email and password don't match. Check them, or reset your password.", None, 422),
    "email_not_confirmed": ("Please confirm your email address first: follow the link we emailed you.", None, 422),
    "user_already_exists": ("There's already an account with this email. Sign in instead?", "email", 422),
    "email_exists": ("There's already an account with this email. Sign in instead?", "email", 422),
    "weak_password": (f"Choose a stronger password: at least {MIN_PASSWORD_LENGTH} characters, "
                      "not a common one.", "password", 422),
    "same_password": ("That's your current password. Choose a new one.", "password", 422),
    "otp_expired": ("This link has expired or was already used. Ask for a new one below.", None, 422),
    "validation_failed": ("Check the email address.", "email", 422),
    "email_address_invalid": ("That email address can't receive mail. Check it for typos.", "email", 422),
    "over_request_rate_limit": ("Too many attempts. Please wait a minute and try again.", None, 429),
    "over_email_send_rate_limit": ("We've just sent you an email. Please wait a minute before asking again.",
                                   None, 429),
    "signup_disabled": ("New sign-ups are closed right now.", None, 422),
}
UNAVAILABLE = ("We couldn't reach the sign-in service. Please try again in a moment.", None, 503)
# Refresh failures that simply mean "this session is over".
SESSION_OVER = {"refresh_token_already_used", "refresh_token_not_found", "session_not_found",
                "session_expired", "user_not_found", "bad_jwt", "otp_expired"}


def auth_error(code: str | None) -> AuthError:
    message, field, status = _ERRORS.get(code or "", UNAVAILABLE)
    return AuthError(code or "unavailable", message, field=field, status=status)


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def password_problem(password: str, email: str = "") -> str | None:
    """Why a new password is not acceptable, or None. One rule for forms and providers."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password.encode()) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(password)) < 3 or (email and lowered == normalize_email(email)):
        return "That password is too easy to guess. Try a short phrase."
    return None


class AuthProvider(Protocol):
    def sign_up(self, email: str, password: str, *, full_name: str, redirect_to: str) -> SignUpResult: ...
    def sign_in(self, email: str, password: str) -> AuthSession: ...
    def refresh(self, refresh_token: str) -> AuthSession: ...
    def verify_email_link(self, token_hash: str, link_type: str) -> AuthSession: ...
    def send_password_reset(self, email: str, *, redirect_to: str) -> None: ...
    def update_password(self, session: AuthSession, password: str) -> AuthSession: ...
    def sign_out(self, access_token: str) -> None: ...


# --- verifying access tokens -------------------------------------------------------------

class TemporaryAuthFailure(Exception):
    """The keys could not be fetched: not the user's fault, so their cookies are kept."""


class TokenVerifier:
    """Checks access tokens locally: asymmetric keys from a JWKS URL (cached) and/or an HS256 secret."""

    LEEWAY = 10  # seconds of clock skew between us and the auth server

    def __init__(self, *, jwks_url: str | None = None, hs256_secret: str | None = None):
        self.hs256_secret = hs256_secret
        self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=600, timeout=5) if jwks_url else None

    def verify(self, token: str, *, allow_expired: bool = False) -> dict:
        """The token's claims. Raises jwt.ExpiredSignatureError, jwt.InvalidTokenError or TemporaryAuthFailure."""
        alg = jwt.get_unverified_header(token).get("alg")
        if alg == "HS256" and self.hs256_secret:
            key = self.hs256_secret
        elif alg in ("ES256", "RS256") and self.jwks is not None:
            try:
                key = self.jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientConnectionError as exc:
                raise TemporaryAuthFailure(str(exc)) from exc
        else:
            # "none", HS256 without a configured secret, or anything unexpected.
            raise jwt.InvalidAlgorithmError(f"tokens signed with {alg!r} are not accepted")
        claims = jwt.decode(token, key, algorithms=[alg], audience="authenticated",
                            options={"require": ["exp", "sub", "aud"], "verify_exp": False,
                                     "verify_iat": False, "verify_nbf": False})
        # Expiry is judged by our clock (services.clock), so tests can move time instead of waiting.
        if not allow_expired and claims["exp"] <= clock.now().timestamp() - self.LEEWAY:
            raise jwt.ExpiredSignatureError("Signature has expired")
        try:
            uuid.UUID(str(claims["sub"]))
        except ValueError:
            raise jwt.InvalidTokenError("sub is not a user id") from None
        return claims


def profile_for_claims(session: Session, claims: dict) -> Profile:
    """The Profile of a verified token's user, created the first time we see them."""
    user_id = uuid.UUID(claims["sub"])
    email = normalize_email(claims.get("email", ""))
    profile = session.get(Profile, user_id)
    if profile is None:
        metadata = claims.get("user_metadata") or {}
        profile = Profile(id=user_id, email=email, full_name=str(metadata.get("full_name", ""))[:200])
        session.add(profile)
        session.commit()
    elif email and profile.email != email:
        profile.email = email
        session.commit()
    return profile


# --- Supabase Auth -----------------------------------------------------------------------

class SupabaseAuth:
    """Supabase Auth through the `supabase` library, with a fresh client for every call.

    A shared client keeps the last session it saw, which would leak one user's session into
    another's request; so each call builds its own, with no background refresh and memory storage.
    """

    def __init__(self, url: str, publishable_key: str):
        self.url, self.key = url.rstrip("/"), publishable_key

    def _client(self):
        # The supabase library costs ~0.4 s to import: only deployments that use Supabase pay it.
        import httpx
        from supabase import ClientOptions, create_client
        from supabase_auth import SyncMemoryStorage

        options = ClientOptions(auto_refresh_token=False, persist_session=False, storage=SyncMemoryStorage(),
                                flow_type="implicit", httpx_client=httpx.Client(http2=False, timeout=10))
        return create_client(self.url, self.key, options)

    def _call(self, fn: Callable):
        # Imported here for the same reason as in _client: only Supabase deployments need them.
        import httpx
        from supabase_auth.errors import AuthApiError
        from supabase_auth.errors import AuthError as LibraryAuthError

        try:
            return fn(self._client().auth)
        except AuthApiError as exc:
            log.info("supabase auth refused: %s %s", exc.status, exc.code)
            raise auth_error(exc.code) from exc
        except (LibraryAuthError, httpx.HTTPError) as exc:  # unreachable, timeouts, 5xx
            log.warning("supabase auth unavailable: %r", exc)
            raise auth_error(None) from exc

    @staticmethod
    def _session(response) -> AuthSession:
        if response is None or response.session is None:
            raise auth_error("session_not_found")
        return AuthSession(response.session.access_token, response.session.refresh_token)

    def sign_up(self, email, password, *, full_name, redirect_to):
        response = self._call(lambda auth: auth.sign_up({
            "email": normalize_email(email), "password": password,
            "options": {"data": {"full_name": full_name}, "email_redirect_to": redirect_to}}))
        return SignUpResult(self._session(response) if response.session else None)

    def sign_in(self, email, password):
        return self._session(self._call(lambda auth: auth.sign_in_with_password(
            {"email": normalize_email(email), "password": password})))

    def refresh(self, refresh_token):
        return self._session(self._call(lambda auth: auth.refresh_session(refresh_token)))

    def verify_email_link(self, token_hash, link_type):
        return self._session(self._call(lambda auth: auth.verify_otp(
            {"token_hash": token_hash, "type": link_type})))

    def send_password_reset(self, email, *, redirect_to):
        self._call(lambda auth: auth.reset_password_for_email(normalize_email(email), {"redirect_to": redirect_to}))

    def update_password(self, session, password):
        def change(auth):
            auth.set_session(session.access_token, session.refresh_token)
            auth.update_user({"password": password})
            current = auth.get_session()
            return AuthSession(current.access_token, current.refresh_token)

        return self._call(change)

    def sign_out(self, access_token):
        # scope "local": this browser only; the runner's phone stays signed in.
        self._call(lambda auth: auth.admin.sign_out(access_token, "local"))


# --- the embedded provider ---------------------------------------------------------------

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def local_jwt_secret(secret_key: str) -> str:
    """The local provider's HS256 key, derived so it is never the cookie-signing key itself."""
    return hmac.new(secret_key.encode(), b"startline local auth tokens", hashlib.sha256).hexdigest()


EmailSender = Callable[[str, str, str], None]  # (kind, to, link)


class LocalAuth:
    """Supabase Auth's behaviour, on our own tables: for `make run` and tests with no Supabase."""

    ACCESS_TTL = timedelta(hours=1)
    LINK_TTL = timedelta(hours=1)
    REUSE_INTERVAL = timedelta(seconds=10)  # as GoTrue: parallel requests may present the same token

    def __init__(self, session: Session, *, jwt_secret: str, issuer: str, autoconfirm: bool,
                 send_email: EmailSender):
        self.db, self.secret, self.issuer = session, jwt_secret, issuer
        self.autoconfirm, self.send_email = autoconfirm, send_email

    # sessions
    def _access_token(self, user: LocalUser, session_id: uuid.UUID) -> str:
        now = clock.now()
        claims = {
            "iss": self.issuer, "sub": str(user.id), "aud": "authenticated", "role": "authenticated",
            "iat": int(now.timestamp()), "exp": int((now + self.ACCESS_TTL).timestamp()),
            "email": user.email, "phone": "", "session_id": str(session_id), "aal": "aal1",
            "amr": [{"method": "password", "timestamp": int(now.timestamp())}],
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {"full_name": user.full_name}, "is_anonymous": False,
        }
        return jwt.encode(claims, self.secret, algorithm="HS256", headers={"typ": "JWT"})

    def _new_refresh_token(self, user: LocalUser, session_id: uuid.UUID) -> str:
        token = secrets.token_urlsafe(32)
        self.db.add(LocalRefreshToken(token_hash=_digest(token), user_id=user.id, session_id=session_id))
        return token

    def _start_session(self, user: LocalUser) -> AuthSession:
        session_id = uuid.uuid4()
        refresh = self._new_refresh_token(user, session_id)
        self.db.commit()
        return AuthSession(self._access_token(user, session_id), refresh)

    def _user_by_email(self, email: str) -> LocalUser | None:
        return self.db.scalar(select(LocalUser).where(LocalUser.email == normalize_email(email)))

    def _send_link(self, user: LocalUser, kind: str, redirect_to: str) -> None:
        token = secrets.token_urlsafe(32)
        self.db.add(LocalOneTimeToken(token_hash=_digest(token), user_id=user.id, kind=kind,
                                      expires_at=clock.now() + self.LINK_TTL))
        link_type = "email" if kind == "signup" else kind
        separator = "&" if "?" in redirect_to else "?"
        self.send_email(kind, user.email, f"{redirect_to}{separator}token_hash={token}&type={link_type}")

    # the interface
    def sign_up(self, email, password, *, full_name, redirect_to):
        email = normalize_email(email)
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError as exc:
            raise auth_error("email_address_invalid") from exc
        if password_problem(password, email):
            raise auth_error("weak_password")
        user = self._user_by_email(email)
        if user is not None and user.email_confirmed_at is not None:
            raise auth_error("user_already_exists")
        if user is None:
            user = LocalUser(email=email, full_name=full_name, password_hash=generate_password_hash(password))
            self.db.add(user)
            self.db.flush()
        if self.autoconfirm:
            user.email_confirmed_at = clock.now()
            return SignUpResult(self._start_session(user))
        self._send_link(user, "signup", redirect_to)
        self.db.commit()
        return SignUpResult(None)

    def sign_in(self, email, password):
        user = self._user_by_email(email)
        # Hash even for unknown emails, so response time doesn't reveal who has an account.
        stored = user.password_hash if user else _DUMMY_HASH
        if not check_password_hash(stored, password) or user is None:
            raise auth_error("invalid_credentials")
        if user.email_confirmed_at is None:
            raise auth_error("email_not_confirmed")
        return self._start_session(user)

    def refresh(self, refresh_token):
        now = clock.now()
        row = self.db.scalar(select(LocalRefreshToken).where(LocalRefreshToken.token_hash == _digest(refresh_token))
                             .with_for_update())
        if row is None:
            raise auth_error("refresh_token_not_found")
        user = self.db.get(LocalUser, row.user_id)
        if row.revoked or user is None:
            raise auth_error("refresh_token_already_used")
        if row.rotated_at is not None:
            if now - row.rotated_at > self.REUSE_INTERVAL:
                # A stolen token replayed after its owner moved on: end the whole session.
                self.db.execute(update(LocalRefreshToken).where(LocalRefreshToken.session_id == row.session_id)
                                .values(revoked=True))
                self.db.commit()
                raise auth_error("refresh_token_already_used")
        row.rotated_at = row.rotated_at or now
        refresh = self._new_refresh_token(user, row.session_id)
        self.db.commit()
        return AuthSession(self._access_token(user, row.session_id), refresh)

    def verify_email_link(self, token_hash, link_type):
        kind = "recovery" if link_type == "recovery" else "signup"
        row = self.db.scalar(select(LocalOneTimeToken).where(LocalOneTimeToken.token_hash == _digest(token_hash),
                                                             LocalOneTimeToken.kind == kind).with_for_update())
        now = clock.now()
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise auth_error("otp_expired")
        row.used_at = now
        user = self.db.get(LocalUser, row.user_id)
        user.email_confirmed_at = user.email_confirmed_at or now
        return self._start_session(user)

    def send_password_reset(self, email, *, redirect_to):
        user = self._user_by_email(email)
        if user is not None:  # silent either way: the form must not reveal who has an account
            self._send_link(user, "recovery", redirect_to)
            self.db.commit()

    def update_password(self, session, password):
        claims = jwt.decode(session.access_token, self.secret, algorithms=["HS256"], audience="authenticated")
        user = self.db.get(LocalUser, uuid.UUID(claims["sub"]))
        if user is None:
            raise auth_error("session_not_found")
        if password_problem(password, user.email):
            raise auth_error("weak_password")
        if check_password_hash(user.password_hash, password):
            raise auth_error("same_password")
        user.password_hash = generate_password_hash(password)
        # Like Supabase: a new password ends every other session of this user.
        self.db.execute(update(LocalRefreshToken).where(LocalRefreshToken.user_id == user.id,
                                                        LocalRefreshToken.session_id != uuid.UUID(claims["session_id"]))
                        .values(revoked=True))
        self.db.commit()
        return session

    def sign_out(self, access_token):
        try:
            claims = jwt.decode(access_token, self.secret, algorithms=["HS256"], audience="authenticated",
                                options={"verify_exp": False})
        except jwt.InvalidTokenError:
            return
        self.db.execute(update(LocalRefreshToken).where(LocalRefreshToken.session_id == uuid.UUID(claims["session_id"]))
                        .values(revoked=True))
        self.db.commit()


_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))

