"""Sending the outbox: claims due rows, sends them with no transaction open, and records each outcome.

`send_due` runs one round; services/worker.py repeats rounds (the CLI's `flask outbox-worker`, and
the dev server's thread).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import OutboxMessage, OutboxStatus
from services import clock
from services.mail.message import build_message
from services.mail.transports import DeliveryError, Transport, transport_for

log = logging.getLogger(__name__)

DEFAULT_SENDER = "Startline <no-reply@startline.local>"

# After the n-th failed attempt the next one waits RETRY_DELAYS[n-1]; one more failure after
# the last delay marks the message failed (six attempts over about 15 hours).
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
                timedelta(hours=2), timedelta(hours=12))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1

# How the worker claims a message (chosen over holding a row lock while talking to SMTP):
# a short transaction sets status "sending" and moves next_attempt_at to the end of a lease,
# then the send happens with no transaction open, then a second short transaction records
# the outcome. So no database connection or SQLite write lock is held during network I/O
# (the Supabase pooler and the dev server's SQLite both prefer that), and a worker that
# crashes mid-send leaves a "sending" row that becomes due again when its lease ends.
# The price is at-least-once delivery after a crash; the stable Message-ID lets receiving
# servers spot the duplicate. The lease is far longer than one send can take.
LEASE = timedelta(minutes=15)
# A round stops claiming after this long, so `now` (taken once per round) stays well inside the lease.
ROUND_SECONDS = 120


@dataclass
class SendReport:
    """What one round did: how many messages went, wait for a retry, or gave up."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.retrying + self.failed

    def __str__(self) -> str:
        return f"{self.sent} sent, {self.retrying} to retry, {self.failed} failed"


def send_due(session: Session, transport: Transport, now: datetime, *, sender: str = DEFAULT_SENDER,
             limit: int = 50) -> SendReport:
    """Deliver up to `limit` due messages, one claim at a time; commits as it goes.

    Call it with a session that holds no unfinished work of its own.
    """
    report = SendReport()
    started = time.monotonic()
    try:
        while report.total < limit and time.monotonic() - started < ROUND_SECONDS:
            message = _claim_next(session, now)
            if message is None:
                break
            error = _deliver(message, transport, sender)
            _record_outcome(session, message, error, now, report)
            if error is not None and error.server_down:
                break  # the rest would fail the same way; leave their retries unspent
    finally:
        transport.close()
    return report


def due_condition(now: datetime):
    """SQL condition: queued and due, or "sending" whose worker's lease has run out."""
    return (OutboxMessage.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING])
            & (OutboxMessage.next_attempt_at <= now))


def _claim_next(session: Session, now: datetime) -> OutboxMessage | None:
    # One statement picks and claims, so two workers never claim the same row: on Postgres
    # SKIP LOCKED passes over rows another worker is claiming; SQLite (which renders no FOR
    # UPDATE) serializes the whole UPDATE under its write lock.
    next_due = (select(OutboxMessage.id).where(due_condition(now))
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(1).with_for_update(skip_locked=True))
    claim = (update(OutboxMessage).where(OutboxMessage.id == next_due.scalar_subquery())
             .values(status=OutboxStatus.SENDING, attempts=OutboxMessage.attempts + 1,
                     next_attempt_at=now + LEASE)
             .returning(OutboxMessage))
    # attempts counts claims, so a message that kills its worker still runs out of retries.
    message = session.scalars(claim, execution_options={"populate_existing": True,
                                                        "synchronize_session": False}).first()
    session.commit()
    return message


def _deliver(message: OutboxMessage, transport: Transport, sender: str) -> DeliveryError | None:
    try:
        email = build_message(message, sender)
    except ValueError as error:  # bad address, a CR/LF in a header, broken attachment data
        return DeliveryError(f"cannot build the message: {error}", permanent=True)
    try:
        transport.send(email)
    except DeliveryError as error:
        return error
    except Exception as error:  # an unexpected bug must not stop the worker; retries give it time to be fixed
        log.exception("Sending outbox message %s failed unexpectedly", message.id)
        return DeliveryError(f"{type(error).__name__}: {error}")
    return None


def _record_outcome(session: Session, message: OutboxMessage, error: DeliveryError | None, now: datetime,
                    report: SendReport) -> None:
    if error is None:
        _settle(session, message, status=OutboxStatus.SENT, sent_at=now, last_error=None)
        report.sent += 1
    elif error.permanent or message.attempts >= MAX_ATTEMPTS:
        reason = error.reason if error.permanent else f"gave up after {message.attempts} attempts: {error.reason}"
        log.warning("Outbox message %s to %s failed: %s", message.id, message.to_address, reason)
        _settle(session, message, status=OutboxStatus.FAILED, last_error=reason[:2000])
        report.failed += 1
    else:
        delay = RETRY_DELAYS[message.attempts - 1]
        log.info("Outbox message %s will be retried in %s: %s", message.id, delay, error.reason)
        _settle(session, message, status=OutboxStatus.QUEUED, next_attempt_at=now + delay,
                last_error=error.reason[:2000])
        report.retrying += 1


def _settle(session: Session, message: OutboxMessage, **values) -> None:
    # Only while our claim holds: if the lease ran out and another worker claimed the message
    # (attempts moved on), its outcome is the one that counts.
    settled = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.status == OutboxStatus.SENDING,
               OutboxMessage.attempts == message.attempts)
        .values(**values), execution_options={"synchronize_session": "evaluate"})
    session.commit()
    if settled.rowcount != 1:
        log.warning("Outbox message %s was claimed again before its outcome was recorded", message.id)


def send_due_for(app: Flask) -> SendReport:
    """One round for an app: its database session, its configured transport, the clock's now."""
    with app.app_context():
        session = app.extensions["sqlalchemy"].session
        try:
            return send_due(session, transport_for(app), clock.now(), sender=app.config["MAIL_FROM"])
        finally:
            session.remove()

