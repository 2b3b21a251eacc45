"""The links of a rendered message: unsafe schemes unlinked, hosts held to the workspace's own.

Hosts are read as a browser reads them (WHATWG URL parsing): tabs and line breaks dropped,
`\\` as `/`, `https:host` and `//host` as `https://host`, and `user@` ignored, so
`https://shop.test@evil.example/` is a link to evil.example.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from relance.dsl.link_hosts import host_allowed

from .html_links import hrefs, rewrite_links

SAFE_SCHEMES = ("http", "https", "mailto", "tel")
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# A URL in text, as mail clients and SMS apps make links of them: trailing punctuation aside.
TEXT_URL = re.compile(r"\bhttps?:[^\s<>\"']+?(?=[.,;:!?)\]]*(?:[\s<>\"']|$))", re.IGNORECASE)
C0_AND_SPACE = "".join(chr(code) for code in range(0x21))  # what a browser strips around a URL


def browser_url(url: str) -> str:
    """`url` as a browser resolves it in an email (no base URL): what decides where it leads."""
    url = re.sub(r"[\t\n\r]", "", url).strip(C0_AND_SPACE)
    scheme = SCHEME.match(url)
    if scheme and scheme.group(1).lower() in ("http", "https"):
        rest = url[scheme.end():].replace("\\", "/").lstrip("/")
        return f"{scheme.group(1).lower()}://{rest}"
    if re.match(r"^[/\\]{2}", url):
        return "https://" + url.replace("\\", "/").lstrip("/")
    return url


def scheme_of(url: str) -> str:
    """The lower-case scheme of `url` as a browser reads it; "" for a relative link."""
    found = SCHEME.match(browser_url(url))
    return found.group(1).lower() if found else ""


def host_of(url: str) -> str | None:
    """The host an http(s) link leads to, or None (mailto:, an anchor, a relative path)."""
    resolved = browser_url(url)
    if scheme_of(resolved) not in ("http", "https"):
        return None
    try:
        return urlsplit(resolved).hostname
    except ValueError:  # a malformed port or bracket: refused, shown as written
        return resolved.split("//", 1)[1].split("/", 1)[0]


def unlink_unsafe(html: str) -> str:
    """`html` with every link whose scheme is not http, https, mailto or tel unlinked (javascript:,
    data:, vbscript: …): the text stays, the href goes."""
    return rewrite_links(html, lambda url: "" if scheme_of(url) not in ("", *SAFE_SCHEMES) else None)


def refused_host(hosts: Iterable[str], subject: str | None, body: str, html: str | None) -> str | None:
    """The first host a link of the message leads to that is not one of `hosts`, or None."""
    allowed = tuple(hosts)
    urls = [*TEXT_URL.findall(subject or ""), *TEXT_URL.findall(body), *(hrefs(html) if html else [])]
    for url in urls:
        host = host_of(url)
        if host is not None and not host_allowed(host, allowed):
            return host
    return None
