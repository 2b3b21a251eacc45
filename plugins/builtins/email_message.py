"""An email's bytes as inboxes want them: ASCII headers folded at whitespace only, encoded-words only in text.

Python's email policies fold a header with a token longer than 78 characters (a one-click
unsubscribe URL, a long Message-ID) into RFC 2047 encoded-words, which turns
`List-Unsubscribe: <https://…>` into `=?utf-8?q?=3Chttps=3A//…?=` that Gmail and Yahoo do
not read. So every ASCII header Relance writes is folded here, at whitespace only (a word
longer than a line stays whole, up to RFC 5322's 998 octets), and stored raw; only text
that is not ASCII (a subject, a display name) is left to the policy's encoded-words.
Bodies are 7bit, quoted-printable or base64, lines end with CRLF.
"""
from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from relance.engine.channels import OutboundMessage

from .html_text import html_to_text

# Raw headers are written as given (refold_source "none"); bodies never need 8BITMIME,
# which keeps a DKIM signature intact through relays that would convert 8bit bodies.
POLICY = policy.SMTP.clone(refold_source="none", cte_type="7bit")
FOLD_AT = 78  # RFC 5322: lines SHOULD be at most 78 characters
LINE_LIMIT = 998  # and MUST be at most 998
ANGLE_ADDRESS = re.compile(r"^\s*(?P<name>.*?)\s*<(?P<address>[^<>]*)>\s*$", re.S)


def fold(name: str, value: str) -> str:
    """`value` folded for a header `name`: a line break before whitespace only, lines kept to 78
    characters where the words allow, never over 998. The lines are joined by "\\n" (the policy
    writes CRLF)."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"the {name} header may not contain a line break")
    words = re.findall(r"\s*\S+", value.strip())
    lines = [f"{name}:"]
    for index, word in enumerate(words):
        word = " " + word.lstrip() if index == 0 else word
        if len(lines[-1]) + len(word) > FOLD_AT and index > 0:
            lines.append(word)
        else:
            lines[-1] += word
    if any(len(line) > LINE_LIMIT for line in lines):
        raise ValueError(f"the {name} header has a word longer than an email line may be ({LINE_LIMIT} characters)")
    return "\n".join(lines)[len(name) + 2:]


def set_header(email: EmailMessage, name: str, value: str) -> None:
    """ASCII values folded here and kept raw; others to the policy, whose encoded-words are right in text."""
    if value.isascii():
        email.set_raw(name, fold(name, value))
    else:
        email[name] = value


def address(text: str) -> Address:
    """`Name <a@b>` or `a@b`, the display name taken whole (commas, accents, quotes or not)."""
    match = ANGLE_ADDRESS.match(text)
    name, spec = (match["name"], match["address"]) if match else ("", text)
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if "@" not in spec:
        raise ValueError(f"{text!r} is not an email address")
    try:
        parsed = Address(addr_spec=spec.strip())
        domain = parsed.domain.encode("idna").decode("ascii")  # an accented domain is written in punycode
        return Address(display_name=name, username=parsed.username, domain=domain)
    except (ValueError, HeaderParseError, IndexError) as error:
        raise ValueError(f"{text!r} is not an email address Relance can write ({str(error).rstrip(')')})") from error


def mailbox(who: Address) -> str:
    """`Name <a@b>` in ASCII: the name quoted when it needs it, or in base64 encoded-words (at
    most 75 characters each, RFC 2047) when it is not ASCII, so `fold` can break between them."""
    if not who.display_name:
        return who.addr_spec
    if who.display_name.isascii():
        return formataddr((who.display_name, who.addr_spec))
    words, chunk = [], ""
    for character in who.display_name:
        if len((chunk + character).encode()) > 45:  # 45 bytes are 60 base64 characters: 72 with =?utf-8?b??=
            words.append(chunk)
            chunk = ""
        chunk += character
    words.append(chunk)
    encoded = " ".join(f"=?utf-8?b?{base64.b64encode(word.encode()).decode()}?=" for word in words)
    return f"{encoded} <{who.addr_spec}>"


def message_id(key: str, sender: Address) -> str:
    """The same id for the same message key, so a message handed over again after a crash is one message."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{sender.domain or 'relance.invalid'}>"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What goes to the server: the envelope's sender and recipient, the message's bytes and its id."""

    sender: str
    recipient: str
    data: bytes
    message_id: str


def envelope(message: OutboundMessage, settings: Mapping[str, Any]) -> Envelope:
    """The email for `message`, as bytes. Raises ValueError when it cannot be built (a line
    break in the subject, an unusable address)."""
    sender, recipient = address(str(settings["from"])), address(message.email or "")
    email = build_email(message, settings, sender, recipient)
    return Envelope(sender.addr_spec, recipient.addr_spec, email.as_bytes(policy=POLICY), str(email["Message-ID"]))


def build_email(message: OutboundMessage, settings: Mapping[str, Any], sender: Address,
                recipient: Address) -> EmailMessage:
    """The MIME message: headers, the text part, and the HTML part when there is one."""
    email = EmailMessage(policy=POLICY)
    set_header(email, "From", mailbox(sender))
    set_header(email, "To", mailbox(recipient))
    set_header(email, "Subject", message.subject or "")
    if settings.get("reply_to"):
        set_header(email, "Reply-To", mailbox(address(str(settings["reply_to"]))))
    set_header(email, "Date", format_datetime(message.at or datetime.now(UTC)))
    set_header(email, "Message-ID", message_id(message.key, sender))
    for name, value in message.headers.items():
        set_header(email, name, value)
    text = message.body or (html_to_text(message.html) if message.html else "")
    email.set_content(text)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    return email
