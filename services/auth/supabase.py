"""Supabase Auth through the `supabase` library: a fresh client for every call, its errors in our words."""
from __future__ import annotations

import logging
from collections.abc import Callable

from services.auth import AuthSession, SignUpResult, auth_error, normalize_email

log = logging.getLogger(__name__)


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
            raise auth_error(exc.code or "unknown") from exc
        except LibraryAuthError as exc:
            if getattr(exc, "code", None):  # AuthWeakPasswordError is no AuthApiError, but has GoTrue's code
                log.info("supabase auth refused: %s", exc.code)
                raise auth_error(exc.code) from exc
            log.warning("supabase auth unavailable: %r", exc)  # unreachable, timeouts, gateway 5xx
            raise auth_error(None) from exc
        except httpx.HTTPError as exc:
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

    def send_magic_link(self, email, *, redirect_to):
        # GoTrue's /otp: an address with no account gets one (and its confirmation email is the link).
        self._call(lambda auth: auth.sign_in_with_otp({"email": normalize_email(email), "options": {
            "email_redirect_to": redirect_to, "should_create_user": True}}))

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
