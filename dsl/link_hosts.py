"""The hosts a workspace's messages may link to: `links: {hosts: [...]}` and the hosts its templates write.

A link whose host comes from event data (`href="{{ event.cart.url }}"`) could point
anywhere, and a tracked link would make the shop's emails an open redirect for whoever
can send an event. So a message links only to these hosts: the ones listed, the ones the
templates write literally (`https://maison-demo.test/…`, written by the agency) and the
server's own. `*.maison-demo.test` stands for any subdomain of maison-demo.test.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
# A host written in a template: followed by what ends a host, not by a placeholder that could extend it.
LITERAL = re.compile(r"\bhttps?://([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)(?=[:/?#\"'\s<>)\]]|$)", re.IGNORECASE)


def literal_hosts(source: str) -> set[str]:
    """The hosts of the http(s) URLs written in a template's source, placeholders aside."""
    return {match.group(1).lower() for match in LITERAL.finditer(source)}


def host_allowed(host: str, hosts: Iterable[str]) -> bool:
    """Whether `host` is one of `hosts` (exactly, or under a `*.` entry), case aside."""
    host = host.lower().rstrip(".")
    return any(host == entry or (entry.startswith("*.") and host.endswith(entry[1:])) for entry in hosts)
