"""Two shops behind one server, driven through the ASGI app on a virtual clock."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from starlette.testclient import TestClient

from relance.engine.clock import VirtualClock

from ..engine.conftest import database  # noqa: F401 (a fixture: SQLite, then PostgreSQL)
from relance.server.app import create_app
from relance.server.settings import Settings

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SHOP = """\
workspace: {name}
channels: {{email: {{plugin: log, address: email}}, whatsapp: {{plugin: log, address: phone}}}}
templates:
  lien: {{email: {{subject: "Votre lien", body: "Bonjour {{{{ contact.first_name }}}}"}}}}
  rappel: {{email: {{subject: "Panier", body: "Votre panier"}}}}
segments:
  acheteurs: contact.orders_count >= 1
rules:
  - id: chaud
    when: message.received where intent(event.text) == "forte"
    steps: [set lead_chaleur = "chaud", send email lien]
  - id: panier
    when: checkout.started
    steps: [wait 1d, send email rappel]
  - id: brouillon
    when: form.submitted
    mode: assist
    steps: [send email lien, task "Rappeler"]
"""


class Api:
    """A client per shop, each with its own API key.

    Events are processed after the answer; with no scheduler running here, each call
    processes what it accepted before returning, as a client polling would see it settle.
    """

    def __init__(self, client: TestClient, keys: dict[str, str]) -> None:
        self.client, self.keys = client, keys

    def call(self, method: str, path: str, shop: str | None = "shop-a", settle: bool = True, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if shop is not None:
            headers.setdefault("Authorization", f"Bearer {self.keys[shop]}")
        response = self.client.request(method, path, headers=headers, **kwargs)
        if settle:
            self.client.portal.call(self.client.app.state.runtime.settle)  # type: ignore[attr-defined]
        return response


def _api(tmp_path: Path, write: Callable[..., Path], database_url: str) -> Iterator[Api]:
    rules = [write(SHOP.format(name=name), f"{name}/rules.yaml") for name in ("shop-a", "shop-b")]
    settings = Settings(rules=tuple(str(r) for r in rules), database_url=database_url)
    app = create_app(settings, clock=VirtualClock(NOW), run_scheduler=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        runtime = app.state.runtime
        keys = {name: client.portal.call(runtime.create_key, name) for name in ("shop-a", "shop-b")}
        yield Api(client, keys)


@pytest.fixture
def api(tmp_path: Path, write: Callable[..., Path]) -> Iterator[Api]:
    yield from _api(tmp_path, write, f"sqlite://{tmp_path / 'api.sqlite3'}")


@pytest.fixture
def api_on(tmp_path: Path, write: Callable[..., Path], database: str) -> Iterator[Api]:
    """`api` on SQLite and on PostgreSQL (emptied first), for what the store may refuse."""
    yield from _api(tmp_path, write, database)


class Served:
    """A `relance serve` process on 127.0.0.1, its first API key and what it printed."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, key: str, log: Path) -> None:
        self.process, self.port, self.key, self.log = process, port, key, log
        self.base = f"http://127.0.0.1:{port}"

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> str:
        """Stop with SIGTERM, as a process manager does; everything the server printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        return self.output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(rules: Path, folder: Path, key: str | None = None, **environment: str) -> Served:
    """A real server on a free port and a SQLite file in `folder`, once it answers; `key`: the key of an
    earlier server on the same database (a restart prints no new key).

    Its output goes to a file: a pipe nobody reads would fill up and block the server.
    """
    port = free_port()
    log = folder / f"serve-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "relance.server", "serve", str(rules), "--port", str(port),
             "--database-url", f"sqlite://{folder / 'served.sqlite3'}"],
            cwd=folder, env={**os.environ, "RELANCE_LOG_LEVEL": "info", **environment}, stdout=sink,
            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while "Uvicorn running" not in log.read_text(errors="replace"):
        assert process.poll() is None, f"the server stopped:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"the server did not start:\n{log.read_text()}"
        time.sleep(0.05)
    found = re.search(r"(rk_[A-Za-z0-9_-]+)", log.read_text())
    assert found or key, log.read_text()
    return Served(process, port, found.group(1) if found else key, log)  # type: ignore[arg-type]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """serve(rules, **environment) → a real server (see start_server), stopped after the test; a second
    call is a restart on the same database."""
    started: list[Served] = []

    def start(rules: Path, **environment: str) -> Served:
        started.append(start_server(rules, tmp_path, started[-1].key if started else None, **environment))
        return started[-1]

    yield start
    for served in started:
        served.stop()
