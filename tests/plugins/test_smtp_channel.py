"""The smtp channel against a real SMTP server on 127.0.0.1: headers, parts, TLS, auth, refusals, reuse."""
from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

from relance.engine.channels import OutboundMessage
from relance.plugins.builtins.smtp_channel import SmtpChannel

from .smtp_server import Mailbox, free_port, start_server

FROM = "Maison Démo <bonjour@maison-demo.test>"
UNSUBSCRIBE = {"List-Unsubscribe": "<http://127.0.0.1:8000/u/abc>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def message(port: int, to: str | None = "alice@example.test", key: str = "1:r/steps/0:1", body: str = "Bonjour Alice",
            html: str | None = None, **settings: Any) -> OutboundMessage:
    return OutboundMessage(key, "email", "panier", "Votre panier", body, to, None, 1, "r",
                           settings={"host": "127.0.0.1", "port": port, "tls": "none", "from": FROM} | settings,
                           html=html, headers=UNSUBSCRIBE, at=datetime(2026, 3, 3, 9, 0, tzinfo=UTC))


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller, port = start_server(box)
    yield box, port
    controller.stop()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


async def test_a_message_arrives_with_its_headers(mailbox) -> None:
    box, port = mailbox
    channel = SmtpChannel()
    result = await channel.send(message(port, reply_to="service@maison-demo.test"))
    await channel.close()
    assert result.status == "delivered"
    [received] = box.received
    email = received.message
    assert (received.mail_from, received.to) == ("bonjour@maison-demo.test", ["alice@example.test"])
    assert (email["From"], email["To"], email["Subject"], email["Reply-To"]) == (
        FROM, "alice@example.test", "Votre panier", "service@maison-demo.test")
    assert email["List-Unsubscribe"] == "<http://127.0.0.1:8000/u/abc>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email["Date"] == "Tue, 03 Mar 2026 09:00:00 +0000"
    assert email["Message-ID"].endswith("@maison-demo.test>") and result.provider_id == email["Message-ID"]
    assert email.get_content_type() == "text/plain" and email.get_content().strip() == "Bonjour Alice"


async def test_without_the_engines_clock_the_date_is_now(mailbox) -> None:
    box, port = mailbox
    channel = SmtpChannel()
    await channel.send(replace(message(port), at=None))
    await channel.close()
    sent_at = parsedate_to_datetime(box.received[0].message["Date"])
    assert abs((datetime.now(UTC) - sent_at).total_seconds()) < 60


async def test_the_same_key_sends_the_same_message_id(mailbox) -> None:
    box, port = mailbox
    channel = SmtpChannel()
    for key in ("7:r/steps/2:1", "7:r/steps/2:1", "8:r/steps/2:1"):
        await channel.send(message(port, key=key))
    await channel.close()
    ids = [r.message["Message-ID"] for r in box.received]
    assert ids[0] == ids[1] != ids[2]


async def test_html_and_a_text_part_derived_from_it(mailbox) -> None:
    box, port = mailbox
    channel = SmtpChannel()
    html = '<html><body><p>Bonjour <b>Alice</b>,</p><p>Votre <a href="https://shop.test/cart">panier</a>.</p></body></html>'
    await channel.send(message(port, body="", html=html))
    await channel.close()
    email = box.received[0].message
    assert email.get_content_type() == "multipart/alternative"
    text, rich = email.iter_parts()
    assert text.get_content().replace("\r\n", "\n") == "Bonjour Alice,\n\nVotre panier (https://shop.test/cart).\n"
    assert rich.get_content_type() == "text/html" and "<b>Alice</b>" in rich.get_content()


async def test_html_with_its_own_text_part(mailbox) -> None:
    box, port = mailbox
    channel = SmtpChannel()
    await channel.send(message(port, body="Texte écrit à la main", html="<p>Riche</p>"))
    await channel.close()
    text, rich = box.received[0].message.iter_parts()
    assert (text.get_content().strip(), rich.get_content().strip()) == ("Texte écrit à la main", "<p>Riche</p>")


@pytest.mark.parametrize("changes, detail", [
    ({"email": None}, "contact has no email address"),
    ({"subject": "Promo\nBcc: everyone@example.test"},
     "cannot build the email: the Subject header may not contain a line break"),
])
async def test_what_cannot_be_sent_fails_without_a_word_to_the_server(mailbox, changes, detail) -> None:
    box, port = mailbox
    result = await SmtpChannel().send(replace(message(port), **changes))
    assert (result.status, result.detail, result.bounced) == ("failed", detail, False)
    assert box.received == []


def unfolded(lines: list[bytes]) -> dict[str, str]:
    """Header name -> value as RFC 5322 unfolds it: each CRLF before whitespace removed, nothing else."""
    headers: dict[str, str] = {}
    name = ""
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            headers[name] += line.decode("ascii")
        else:
            name, _, value = line.decode("ascii").partition(":")
            headers[name] = value.lstrip(" ")
    return headers


LONG_URL = "https://relance.maison-demo.test/u/" + "eyJjIjo0MiwiY2giOiJlbWFpbCJ9" * 8 + ".c2lnbmF0dXJl"
ASCII_SUBJECT = "Your cart is waiting for you, and so is this link: https://maison-demo.test/cart/1?utm_source=" \
                "relance&utm_campaign=abandoned-cart-reminder-number-one"
ACCENTED_SUBJECT = "Dernière chance : -10 % sur votre panier de produits bio et naturels fabriqués en France, " \
                   "livraison offerte jusqu'à dimanche soir"


@pytest.mark.parametrize("subject, sender, unsubscribe", [
    ("Votre panier", FROM, "<http://127.0.0.1:8000/u/abc>"),
    (ASCII_SUBJECT, "Maison Demo <bonjour@maison-demo.test>", f"<{LONG_URL}>"),
    (ACCENTED_SUBJECT, "Maison Démo, Paris & Cie <bonjour@maison-demo.test>", f"<{LONG_URL}>"),
    (ACCENTED_SUBJECT, '"Zoé, l\'équipe \\"Maison\\"" <bonjour@maison-démo.test>', f"<mailto:u@maison-demo.test>, <{LONG_URL}>"),
])
async def test_headers_arrive_as_the_rfcs_say(mailbox, subject, sender, unsubscribe) -> None:
    """ASCII headers whole and unencoded, folded at whitespace only; encoded-words only in text; CRLF; ≤ 998."""
    box, port = mailbox
    channel = SmtpChannel()
    sent = replace(message(port, **{"from": sender}), subject=subject,
                   headers={"List-Unsubscribe": unsubscribe, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    assert (await channel.send(sent)).status == "delivered"
    await channel.close()
    [received] = box.received
    assert b"\n" not in received.raw.replace(b"\r\n", b"") and received.raw.endswith(b"\r\n")
    assert all(len(line) <= 998 for line in received.raw.split(b"\r\n"))
    lines = received.header_lines()
    headers = unfolded(lines)
    assert headers["List-Unsubscribe"] == unsubscribe  # Gmail and Yahoo read it only like this
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"<[0-9a-f]{32}@[a-z0-9.-]+>", headers["Message-ID"])
    assert headers["Date"] == "Tue, 03 Mar 2026 09:00:00 +0000" and headers["To"] == "alice@example.test"
    encoded = {name for name, value in headers.items() if "=?" in value}
    assert encoded <= ({"Subject"} if not subject.isascii() else set()) | ({"From"} if not sender.isascii() else set())
    if subject.isascii():
        assert headers["Subject"] == subject
    for line in lines:  # a fold never cuts a word: every line but the first of a header starts with whitespace
        assert line[:1] in (b" ", b"\t") or re.match(rb"^[A-Za-z-]+:( |$)", line), line
    long = [re.sub(rb"^[A-Za-z-]+:", b"", line).strip() for line in lines if len(line) > 78]
    assert all(b" " not in word for word in long), long  # only a word too long for any line makes a long line
    parsed = received.message
    assert (parsed["Subject"], parsed["From"].addresses[0].display_name) == (subject, email_name(sender))
    assert len(parsed["From"].addresses) == 1


def email_name(sender: str) -> str:
    name = sender.rsplit("<", 1)[0].strip()
    return name[1:-1].replace('\\"', '"') if name.startswith('"') else name


async def test_one_connection_serves_many_messages(mailbox) -> None:
    box, port = mailbox
    channel = SmtpChannel()
    for n in range(5):
        assert (await channel.send(message(port, to=f"c{n}@example.test", key=f"{n}"))).status == "delivered"
    await channel.close()
    assert len(box.received) == 5 and len(box.peers) == 1


async def test_a_server_restarted_between_messages_gets_the_next_one_once() -> None:
    first = Mailbox()
    controller, port = start_server(first)
    channel = SmtpChannel()
    try:
        assert (await channel.send(message(port, key="1"))).status == "delivered"
        controller.stop()  # drops the connection the channel keeps open
        second = Mailbox()
        controller, _ = start_server(second, port=port)
        result = await channel.send(message(port, to="bob@example.test", key="2"))
    finally:
        await channel.close()
        controller.stop()
    assert result.status == "delivered", result.detail
    assert [r.to for r in first.received] == [["alice@example.test"]]
    assert [r.to for r in second.received] == [["bob@example.test"]]


async def test_a_refused_recipient_bounces_and_holds_back_no_one(mailbox) -> None:
    box, port = mailbox
    box.refuse["gone@example.test"] = "550 5.1.1 no such user"
    box.refuse["busy@example.test"] = "451 4.2.1 mailbox busy, try later"
    channel = SmtpChannel()
    results = [await channel.send(message(port, to=to, key=to)) for to in
               ("a@example.test", "gone@example.test", "busy@example.test", "b@example.test")]
    await channel.close()
    assert [(r.status, r.bounced) for r in results] == [("delivered", False), ("failed", True), ("deferred", False),
                                                       ("delivered", False)]
    assert results[1].detail == "550 5.1.1 no such user (gone@example.test)"
    assert [r.to for r in box.received] == [["a@example.test"], ["b@example.test"]]  # each once
    assert len(box.peers) == 1


@pytest.mark.parametrize("answer, status", [("451 4.3.0 try again later", "deferred"),
                                            ("550 5.7.1 sender not allowed", "failed")])
async def test_a_refused_sender_is_not_the_recipients_fault(mailbox, answer, status) -> None:
    box, port = mailbox
    box.refuse["promo@maison-demo.test"] = answer
    channel = SmtpChannel()
    refused = await channel.send(message(port, key="1", **{"from": "Promo <promo@maison-demo.test>"}))
    after = await channel.send(message(port, key="2"))
    await channel.close()
    assert (refused.status, refused.bounced) == (status, False)
    assert refused.detail == f"127.0.0.1 refused the sender promo@maison-demo.test: {answer}"
    assert after.status == "delivered" and len(box.received) == 1 and len(box.peers) == 1


async def test_no_server_listening_is_deferred() -> None:
    result = await SmtpChannel().send(message(free_port()))
    assert result.status == "deferred" and "127.0.0.1" in result.detail


async def test_starttls_with_login_and_the_password_from_the_environment(ca, ca_file, monkeypatch) -> None:
    box = Mailbox()
    controller, port = start_server(box, starttls=server_context(ca), login=("shop", "s3cret"))
    channel = SmtpChannel()
    settings = {"tls": "starttls", "username": "shop", "password_env": "RELANCE_TEST_SMTP_PASSWORD",
                "ca_file": ca_file, "timeout": 5}
    try:
        missing = await channel.send(message(port, **settings))
        monkeypatch.setenv("RELANCE_TEST_SMTP_PASSWORD", "wrong")
        refused = await channel.send(message(port, **settings))
        monkeypatch.setenv("RELANCE_TEST_SMTP_PASSWORD", "s3cret")
        sent = await channel.send(message(port, **settings))
    finally:
        await channel.close()
        controller.stop()
    assert (missing.status, missing.detail) == (
        "failed", "environment variable RELANCE_TEST_SMTP_PASSWORD (the SMTP password) is not set")
    assert (refused.status, refused.bounced, refused.detail) == (
        "failed", False, "127.0.0.1 refused the login of shop: 535 5.7.8 Authentication credentials invalid")
    assert sent.status == "delivered" and len(box.received) == 1, sent.detail


async def test_implicit_tls(ca, ca_file) -> None:
    box = Mailbox()
    controller, port = start_server(box, implicit=server_context(ca))
    channel = SmtpChannel()
    try:
        result = await channel.send(message(port, tls="tls", ca_file=ca_file))
        untrusted = await SmtpChannel().send(message(port, tls="tls"))  # the system's CAs do not know ours
    finally:
        await channel.close()
        controller.stop()
    assert result.status == "delivered" and len(box.received) == 1
    assert untrusted.status == "deferred" and "CERTIFICATE_VERIFY_FAILED" in untrusted.detail


async def test_starttls_required_but_not_offered_sends_nothing(mailbox) -> None:
    box, port = mailbox
    result = await SmtpChannel().send(message(port, tls="starttls"))
    assert result.status == "failed" and "does not offer STARTTLS; not sending in clear" in result.detail
    assert box.received == []
