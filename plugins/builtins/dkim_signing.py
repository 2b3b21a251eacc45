"""DKIM signatures (RFC 6376) on the smtp channel's mail, with dkimpy.

The private key is never a setting (rules live in git): `dkim_key_env` names an environment
variable holding the key in PEM, or the path of a PEM file. The signature covers the
headers receivers judge (From, To, Subject, Date, Message-ID, the MIME headers) and, as
RFC 8058 requires for one-click unsubscribe, List-Unsubscribe and List-Unsubscribe-Post;
relaxed canonicalisation keeps it valid through relays that refold headers.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dkim

SIGNED = (b"from", b"to", b"subject", b"date", b"message-id", b"reply-to", b"mime-version", b"content-type",
          b"content-transfer-encoding", b"list-unsubscribe", b"list-unsubscribe-post")


class DkimError(ValueError):
    """The settings name a key that cannot be used: the message is not sent unsigned."""


def private_key(settings: Mapping[str, Any]) -> bytes:
    """The PEM key from the variable `dkim_key_env` names: the key itself, or the path of its file."""
    variable = str(settings["dkim_key_env"])
    value = os.environ.get(variable)
    if not value:
        raise DkimError(f"environment variable {variable} (the DKIM private key, or its file) is not set")
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    try:
        return Path(value).read_bytes()
    except OSError as error:
        raise DkimError(f"cannot read the DKIM key file named by {variable}: {error.strerror}") from None


def dkim_problems(settings: Mapping[str, Any]) -> list[str]:
    """What stops signing with these settings in this environment (nothing when DKIM is not set up)."""
    if not settings.get("dkim_key_env"):
        return []
    try:
        key = private_key(settings)
        dkim.sign(b"From: a@b.test\r\n\r\n", b"s", b"b.test", key)
    except DkimError as error:
        return [str(error)]
    except (dkim.DKIMException, ValueError) as error:
        return [f"the DKIM key named by {settings['dkim_key_env']} is not a usable private key: {error}"]
    return []


def signed(data: bytes, settings: Mapping[str, Any], domain: str) -> bytes:
    """`data` with a DKIM-Signature header first, by `dkim_selector` for `dkim_domain` (default `domain`,
    the sender's). Raises DkimError when the key cannot be used."""
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    present = [name for name in SIGNED if head.startswith(name + b":") or b"\r\n" + name + b":" in head]
    key = private_key(settings)
    try:
        signature = dkim.sign(data, str(settings["dkim_selector"]).encode(),
                              str(settings.get("dkim_domain") or domain).encode(), key,
                              canonicalize=(b"relaxed", b"relaxed"), include_headers=present)
    except (dkim.DKIMException, ValueError) as error:
        raise DkimError(f"cannot sign with DKIM: {error}") from None
    return signature + data
