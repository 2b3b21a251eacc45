"""`relance serve` as a real uvicorn process on 127.0.0.1."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def test_serve_the_example_take_an_event_and_stop_cleanly(serve) -> None:
    server = serve(ROOT / "rules.example.yaml")
    assert f"port = {server.port}" in server.output and "database_url = sqlite://" in server.output
    headers = {"Authorization": f"Bearer {server.key}"}
    event = {"id": "m1", "type": "message.received", "contact": {"email": "lea@example.test"},
             "properties": {"text": "Où est-ce que je paie ?"}}
    accepted = httpx.post(f"{server.base}/v1/events?wait=true", json=event, headers=headers, timeout=10)
    assert accepted.status_code == 202, accepted.text
    messages = httpx.get(f"{server.base}/v1/messages", headers=headers, timeout=10).json()["messages"]
    assert [(m["template"], m["status"]) for m in messages] == [("lien-paiement", "sent")]
    assert httpx.get(f"{server.base}/v1/messages", timeout=10).status_code == 401
    rest = server.stop()
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert server.process.returncode in (0, -signal.SIGTERM), rest
    assert "Application shutdown complete" in rest
    assert "email to lea@example.test [lien-paiement]" in rest  # the log channel's line


def test_events_are_answered_when_stored_and_processed_right_after(serve) -> None:
    server = serve(ROOT / "rules.example.yaml")
    headers = {"Authorization": f"Bearer {server.key}"}
    batch = [{"id": f"m{n}", "type": "message.received", "contact": {"email": f"c{n}@example.test"},
              "properties": {"text": "Où est-ce que je paie ?"}} for n in range(20)]
    accepted = httpx.post(f"{server.base}/v1/events", json=batch, headers=headers, timeout=10)
    assert (accepted.status_code, accepted.json()["accepted"]) == (202, 20), accepted.text
    deadline = time.monotonic() + 20
    while len(httpx.get(f"{server.base}/v1/messages?status=sent", headers=headers, timeout=10).json()["messages"]) < 20:
        assert time.monotonic() < deadline, "the accepted events were not processed"
        time.sleep(0.05)
    metrics = httpx.get(f"{server.base}/metrics", headers=headers, timeout=10).text
    assert 'relance_state{state="events_inbox",workspace="maison-demo"} 0.0' in metrics


def test_serve_refuses_rules_with_errors(tmp_path: Path) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text("rules:\n  - id: r\n    when: a.b\n    steps: [wait 3 dayz]\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "relance.server", "serve", str(rules)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"{rules}:4:18: bad duration '3 dayz' (did you mean '3d'?)" in result.stderr


def test_relance_why_prints_why_a_contact_did_not_enter(serve, write) -> None:
    """`relance why EMAIL` against a running server, as an agency asks it: the rule, and why not."""
    rules = write("""\
workspace: shop
channels: {chat: {plugin: log}}
templates: {ping: {chat: "ping"}}
rules:
  - id: big-cart
    when: checkout.started where event.cart.total >= 100
    steps: [send chat ping]
""")
    server = serve(rules)
    answer = httpx.post(f"{server.base}/v1/events?wait=true", headers={"Authorization": f"Bearer {server.key}"},
                        json={"id": "c1", "type": "checkout.started", "contact": {"email": "why@example.test"},
                              "properties": {"cart": {"total": 5}}})
    assert answer.status_code == 202, answer.text
    printed = subprocess.run([sys.executable, "-m", "relance.server", "why", "why@example.test", "--server", server.base,
                              "--key", server.key], capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    assert "big-cart" in printed.stdout and "event.cart.total >= 100" in printed.stdout, printed.stdout
    missing = subprocess.run([sys.executable, "-m", "relance.server", "why", "nobody@example.test", "--server",
                              server.base, "--key", server.key], capture_output=True, text=True, timeout=60)
    assert (missing.returncode, missing.stderr.strip()) == (1, "no contact nobody@example.test in this workspace")
