"""Verifying access tokens locally (JWKS keys, cached, or an HS256 secret), and the Profile a token belongs to."""
from __future__ import annotations

import functools
import time
import uuid

import jwt
from sqlalchemy import bindparam, exists, false, select
from sqlalchemy.orm import Session, undefer

from models import Profile, RevokedSession
from services import clock
from services.auth import normalize_email


class TemporaryAuthFailure(Exception):
    """The keys could not be fetched: not the user's fault, so their cookies are kept."""


class TokenVerifier:
    """Checks access tokens locally: asymmetric keys from a JWKS URL (cached) and/or an HS256 secret."""

    LEEWAY = 10  # seconds of clock skew between us and the auth server
    RECHECK_SECONDS = 600  # a verified signature is trusted this long in this process before it is checked again

    def __init__(self, *, issuer: str, jwks_url: str | None = None, hs256_secret: str | None = None,
                 allow_anonymous: bool = False):
        # The issuer pins tokens to this auth server: another Supabase project (or a local
        # provider elsewhere) can share a signing secret or key, never the issuer.
        self.issuer, self.allow_anonymous = issuer, allow_anonymous
        self.hs256_secret = hs256_secret
        self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=600, timeout=5) if jwks_url else None
        # A browser sends the same access token on every request until it is refreshed: its signature and
        # claims are checked once (a tenth of a millisecond or more), its expiry on every request. Refusals
        # are not kept (an exception leaves no entry), so a bad token is checked again each time. A kept check
        # lasts at most RECHECK_SECONDS (the keys' own cache time): a key withdrawn from the key set stops a
        # token it signed within that, whatever expiry the token claims.
        self._checked = functools.lru_cache(maxsize=4096)(self._check_signed_in_period)

    def verify(self, token: str, *, allow_expired: bool = False) -> dict:
        """The token's claims. Raises jwt.ExpiredSignatureError, jwt.InvalidTokenError or TemporaryAuthFailure."""
        claims = dict(self._checked(token, int(time.monotonic() // self.RECHECK_SECONDS)))
        # Expiry is judged by our clock (services.clock), so tests can move time instead of waiting.
        if not allow_expired and claims["exp"] <= clock.now().timestamp() - self.LEEWAY:
            raise jwt.ExpiredSignatureError("Signature has expired")
        return claims

    def _check_signed_in_period(self, token: str, period: int) -> dict:
        return self._check_signed(token)

    def _check_signed(self, token: str) -> dict:
        """The claims of a token signed by our auth server for us, whatever its expiry."""
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
        claims = jwt.decode(token, key, algorithms=[alg], audience="authenticated", issuer=self.issuer,
                            options={"require": ["exp", "sub", "aud", "iss"], "verify_exp": False,
                                     "verify_iat": False, "verify_nbf": False})
        # Supabase's anonymous sign-ins carry aud "authenticated" too; no feature here asks for them.
        if claims.get("is_anonymous") is True and not self.allow_anonymous:
            raise jwt.InvalidTokenError("anonymous sessions are not accepted")
        try:
            uuid.UUID(str(claims["sub"]))
        except ValueError:
            raise jwt.InvalidTokenError("sub is not a user id") from None
        return claims


def session_id_of(claims: dict) -> uuid.UUID | None:
    """The auth session a token belongs to (both providers issue `session_id`), or None."""
    try:
        return uuid.UUID(str(claims["session_id"]))
    except (KeyError, ValueError):
        return None


@functools.cache
def _profile_statement(has_session: bool):
    """`profile_for_claims`' SELECT, built once per shape (`user_id`, `session_id` bound at each run; issue 17)."""
    signed_out = exists().where(RevokedSession.session_id == bindparam("session_id")) if has_session else false()
    return (select(Profile, signed_out.label("signed_out")).where(Profile.id == bindparam("user_id"))
            .options(undefer(Profile.organizes_races), undefer(Profile.has_cart)))


def profile_for_claims(session: Session, claims: dict) -> Profile | None:
    """The Profile of a verified token's user, created the first time we see them; None when the
    token's session was signed out (on any app server).

    One SELECT answers both, with the header's "organizes a race?" and "has a cart?" facts: every signed-in
    request pays for it, so it costs one query, not four.
    """
    user_id = uuid.UUID(claims["sub"])
    email = normalize_email(claims.get("email", ""))
    session_id = session_id_of(claims)
    params = {"user_id": user_id} | ({"session_id": session_id} if session_id else {})
    row = session.execute(_profile_statement(bool(session_id)), params).one_or_none()
    if row is None:
        if session_id is not None and session.get(RevokedSession, session_id) is not None:
            return None
        metadata = claims.get("user_metadata") or {}
        profile = Profile(id=user_id, email=email, full_name=str(metadata.get("full_name", ""))[:200])
        session.add(profile)
        session.commit()
        return profile
    profile, is_signed_out = row
    if is_signed_out:
        return None
    if email and profile.email != email:
        profile.email = email
        session.commit()
    return profile
