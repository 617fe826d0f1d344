"""A verified access token is checked once per period, not once per request: a key withdrawn from the keys (or a
secret rotated) stops the tokens it signed within that period, whatever expiry they claim (issue 17)."""
from __future__ import annotations

import time
import uuid
from datetime import timedelta

import jwt
import pytest

from services import clock
from services.auth import access_tokens
from services.auth.access_tokens import TokenVerifier

ISSUER = "http://auth.test/auth/v1"


def _token(secret: str, *, hours: int = 24 * 365) -> str:
    now = int(clock.now().timestamp())
    return jwt.encode({"sub": str(uuid.uuid4()), "aud": "authenticated", "iss": ISSUER, "iat": now,
                       "exp": now + hours * 3600, "session_id": str(uuid.uuid4())}, secret, algorithm="HS256")


def test_a_token_whose_secret_was_rotated_is_refused_within_the_recheck_period(monkeypatch):
    verifier = TokenVerifier(issuer=ISSUER, hs256_secret="old-secret-" + "x" * 32)
    token = _token("old-secret-" + "x" * 32)  # claims a year of life
    started = time.monotonic()
    monkeypatch.setattr(access_tokens.time, "monotonic", lambda: started)
    assert verifier.verify(token)["iss"] == ISSUER

    verifier.hs256_secret = "new-secret-" + "y" * 32  # the old one withdrawn
    assert verifier.verify(token)["iss"] == ISSUER  # still within the period it was checked in
    monkeypatch.setattr(access_tokens.time, "monotonic", lambda: started + TokenVerifier.RECHECK_SECONDS + 1)
    with pytest.raises(jwt.InvalidSignatureError):
        verifier.verify(token)


def test_expiry_is_judged_on_every_request_even_for_a_kept_check():
    verifier = TokenVerifier(issuer=ISSUER, hs256_secret="secret-" + "z" * 32)
    token = _token("secret-" + "z" * 32, hours=1)
    assert verifier.verify(token)
    clock.freeze(clock.now() + timedelta(hours=2))
    try:
        with pytest.raises(jwt.ExpiredSignatureError):
            verifier.verify(token)
    finally:
        clock.reset()
