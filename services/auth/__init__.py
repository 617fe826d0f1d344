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

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

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


_SIGN_IN_AGAIN = (_l("Your session has ended. Please sign in again."), None, 401)
_USE_EMAILED_LINK = (_l("For your security, confirm it's you first: choose \"Email me a link to choose it instead\" "
                        "and set your new password from the link we send you."), None, 422)
_OUR_SIDE = (_l("Something went wrong on our side. Please try again; if it keeps happening, tell us."), None, 500)
UNAVAILABLE = (_l("We couldn't reach the sign-in service. Please try again in a moment."), None, 503)

# Every code GoTrue's endpoints we call can answer (/token password and refresh_token grants,
# /signup, /recover, /otp, /verify, GET and PUT /user, /logout: supabase/auth internal/api, and the
# "Error codes" guide), and what we tell people about it. The local provider uses the same codes.
_ERRORS = {
    # the person can fix it
    "invalid_credentials": (_l("That email and password don't match. Check them, or reset your password."), None, 422),
    "email_not_confirmed": (_l("Please confirm your email address first: follow the link we emailed you."), None, 422),
    "user_already_exists": (_l("There's already an account with this email. Sign in instead?"), "email", 422),
    "email_exists": (_l("There's already an account with this email. Sign in instead?"), "email", 422),
    "weak_password": (_l("Choose a stronger password: at least %(num)d characters, not a common one.",
                         num=MIN_PASSWORD_LENGTH), "password", 422),
    "same_password": (_l("That's your current password. Choose a new one."), "password", 422),
    "otp_expired": (_l("This link has expired or was already used. Ask for a new one below."), None, 422),
    "flow_state_not_found": (_l("This link has expired or was already used. Ask for a new one below."), None, 422),
    "validation_failed": (_l("Check the email address."), "email", 422),
    "otp_disabled": (_l("There's no account with this email yet. Create one instead?"), "email", 422),
    "anonymous_provider_disabled": (_l("Enter your email address."), "email", 422),
    "email_address_invalid": (_l("That email address can't receive mail. Check it for typos."), "email", 422),
    # Hosted Supabase's built-in email service only mails the project's team (sign-up and reset).
    "email_address_not_authorized": (_l("We can't send email to this address yet. Use another address, or "
                                        "contact the race organizer."), "email", 422),
    # the account or this session
    "user_banned": (_l("This account is suspended. If you think that's a mistake, contact us."), None, 403),
    "reauthentication_needed": _USE_EMAILED_LINK,
    "reauthentication_not_valid": _USE_EMAILED_LINK,
    "current_password_required": _USE_EMAILED_LINK,
    "current_password_invalid": _USE_EMAILED_LINK,
    "insufficient_aal": (_l("This account uses two-step sign-in, which this site doesn't support yet. "
                            "Contact us to change your password."), None, 403),
    "user_sso_managed": (_l("This account signs in through your organization: change its password there."), None, 422),
    "session_not_found": _SIGN_IN_AGAIN,
    "session_expired": _SIGN_IN_AGAIN,
    "refresh_token_not_found": _SIGN_IN_AGAIN,
    "refresh_token_already_used": _SIGN_IN_AGAIN,
    "user_not_found": _SIGN_IN_AGAIN,
    "bad_jwt": _SIGN_IN_AGAIN,
    "no_authorization": _SIGN_IN_AGAIN,
    # wait and retry
    "over_request_rate_limit": (_l("Too many attempts. Please wait a minute and try again."), None, 429),
    "over_email_send_rate_limit": (_l("We've just sent you an email. Please wait a minute before asking again."),
                                   None, 429),
    # how the auth project is set up: the person can't fix it, and it isn't an outage
    "signup_disabled": (_l("New sign-ups are closed right now."), None, 422),
    "email_provider_disabled": (_l("Signing in with email is switched off on this site right now. "
                                   "Please try again later."), None, 503),
    "captcha_failed": (_l("The sign-in service asked for a CAPTCHA check, which this site doesn't support yet. "
                          "Please tell us, and try again later."), None, 503),
    # what we sent was wrong: our bug
    "bad_json": _OUR_SIDE,
    "request_entity_too_large": _OUR_SIDE,
    "phone_provider_disabled": _OUR_SIDE,
    "unknown": _OUR_SIDE,
    # the auth service failed inside
    "unexpected_failure": UNAVAILABLE,
    "request_timeout": UNAVAILABLE,
    "hook_timeout": UNAVAILABLE,
    "hook_timeout_after_retry": UNAVAILABLE,
    "hook_payload_over_size_limit": UNAVAILABLE,
    "hook_payload_invalid_content_type": UNAVAILABLE,
}
# Refresh failures that mean "this session is over" (GoTrue's tokens/service.go and
# token_refresh.go: a refresh token that is malformed, unknown, reused, or whose session or user
# has ended). Anything else (429, a 5xx, the network) is temporary: the cookies stay and the
# next request tries again.
SESSION_OVER = {"refresh_token_already_used", "refresh_token_not_found", "session_not_found",
                "session_expired", "user_not_found", "user_banned", "bad_jwt", "validation_failed"}


def auth_error(code: str | None) -> AuthError:
    """Our refusal for an auth server's error `code`; None means it could not be reached. Its message is in the
    page's language."""
    message, field, status = UNAVAILABLE if code is None else _ERRORS.get(code, _OUR_SIDE)
    return AuthError(code or "unavailable", str(message), field=field, status=status)


def normalize_email(email: str) -> str:
    """An email address as accounts, invites and tokens compare it: trimmed and lower-case."""
    return (email or "").strip().lower()


def password_problem(password: str, email: str = "") -> str | None:
    """Why a new password is not acceptable, or None. One rule for forms and providers."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _("Use at least %(num)d characters.", num=MIN_PASSWORD_LENGTH)
    if len(password.encode()) > MAX_PASSWORD_LENGTH:
        return _("Use at most %(num)d characters.", num=MAX_PASSWORD_LENGTH)
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(password)) < 3 or (email and lowered == normalize_email(email)):
        return _("That password is too easy to guess. Try a short phrase.")
    return None


class AuthProvider(Protocol):
    def sign_up(self, email: str, password: str, *, full_name: str, redirect_to: str) -> SignUpResult: ...
    def sign_in(self, email: str, password: str) -> AuthSession: ...
    def refresh(self, refresh_token: str) -> AuthSession: ...
    def verify_email_link(self, token_hash: str, link_type: str) -> AuthSession: ...
    def send_password_reset(self, email: str, *, redirect_to: str) -> None: ...
    def send_magic_link(self, email: str, *, redirect_to: str) -> None: ...
    def update_password(self, session: AuthSession, password: str) -> AuthSession: ...
    def sign_out(self, access_token: str) -> None: ...
