"""The hosts messages may link to (dsl/link_hosts.py): listed, written literally, subdomains under `*.`."""
from __future__ import annotations

import pytest

from relance.dsl.link_hosts import HOST, host_allowed, literal_hosts


def test_literal_hosts_are_the_hosts_of_written_urls_in_lower_case() -> None:
    source = ('<a href="https://Maison-Demo.test/panier?x=1">panier</a> '
              "voir http://cdn.maison-demo.test:8080/img.png ou (https://aide.test)")
    assert literal_hosts(source) == {"maison-demo.test", "cdn.maison-demo.test", "aide.test"}


@pytest.mark.parametrize("source", [
    '<a href="{{ event.cart.url }}">x</a>',
    '<a href="https://{{ event.host }}/x">x</a>',
    '<a href="https://shop.{{ event.domain }}/x">x</a>',
    "ftp://files.test/x and mailto:a@b.test",
])
def test_a_host_a_placeholder_could_extend_or_that_is_not_http_is_not_literal(source: str) -> None:
    assert literal_hosts(source) == set()


@pytest.mark.parametrize("host, allowed", [
    ("maison-demo.test", True),
    ("MAISON-DEMO.test.", True),
    ("shop.maison-demo.test", True),
    ("a.b.maison-demo.test", True),
    ("evilmaison-demo.test", False),
    ("maison-demo.test.evil.test", False),
    ("other.test", False),
])
def test_host_allowed_exactly_or_under_a_wildcard(host: str, allowed: bool) -> None:
    assert host_allowed(host, ["maison-demo.test", "*.maison-demo.test"]) is allowed


def test_a_wildcard_alone_does_not_allow_its_bare_domain() -> None:
    assert not host_allowed("maison-demo.test", ["*.maison-demo.test"])
    assert host_allowed("www.maison-demo.test", ["*.maison-demo.test"])


@pytest.mark.parametrize("entry, valid", [
    ("maison-demo.test", True), ("*.maison-demo.test", True), ("localhost", True), ("a-b.c1.test", True),
    ("-bad.test", False), ("bad-.test", False), ("UPPER.test", False), ("*.", False), ("a..b", False),
    ("https://x.test", False), ("x.test/path", False), ("a.*.test", False),
])
def test_host_pattern_takes_lower_case_names_and_a_leading_wildcard_only(entry: str, valid: bool) -> None:
    assert bool(HOST.match(entry)) is valid
