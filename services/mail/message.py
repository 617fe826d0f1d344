"""An outbox row as a MIME message: text and HTML alternatives, inline images, attachments, a stable Message-ID."""
from __future__ import annotations

import base64
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from models import OutboxMessage
from services.mail.outbox import EXTRA_HEADERS, parse_recipient, require_one_line


def build_message(message: OutboxMessage, sender: str) -> EmailMessage:
    """The outbox row as a MIME message: text and HTML alternatives, inline images, attachments.

    Raises ValueError (InvalidEmail among them) when the row could never make a safe message.
    """
    require_one_line(message.subject, "subject")
    email = EmailMessage(policy=SMTP)  # the SMTP policy also refuses CR/LF in any header value
    email["From"] = _from(sender, message.sender_name)
    email["To"] = parse_recipient(message.to_address)
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = message_id_for(message, sender)
    for name, value in (message.headers or {}).items():
        if name not in EXTRA_HEADERS:
            raise ValueError(f"not a header an outbox row may set: {name!r}")
        email[name] = parse_recipient(value) if name == "Reply-To" else value
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


def _from(sender: str, sender_name: str | None):
    """The site's sending address, under the row's sender name when it has one ("Olga Organizer")."""
    if not sender_name:
        return sender
    require_one_line(sender_name, "sender name")
    # The configured sender is trusted as it is (a dev default ends in .local, which a recipient check refuses).
    return Address(display_name=sender_name, addr_spec=parseaddr(sender)[1])


def message_id_for(message: OutboxMessage, sender: str) -> str:
    """A Message-ID that stays the same across retries, so a duplicate send is recognizable."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "startline.local"
    return f"<outbox.{message.id}.{message.created_at:%Y%m%d%H%M%S%f}@{domain}>"


def _decoded(item: dict) -> bytes:
    return base64.b64decode(item["data"], validate=True)


def _split_type(item: dict) -> tuple[str, str]:
    maintype, _, subtype = item["content_type"].partition("/")
    return maintype, subtype
