"""Transactional email: the outbox (queue_email), building MIME messages, transports, and the worker.

No email is lost: `queue_email` only adds an OutboxMessage to the caller's session, so the mail is
committed with the change that causes it (or rolled back with it). Workers (`send_due`) deliver
what is due, retry temporary failures with backoff and give up on permanent ones.
"""
from __future__ import annotations

import base64
import logging
import os
import re
import smtplib
import ssl
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from email_validator import EmailNotValidError, validate_email
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import OutboxMessage, OutboxStatus
from services import clock

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

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*$")
_CONTENT_ID = re.compile(r"^[A-Za-z0-9._%+-]+(@[A-Za-z0-9.-]+)?$")


class InvalidEmail(ValueError):
    """An email that must not be queued or sent: bad address, header injection, bad attachment."""


class DeliveryError(Exception):
    """A send that did not happen, and whether trying again could help."""

    def __init__(self, reason: str, *, permanent: bool = False, server_down: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent      # this message can never be delivered as it is
        self.server_down = server_down  # nothing can be delivered right now: stop the round


@dataclass(frozen=True)
class Attachment:
    """A file to send along; with a content_id it is an inline image the HTML shows as cid:<content_id>."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None


@dataclass
class SendReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.retrying + self.failed

    def __str__(self) -> str:
        return f"{self.sent} sent, {self.retrying} to retry, {self.failed} failed"


# --- queueing ---------------------------------------------------------------------------------

def queue_email(session: Session, *, to: str, subject: str, text: str, html: str | None = None,
                attachments: Sequence[Attachment] = (), kind: str, race_id: int | None = None,
                order_id: uuid.UUID | None = None) -> OutboxMessage:
    """Add an email to the outbox in the caller's session; it is sent once the caller commits.

    `to` is "ann@example.com" or "Ann Runner <ann@example.com>". Raises InvalidEmail for a bad
    address, a subject that is not one line, or a malformed attachment.
    """
    _require_one_line(subject, "subject")
    if len(subject) > 300:
        raise InvalidEmail("the subject is longer than 300 characters")
    if not kind:
        raise InvalidEmail("every email needs a kind")
    now = clock.now()
    message = OutboxMessage(
        to_address=str(parse_recipient(to)), subject=subject, text_body=text, html_body=html,
        attachments=[_stored_attachment(a) for a in attachments], kind=kind, race_id=race_id,
        order_id=order_id, status=OutboxStatus.QUEUED, attempts=0, next_attempt_at=now, created_at=now)
    session.add(message)
    return message


def parse_recipient(to: str) -> Address:
    """The one address in `to`, checked (syntax only, no DNS) and normalized. Raises InvalidEmail."""
    _require_one_line(to, "address")
    pairs = getaddresses([to])
    if len(pairs) != 1 or not pairs[0][1]:
        raise InvalidEmail(f"not a single email address: {to!r}")
    name, address = pairs[0]
    try:
        checked = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise InvalidEmail(f"{address!r} is not a valid email address: {error}") from None
    # Re-rendered from its checked parts, so whatever else `to` held never reaches a header.
    return Address(display_name=name, addr_spec=checked.ascii_email or checked.normalized)


def _require_one_line(value: str, what: str) -> None:
    # A CR or LF in a header value would let its author start a header of their own (Bcc: …).
    if _CONTROL_CHARS.search(value):
        raise InvalidEmail(f"the {what} must be one line without control characters")


def _stored_attachment(attachment: Attachment) -> dict:
    _require_one_line(attachment.filename, "attachment filename")
    if not _CONTENT_TYPE.match(attachment.content_type):
        raise InvalidEmail(f"not a content type: {attachment.content_type!r}")
    stored = {"filename": attachment.filename, "content_type": attachment.content_type,
              "data": base64.b64encode(attachment.data).decode("ascii")}
    if attachment.content_id is not None:
        if not _CONTENT_ID.match(attachment.content_id):
            raise InvalidEmail(f"not a usable Content-ID: {attachment.content_id!r}")
        stored["content_id"] = attachment.content_id
    return stored


def retry(session: Session, message_id: int, now: datetime | None = None) -> OutboxMessage:
    """Queue a failed message again, due now with a fresh set of retries (the organizer's button).

    Anything not failed is left alone, so a double click never sends twice. The caller commits.
    Raises LookupError for an unknown id.
    """
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise LookupError(f"no outbox message {message_id}")
    if message.status == OutboxStatus.FAILED:
        message.status = OutboxStatus.QUEUED
        message.attempts = 0
        message.next_attempt_at = now or clock.now()
    return message


# --- building the MIME message ------------------------------------------------------------------

def build_message(message: OutboxMessage, sender: str) -> EmailMessage:
    """The outbox row as a MIME message: text and HTML alternatives, inline images, attachments.

    Raises ValueError (InvalidEmail among them) when the row could never make a safe message.
    """
    _require_one_line(message.subject, "subject")
    email = EmailMessage(policy=SMTP)  # the SMTP policy also refuses CR/LF in any header value
    email["From"] = sender
    email["To"] = parse_recipient(message.to_address)
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = message_id_for(message, sender)
    email.set_content(message.text_body)
    inline = [a for a in message.attachments if a.get("content_id")] if message.html_body else []
    if message.html_body:
        email.add_alternative(message.html_body, subtype="html")
        html_part = email.get_payload()[-1]
        for item in inline:
            html_part.add_related(_decoded(item), *_split_type(item), cid=f"<{item['content_id']}>",
                                  filename=item["filename"], disposition="inline")
    for item in message.attachments:
        if item not in inline:
            email.add_attachment(_decoded(item), *_split_type(item), filename=item["filename"])
    return email


def message_id_for(message: OutboxMessage, sender: str) -> str:
    """A Message-ID that stays the same across retries, so a duplicate send is recognizable."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "startline.local"
    return f"<outbox.{message.id}.{message.created_at:%Y%m%d%H%M%S%f}@{domain}>"


def _decoded(item: dict) -> bytes:
    return base64.b64decode(item["data"], validate=True)


def _split_type(item: dict) -> tuple[str, str]:
    maintype, _, subtype = item["content_type"].partition("/")
    return maintype, subtype


# --- transports --------------------------------------------------------------------------------

class Transport(Protocol):
    def send(self, email: EmailMessage) -> None: ...
    def close(self) -> None: ...


def transport_for(app: Flask) -> Transport:
    """SMTP when SMTP_URL is set; otherwise .eml files in instance/mail/ (the embedded default)."""
    url = app.config.get("SMTP_URL")
    if url:
        return SmtpTransport.from_url(url)
    return FileTransport(Path(app.instance_path) / "mail")


class FileTransport:
    """Writes each message to <directory>/<Message-ID>.eml and says where in the log."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def send(self, email: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]", "_", email["Message-ID"].strip("<>").partition("@")[0])
        path = self.directory / f"{name}.eml"
        try:
            path.write_bytes(email.as_bytes())
        except OSError as error:
            raise DeliveryError(f"cannot write {path}: {error}", server_down=True) from error
        log.info("Mail to %s (%s) written to %s", email["To"], email["Subject"], path)

    def close(self) -> None:
        pass

    def __str__(self) -> str:
        return f"files in {self.directory}"


class SmtpTransport:
    """SMTP submission; one connection per round, opened on the first send."""

    def __init__(self, host: str, port: int, *, username: str | None = None, password: str | None = None,
                 implicit_tls: bool = False, timeout: float = 30.0):
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.implicit_tls, self.timeout = implicit_tls, timeout
        self._connection: smtplib.SMTP | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpTransport:
        """smtp://user:password@host:587 (STARTTLS), smtps://…:465 (implicit TLS), ?timeout=seconds."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:password@host:587 or smtps://…")
        options = parse_qs(parts.query)
        if set(options) - {"timeout"}:
            raise ValueError(f"SMTP_URL knows only ?timeout=, not {sorted(set(options) - {'timeout'})}")
        implicit_tls = parts.scheme == "smtps"
        return cls(parts.hostname, parts.port or (465 if implicit_tls else 25),
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None,
                   implicit_tls=implicit_tls, timeout=float(options.get("timeout", ["30"])[0]))

    def send(self, email: EmailMessage) -> None:
        # Only the To header's addresses are envelope recipients: nothing else can add one.
        recipients = [address.addr_spec for address in email["To"].addresses]
        try:
            connection = self._connection or self._connect()
            connection.send_message(email, to_addrs=recipients)
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise _delivery_error(error) from error

    def _connect(self) -> smtplib.SMTP:
        tls = ssl.create_default_context()
        if self.implicit_tls:
            connection = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=tls)
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        self._connection = connection
        connection.ehlo()
        # Port 587 is submission: never send a password in the clear there. Elsewhere, encrypt when offered.
        if not self.implicit_tls and (self.port == 587 or connection.has_extn("starttls")):
            connection.starttls(context=tls)
            connection.ehlo()
        if self.username:
            connection.login(self.username, self.password or "")
        return connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()

    def __str__(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"


def _delivery_error(error: Exception) -> DeliveryError:
    """Sort an SMTP failure: this message can never go, try it later, or the server is unusable now."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(error.recipients.values()))
        return DeliveryError(f"recipient refused: {code} {_reply_text(reply)}", permanent=code >= 500)
    if isinstance(error, smtplib.SMTPDataError):
        return DeliveryError(f"message refused: {error.smtp_code} {_reply_text(error.smtp_error)}",
                             permanent=error.smtp_code >= 500)
    if isinstance(error, smtplib.SMTPResponseException):
        # Greeting, login or sender refused: about our configuration, not this message.
        return DeliveryError(f"mail server said {error.smtp_code} {_reply_text(error.smtp_error)}", server_down=True)
    return DeliveryError(f"cannot reach the mail server: {type(error).__name__}: {error}", server_down=True)


def _reply_text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


# --- the worker --------------------------------------------------------------------------------

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


class OutboxWorker(threading.Thread):
    """Sends due mail every `interval` seconds until stopped (the CLI worker and the dev server's thread)."""

    def __init__(self, app: Flask, interval: float = 2.0):
        super().__init__(name="outbox-worker", daemon=True)
        self.app, self.interval = app, interval
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            self.run_round()
            self._stopping.wait(self.interval)

    def run_round(self) -> SendReport | None:
        try:
            report = send_due_for(self.app)
        except Exception:  # the database may be down for a moment; the next round tries again
            log.exception("Outbox round failed")
            return None
        if report.total:
            log.info("Outbox: %s", report)
        return report

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout)


def start_worker_thread(app: Flask, interval: float = 2.0) -> OutboxWorker | None:
    """Send mail from inside this process (for `make run`), once per app, never in the reloader's watcher."""
    # `flask run --debug` loads the app twice: in a watcher process that only restarts the
    # server, and in the child that serves (WERKZEUG_RUN_MAIN=true). Only the child sends.
    # Were both to run, claims would still keep each message to one send.
    if app.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        return None
    worker = app.extensions.get("outbox_worker")
    if worker is None:
        worker = app.extensions["outbox_worker"] = OutboxWorker(app, interval)
        worker.start()
    return worker
