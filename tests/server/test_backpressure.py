"""Backpressure: past the inbox's bound, intake answers 429 with Retry-After and keeps nothing; /metrics shows the backlog."""
from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from relance.engine.clock import VirtualClock
from relance.server.app import create_app
from relance.server.settings import Settings

from .conftest import NOW, SHOP


@pytest.fixture
def bounded(tmp_path: Path, write: Callable[..., Path]) -> Iterator[tuple[TestClient, dict[str, str]]]:
    rules = write(SHOP.format(name="shop-a"), "shop-a/rules.yaml")
    settings = Settings(rules=(str(rules),), database_url=f"sqlite://{tmp_path / 'b.sqlite3'}", inbox_limit=5)
    app = create_app(settings, clock=VirtualClock(NOW), run_scheduler=False)  # nothing processes the inbox
    with TestClient(app) as client:
        key = client.portal.call(app.state.runtime.create_key, "shop-a")
        yield client, {"Authorization": f"Bearer {key}"}


def event(n: int) -> dict:  # type: ignore[type-arg]
    return {"id": f"e{n}", "type": "page.viewed", "contact": {"email": f"c{n}@example.test"}}


def metric(client: TestClient, name: str) -> float:
    families = text_string_to_metric_families(client.get("/metrics").text)
    return next(s.value for f in families for s in f.samples if s.name == name and s.labels["workspace"] == "shop-a")


def test_a_full_inbox_answers_429_with_retry_after_and_keeps_nothing(bounded) -> None:
    client, headers = bounded
    assert client.post("/v1/events", json=[event(n) for n in range(5)], headers=headers).status_code == 202
    refused = client.post("/v1/events", json=event(5), headers=headers)
    assert (refused.status_code, refused.headers["content-type"]) == (429, "application/problem+json")
    assert 1 <= int(refused.headers["retry-after"]) <= 60 and "5 events are waiting" in refused.json()["detail"]
    assert metric(client, "relance_inbox_events") == 5
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    runtime.clock.advance(timedelta(seconds=30))
    assert metric(client, "relance_inbox_age_seconds") == 30
    client.portal.call(runtime.settle)  # the engine catches up
    assert metric(client, "relance_inbox_events") == 0
    again = client.post("/v1/events", json=event(5), headers=headers)
    assert (again.status_code, again.json()["status"]) == (202, "accepted")  # it was not kept: new to the store
    exported = client.get("/v1/contacts?email=c5@example.test", headers=headers).json()["contacts"]
    assert exported == []  # not processed yet: stored once, by the second try only


def test_segment_clients_get_a_429_they_retry(bounded) -> None:
    client, headers = bounded
    client.post("/v1/events", json=[event(n) for n in range(5)], headers=headers)
    write_key = headers["Authorization"].removeprefix("Bearer ")
    basic = {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}
    answer = client.post("/v1/batch", headers=basic, json={"batch": [
        {"type": "track", "messageId": "m1", "userId": "u1", "event": "Product Viewed"}]})
    assert answer.status_code == 429 and "retry-after" in answer.headers
    assert answer.json()["success"] is False and answer.json()["message"]
