"""Logs a platform can read (one JSON object a line, uvicorn's included) and Prometheus counters."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from relance.engine.channels import DeliveryResult
from relance.engine.records import MessageRecord
from relance.server.metrics import Metrics

from .test_api import HOT

ROOT = Path(__file__).resolve().parents[2]


def test_json_logs_are_one_object_a_line_with_uvicorn_access_lines_and_no_idle_flood(serve) -> None:
    server = serve(ROOT / "rules.example.yaml", RELANCE_LOG_FORMAT="json", RELANCE_LOG_LEVEL="debug")
    headers = {"Authorization": f"Bearer {server.key}"}
    assert httpx.get(f"{server.base}/v1/runs", headers=headers, timeout=10).status_code == 200
    time.sleep(2.5)  # idle: the scheduler polls the database
    lines = [line for line in server.stop().splitlines() if line.strip()]
    printed = [line for line in lines if line.startswith("relance: API key for workspace")]
    assert len(printed) == 1 and server.key in printed[0]  # the key: printed, never logged
    records = [json.loads(line) for line in lines if line not in printed]  # every other line is JSON
    assert all(set(r) >= {"time", "level", "logger", "message"} for r in records)
    assert not any(server.key in json.dumps(r) for r in records)
    [access] = [r for r in records if r["logger"] == "uvicorn.access" and r.get("path") == "/v1/runs"]
    assert (access["method"], access["status"]) == ("GET", 200)
    assert any(r["logger"] == "uvicorn.error" and "Uvicorn running" in r["message"] for r in records)
    assert any(r["logger"] == "relance.settings" for r in records)
    assert [r for r in records if r["logger"].startswith(("aiosqlite", "tortoise"))] == []


def test_text_logs_keep_one_format_for_relance_and_uvicorn(serve) -> None:
    server = serve(ROOT / "rules.example.yaml")
    httpx.get(f"{server.base}/healthz", timeout=10)
    lines = server.stop().splitlines()
    access = [line for line in lines if '"GET /healthz HTTP/1.1" 200' in line]
    assert len(access) == 1 and " INFO uvicorn.access: " in access[0]


def test_messages_and_request_durations_are_counted(api) -> None:
    api.call("POST", "/v1/events", json=HOT)
    [run] = api.call("GET", "/v1/runs").json()["runs"]
    api.call("GET", f"/v1/runs/{run['id']}")
    text = api.call("GET", "/metrics", shop=None).text
    assert 'relance_messages_total{channel="email",outcome="sent",workspace="shop-a"} 1.0' in text
    assert 'relance_request_duration_seconds_count{method="GET",route="/v1/runs/{run_id}",status="200"} 1.0' in text
    assert 'relance_request_duration_seconds_count{method="POST",route="/v1/events",status="202"} 1.0' in text


@pytest.mark.parametrize("status, error, result, outcome", [
    ("sent", None, DeliveryResult("delivered"), "sent"),
    ("failed", "550 no such user", DeliveryResult("failed", "550 no such user", bounced=True), "bounced"),
    ("failed", "a 400", DeliveryResult("failed", "a 400"), "failed"),
    ("pending", "deferred: 451", DeliveryResult("deferred", "451"), "deferred"),
    ("skipped", "no consent", None, "skipped"),
])
def test_each_outcome_of_a_send_has_its_counter(status: str, error: str | None, result, outcome: str) -> None:
    metrics = Metrics()
    message = MessageRecord("shop", "1:n:1", 1, 1, "r", "n", "sms", "t", None, "b", datetime.now(timezone.utc),
                            status=status, error=error)
    metrics.message("shop", message, result)
    assert metrics.messages.labels("shop", "sms", outcome)._value.get() == 1
