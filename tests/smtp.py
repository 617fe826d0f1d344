"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives, for mail tests."""
from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


@dataclass
class Delivery:
    """One accepted message: the SMTP envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None


class _Collector:
    """aiosmtpd handler: refuses the recipients it was told to, keeps everything else."""

    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.server.refusals.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        login = session.auth_data.decode() if session.authenticated else None
        with self.server.lock:
            self.server.deliveries.append(Delivery(envelope.mail_from, list(envelope.rcpt_tos), message, login))
        return "250 Message accepted for delivery"


def _authenticate(server, session, envelope, mechanism, auth_data):
    # Any user whose password is "secret"; the tests check which login arrived.
    if auth_data.password == b"secret":
        return AuthResult(success=True, auth_data=auth_data.login)
    return AuthResult(success=False, handled=False)  # unhandled: the server answers 535 itself


def reserve_port() -> socket.socket:
    """A loopback port that stays this process's while the returned socket is open.

    The socket is bound but never listens: a client connecting is refused, as by a server that is down,
    and the kernel hands the port to no other bind(0) or outgoing connection (the other xdist worker's
    servers, Postgres clients, Chromium). SO_REUSEADDR lets the SMTP server bind it beside the holder.
    """
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    return holder


class SmtpServer:
    """`.url` to send to, `.messages` as parsed EmailMessages, `.deliveries` with envelopes.

    `stop()` and `start()` take the server down and bring it back on the same port, which stays
    reserved for it in between (`close()` gives it up);
    `refuse(address)` makes RCPT TO for that address fail (550 unless told otherwise).
    Logins are accepted for any user with the password "secret" (`url_with_login`).
    """

    def __init__(self, port: int | None = None):
        self._port_holder = None if port else reserve_port()
        self.port = port or self._port_holder.getsockname()[1]
        self.deliveries: list[Delivery] = []
        self.refusals: dict[str, str] = {}
        self.delay = 0.0  # seconds each DATA takes, to make concurrent senders overlap
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def url_with_login(self, user: str, password: str = "secret") -> str:
        return f"smtp://{user}:{password}@127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [d.message for d in self.deliveries]

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user here") -> None:
        self.refusals[address.lower()] = reply

    def start(self) -> SmtpServer:
        # A Controller cannot be restarted (its loop is closed on stop), so each start makes one.
        self._controller = Controller(_Collector(self), hostname="127.0.0.1", port=self.port,
                                      authenticator=_authenticate, auth_require_tls=False)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def close(self) -> None:
        """Stop, and give the port back."""
        self.stop()
        if self._port_holder is not None:
            self._port_holder.close()
            self._port_holder = None


@pytest.fixture
def smtp_server():
    """A running loopback SMTP server; see SmtpServer."""
    server = SmtpServer().start()
    yield server
    server.close()
