"""Hostile input against a real `relance serve` process: an alias bomb, a large rules file, bodies too
big to read. Each is answered with a 4xx promptly, and every other request meanwhile too.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from relance.server.app import create_app
from relance.server.settings import Settings

from ..dsl.test_loader import alias_bomb
from .conftest import Served, start_server
from .test_rule_checks import many_rules

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 1024 * 1024  # MAX_BODY


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def while_healthz(base: str, action) -> tuple[object, list[float]]:  # type: ignore[no-untyped-def]
    """`action()` in a thread, /healthz polled meanwhile: its result, and how long each /healthz took."""
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(action()))
    latencies = []
    with httpx.Client(timeout=30) as client:
        worker.start()
        while worker.is_alive():
            started = time.monotonic()
            assert client.get(f"{base}/healthz").status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.02)
    worker.join()
    return result[0], latencies


def validate(base: str, key: str, text: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(f"{base}/v1/rules/validate", content=text.encode(), timeout=60,
                          headers={"Authorization": f"Bearer {key}", "Content-Type": "application/yaml"})
    return response, time.monotonic() - started


def test_an_alias_bomb_is_refused_at_once_and_the_server_stays_responsive(serve) -> None:
    server = serve(ROOT / "rules.example.yaml")
    bomb = alias_bomb(4)  # 1.2 KB: 10,000 steps once expanded
    validate(server.base, server.key, (ROOT / "rules.example.yaml").read_text())  # the checker is warm
    before = rss_mb(server.process.pid)
    (response, took), latencies = while_healthz(server.base, lambda: validate(server.base, server.key, bomb))
    assert (response.status_code, response.headers["content-type"]) == (422, "application/problem+json")
    [problem] = response.json()["problems"]
    assert problem["message"].startswith("aliases expand this file by more than") and problem["line"] == 16
    grown = rss_mb(server.process.pid) - before
    print(f"alias bomb: refused in {took * 1000:.0f} ms, /healthz at most {max(latencies) * 1000:.0f} ms meanwhile, "
          f"server RSS {grown:+.1f} MB")
    assert took < 1.0 and max(latencies) < 0.3, (took, latencies)
    assert grown < 20  # the server does not balloon


def test_a_large_rules_file_is_checked_off_the_event_loop(serve, tmp_path: Path) -> None:
    server = serve(ROOT / "rules.example.yaml")
    text = many_rules(tmp_path / "big.yaml", 300_000).read_text()  # a few seconds to check
    (response, took), latencies = while_healthz(server.base, lambda: validate(server.base, server.key, text))
    assert response.status_code == 200 and response.json() == {"ok": True, "problems": []}, response.text
    print(f"300 KB of rules: checked in {took:.1f} s, /healthz at most {max(latencies) * 1000:.0f} ms meanwhile")
    assert took > 0.5 and max(latencies) < 0.3, (took, max(latencies))  # /healthz answered all along


def request_head(method: str, path: str, key: str, headers: str) -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\n{headers}\r\n").encode()


def answer(sock: socket.socket, within: float) -> str:
    """The status line and headers the server sent back within `within` seconds."""
    sock.settimeout(within)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received.decode(errors="replace")


ROUTES = create_app(Settings(rules=(str(ROOT / "rules.example.yaml"),), database_url="sqlite://:memory:")).routes
BODY_ROUTES = sorted({(method, route.path) for route in ROUTES for method in route.methods or ()
                      if method in ("POST", "PATCH", "PUT")})
PARAMS = {"workspace": "maison-demo", "contact_id": "1", "run_id": "1", "message_id": "1", "task_id": "1",
          "token": "x"}
READERS = {"/v1/events", "/v1/track", "/v1/identify", "/v1/page", "/v1/batch", "/v1/rules/validate",
           "/v1/contacts/{contact_id}/consent", "/v1/providers/twilio/{workspace}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for all the body tests."""
    server = start_server(ROOT / "rules.example.yaml", tmp_path_factory.mktemp("bodies"))
    yield server
    server.stop()


@pytest.mark.parametrize("method, path", BODY_ROUTES, ids=[f"{m} {p}" for m, p in BODY_ROUTES])
def test_a_body_declared_too_big_is_refused_before_it_is_sent(served, method: str, path: str) -> None:
    """A Content-Length of 200 MB and no body at all: answered at once (nothing waits for the body)."""
    target = path.format(**PARAMS)
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(request_head(method, target, served.key, f"Content-Length: {200 * LIMIT}\r\n"))
        head = answer(sock, within=5)
    status = int(head.split(" ", 2)[1])
    assert status < 500, head
    if path in READERS:
        assert status == 413 and "application/problem+json" in head, head


@pytest.mark.parametrize("path", ["/v1/rules/validate", "/v1/events", "/v1/providers/twilio/maison-demo"])
def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit(served, path: str) -> None:
    """Chunked, with no length announced: the server counts as it reads and answers 413 past the limit."""
    chunk = b"x" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(request_head("POST", path, served.key, "Transfer-Encoding: chunked\r\n"))
        sock.setblocking(False)
        head = ""
        while sent < 20 * LIMIT and not head:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                pass
            try:
                head = sock.recv(65536).decode(errors="replace")
            except BlockingIOError:
                time.sleep(0.001)
        sock.setblocking(True)
    assert head.startswith("HTTP/1.1 413"), head
    assert sent < 3 * LIMIT  # answered soon after the limit, not after the whole body
