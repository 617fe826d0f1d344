"""Secret link and session tokens: made here, and stored only as their SHA-256 so a leaked table opens nothing."""
from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    """A fresh unguessable token (32 random bytes, URL-safe), for a link or a refresh token."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database keeps of a token, and how a presented token is looked up."""
    return hashlib.sha256(token.encode()).hexdigest()
