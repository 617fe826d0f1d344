"""Authentication: one interface, two providers (Supabase Auth, or the embedded local one).

Both hand out the same kind of session: a short-lived JWT access token (aud "authenticated",
sub = the user's UUID) and a rotating refresh token. The web layer keeps them in HttpOnly
cookies and verifies the access token locally on every request (access_tokens.TokenVerifier).

Here: the interface every provider implements, the refusals people see, and the password rule.
The providers are `supabase.SupabaseAuth` and `local.LocalAuth`; `providers` picks one by configuration.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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

    @property
    def ends_session(self) -> bool:
        """For a refresh: the session is over (not a temporary failure worth retrying)."""
        return self.code in SESSION_OVER


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
# Refresh failures that mean "this session is over" (GoTrue's tokens/service.go and
# token_refresh.go: a refresh token that is malformed, unknown, reused, or whose session or user
# has ended). Anything else (429, a 5xx, the network) is temporary: the cookies stay and the
# next request tries again.
SESSION_OVER = {"refresh_token_already_used", "refresh_token_not_found", "session_not_found",
                "session_expired", "user_not_found", "user_banned", "bad_jwt", "validation_failed"}


def auth_error(code: str | None) -> AuthError:
    message, field, status = _ERRORS.get(code or "", UNAVAILABLE)
    return AuthError(code or "unavailable", message, field=field, status=status)


def normalize_email(email: str) -> str:
    """An email address as accounts, invites and tokens compare it: trimmed and lower-case."""
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
