"""Which auth provider and token verifier a deployment uses: Supabase Auth when SUPABASE_URL is set, else the local one."""
from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from sqlalchemy.orm import Session

from services.auth import AuthProvider
from services.auth.access_tokens import TokenVerifier
from services.auth.local import LOCAL_ISSUER, LocalAuth, local_jwt_secret
from services.auth.supabase import SupabaseAuth
from services.notifications import queue_auth_link


def provider_for(config: Mapping, session: Session) -> AuthProvider:
    """The configured provider, built for one request (Supabase clients are never shared between users)."""
    if config["SUPABASE_URL"]:
        return SupabaseAuth(config["SUPABASE_URL"], config["SUPABASE_PUBLISHABLE_KEY"])
    # The local provider's confirmation and reset emails go through the outbox, in its own transaction.
    return LocalAuth(session, jwt_secret=local_jwt_secret(config["SECRET_KEY"]),
                     issuer=token_issuer(config), autoconfirm=config["LOCAL_AUTH_AUTOCONFIRM"],
                     send_email=partial(queue_auth_link, session))


def token_issuer(config: Mapping) -> str:
    """The `iss` of this deployment's access tokens: Supabase Auth's URL, or the local provider's.

    The local one is a name, not SITE_URL: its tokens are signed with this deployment's own key
    anyway, and a change of address must not make every session's tokens foreign."""
    return f"{config['SUPABASE_URL']}/auth/v1" if config["SUPABASE_URL"] else LOCAL_ISSUER


def verifier_for(config: Mapping) -> TokenVerifier:
    """What checks access tokens: Supabase's published keys (and legacy secret), or the local provider's key."""
    if config["SUPABASE_URL"]:
        return TokenVerifier(issuer=token_issuer(config),
                             jwks_url=f"{config['SUPABASE_URL']}/auth/v1/.well-known/jwks.json",
                             hs256_secret=config["SUPABASE_JWT_SECRET"] or None)
    return TokenVerifier(issuer=token_issuer(config), hs256_secret=local_jwt_secret(config["SECRET_KEY"]))
