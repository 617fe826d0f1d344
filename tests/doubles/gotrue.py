"""Loopback fakes of Supabase Auth (GoTrue) and Supabase Storage that the real `supabase` library talks to over HTTP.

One `GoTrueServer` listens on 127.0.0.1 (a free port) and answers both
`/auth/v1/...` and `/storage/v1/...`, so its `url` can be used as
SUPABASE_URL and `anon_key` as SUPABASE_PUBLISHABLE_KEY. Tests then use the
unmodified `supabase` / `supabase_auth` / `storage3` clients, which exercises
their real request building, JSON parsing and error mapping.

What it enforces, and where that is documented. "API reference" is the Supabase Auth REST API
(openapi.yaml in supabase/auth; its path sections are named below); "Error codes" is the guide
https://supabase.com/docs/guides/auth/debugging/error-codes. Where the documents are silent or
loose (the API reference says 400 and 422 are used interchangeably and leaves 5xx out), the
status, `code` and message are GoTrue's own, from supabase/auth internal/api/*.go (file named),
so a double kinder than production gives no false confidence.

Every refusal (Error codes, "Auth error codes"; errors.go HandleResponseError):
  - the body depends on the `X-Supabase-Api-Version` request header. The Python/JS libraries
    send `2024-01-01` and get `{"code": "<error_code>", "message": "..."}` with the header
    echoed back; without it (curl, raw httpx) GoTrue answers the legacy
    `{"code": <status>, "error_code": "...", "msg": "..."}`. Both carry `x-sb-error-code`.
  - `over_request_rate_limit` is HTTP 429 (API reference, "RateLimitResponse"): `rate_limit(path)`.
  - a failure inside GoTrue is HTTP 500 `unexpected_failure` (`fail(path)`).
  - without a known `apikey` the API gateway answers 401 before GoTrue sees the request.
  - with `captcha_enabled`, /signup, /recover and the password grant of /token refuse a request
    without a CAPTCHA token: 400 `captcha_failed` (API reference, info "Notes"; middleware.go
    verifyCaptcha, isIgnoreCaptchaRoute spares the refresh grant).

POST /token?grant_type=password (API reference "/token"; token.go ResourceOwnerPasswordGrant):
  400 `validation_failed` without an address; 400 `invalid_credentials` alike for an unknown
  address and a wrong password; 400 `user_banned` (`ban_user`), judged before the password;
  400 `email_not_confirmed`; 422 `email_provider_disabled` when `email_enabled` is off.
POST /token?grant_type=refresh_token (API reference "/token"; token_refresh.go, tokens/service.go):
  400 `validation_failed` "Refresh token is not valid" for a malformed token; 400
  `refresh_token_not_found`; 400 `user_banned`; a rotated token is still accepted while its
  child is the session's active token and within `refresh_token_reuse_interval` seconds, after
  which it is 400 `refresh_token_already_used` and the whole session is revoked.
POST /signup (API reference "/signup"; signup.go): 422 `signup_disabled` (`disable_signup`);
  400 `validation_failed` for a missing password or a bad address, 422 `weak_password`
  (`password_min_length`, with `weak_password.reasons`); 400 `email_provider_disabled`; with
  email confirmation on (`autoconfirm=False`) an already-confirmed address gets 200 and a
  fabricated user (`identities: []`) so a sign-up form cannot enumerate accounts; only with
  autoconfirm on is it 422 `user_already_exists`.
Mail (/signup, /recover; mail.go sendEmail): 400 `email_address_not_authorized` for an address
  outside `authorized_addresses` (hosted Supabase's built-in SMTP mails only the project team;
  the sign-up is then not saved); 429 `over_email_send_rate_limit` within `email_max_frequency`
  seconds of the last mail of the same kind (GOTRUE_SMTP_MAX_FREQUENCY).
POST /recover (API reference "/recover"; recover.go): 400 `email_provider_disabled`; 400
  `validation_failed` without an email; 200 `{}` for unknown addresses too (no enumeration).
POST /otp, email only (API reference "/otp"; otp.go Otp, magic_link.go MagicLink): body `email`,
  `create_user` (default true), `data`, `code_challenge`; 400 `validation_failed` for email and
  phone together, a `channel` with an email, or neither; 422 `otp_disabled` with `create_user`
  false for an unknown address; 400 `email_provider_disabled`; 400 `validation_failed` for a
  bad address. An unknown or unconfirmed address is signed up with a random password (/signup's
  rules: 422 `signup_disabled`), and is sent the sign-up confirmation mail, which is its link;
  with autoconfirm on, it is confirmed and sent a `magiclink` mail instead. A confirmed address
  gets a `magiclink` mail, which uses the recovery token (so /verify takes it with type
  `magiclink` or `email`, and it is rate-limited with the recovery mail). 200 `{}` either way.
  Behind the captcha check as /signup is.
POST /verify (API reference "/verify"; verify.go): 400 `validation_failed` for a missing type or
  token; 403 `otp_expired` for a used, unknown or expired (`otp_ttl`) link; 403 `user_banned`.
  Links are single use.
GET and PUT /user, POST /logout (API reference "/user", "/logout"; auth.go
  requireAuthentication): 401 `no_authorization` without a bearer token; 403 `bad_jwt` for a
  token that does not verify or has expired; 403 `user_not_found`; 403 `session_not_found` once
  the session has ended (sign-out, password change): access tokens stop working then, not at
  expiry; 403 `user_banned`.
PUT /user (user.go UserUpdate): 422 `weak_password`; 422 `same_password`; with
  `update_password_require_reauthentication`, a session older than 24 hours gets 400
  `reauthentication_needed` (422 `reauthentication_not_valid` for any nonce); a new password
  ends every other session of the user.
POST /logout (logout.go): scope `global` (the library's default) ends every session of the
  user, `local` this one, `others` the rest; 400 `validation_failed` for another scope.

Storage answers errors with HTTP 400 (500 for server faults) and puts the "real" status in the
body: `{"statusCode": "404", "error": ..., ...}` (supabase/storage src/internal/errors).

Time: the server clock is `time.time() + now_offset`; tests move it forward
to expire access tokens, OTP links and reuse windows. Clients keep their own
clock, so `client.auth.get_session()` does not notice; `get_user(jwt)` does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import string
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

__all__ = ["GoTrueServer"]

AUTH_PREFIX = "/auth/v1"
STORAGE_PREFIX = "/storage/v1"
API_VERSION_HEADER = "X-Supabase-Api-Version"
API_VERSION_2024 = "2024-01-01"

# GoTrue's own email check (internal/api/mail.go); it accepts dot-less domains,
# so a stricter regex here would reject addresses production takes.
_EMAIL_RE = re.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9]"
    r"(?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
_BEARER_RE = re.compile(r"^[Bb]earer (\S+)$")
_PKCE_PREFIX = "pkce_"

# Which stored one-time token a /verify `type` may consume (verifyTokenHash).
_VERIFY_COLUMNS = {
    "email": ("confirmation", "recovery"),
    "signup": ("confirmation",),
    "invite": ("confirmation",),
    "recovery": ("recovery",),
    "magiclink": ("recovery",),
}

# How each service words a rejected JWT. GoTrue is Go (golang-jwt), Storage is
# Node (jose); apps sometimes log or match these, so keep each one's phrasing.
_GO_JWT_REASONS = {
    "malformed": "token is malformed: token contains an invalid number of segments",
    "kid": "token is unverifiable: error while executing keyfunc: unrecognized JWT kid {kid} for algorithm {alg}",
    "alg": "token signature is invalid: signing method {alg} is invalid",
    "signature": "token signature is invalid: crypto/ecdsa: verification error",
    "expired": "token has invalid claims: token is expired",
}
_JOSE_JWT_REASONS = {
    "malformed": "Invalid Compact JWS",
    "kid": "no applicable key found in the JSON Web Key Set",
    "alg": '"alg" (Algorithm) Header Parameter value not allowed',
    "signature": "signature verification failed",
    "expired": '"exp" claim timestamp check failed',
}


class _AuthError(Exception):
    """A GoTrue HTTPError; rendered per the caller's API version."""

    def __init__(self, status: int, error_code: str, msg: str, *, reasons: list[str] | None = None):
        super().__init__(msg)
        self.status = status
        self.error_code = error_code
        self.msg = msg
        self.reasons = reasons  # only for weak_password


class _StorageError(Exception):
    """A Storage StorageBackendError (the `statusCode` is the logical one)."""

    def __init__(self, status_code: int, code: str, message: str, *, error: str | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.error = error or code
        self.message = message


class _GatewayError(Exception):
    """Rejected by the API gateway in front of the services (Kong on Supabase)."""

    def __init__(self, status: int, body: dict):
        super().__init__(body.get("message"))
        self.status = status
        self.body = body


class _JWTRejected(Exception):
    def __init__(self, kind: str, **fmt: Any):
        super().__init__(kind)
        self.kind = kind
        self.fmt = fmt

    def text(self, table: dict[str, str]) -> str:
        return table[self.kind].format(**self.fmt)


class _Request:
    def __init__(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers  # lower-cased names
        self.body = body
        self._json: Any = None
        self._json_error: str | None = None
        if body and "json" in headers.get("content-type", "json"):
            try:
                self._json = json.loads(body)
            except ValueError as exc:
                self._json_error = str(exc)

    @property
    def json_or_none(self) -> Any:
        return self._json

    def json(self) -> dict:
        # GoTrue's retrieveRequestParams: a body that isn't a JSON object is bad_json.
        if self._json_error is not None or (self.body and not isinstance(self._json, dict)):
            raise _AuthError(400, "bad_json", f"Could not parse request body as JSON: {self._json_error or 'not an object'}")
        return self._json or {}


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 1000)


def _random_refresh_token() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(12))


class GoTrueServer:
    """In-memory Supabase Auth + Storage on a loopback port (see the module docstring).

    Public state, readable and writable from tests:
      url, anon_key, service_key  SUPABASE_URL and the two API keys the gateway accepts
      jwks, kid                   the served JWKS and the signing key's id
      mailbox                     mails "sent": type, email, token_hash, token (the OTP), redirect_to, sent_at
      requests                    every request: method, path (decoded), query, json, headers (lower-cased)
      buckets, objects            Storage: bucket names, and (bucket, path) -> {content_type, data, ...}
      now_offset                  seconds added to the server clock
      autoconfirm, access_token_ttl, password_min_length, otp_ttl,
      email_max_frequency, refresh_token_reuse_interval, require_apikey   GoTrue settings
    """

    def __init__(self, *, autoconfirm: bool = False, access_token_ttl: int = 3600):
        self.autoconfirm = autoconfirm
        self.access_token_ttl = access_token_ttl
        # GoTrue defaults, as attributes so a test can tighten or loosen them.
        self.password_min_length = 6
        self.otp_ttl = 3600  # Supabase's hosted default email link lifetime
        self.email_max_frequency = 60  # GOTRUE_SMTP_MAX_FREQUENCY
        self.refresh_token_reuse_interval = 10  # GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL
        self.disable_signup = False  # GOTRUE_DISABLE_SIGNUP
        self.email_enabled = True  # GOTRUE_EXTERNAL_EMAIL_ENABLED
        self.captcha_enabled = False  # GOTRUE_SECURITY_CAPTCHA_ENABLED (no token here ever verifies)
        self.update_password_require_reauthentication = False  # GOTRUE_SECURITY_UPDATE_PASSWORD_REQUIRE_REAUTHENTICATION
        # Hosted Supabase's built-in SMTP sends only to the project team's addresses: a set here
        # is that list (None: a custom SMTP server, any address).
        self.authorized_addresses: set[str] | None = None
        # Supabase's gateway refuses /auth/v1 calls without a known `apikey`;
        # catching apps that forget it is worth the strictness.
        self.require_apikey = True

        self.now_offset = 0
        self.url = ""
        self.anon_key = "sb_publishable_test_" + secrets.token_urlsafe(16)
        self.service_key = "sb_secret_test_" + secrets.token_urlsafe(24)

        self.kid = str(uuid.uuid4())
        self._private_key = ec.generate_private_key(ec.SECP256R1())
        self._public_key = self._private_key.public_key()
        public_jwk = ECAlgorithm.to_jwk(self._public_key, as_dict=True)
        public_jwk.update({"alg": "ES256", "ext": True, "key_ops": ["verify"], "kid": self.kid, "use": "sig"})
        self.jwks = {"keys": [public_jwk]}

        self.mailbox: list[dict] = []
        self.requests: list[dict] = []
        self.buckets: set[str] = {"race-media"}
        self.objects: dict[tuple[str, str], dict] = {}

        # One lock for all state: requests run on server threads while the test
        # thread seeds users or reads the mailbox.
        self._lock = threading.RLock()
        self._users: dict[str, dict] = {}
        self._sessions: dict[str, dict] = {}
        self._refresh_tokens: dict[str, dict] = {}
        self._rate_limits: dict[str, int] = {}
        self._server_errors: dict[str, int] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> GoTrueServer:
        if self._httpd is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-gotrue", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> GoTrueServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ test helpers

    def now(self) -> float:
        return time.time() + self.now_offset

    def last_mail(self, email: str, type: str | None = None) -> dict:
        wanted = email.strip().lower()
        with self._lock:
            for mail in reversed(self.mailbox):
                if mail["email"] == wanted and (type is None or mail["type"] == type):
                    return mail
            sent = [(m["type"], m["email"]) for m in self.mailbox]
        raise LookupError(f"no {type or 'any'} mail to {email}; mailbox holds {sent}")

    def create_user(
        self,
        email: str,
        password: str,
        *,
        confirmed: bool = True,
        user_metadata: dict | None = None,
    ) -> dict:
        with self._lock:
            address = email.strip().lower()
            if self._find_user(address) is not None:
                raise ValueError(f"user {address} already exists")
            user = self._new_user(address, password, dict(user_metadata or {}))
            if confirmed:
                user["email_confirmed_at"] = user["created_at"]
            return self._user_json(user)

    def find_user(self, email: str) -> dict | None:
        with self._lock:
            user = self._find_user(email.strip().lower())
            return None if user is None else self._user_json(user)

    def ban_user(self, email: str, seconds: float = 24 * 3600) -> None:
        """Ban a user, as the admin API's `ban_duration` does."""
        with self._lock:
            self._find_user(email.strip().lower())["banned_until"] = self.now() + seconds

    def age_sessions(self, email: str, seconds: float) -> None:
        """Make the user's sessions `seconds` older (reauthentication is judged by a session's age)."""
        with self._lock:
            user_id = self._find_user(email.strip().lower())["id"]
            for record in self._sessions.values():
                if record["user_id"] == user_id:
                    record["created_at"] -= seconds

    def issue_session(self, user_id: str) -> dict:
        with self._lock:
            user = self._users[user_id]
            return self._start_session(user, "password")

    def sign_token(self, claims: dict, *, alg: str = "ES256", key: Any = None, headers: dict | None = None) -> str:
        # The server's kid goes in by default so a token signed with another
        # key looks genuine until the signature is checked.
        header = {"kid": self.kid, "typ": "JWT", **(headers or {})}
        if key is None and alg == "ES256":
            key = self._private_key
        return jwt.encode(claims, key, algorithm=alg, headers=header)

    def rate_limit(self, path: str, times: int = 1) -> None:
        """The next `times` requests to `path` get the gateway's 429 over_request_rate_limit."""
        with self._lock:
            target = self._normalise_limit_path(path)
            self._rate_limits[target] = self._rate_limits.get(target, 0) + times

    def fail(self, path: str, times: int = 1) -> None:
        """The next `times` requests to `path` fail inside GoTrue (its database down, say): HTTP 500
        unexpected_failure, as HandleResponseError answers an unhandled error."""
        with self._lock:
            target = self._normalise_limit_path(path)
            self._server_errors[target] = self._server_errors.get(target, 0) + times

    @staticmethod
    def _normalise_limit_path(path: str) -> str:
        path = urlsplit(path).path.rstrip("/")
        if not path.startswith("/"):
            path = "/" + path
        if not (path.startswith(AUTH_PREFIX) or path.startswith(STORAGE_PREFIX)):
            path = AUTH_PREFIX + path
        return path

    # ------------------------------------------------------------------ HTTP entry

    def _handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        req = _Request(method, path, query, headers, body)
        with self._lock:
            self.requests.append(
                {"method": method, "path": path, "query": query, "json": req.json_or_none, "headers": dict(headers)}
            )
        try:
            if path == AUTH_PREFIX or path.startswith(AUTH_PREFIX + "/"):
                return self._handle_auth(req)
            if path.startswith(STORAGE_PREFIX + "/"):
                return self._handle_storage(req)
            raise _GatewayError(404, {"message": "no Route matched with those values"})
        except _GatewayError as exc:
            return _json_response(exc.status, exc.body)

    def _take_rate_limit(self, path: str, counters: dict[str, int] | None = None) -> bool:
        counters = self._rate_limits if counters is None else counters
        with self._lock:
            key = path.rstrip("/")
            remaining = counters.get(key, 0)
            if remaining <= 0:
                return False
            if remaining == 1:
                del counters[key]
            else:
                counters[key] = remaining - 1
            return True

    def _check_apikey(self, req: _Request) -> None:
        apikey = req.headers.get("apikey") or req.query.get("apikey")
        if not apikey:
            raise _GatewayError(
                401,
                {"message": "No API key found in request", "hint": "No `apikey` request header or url param was found."},
            )
        if apikey not in (self.anon_key, self.service_key):
            raise _GatewayError(
                401,
                {"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."},
            )

    # ------------------------------------------------------------------ auth routing

    def _handle_auth(self, req: _Request) -> tuple[int, dict, bytes]:
        route = req.path[len(AUTH_PREFIX) :].rstrip("/") or "/"
        try:
            if self._take_rate_limit(req.path):
                raise _AuthError(429, "over_request_rate_limit", "Request rate limit reached")
            if self._take_rate_limit(req.path, self._server_errors):
                raise _AuthError(500, "unexpected_failure",
                                 "Unexpected failure, please check server logs for more information")
            # These are the routes Supabase's gateway leaves open: email links
            # are clicked in a browser, and the JWKS is for third parties.
            if self.require_apikey and route not in ("/verify", "/.well-known/jwks.json", "/callback", "/authorize"):
                self._check_apikey(req)
            handler = {
                ("GET", "/.well-known/jwks.json"): self._jwks_endpoint,
                ("GET", "/health"): self._health,
                ("GET", "/settings"): self._settings,
                ("POST", "/signup"): self._signup,
                ("POST", "/token"): self._token,
                ("POST", "/verify"): self._verify,
                ("POST", "/recover"): self._recover,
                ("POST", "/otp"): self._otp,
                ("POST", "/resend"): self._resend,
                ("POST", "/logout"): self._logout,
                ("GET", "/user"): self._get_user,
                ("PUT", "/user"): self._update_user,
            }.get((req.method, route))
            if handler is None:
                raise _AuthError(404, "not_found", "Not Found")
            with self._lock:
                return handler(req)
        except _AuthError as exc:
            return self._auth_error_response(req, exc)

    def _auth_error_response(self, req: _Request, exc: _AuthError) -> tuple[int, dict, bytes]:
        headers = {"x-sb-error-code": exc.error_code}
        if _wants_2024_errors(req.headers.get(API_VERSION_HEADER.lower(), "")):
            headers[API_VERSION_HEADER] = API_VERSION_2024
            body: dict[str, Any] = {"code": exc.error_code, "message": exc.msg}
        else:
            body = {"code": exc.status, "error_code": exc.error_code, "msg": exc.msg}
        if exc.reasons is not None:
            body["weak_password"] = {"reasons": exc.reasons}
        return _json_response(exc.status, body, headers)

    # ------------------------------------------------------------------ auth endpoints

    def _jwks_endpoint(self, req: _Request) -> tuple[int, dict, bytes]:
        return _json_response(200, self.jwks, {"Cache-Control": "public, max-age=600"})

    def _health(self, req: _Request) -> tuple[int, dict, bytes]:
        return _json_response(
            200, {"version": "fake", "name": "GoTrue", "description": "GoTrue is a user registration and authentication API"}
        )

    def _settings(self, req: _Request) -> tuple[int, dict, bytes]:
        return _json_response(
            200,
            {
                "external": {"email": self.email_enabled, "phone": False, "anonymous_users": False},
                "disable_signup": self.disable_signup,
                "mailer_autoconfirm": self.autoconfirm,
                "phone_autoconfirm": False,
                "sms_provider": "",
                "saml_enabled": False,
            },
        )

    def _signup(self, req: _Request) -> tuple[int, dict, bytes]:
        body = req.json()
        self._check_captcha(body)
        if self.disable_signup:
            raise _AuthError(422, "signup_disabled", "Signups not allowed for this instance")
        email, password = body.get("email") or "", body.get("password") or ""
        if not email and not body.get("phone"):
            raise _AuthError(422, "anonymous_provider_disabled", "Anonymous sign-ins are disabled")
        if body.get("phone"):
            raise _AuthError(400, "phone_provider_disabled", "Phone signups are disabled")
        # Same order as validateSignupParams: the password is judged first.
        if not password:
            raise _AuthError(400, "validation_failed", "Signup requires a valid password")
        self._check_password_strength(password)
        if not self.email_enabled:
            raise _AuthError(400, "email_provider_disabled", "Email signups are disabled")
        email = self._validate_email(email)
        data = body.get("data") or {}
        pkce = bool(body.get("code_challenge"))

        user = self._find_user(email)
        if user is not None and user["email_confirmed_at"] is not None:
            if self.autoconfirm:
                raise _AuthError(422, "user_already_exists", "User already registered")
            return _json_response(200, self._obfuscated_user(email, data))
        if not self.autoconfirm:
            # The confirmation mail is sent in the sign-up's transaction: refused, nothing is saved.
            self._check_email_authorized(email)
        if user is None:
            user = self._new_user(email, password, dict(data))
        # An unconfirmed existing user keeps its password and metadata: the
        # caller has not proven it owns the address, so GoTrue only re-sends.
        if self.autoconfirm:
            user["email_confirmed_at"] = self.now()
            user["updated_at"] = self.now()
            return _json_response(200, self._start_session(user, "password"))
        self._send_mail(user, "signup", req.query.get("redirect_to"), pkce)
        return _json_response(200, self._user_json(user))

    def _token(self, req: _Request) -> tuple[int, dict, bytes]:
        grant_type = req.query.get("grant_type", "")
        if grant_type == "password":  # isIgnoreCaptchaRoute: the refresh grant needs no captcha
            self._check_captcha(req.json())
            return self._password_grant(req)
        if grant_type == "refresh_token":
            return self._refresh_grant(req)
        raise _AuthError(400, "invalid_credentials", "unsupported_grant_type")

    def _password_grant(self, req: _Request) -> tuple[int, dict, bytes]:
        body = req.json()
        email, password = (body.get("email") or "").strip().lower(), body.get("password") or ""
        if email and body.get("phone"):
            raise _AuthError(400, "validation_failed", "Only an email address or phone number should be provided on login.")
        if not email and not body.get("phone"):
            raise _AuthError(400, "validation_failed", "missing email or phone")
        if email and not self.email_enabled:
            raise _AuthError(422, "email_provider_disabled", "Email logins are disabled")
        user = self._find_user(email) if email else None
        # Unknown user and wrong password answer alike, so logins can't probe accounts.
        if user is None:
            raise _AuthError(400, "invalid_credentials", "Invalid login credentials")
        if self._is_banned(user):  # judged before the password, as PasswordGrant does
            raise _AuthError(400, "user_banned", "User is banned")
        if not self._password_matches(user, password):
            raise _AuthError(400, "invalid_credentials", "Invalid login credentials")
        if user["email_confirmed_at"] is None:
            raise _AuthError(400, "email_not_confirmed", "Email not confirmed")
        return _json_response(200, self._start_session(user, "password"))

    def _refresh_grant(self, req: _Request) -> tuple[int, dict, bytes]:
        presented = req.json().get("refresh_token") or ""
        # RefreshTokenGrantParams.Validate; this double issues only the legacy 12-character form.
        if not re.fullmatch(r"[a-z0-9]{12}", presented):
            raise _AuthError(400, "validation_failed", "Refresh token is not valid")
        record = self._refresh_tokens.get(presented)
        if record is None or record["session_id"] not in self._sessions:
            raise _AuthError(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
        if self._is_banned(self._users[record["user_id"]]):
            raise _AuthError(400, "user_banned", "Invalid Refresh Token: User Banned")
        now = self.now()
        issued: str | None = None
        if record["revoked"]:
            active = self._active_refresh_token(record["session_id"])
            if active is not None and self._refresh_tokens[active]["parent"] == presented:
                # The client lost the previous response; hand the same child back.
                issued = active
            elif now > record["updated_at"] + self.refresh_token_reuse_interval:
                for other in self._refresh_tokens.values():
                    if other["session_id"] == record["session_id"]:
                        other["revoked"] = True
                raise _AuthError(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used")
        if issued is None:
            record["revoked"] = True
            record["updated_at"] = now
            issued = self._new_refresh_token(record["session_id"], record["user_id"], parent=presented)
        session = self._sessions[record["session_id"]]
        session["refreshed_at"] = now
        user = self._users[record["user_id"]]
        return _json_response(200, self._token_response(user, record["session_id"], issued))

    def _verify(self, req: _Request) -> tuple[int, dict, bytes]:
        body = req.json()
        vtype = body.get("type") or ""
        token, token_hash = body.get("token") or "", body.get("token_hash") or ""
        email = body.get("email") or ""
        if not vtype:
            raise _AuthError(400, "validation_failed", "Verify requires a verification type")
        if bool(token) == bool(token_hash):
            raise _AuthError(400, "validation_failed", "Verify requires either a token or a token hash")
        if token_hash and (email or body.get("phone") or body.get("redirect_to")):
            raise _AuthError(400, "validation_failed", "Only the token_hash and type should be provided")
        columns = _VERIFY_COLUMNS.get(vtype)
        if token:
            if not email:
                raise _AuthError(400, "validation_failed", "Only an email address or phone number should be provided on verify")
            email = self._validate_email(email)
            token_hash = hashlib.sha224((email + token).encode()).hexdigest()
            invalid = _AuthError(403, "otp_expired", "Token has expired or is invalid")
        else:
            invalid = _AuthError(403, "otp_expired", "Email link is invalid or has expired")
        if columns is None:
            raise _AuthError(400, "validation_failed", "Invalid email verification type")

        match = self._find_one_time_token(token_hash, columns, email or None)
        if match is None:
            raise invalid
        user, column = match
        if self._is_banned(user):
            raise _AuthError(403, "user_banned", "User is banned")
        if self.now() > user[f"{column}_sent_at"] + self.otp_ttl:
            raise invalid
        # Confirm() and Recover() both clear the token, which is what makes a
        # link single-use; a recovery link also confirms an unconfirmed address.
        user[f"{column}_token"] = None
        if user["email_confirmed_at"] is None:
            user["email_confirmed_at"] = self.now()
        user["updated_at"] = self.now()
        return _json_response(200, self._start_session(user, "otp"))

    def _recover(self, req: _Request) -> tuple[int, dict, bytes]:
        body = req.json()
        self._check_captcha(body)
        if not self.email_enabled:  # the requireEmailProvider middleware
            raise _AuthError(400, "email_provider_disabled", "Email logins are disabled")
        if not body.get("email"):
            raise _AuthError(400, "validation_failed", "Password recovery requires an email")
        email = self._validate_email(body["email"])
        user = self._find_user(email)
        if user is not None:
            self._send_mail(user, "recovery", req.query.get("redirect_to"), bool(body.get("code_challenge")))
        # Same answer for unknown addresses: no account enumeration.
        return _json_response(200, {})

    def _otp(self, req: _Request) -> tuple[int, dict, bytes]:
        body = req.json()
        self._check_captcha(body)  # middleware: before the handler reads anything
        email, phone = body.get("email") or "", body.get("phone") or ""
        if email and phone:
            raise _AuthError(400, "validation_failed", "Only an email address or phone number should be provided")
        if email and body.get("channel"):
            raise _AuthError(400, "validation_failed", "Channel should only be specified with Phone OTP")
        if body.get("create_user", True) is False and email and self._find_user(self._validate_email(email)) is None:
            raise _AuthError(422, "otp_disabled", "Signups not allowed for otp")
        if phone:
            raise _AuthError(400, "phone_provider_disabled", "Unsupported phone provider")
        if not email:
            raise _AuthError(400, "validation_failed", "One of email or phone must be set")
        if not self.email_enabled:
            raise _AuthError(400, "email_provider_disabled", "Email logins are disabled")
        email = self._validate_email(email)
        pkce = bool(body.get("code_challenge"))
        redirect_to = req.query.get("redirect_to")
        user = self._find_user(email)
        if user is None or user["email_confirmed_at"] is None:
            # MagicLink signs them up with a temporary password, under /signup's rules.
            if self.disable_signup:
                raise _AuthError(422, "signup_disabled", "Signups not allowed for this instance")
            if user is None:
                self._check_email_authorized(email)
                user = self._new_user(email, secrets.token_urlsafe(48), dict(body.get("data") or {}))
            if not self.autoconfirm:
                self._send_mail(user, "signup", redirect_to, pkce)  # the confirmation mail is the link
                return _json_response(200, {})
            user["email_confirmed_at"] = user["updated_at"] = self.now()
        self._send_mail(user, "magiclink", redirect_to, pkce)
        return _json_response(200, {})

    def _resend(self, req: _Request) -> tuple[int, dict, bytes]:
        body = req.json()
        if body.get("type") != "signup":
            raise _AuthError(400, "validation_failed", "Missing one of these types: signup, email_change, sms, phone_change")
        email = self._validate_email(body.get("email") or "")
        user = self._find_user(email)
        if user is not None and user["email_confirmed_at"] is None:
            self._send_mail(user, "signup", req.query.get("redirect_to"), bool(body.get("code_challenge")))
        return _json_response(200, {})

    def _logout(self, req: _Request) -> tuple[int, dict, bytes]:
        scope = req.query.get("scope", "") or "global"
        if scope not in ("global", "local", "others"):
            raise _AuthError(400, "validation_failed", f'Unsupported logout scope "{scope}"')
        _, user, session_id = self._authenticate(req)
        if session_id is None or scope == "global":
            doomed = [sid for sid, s in self._sessions.items() if s["user_id"] == user["id"]]
        elif scope == "local":
            doomed = [session_id]
        else:
            doomed = [sid for sid, s in self._sessions.items() if s["user_id"] == user["id"] and sid != session_id]
        self._delete_sessions(doomed)
        return 204, {}, b""

    def _get_user(self, req: _Request) -> tuple[int, dict, bytes]:
        _, user, _ = self._authenticate(req)
        return _json_response(200, self._user_json(user))

    def _update_user(self, req: _Request) -> tuple[int, dict, bytes]:
        _, user, session_id = self._authenticate(req)
        body = req.json()
        if body.get("email") is not None or body.get("phone") is not None:
            # Email/phone change needs the double-confirmation flow, which this
            # double does not model; fail loudly rather than pretend.
            raise _AuthError(422, "validation_failed", "email/phone change is not supported by the GoTrue test double")
        if body.get("password") is not None:
            # UserUpdate: a session older than 24 hours must show a reauthentication nonce.
            session = self._sessions.get(session_id or "")
            if self.update_password_require_reauthentication and (
                    session is None or self.now() > session["created_at"] + 24 * 3600):
                if not body.get("nonce"):
                    raise _AuthError(400, "reauthentication_needed", "Password update requires reauthentication")
                # verifyReauthentication: this double sends no reauthentication codes, so none is valid.
                raise _AuthError(422, "reauthentication_not_valid", "Nonce has expired or is invalid")
            password = body["password"]
            self._check_password_strength(password)
            if self._password_matches(user, password):
                raise _AuthError(422, "same_password", "New password should be different from the old password.")
            user["salt"] = secrets.token_bytes(16)
            user["password_hash"] = _hash_password(password, user["salt"])
            # User.UpdatePassword logs the user out everywhere but here.
            self._delete_sessions([sid for sid, s in self._sessions.items() if s["user_id"] == user["id"] and sid != session_id])
        if isinstance(body.get("data"), dict):
            for key, value in body["data"].items():
                if value is None:
                    user["user_metadata"].pop(key, None)
                else:
                    user["user_metadata"][key] = value
        user["updated_at"] = self.now()
        return _json_response(200, self._user_json(user))

    # ------------------------------------------------------------------ auth internals

    def _check_captcha(self, body: dict) -> None:
        # verifyCaptcha: this double knows no CAPTCHA provider, so any token is one it cannot verify.
        if not self.captcha_enabled:
            return
        token = ((body.get("gotrue_meta_security") or {}).get("captcha_token") or "").strip()
        if not token:
            raise _AuthError(400, "captcha_failed", "captcha protection: request disallowed (no captcha_token found)")
        raise _AuthError(400, "captcha_failed", "captcha protection: request disallowed (invalid-input-response)")

    def _check_email_authorized(self, email: str) -> None:
        # sendEmail's checkEmailAddressAuthorization, before any rate limit is spent.
        if self.authorized_addresses is not None and email not in self.authorized_addresses:
            raise _AuthError(400, "email_address_not_authorized",
                             f'Email address "{email}" cannot be used as it is not authorized')

    def _is_banned(self, user: dict) -> bool:
        return user.get("banned_until") is not None and self.now() < user["banned_until"]

    def _validate_email(self, email: str) -> str:
        email = email.strip()
        if not email:
            raise _AuthError(400, "validation_failed", "An email address is required")
        if len(email) > 255:
            raise _AuthError(400, "validation_failed", "An email address is too long")
        if not _EMAIL_RE.match(email):
            raise _AuthError(400, "validation_failed", "Unable to validate email address: invalid format")
        return email.lower()

    def _check_password_strength(self, password: str) -> None:
        if len(password) < self.password_min_length:
            raise _AuthError(
                422,
                "weak_password",
                f"Password should be at least {self.password_min_length} characters.",
                reasons=["length"],
            )

    def _find_user(self, email: str) -> dict | None:
        return next((u for u in self._users.values() if u["email"] == email), None)

    def _new_user(self, email: str, password: str, user_metadata: dict) -> dict:
        now = self.now()
        salt = secrets.token_bytes(16)
        user = {
            "id": str(uuid.uuid4()),
            "email": email,
            "salt": salt,
            "password_hash": _hash_password(password, salt),
            "email_confirmed_at": None,
            "confirmation_sent_at": None,
            "recovery_sent_at": None,
            "last_sign_in_at": None,
            "created_at": now,
            "updated_at": now,
            "user_metadata": user_metadata,
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "confirmation_token": None,
            "recovery_token": None,
            "identity_id": str(uuid.uuid4()),
            "banned_until": None,
        }
        self._users[user["id"]] = user
        return user

    def _password_matches(self, user: dict, password: str) -> bool:
        return hmac.compare_digest(user["password_hash"], _hash_password(password, user["salt"]))

    def _user_json(self, user: dict) -> dict:
        # Key order and omitempty fields as GoTrue's models.User serialises them.
        out: dict[str, Any] = {"id": user["id"], "aud": "authenticated", "role": "authenticated", "email": user["email"]}
        if user["email_confirmed_at"] is not None:
            out["email_confirmed_at"] = _iso(user["email_confirmed_at"])
        out["phone"] = ""
        if user["confirmation_sent_at"] is not None:
            out["confirmation_sent_at"] = _iso(user["confirmation_sent_at"])
        if user["email_confirmed_at"] is not None:
            out["confirmed_at"] = _iso(user["email_confirmed_at"])
        if user["recovery_sent_at"] is not None:
            out["recovery_sent_at"] = _iso(user["recovery_sent_at"])
        if user["last_sign_in_at"] is not None:
            out["last_sign_in_at"] = _iso(user["last_sign_in_at"])
        out["app_metadata"] = dict(user["app_metadata"])
        out["user_metadata"] = dict(user["user_metadata"])
        out["identities"] = [
            {
                "identity_id": user["identity_id"],
                "id": user["id"],
                "user_id": user["id"],
                "identity_data": {
                    "email": user["email"],
                    "email_verified": user["email_confirmed_at"] is not None,
                    "phone_verified": False,
                    "sub": user["id"],
                },
                "provider": "email",
                "last_sign_in_at": _iso(user["created_at"]),
                "created_at": _iso(user["created_at"]),
                "updated_at": _iso(user["updated_at"]),
                "email": user["email"],
            }
        ]
        out["created_at"] = _iso(user["created_at"])
        out["updated_at"] = _iso(user["updated_at"])
        out["is_anonymous"] = False
        return out

    def _obfuscated_user(self, email: str, data: dict) -> dict:
        # sanitizeUser(): plausible but fake, and identities is empty; that
        # empty list is how apps tell "already registered" apart client-side.
        now = _iso(self.now())
        return {
            "id": str(uuid.uuid4()),
            "aud": "authenticated",
            "role": "authenticated",
            "email": email,
            "phone": "",
            "confirmation_sent_at": now,
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": dict(data),
            "identities": [],
            "created_at": now,
            "updated_at": now,
            "is_anonymous": False,
        }

    def _send_mail(self, user: dict, kind: str, redirect_to: str | None, pkce: bool) -> None:
        self._check_email_authorized(user["email"])
        column = "confirmation" if kind == "signup" else "recovery"
        now = self.now()
        last = user[f"{column}_sent_at"]
        if last is not None and now < last + self.email_max_frequency:
            left = int(last + self.email_max_frequency - now)
            raise _AuthError(
                429, "over_email_send_rate_limit", f"For security purposes, you can only request this after {left} seconds."
            )
        # GoTrue's token hash is sha224(email + otp); the link carries the hash,
        # prefixed for PKCE flows, and the mail also shows the OTP itself.
        otp = f"{secrets.randbelow(10**6):06d}"
        token_hash = hashlib.sha224((user["email"] + otp).encode()).hexdigest()
        if pkce:
            token_hash = _PKCE_PREFIX + token_hash
        user[f"{column}_token"] = token_hash
        user[f"{column}_sent_at"] = now
        self.mailbox.append(
            {
                "type": kind,
                "email": user["email"],
                "token_hash": token_hash,
                "token": otp,
                "redirect_to": redirect_to,
                "sent_at": now,
            }
        )

    def _find_one_time_token(self, token_hash: str, columns: tuple[str, ...], email: str | None) -> tuple[dict, str] | None:
        for user in self._users.values():
            if email is not None and user["email"] != email:
                continue
            for column in columns:
                stored = user[f"{column}_token"]
                if stored and token_hash in (stored, stored.removeprefix(_PKCE_PREFIX)):
                    return user, column
        return None

    def _start_session(self, user: dict, method: str) -> dict:
        now = self.now()
        session_id = str(uuid.uuid4())
        self._sessions[session_id] = {
            "user_id": user["id"],
            "created_at": now,
            "refreshed_at": None,
            "amr": [{"method": method, "timestamp": int(now)}],
        }
        refresh_token = self._new_refresh_token(session_id, user["id"], parent=None)
        user["last_sign_in_at"] = now
        return self._token_response(user, session_id, refresh_token)

    def _new_refresh_token(self, session_id: str, user_id: str, *, parent: str | None) -> str:
        token = _random_refresh_token()
        self._refresh_tokens[token] = {
            "session_id": session_id,
            "user_id": user_id,
            "parent": parent,
            "revoked": False,
            "created_at": self.now(),
            "updated_at": self.now(),
            "seq": len(self._refresh_tokens),
        }
        return token

    def _active_refresh_token(self, session_id: str) -> str | None:
        live = [(r["seq"], t) for t, r in self._refresh_tokens.items() if r["session_id"] == session_id and not r["revoked"]]
        return max(live)[1] if live else None

    def _delete_sessions(self, session_ids: list[str]) -> None:
        doomed = set(session_ids)
        for sid in doomed:
            self._sessions.pop(sid, None)
        # Refresh tokens go with their session (ON DELETE CASCADE upstream), so
        # they then read as "not found", not "already used".
        for token in [t for t, r in self._refresh_tokens.items() if r["session_id"] in doomed]:
            del self._refresh_tokens[token]

    def _token_response(self, user: dict, session_id: str, refresh_token: str) -> dict:
        now = int(self.now())
        expires_at = now + self.access_token_ttl
        claims = {
            "iss": f"{self.url}{AUTH_PREFIX}",
            "sub": user["id"],
            "aud": "authenticated",
            "exp": expires_at,
            "iat": now,
            "email": user["email"],
            "phone": "",
            "app_metadata": dict(user["app_metadata"]),
            "user_metadata": dict(user["user_metadata"]),
            "role": "authenticated",
            "aal": "aal1",
            "amr": list(self._sessions[session_id]["amr"]),
            "session_id": session_id,
            "is_anonymous": False,
        }
        access_token = jwt.encode(claims, self._private_key, algorithm="ES256", headers={"kid": self.kid, "typ": "JWT"})
        return {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": self.access_token_ttl,
            "expires_at": expires_at,
            "refresh_token": refresh_token,
            "user": self._user_json(user),
        }

    def _decode_jwt(self, token: str) -> dict:
        """Check a bearer JWT against this server's key and clock, or raise _JWTRejected."""
        if token.count(".") != 2:
            raise _JWTRejected("malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise _JWTRejected("malformed") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ("ES256", "RS256", "HS256"):
            raise _JWTRejected("alg", alg=alg)
        if kid is not None and kid != self.kid:
            raise _JWTRejected("kid", kid=kid, alg=alg)
        if alg != "ES256":
            # No HS256 secret or RSA key exists here, so nothing else can verify.
            raise _JWTRejected("signature")
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=["ES256"],
                options={
                    "verify_exp": False,  # checked below against the server clock
                    "verify_aud": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_sub": False,
                    "verify_jti": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise _JWTRejected("signature") from None
        except jwt.PyJWTError:
            raise _JWTRejected("malformed") from None
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and self.now() > exp:
            raise _JWTRejected("expired")
        return claims

    def _authenticate(self, req: _Request) -> tuple[dict, dict, str | None]:
        match = _BEARER_RE.match(req.headers.get("authorization", ""))
        if not match:
            raise _AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token")
        try:
            claims = self._decode_jwt(match.group(1))
        except _JWTRejected as exc:
            raise _AuthError(
                403, "bad_jwt", "invalid JWT: unable to parse or verify signature, " + exc.text(_GO_JWT_REASONS)
            ) from None
        subject = claims.get("sub") or ""
        if not subject:
            raise _AuthError(403, "bad_jwt", "invalid claim: missing sub claim")
        try:
            uuid.UUID(subject)
        except ValueError:
            raise _AuthError(400, "bad_jwt", "invalid claim: sub claim must be a UUID") from None
        user = self._users.get(subject)
        if user is None:
            raise _AuthError(403, "user_not_found", "User from sub claim in JWT does not exist")
        session_id = claims.get("session_id") or None
        if session_id is not None and session_id not in self._sessions:
            # Sessions end at sign-out or password change; their access tokens
            # stop working then, not at expiry.
            raise _AuthError(403, "session_not_found", "Session from session_id claim in JWT does not exist")
        if self._is_banned(user):  # requireAuthentication: a token issued before the ban
            raise _AuthError(403, "user_banned", "User is banned")
        return claims, user, session_id

    # ------------------------------------------------------------------ storage

    def _handle_storage(self, req: _Request) -> tuple[int, dict, bytes]:
        route = req.path[len(STORAGE_PREFIX) :]
        segments = [s for s in route.split("/") if s]
        try:
            if self._take_rate_limit(req.path):
                raise _StorageError(429, "SlowDown", "Too many requests", error="too_many_requests")
            if not segments or segments[0] != "object":
                raise _StorageError(404, "InvalidRequest", f"Route {req.method}:{req.path} not found", error="Not Found")
            rest = segments[1:]
            with self._lock:
                if req.method in ("GET", "HEAD") and rest[:1] == ["public"] and len(rest) >= 3:
                    return self._storage_download(rest[1], "/".join(rest[2:]))
                self._storage_authenticate(req)
                if req.method == "POST" and rest[:1] == ["list"] and len(rest) == 2:
                    return self._storage_list(rest[1], req)
                if req.method == "GET" and rest[:1] == ["info"] and len(rest) >= 3:
                    return self._storage_info(rest[1], "/".join(rest[2:]))
                if req.method in ("GET", "HEAD") and rest[:1] == ["authenticated"] and len(rest) >= 3:
                    return self._storage_download(rest[1], "/".join(rest[2:]))
                if req.method == "DELETE" and len(rest) == 1:
                    return self._storage_remove(rest[0], req)
                if len(rest) >= 2 and req.method in ("POST", "PUT"):
                    return self._storage_upload(rest[0], "/".join(rest[1:]), req)
                if len(rest) >= 2 and req.method in ("GET", "HEAD"):
                    return self._storage_download(rest[0], "/".join(rest[1:]))
                if len(rest) >= 2 and req.method == "DELETE":
                    return self._storage_remove_one(rest[0], "/".join(rest[1:]))
            raise _StorageError(404, "InvalidRequest", f"Route {req.method}:{req.path} not found", error="Not Found")
        except _StorageError as exc:
            # Storage's error handler: HTTP 400 for anything that isn't a 500
            # (429 here comes from the gateway, which sends it as-is).
            http_status = exc.status_code if exc.status_code in (429, 500) else 400
            body = {"statusCode": str(exc.status_code), "code": exc.code, "error": exc.error, "message": exc.message}
            return _json_response(http_status, body)

    def _storage_authenticate(self, req: _Request) -> None:
        token = re.sub(r"^Bearer\s+", "", req.headers.get("authorization", ""), flags=re.IGNORECASE)
        if token in (self.anon_key, self.service_key):
            return
        try:
            self._decode_jwt(token)
        except _JWTRejected as exc:
            raise _StorageError(403, "AccessDenied", exc.text(_JOSE_JWT_REASONS), error="Unauthorized") from None

    def _require_bucket(self, bucket: str) -> None:
        if bucket not in self.buckets:
            raise _StorageError(404, "NoSuchBucket", "Bucket not found", error="Bucket not found")

    def _require_object(self, bucket: str, path: str) -> dict:
        self._require_bucket(bucket)
        obj = self.objects.get((bucket, path))
        if obj is None:
            raise _StorageError(404, "NoSuchKey", "Object not found", error="not_found")
        return obj

    def _storage_upload(self, bucket: str, path: str, req: _Request) -> tuple[int, dict, bytes]:
        self._require_bucket(bucket)
        existing = self.objects.get((bucket, path))
        if req.method == "PUT" and existing is None:
            raise _StorageError(404, "NoSuchKey", "Object not found", error="not_found")
        upsert = req.headers.get("x-upsert", "false").lower() == "true"
        if req.method == "POST" and existing is not None and not upsert:
            raise _StorageError(409, "KeyAlreadyExists", "The resource already exists", error="Duplicate")

        content_type = req.headers.get("content-type", "application/octet-stream")
        cache_control = "no-cache"
        if content_type.startswith("multipart/form-data"):
            fields = _parse_multipart(req.body, content_type)
            file_part = fields.get("file") or next(iter(fields.values()), None)
            if file_part is None:
                raise _StorageError(400, "InvalidRequest", "No content provided")
            data = file_part["data"]
            content_type = file_part["content_type"] or "application/octet-stream"
            if "cacheControl" in fields:
                cache_control = "max-age=" + fields["cacheControl"]["data"].decode()
        else:
            # Raw-body uploads (what storage-js sends for Blobs) carry their
            # options in headers instead of form fields.
            data = req.body
            if req.headers.get("cache-control"):
                cache_control = req.headers["cache-control"]
            if content_type.startswith("application/json") and not data:
                raise _StorageError(400, "InvalidRequest", "No content provided")

        now = self.now()
        obj = {
            "content_type": content_type,
            "data": data,
            "cache_control": cache_control,
            "id": existing["id"] if existing else str(uuid.uuid4()),
            "created_at": existing["created_at"] if existing else now,
            "updated_at": now,
            "etag": '"' + hashlib.md5(data).hexdigest() + '"',  # noqa: S324 - S3-style ETag, not security
        }
        self.objects[(bucket, path)] = obj
        return _json_response(200, {"Id": obj["id"], "Key": f"{bucket}/{path}"})

    def _storage_download(self, bucket: str, path: str) -> tuple[int, dict, bytes]:
        obj = self._require_object(bucket, path)
        headers = {
            "Content-Type": obj["content_type"],
            "Cache-Control": obj["cache_control"],
            "ETag": obj["etag"],
            "Last-Modified": datetime.fromtimestamp(obj["updated_at"], tz=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"),
        }
        # The body goes back for HEAD too so Content-Length is the object's
        # size; the HTTP layer drops it on the wire.
        return 200, headers, obj["data"]

    def _object_metadata(self, obj: dict) -> dict:
        return {
            "eTag": obj["etag"],
            "size": len(obj["data"]),
            "mimetype": obj["content_type"],
            "cacheControl": obj["cache_control"],
            "lastModified": _iso(obj["updated_at"]),
            "contentLength": len(obj["data"]),
            "httpStatusCode": 200,
        }

    def _object_row(self, bucket: str, path: str, obj: dict) -> dict:
        return {
            "bucket_id": bucket,
            "name": path,
            "owner": None,
            "owner_id": None,
            "id": obj["id"],
            "updated_at": _iso(obj["updated_at"]),
            "created_at": _iso(obj["created_at"]),
            "last_accessed_at": _iso(obj["updated_at"]),
            "metadata": self._object_metadata(obj),
        }

    def _storage_info(self, bucket: str, path: str) -> tuple[int, dict, bytes]:
        obj = self._require_object(bucket, path)
        return _json_response(
            200,
            {
                "id": obj["id"],
                "name": path,
                "bucket_id": bucket,
                "size": len(obj["data"]),
                "content_type": obj["content_type"],
                "cache_control": obj["cache_control"],
                "etag": obj["etag"],
                "metadata": {},
                "last_modified": _iso(obj["updated_at"]),
                "created_at": _iso(obj["created_at"]),
            },
        )

    def _storage_list(self, bucket: str, req: _Request) -> tuple[int, dict, bytes]:
        self._require_bucket(bucket)
        body = req.json_or_none if isinstance(req.json_or_none, dict) else {}
        prefix = body.get("prefix") or ""
        # searchObjects() treats the prefix as a folder.
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        search = body.get("search") or ""
        limit, offset = int(body.get("limit", 100)), int(body.get("offset", 0))
        sort = body.get("sortBy") or {}
        column, descending = sort.get("column", "name"), sort.get("order", "asc") == "desc"

        files: dict[str, dict] = {}
        folders: set[str] = set()
        for (obj_bucket, name), obj in self.objects.items():
            if obj_bucket != bucket or not name.startswith(prefix):
                continue
            rest = name[len(prefix) :]
            if not rest.startswith(search):
                continue
            head, sep, _ = rest.partition("/")
            if sep:
                folders.add(head)
            else:
                files[rest] = obj
        entries = [
            {"name": f, "id": None, "updated_at": None, "created_at": None, "last_accessed_at": None, "metadata": None}
            for f in folders
        ] + [
            {
                "name": name,
                "id": obj["id"],
                "updated_at": _iso(obj["updated_at"]),
                "created_at": _iso(obj["created_at"]),
                "last_accessed_at": _iso(obj["updated_at"]),
                "metadata": self._object_metadata(obj),
            }
            for name, obj in files.items()
        ]
        sort_key = column if column in ("name", "created_at", "updated_at", "last_accessed_at") else "name"
        entries.sort(key=lambda e: (e[sort_key] is None, e[sort_key] or "", e["name"]), reverse=descending)
        return _json_response(200, entries[offset : offset + limit])

    def _storage_remove(self, bucket: str, req: _Request) -> tuple[int, dict, bytes]:
        self._require_bucket(bucket)
        body = req.json_or_none if isinstance(req.json_or_none, dict) else {}
        prefixes = body.get("prefixes")
        if not isinstance(prefixes, list) or not prefixes:
            raise _StorageError(400, "InvalidRequest", "body/prefixes must NOT have fewer than 1 items", error="Bad Request")
        removed = []
        for path in prefixes:
            obj = self.objects.pop((bucket, path), None)
            if obj is not None:
                removed.append(self._object_row(bucket, path, obj))
        # Missing paths are silently skipped, as Storage does.
        return _json_response(200, removed)

    def _storage_remove_one(self, bucket: str, path: str) -> tuple[int, dict, bytes]:
        self._require_object(bucket, path)
        del self.objects[(bucket, path)]
        return _json_response(200, {"message": "Successfully deleted"})


# ---------------------------------------------------------------------- HTTP plumbing


def _wants_2024_errors(version: str) -> bool:
    # DetermineClosestAPIVersion: unparseable or older dates mean the legacy shape.
    try:
        return datetime.strptime(version.strip(), "%Y-%m-%d") >= datetime(2024, 1, 1)
    except ValueError:
        return False


def _json_response(status: int, body: Any, headers: dict | None = None) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()


def _parse_multipart(body: bytes, content_type: str) -> dict[str, dict]:
    """Parse multipart/form-data by hand: `cgi` is deprecated and the email
    parser is not byte-exact for binary parts."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        return {}
    delimiter = b"--" + match.group(1).encode()
    fields: dict[str, dict] = {}
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n")
        raw_headers, _, data = chunk.partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        part_headers = {}
        for line in raw_headers.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            part_headers[name.strip().lower()] = value.strip()
        name_match = re.search(r'\bname="([^"]*)"', part_headers.get("content-disposition", ""))
        if name_match:
            fields[name_match.group(1)] = {"data": data, "content_type": part_headers.get("content-type")}
    return fields


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeSupabase/1.0"
    fake: GoTrueServer  # bound per server in GoTrueServer.start()

    def _serve(self) -> None:
        body = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            status, resp_headers, payload = self.fake._handle(self.command, self.path, headers, body)
        except Exception as exc:  # a bug in the double must still answer, not hang the client
            status, resp_headers, payload = _json_response(
                500, {"code": 500, "error_code": "unexpected_failure", "msg": f"test double crashed: {exc!r}"}
            )
        self.send_response(status)
        for name, value in resp_headers.items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Length", str(len(payload)))
        # One request per connection: after stop() no pooled keep-alive
        # connection can keep reaching a handler thread.
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        if self.command != "HEAD" and status != 204:
            self.wfile.write(payload)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean; `server.requests` is the log
