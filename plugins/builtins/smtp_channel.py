"""The `smtp` channel: email over SMTP with aiosmtplib, one connection reused per server.

Settings (in the rules): `host`, `port`, `tls` (starttls, tls or none), `username`,
`password_env` (the NAME of the environment variable holding the password: rules files
live in git), `from`, `reply_to`, `ca_file`, `timeout`, and for DKIM `dkim_selector`,
`dkim_key_env` (the variable holding the private key, or its file) and `dkim_domain`
(default: the sender's domain). Each message is text, or text and
HTML (multipart/alternative; the text part derived from the HTML when the template has
none), with `Message-ID` derived from the message's key, so a message handed over again
after a crash carries the same id. The bytes are made once (email_message.py) and sent
as they are: what the server receives is what was built.
"""
from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import aiosmtplib

from relance.dsl.settings import Setting, with_defaults
from relance.engine.channels import ChannelTraits, DeliveryResult, OutboundMessage

from .. import hookimpl
from .dkim_signing import DkimError, dkim_problems, signed
from .email_message import Envelope, envelope

SETTINGS = {
    "host": Setting(str, required=True, help="the SMTP server"),
    "port": Setting(int, default=587),
    "tls": Setting(str, default="starttls", choices=("starttls", "tls", "none")),
    "username": Setting(str),
    "password_env": Setting(str, help="the environment variable holding the password"),
    "from": Setting(str, required=True, help='the sender, such as "Maison Démo <bonjour@maison-demo.test>"'),
    "reply_to": Setting(str),
    "ca_file": Setting(str, help="a CA bundle to trust instead of the system's (a private CA)"),
    "timeout": Setting((int, float), default=30),
    "dkim_selector": Setting(str, requires=("dkim_key_env",),
                             help="the DKIM selector, as in SELECTOR._domainkey.DOMAIN"),
    "dkim_key_env": Setting(str, requires=("dkim_selector",),
                            help="the environment variable holding the DKIM private key (PEM), or its file's path"),
    "dkim_domain": Setting(str, requires=("dkim_key_env",), help="the signing domain (default: the sender's)"),
}
ServerKey = tuple[str, int, str, str | None]
TRAITS = ChannelTraits("email", "opt_out", frozenset({"subject", "html", "unsubscribe", "tracking"}))


class _Connection:
    def __init__(self) -> None:
        self.client: aiosmtplib.SMTP | None = None
        self.lock = asyncio.Lock()


class SmtpChannel:
    name = "smtp"
    settings_schema = SETTINGS

    def __init__(self) -> None:
        self._connections: dict[ServerKey, _Connection] = {}

    def traits(self, settings: Mapping[str, Any]) -> ChannelTraits:
        """Email: to the contact's address, unless it opted out; unsubscribe headers and tracking."""
        return TRAITS

    def check_environment(self, settings: Mapping[str, Any]) -> list[str]:
        """The password's variable, when the settings name one, and the DKIM key."""
        missing = [] if not settings.get("password_env") or os.environ.get(str(settings["password_env"])) is not None \
            else [_no_password(settings)]
        return missing + dkim_problems(settings)

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if not message.email:
            return DeliveryResult("failed", "contact has no email address")
        settings = with_defaults(SETTINGS, message.settings)
        password = None
        if settings.get("password_env"):
            password = os.environ.get(str(settings["password_env"]))
            if password is None:
                return DeliveryResult("failed", _no_password(settings))
        try:
            mail = envelope(message, settings)
        except ValueError as error:  # a rendered subject with a line break, an unusable address
            return DeliveryResult("failed", f"cannot build the email: {error}")
        if settings.get("dkim_key_env"):
            try:
                mail = replace(mail, data=signed(mail.data, settings, mail.sender.rpartition("@")[2]))
            except DkimError as error:  # never sent unsigned when signing was asked for
                return DeliveryResult("failed", str(error))
        key: ServerKey = (str(settings["host"]), int(settings["port"]), str(settings["tls"]), settings.get("username"))
        connection = self._connections.setdefault(key, _Connection())
        async with connection.lock:
            try:
                return await _deliver(connection, settings, password, mail)
            except aiosmtplib.SMTPRecipientsRefused as error:
                return _refused(error.recipients)
            except aiosmtplib.SMTPResponseException as error:
                return _answer(error, settings)
            except aiosmtplib.SMTPNotSupported as error:  # no STARTTLS
                return DeliveryResult("failed", f"{settings['host']}:{settings['port']}: {error}")
            except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
                await _drop(connection)
                return DeliveryResult("deferred", f"{settings['host']}:{settings['port']}: {error}")

    async def close(self) -> None:
        for connection in self._connections.values():
            async with connection.lock:
                if connection.client is not None and connection.client.is_connected:
                    try:
                        await connection.client.quit()
                    except (aiosmtplib.SMTPException, OSError):
                        connection.client.close()
                connection.client = None


async def _deliver(connection: _Connection, settings: Mapping[str, Any], password: str | None,
                   mail: Envelope) -> DeliveryResult:
    """One transaction on the server's connection; on a new one if the server closed the old one meanwhile.

    Refused transactions need nothing more here: aiosmtplib sends RSET itself, so the
    connection serves the next message.
    """
    reused = connection.client is not None and connection.client.is_connected
    if not reused:
        connection.client = await _connect(settings, password)
    try:
        errors, response = await connection.client.sendmail(mail.sender, [mail.recipient], mail.data)
    except aiosmtplib.SMTPServerDisconnected:
        await _drop(connection)
        if not reused:
            raise
        connection.client = await _connect(settings, password)
        errors, response = await connection.client.sendmail(mail.sender, [mail.recipient], mail.data)
    if errors:
        return _refused([aiosmtplib.SMTPRecipientRefused(code, text, rcpt) for rcpt, (code, text) in errors.items()])
    return DeliveryResult("delivered", response, provider_id=mail.message_id)


async def _connect(settings: Mapping[str, Any], password: str | None) -> aiosmtplib.SMTP:
    """A connection ready for mail: TLS as the settings say (STARTTLS required when asked), logged in."""
    context = ssl.create_default_context(cafile=settings.get("ca_file"))
    tls = settings["tls"]
    client = aiosmtplib.SMTP(hostname=settings["host"], port=int(settings["port"]), use_tls=tls == "tls",
                             start_tls=False, tls_context=context, timeout=float(settings["timeout"]))
    await client.connect()
    try:
        if client.last_ehlo_response is None:
            await client.ehlo()
        if tls == "starttls":
            if not client.supports_extension("starttls"):
                raise aiosmtplib.SMTPNotSupported(
                    "the server does not offer STARTTLS; not sending in clear (set tls: none to allow it)")
            await client.starttls(tls_context=context)
        if settings.get("username"):
            await client.login(str(settings["username"]), password or "")
    except BaseException:
        client.close()
        raise
    return client


def _no_password(settings: Mapping[str, Any]) -> str:
    return f"environment variable {settings['password_env']} (the SMTP password) is not set"


def _answer(error: aiosmtplib.SMTPResponseException, settings: Mapping[str, Any]) -> DeliveryResult:
    """A step of the session refused: 4xx try later, 5xx failed (the recipient's address is not to blame)."""
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        what = f"refused the login of {settings.get('username')}"
    elif isinstance(error, aiosmtplib.SMTPSenderRefused):
        what = f"refused the sender {error.sender}"
    else:
        what = "answered"
    detail = f"{settings['host']} {what}: {error.code} {error.message}"
    return DeliveryResult("deferred" if 400 <= error.code < 500 else "failed", detail)


def _refused(recipients: list[aiosmtplib.SMTPRecipientRefused]) -> DeliveryResult:
    """A refused recipient: 4xx try later, 5xx the address is bad (bounced)."""
    refused = recipients[0]
    detail = f"{refused.code} {refused.message} ({refused.recipient})"
    if 400 <= refused.code < 500:
        return DeliveryResult("deferred", detail)
    return DeliveryResult("failed", detail, bounced=True)


async def _drop(connection: _Connection) -> None:
    if connection.client is not None:
        connection.client.close()
    connection.client = None


@hookimpl
def relance_channels() -> list[SmtpChannel]:
    return [SmtpChannel()]
