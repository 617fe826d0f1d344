"""The outbox: checking and queueing an email (or a batch of them) in the caller's transaction, and queueing a
failed one again."""
from __future__ import annotations

import base64
import functools
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.utils import getaddresses

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import insert
from sqlalchemy.orm import Session

from models import OutboxMessage, OutboxStatus
from services import clock
from services.languages import current_language

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*$")
_CONTENT_ID = re.compile(r"^[A-Za-z0-9._%+-]+(@[A-Za-z0-9.-]+)?$")
# The headers a row may add to From/To/Subject/Date/Message-ID: answers go to a person, and a list's
# unsubscribe link (RFC 2369) with its one-click POST (RFC 8058).
EXTRA_HEADERS = ("Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post")


class InvalidEmail(ValueError):
    """An email that must not be queued or sent: bad address, header injection, bad attachment."""


@dataclass(frozen=True)
class Attachment:
    """A file to send along; with a content_id it is an inline image the HTML shows as cid:<content_id>."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None


def queue_email(session: Session, *, to: str, subject: str, text: str, html: str | None = None,
                attachments: Sequence[Attachment] = (), kind: str, race_id: int | None = None,
                order_id: uuid.UUID | None = None, **extra) -> OutboxMessage:
    """Add an email to the outbox in the caller's session; it is sent once the caller commits.

    `to` is "ann@example.com" or "Ann Runner <ann@example.com>". `extra` takes `outbox_row`'s
    message_id, headers, sender_name and language. Raises InvalidEmail for a bad address, a subject that is not
    one line, or a malformed attachment or header.
    """
    message = OutboxMessage(**outbox_row(to=to, subject=subject, text=text, html=html, attachments=attachments,
                                         kind=kind, race_id=race_id, order_id=order_id, now=clock.now(), **extra))
    session.add(message)
    return message


def queue_emails(session: Session, rows: Sequence[dict]) -> int:
    """Add many checked rows (from `outbox_row`) in one multi-row INSERT: thousands in well under a second.

    Like queue_email, nothing is sent before the caller commits. Returns how many were added.
    """
    if rows:
        session.execute(insert(OutboxMessage), list(rows))
    return len(rows)


def outbox_row(*, to: str, subject: str, text: str, html: str | None = None, attachments: Sequence[Attachment] = (),
               kind: str, race_id: int | None = None, order_id: uuid.UUID | None = None, message_id: int | None = None,
               headers: Mapping[str, str] | None = None, sender_name: str | None = None, language: str | None = None,
               now: datetime) -> dict:
    """The checked column values of one outbox row, due at `now`. Raises InvalidEmail like queue_email.

    `language` is the one the subject and bodies were written in for their recipient (services/mail/languages.py
    chooses it); by default the one being written now (the page's, or an email's under force_locale).
    """
    require_one_line(subject, "subject")
    if len(subject) > 300:
        raise InvalidEmail("the subject is longer than 300 characters")
    if not kind:
        raise InvalidEmail("every email needs a kind")
    if sender_name is not None:
        require_one_line(sender_name, "sender name")
        sender_name = sender_name[:200]
    return {"to_address": str(parse_recipient(to)), "subject": subject, "text_body": text, "html_body": html,
            "attachments": [_stored_attachment(a) for a in attachments], "kind": kind, "race_id": race_id,
            "order_id": order_id, "message_id": message_id, "headers": _checked_headers(headers),
            "sender_name": sender_name, "language": language or current_language(), "status": OutboxStatus.QUEUED,
            "attempts": 0, "next_attempt_at": now, "created_at": now}


def _checked_headers(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    if not headers:
        return None
    checked = {}
    for name, value in headers.items():
        if name not in EXTRA_HEADERS:
            raise InvalidEmail(f"not a header an outbox row may set: {name!r}")
        require_one_line(value, name)
        checked[name] = _reply_address(value) if name == "Reply-To" else value
    return checked


@functools.lru_cache(maxsize=256)
def _reply_address(value: str) -> str:
    # A batch's rows share one Reply-To: check it once, not once a row (raises InvalidEmail, never cached).
    return str(parse_recipient(value))


def parse_recipient(to: str) -> Address:
    """The one address in `to`, checked (syntax only, no DNS) and normalized. Raises InvalidEmail."""
    require_one_line(to, "address")
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


def require_one_line(value: str, what: str) -> None:
    """Raise InvalidEmail unless `value` is one line without control characters."""
    # A CR or LF in a header value would let its author start a header of their own (Bcc: …).
    if _CONTROL_CHARS.search(value):
        raise InvalidEmail(f"the {what} must be one line without control characters")


def _stored_attachment(attachment: Attachment) -> dict:
    require_one_line(attachment.filename, "attachment filename")
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
