"""Is the app able to serve: the question a load balancer's health check asks."""
from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


def database_answers(session: Session) -> bool:
    """Whether a trivial query comes back; a failure is logged and leaves the session usable."""
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        session.rollback()
        log.exception("health check: database unreachable")
        return False
    return True
