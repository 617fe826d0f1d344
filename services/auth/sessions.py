"""Signing out: the session ends at once on every app server, not when its access token expires."""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models import RevokedSession
from services import clock
from services.auth import AuthError, AuthProvider, AuthSession
from services.auth.access_tokens import TokenVerifier, session_id_of

log = logging.getLogger(__name__)


def sign_out(session: Session, provider: AuthProvider, current: AuthSession, claims: dict) -> None:
    """End the session `claims` belong to: refused here at once, then ended at the auth server.

    The row lives as long as any access token of the session can: one issued just now expires
    after the session's token lifetime (exp - iat). Expired rows are pruned on the way.
    """
    session_id = session_id_of(claims)
    if session_id is not None:
        now = clock.now()
        lifetime = timedelta(seconds=max(int(claims["exp"]) - int(claims.get("iat", claims["exp"])), 0))
        until = max(now + lifetime, datetime.fromtimestamp(int(claims["exp"]), UTC)) \
            + timedelta(seconds=TokenVerifier.LEEWAY)
        session.execute(delete(RevokedSession).where(RevokedSession.expires_at < now))
        row = session.scalar(select(RevokedSession).where(RevokedSession.session_id == session_id))
        if row is None:
            session.add(RevokedSession(session_id=session_id, expires_at=until))
        else:
            row.expires_at = max(row.expires_at, until)
        session.commit()
    # After the commit: no transaction held open across the network.
    try:
        provider.sign_out(current.access_token)
    except AuthError as error:
        # Refused here already; the auth server's session (and refresh token) ends on its own terms.
        log.warning("auth server sign-out failed (%s); session %s refused locally", error.code, session_id)
