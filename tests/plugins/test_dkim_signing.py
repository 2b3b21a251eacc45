"""DKIM on the smtp channel: the bytes the SMTP server received verify against the public key."""
from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from relance.plugins.builtins.smtp_channel import SmtpChannel

from .test_smtp_channel import LONG_URL, message, mailbox  # noqa: F401  (mailbox is a fixture)

KEY_ENV = "RELANCE_TEST_DKIM_KEY"


@pytest.fixture(scope="module")
def key() -> tuple[bytes, bytes]:
    """A private key in PEM and its DNS record (v=DKIM1; k=rsa; p=…)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def dns(records: dict[str, bytes]) -> Callable[..., bytes | None]:
    """dkimpy's TXT lookup, answered from `records` (no network)."""
    return lambda name, timeout=5: records.get(name.decode() if isinstance(name, bytes) else name)


def tags(raw: bytes) -> dict[str, str]:
    header = re.search(rb"^DKIM-Signature:(.*?)\r\n(?=\S)", raw, re.S | re.M).group(1)
    text = re.sub(r"\s+", "", header.decode())
    return dict(part.split("=", 1) for part in text.split(";") if part)


async def send(port: int, **settings) -> object:  # type: ignore[no-untyped-def]
    channel = SmtpChannel()
    headers = {"List-Unsubscribe": f"<{LONG_URL}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    result = await channel.send(replace(message(port, html="<p>Bonjour <b>Léa</b></p>", **settings),
                                        headers=headers, subject="Dernière chance pour votre panier"))
    await channel.close()
    return result


async def test_the_received_bytes_verify_and_cover_the_unsubscribe_headers(mailbox, key, tmp_path: Path,
                                                                           monkeypatch) -> None:
    box, port = mailbox
    pem, record = key
    (tmp_path / "dkim.pem").write_bytes(pem)
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "dkim.pem"))  # the path of the key file
    result = await send(port, dkim_selector="s1", dkim_key_env=KEY_ENV)
    assert result.status == "delivered", result.detail
    raw = box.received[0].raw
    assert raw.startswith(b"DKIM-Signature: ")
    found = tags(raw)
    assert (found["d"], found["s"], found["c"], found["a"]) == ("maison-demo.test", "s1", "relaxed/relaxed", "rsa-sha256")
    assert {"from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post"} \
        <= set(found["h"].lower().split(":"))
    lookup = dns({"s1._domainkey.maison-demo.test.": record})
    assert dkim.verify(raw, dnsfunc=lookup)
    altered = raw.replace(LONG_URL.encode(), LONG_URL.replace("eyJj", "eyJk").encode())
    assert altered != raw and not dkim.verify(altered, dnsfunc=lookup)  # the one-click URL is covered
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    wrong = b"v=DKIM1; k=rsa; p=" + base64.b64encode(other.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert not dkim.verify(raw, dnsfunc=dns({"s1._domainkey.maison-demo.test.": wrong}))  # another key


async def test_the_key_itself_in_the_environment_and_another_signing_domain(mailbox, key, monkeypatch) -> None:
    box, port = mailbox
    pem, record = key
    monkeypatch.setenv(KEY_ENV, pem.decode())
    result = await send(port, dkim_selector="mail2026", dkim_key_env=KEY_ENV, dkim_domain="mail.maison-demo.test")
    assert result.status == "delivered", result.detail
    raw = box.received[0].raw
    assert tags(raw)["d"] == "mail.maison-demo.test"
    assert dkim.verify(raw, dnsfunc=dns({"mail2026._domainkey.mail.maison-demo.test.": record}))


@pytest.mark.parametrize("value, detail", [
    (None, "environment variable RELANCE_TEST_DKIM_KEY (the DKIM private key, or its file) is not set"),
    ("/nonexistent/dkim.pem", "cannot read the DKIM key file named by RELANCE_TEST_DKIM_KEY: No such file or directory"),
    ("-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n", "cannot sign with DKIM: "),
])
async def test_a_key_that_cannot_sign_sends_nothing_unsigned(mailbox, monkeypatch, value, detail) -> None:
    box, port = mailbox
    if value is None:
        monkeypatch.delenv(KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(KEY_ENV, value)
    result = await send(port, dkim_selector="s1", dkim_key_env=KEY_ENV)
    assert result.status == "failed" and result.detail.startswith(detail), result.detail
    assert box.received == []
