"""`relance serve` as a real uvicorn process on 127.0.0.1."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_the_example_take_an_event_and_stop_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "RELANCE_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "relance.server", "serve", str(ROOT / "rules.example.yaml"),
         "--database-url", f"sqlite://{tmp_path / 'relance.sqlite3'}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, key = "", None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "Uvicorn running" not in output:
            line = process.stdout.readline()  # type: ignore[union-attr]
            assert line, f"the server stopped:\n{output}"
            output += line
            found = re.search(r"(rk_[A-Za-z0-9_-]+)", line)
            key = key or (found.group(1) if found else None)
        assert key, output
        assert f"port = {port}" in output and "database_url = sqlite://" in output
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}"}
        event = {"id": "m1", "type": "message.received", "contact": {"email": "lea@example.test"},
                 "properties": {"text": "Où est-ce que je paie ?"}}
        accepted = httpx.post(f"{base}/v1/events?wait=true", json=event, headers=headers, timeout=10)
        assert accepted.status_code == 202, accepted.text
        messages = httpx.get(f"{base}/v1/messages", headers=headers, timeout=10).json()["messages"]
        assert [(m["template"], m["status"]) for m in messages] == [("lien-paiement", "sent")]
        assert httpx.get(f"{base}/v1/messages", timeout=10).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert process.returncode in (0, -signal.SIGTERM), rest
    assert "Application shutdown complete" in rest
    assert "email to lea@example.test [lien-paiement]" in output + rest  # the log channel's line


def test_serve_refuses_rules_with_errors(tmp_path: Path) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text("rules:\n  - id: r\n    when: a.b\n    steps: [wait 3 dayz]\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "relance.server", "serve", str(rules)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"{rules}:4:18: bad duration '3 dayz' (did you mean '3d'?)" in result.stderr
