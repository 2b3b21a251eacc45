"""Segment's and RudderStack's own client libraries sending to a real `relance serve` on 127.0.0.1.

Each library is used as a shop uses it: the server's URL as host, a Relance API key as write
key, its default settings (RudderStack's gzips every batch). Nothing may be reported as an
error by the library, and every call must be stored.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from .conftest import Served

ROOT = Path(__file__).resolve().parents[2]
SDK = Path(__file__).resolve().parent / "sdk"  # package.json: Segment's Node.js client
CALLS = 20


def contacts_of(server: Served, user: str) -> list[dict]:
    response = httpx.get(f"{server.base}/v1/contacts", params={"external_id": f"segment:{user}"},
                         headers={"Authorization": f"Bearer {server.key}"}, timeout=10)
    return response.json()["contacts"]


def wait_for_contacts(server: Served, users: list[str]) -> None:
    deadline = time.monotonic() + 20
    missing = users
    while missing:
        assert time.monotonic() < deadline, f"not stored: {missing}"
        missing = [user for user in missing if not contacts_of(server, user)]
        time.sleep(0.05)


@pytest.mark.parametrize("library", ["segment", "rudderstack"])
def test_the_python_libraries_send_every_call_and_report_no_error(serve, library: str) -> None:
    if library == "segment":
        from segment.analytics import Client
    else:
        from rudderstack.analytics import Client
    server = serve(ROOT / "rules.example.yaml")
    errors: list[Exception] = []
    client = Client(write_key=server.key, host=server.base, on_error=lambda error, batch: errors.append(error),
                    max_retries=1, upload_size=5)  # several batches: a refused one would lose the rest
    users = [f"{library}-{n}" for n in range(CALLS)]
    for n, user in enumerate(users):
        client.identify(user, {"email": f"{user}@example.test", "firstName": "Ana", "totalSpent": "19.90"})
        client.track(user, "Product Viewed", {"product_id": f"p{n}", "price": 9.9})
        client.page(user, name="Accueil", properties={"url": "https://maison-demo.test/"})
    client.flush()
    client.join()
    assert errors == []
    wait_for_contacts(server, users)
    [contact] = contacts_of(server, users[0])
    assert (contact["email"], contact["attributes"]["first_name"], contact["attributes"]["total_spent"]) == \
        (f"{users[0]}@example.test", "Ana", 19.9)


def test_the_segment_node_library_sends_every_call_and_reports_no_error(serve, tmp_path: Path) -> None:
    npm = shutil.which("npm")
    assert npm, "the tests need Node.js and npm (Segment's Node.js client)"
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SDK, check=True, timeout=300,
                   capture_output=True)
    server = serve(ROOT / "rules.example.yaml")
    script = tmp_path / "send.js"
    script.write_text("""
const { Analytics } = require('@segment/analytics-node')
const analytics = new Analytics({ writeKey: process.env.KEY, host: process.env.HOST, flushAt: 5, maxRetries: 1 })
analytics.on('error', (error) => { console.error('error', error); process.exitCode = 1 })
for (let n = 0; n < %d; n++) {
  const userId = `node-${n}`
  analytics.identify({ userId, traits: { email: `${userId}@example.test`, firstName: 'Ana' } })
  analytics.track({ userId, event: 'Order Completed', properties: { order_id: `o${n}`, revenue: 20 } })
}
analytics.closeAndFlush().then(() => console.log('flushed'))
""" % CALLS, encoding="utf-8")
    result = subprocess.run(["node", str(script)], cwd=SDK, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "KEY": server.key, "HOST": server.base,
                                 "NODE_PATH": str(SDK / "node_modules")})
    assert (result.returncode, result.stdout.strip()) == (0, "flushed"), result.stderr
    users = [f"node-{n}" for n in range(CALLS)]
    wait_for_contacts(server, users)
    [contact] = contacts_of(server, users[0])
    assert contact["attributes"]["orders_count"] == 1
