"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives; refusals on demand."""
from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    """One message: its envelope, the bytes of DATA as the server read them, and those bytes parsed."""

    mail_from: str
    to: list[str]
    message: EmailMessage
    peer: Any
    raw: bytes = b""

    def header_lines(self) -> list[bytes]:
        """The raw header section, one line per physical line (CRLF removed), as it came over the wire."""
        head, _, _ = self.raw.partition(b"\r\n\r\n")
        return head.split(b"\r\n")


@dataclass
class Mailbox:
    """The handler: messages received, senders and recipients to refuse (address -> SMTP answer)."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    peers: set[Any] = field(default_factory=set)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        if address in self.refuse:
            return self.refuse[address]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.peers.add(session.peer)
        raw = envelope.original_content
        parsed = message_from_bytes(raw, policy=policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, session.peer, raw))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password

    def __call__(self, server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == self.username \
            and auth_data.password.decode() == self.password
        return AuthResult(success=ok, handled=False)  # handled=True (the default) would send no answer at all


def start_server(mailbox: Mailbox, *, starttls: ssl.SSLContext | None = None, implicit: ssl.SSLContext | None = None,
                 login: tuple[str, str] | None = None, port: int | None = None) -> tuple[Controller, int]:
    """An SMTP server on `port` or a free one; STARTTLS, implicit TLS and AUTH as asked."""
    port = port or free_port()
    kwargs: dict[str, Any] = {}
    if starttls is not None:
        kwargs.update(tls_context=starttls, require_starttls=True)
    if login is not None:
        kwargs.update(authenticator=Authenticator(*login), auth_required=True, auth_require_tls=True)
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, ssl_context=implicit,
                            server_hostname="localhost", **kwargs)
    controller.start()
    return controller, port
