"""Where mail goes: SMTP submission when SMTP_URL is set, else .eml files in instance/mail/; and how a failed send is sorted."""
from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from flask import Flask

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A send that did not happen, and whether trying again could help."""

    def __init__(self, reason: str, *, permanent: bool = False, server_down: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent      # this message can never be delivered as it is
        self.server_down = server_down  # nothing can be delivered right now: stop the round


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
