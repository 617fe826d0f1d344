"""A race's emails that could not be sent: the list on its dashboard, and sending one again."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import OutboxMessage, OutboxStatus, Race
from services.mail.outbox import retry


def failed_emails(session: Session, race: Race, limit: int = 50) -> list[OutboxMessage]:
    """The race's emails that could not be sent (bad address, or out of retries), newest first."""
    return list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.race_id == race.id, OutboxMessage.status == OutboxStatus.FAILED)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit)))


def retry_failed_email(session: Session, message: OutboxMessage, now: datetime) -> bool:
    """Queue a failed email again with a fresh set of attempts. Commits. False if it wasn't failed (a double click)."""
    was_failed = message.status == OutboxStatus.FAILED
    retry(session, message.id, now)
    session.commit()
    return was_failed
