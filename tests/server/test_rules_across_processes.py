"""Rule versions across real processes: a restart after an edit, a worker given other files, `relance why`."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from click.testing import CliRunner

from relance.server.cli import main

from ..engine.conftest import POSTGRES_URL
from .scale_runs import empty_tables
from .test_worker import REDIS_URL, reachable, start_server, start_worker, wait_until

pytestmark = pytest.mark.slow

RULES = """\
workspace: shop
channels: {{email: {{plugin: log}}}}
templates:
  r1: {{email: {{subject: "r1", body: "r1"}}}}
  r2: {{email: {{subject: "r2", body: "r2"}}}}
  r3: {{email: {{subject: "r3", body: "r3"}}}}
rules:
  - id: cart
    when: checkout.started
    steps:
{steps}"""


def rules_with(*steps: str) -> str:
    return RULES.format(steps="".join(f"      - {step}\n" for step in steps))


def messages(base: str, key: str) -> list[dict]:  # type: ignore[type-arg]
    answer = httpx.get(f"{base}/v1/messages", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    answer.raise_for_status()
    return answer.json()["messages"]


def post_cart(base: str, key: str) -> None:
    answer = httpx.post(f"{base}/v1/events", headers={"Authorization": f"Bearer {key}"}, timeout=10,
                        json={"id": "cart-1", "type": "checkout.started", "contact": {"email": "alice@example.test"}})
    assert answer.status_code == 202, answer.text


def test_a_served_rule_edited_while_stopped_never_sends_a_step_twice(serve, tmp_path: Path) -> None:
    """Issue 12 item 1 with a real `relance serve`: r1 sent, the server stopped, two steps inserted at
    the top, the server started again on the same database: r2 once, r1 never again."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_with("wait 2s", "send email r1", "wait 4s", "send email r2"), encoding="utf-8")
    first = serve(rules)
    post_cart(first.base, first.key)
    wait_until(lambda: [m["template"] for m in messages(first.base, first.key) if m["status"] == "sent"] == ["r1"],
               20, f"r1 was not sent:\n{first.output}")
    first.stop()
    rules.write_text(rules_with("tag a", "tag b", "wait 2s", "send email r1", "wait 4s", "send email r2"),
                     encoding="utf-8")
    second = serve(rules)
    wait_until(lambda: len(messages(second.base, second.key)) >= 2 and
               all(m["status"] == "sent" for m in messages(second.base, second.key)), 30,
               f"r2 was not sent:\n{second.output}")
    time.sleep(1)  # anything sent twice would be in by now
    sent = [(m["template"], m["key"].split(":", 1)[1]) for m in messages(second.base, second.key)]
    assert sent == [("r1", "cart/steps/1:1"), ("r2", "cart/steps/3:1")]
    result = CliRunner().invoke(main, ["why", "alice@example.test", "--server", second.base, "--key", second.key])
    assert result.exit_code == 0, result.output
    assert "run 1 of cart" in result.output and "finished" in result.output
    assert "rule edited: stays on version" in result.output, result.output


def test_relance_why_says_why_an_event_did_not_start_a_rule(serve, tmp_path: Path) -> None:
    """Issue 12 item 17: an event whose rule did not start leaves a decision `relance why` reads."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_with("send email r1").replace("when: checkout.started",
                                                          "when: checkout.started where event.cart.total >= 20"),
                     encoding="utf-8")
    served = serve(rules)
    answer = httpx.post(f"{served.base}/v1/events?wait=true", headers={"Authorization": f"Bearer {served.key}"},
                        json={"id": "small", "type": "checkout.started", "contact": {"email": "bob@example.test"},
                              "properties": {"cart": {"total": 12}}}, timeout=10)
    [effect] = [e for e in answer.json()["effects"] if e["kind"] == "run.not_started"]
    assert effect["rule"] == "cart" and "event.cart.total >= 20" in effect["reason"]
    result = CliRunner().invoke(main, ["why", "bob@example.test", "--rule", "cart"],
                                env={"RELANCE_SERVER": served.base, "RELANCE_KEY": served.key})
    assert result.exit_code == 0, result.output
    assert "checkout.started small did not start cart: its trigger's condition is false" in result.output


def test_a_worker_given_older_files_walks_the_rules_the_server_published(tmp_path: Path) -> None:
    """Issue 12 item 2: on PostgreSQL + Redis, a worker started with an older copy of the rules resumes the
    server's runs on the server's rules (the ones published in the store), not on its own files."""
    reachable()
    redis.Redis.from_url(REDIS_URL).flushdb()
    asyncio.run(empty_tables(POSTGRES_URL))
    older, newer = tmp_path / "older" / "rules.yaml", tmp_path / "newer" / "rules.yaml"
    for path, template in ((older, "r1"), (newer, "r3")):
        path.parent.mkdir()
        path.write_text(rules_with("wait 2s", f"send email {template}"), encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": POSTGRES_URL, "REDIS_URL": REDIS_URL, "RELANCE_LOG_LEVEL": "info"}
    key = subprocess.run([sys.executable, "-m", "relance.server", "keys", "create", "shop"], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    server, base = start_server(newer, env, tmp_path / "serve.log")
    worker = start_worker(older, env, tmp_path / "worker.log")
    try:
        wait_until(lambda: "worker ready" in (tmp_path / "worker.log").read_text(errors="replace"), 60,
                   (tmp_path / "worker.log").read_text(errors="replace"))
        post_cart(base, key)
        wait_until(lambda: any(m["status"] == "sent" for m in messages(base, key)), 30,
                   (tmp_path / "worker.log").read_text(errors="replace"))
        assert [m["template"] for m in messages(base, key)] == ["r3"]
        assert "loaded the rules published in the store" in (tmp_path / "worker.log").read_text()
    finally:
        for process in (server, worker):
            process.send_signal(signal.SIGTERM)
        for process in (server, worker):
            process.wait(60)
