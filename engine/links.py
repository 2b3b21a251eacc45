"""Signed links in messages: one-click unsubscribe, the open pixel and click redirects.

A token is a small JSON payload and its HMAC-SHA256 under the server's secret, in
base64url: it cannot be forged or altered, and a click only ever redirects to a URL that
Relance itself put in a message (never an open redirect).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlsplit

from .html_links import before_body_end, rewrite_links
from .message_links import TEXT_URL, scheme_of


class Links:
    """Makes and checks the signed URLs of one server (`public_url`, e.g. https://relance.shop.test)."""

    def __init__(self, public_url: str, secret: str) -> None:
        self.base = public_url.rstrip("/")
        self._key = secret.encode()

    @property
    def host(self) -> str:
        """The server's own host: messages may link to it."""
        return (urlsplit(self.base).hostname or "").lower()

    def sign(self, payload: dict[str, Any]) -> str:
        data = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        mac = hmac.new(self._key, data, hashlib.sha256).digest()[:16]
        return f"{_b64(data)}.{_b64(mac)}"

    def verify(self, token: str, kind: str) -> dict[str, Any] | None:
        """The payload of a token of this kind, or None if it was forged, altered or is another kind."""
        try:
            data_part, mac_part = token.split(".", 1)
            data, mac = _unb64(data_part), _unb64(mac_part)
        except ValueError:
            return None
        expected = hmac.new(self._key, data, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(mac, expected):
            return None
        payload = json.loads(data)
        return payload if isinstance(payload, dict) and payload.get("t") == kind else None

    def unsubscribe_url(self, workspace: str, contact_id: int, channel: str) -> str:
        return f"{self.base}/u/{self.sign({'t': 'unsubscribe', 'w': workspace, 'c': contact_id, 'ch': channel})}"

    def unsubscribe_headers(self, workspace: str, contact_id: int, channel: str) -> dict[str, str]:
        """RFC 8058 one-click unsubscribe headers for a marketing email."""
        return {"List-Unsubscribe": f"<{self.unsubscribe_url(workspace, contact_id, channel)}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}

    def click_url(self, url: str, workspace: str, contact_id: int, message_key: str, channel: str) -> str:
        """The click redirect to `url` for one message and contact."""
        token = self.sign({"t": "click", "w": workspace, "c": contact_id, "k": message_key, "ch": channel, "u": url})
        return f"{self.base}/t/c/{token}"

    def track_text(self, text: str, workspace: str, contact_id: int, message_key: str, channel: str) -> str:
        """http(s) URLs of a text part through the click redirect: a text email has no pixel, so
        its clicks are how its opens are known."""
        return TEXT_URL.sub(lambda m: self.click_url(m.group(0), workspace, contact_id, message_key, channel), text)

    def track_html(self, html: str, workspace: str, contact_id: int, message_key: str, channel: str) -> str:
        """http(s) links through the click redirect, and an open pixel before </body> (or at the end).

        Links are read by an HTML tokenizer, so the URL signed is the one a browser would
        open (`&amp;` is `&`), whatever the quoting.
        """
        def click(url: str) -> str | None:
            if scheme_of(url) not in ("http", "https"):
                return None  # mailto:, tel:, #anchors stay as they are
            return self.click_url(url, workspace, contact_id, message_key, channel)

        tracked = rewrite_links(html, click)
        pixel_token = self.sign({"t": "open", "w": workspace, "c": contact_id, "k": message_key, "ch": channel})
        return before_body_end(tracked, f'<img src="{self.base}/t/o/{pixel_token}" width="1" height="1" alt="">')


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as error:
        raise ValueError("not base64url") from error
