"""Event types through the API: Segment's e-commerce names reach the rules that name them, and
events of a type nothing uses are counted in /metrics."""
from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from relance.dsl.event_names import SEGMENT_ECOMMERCE
from relance.engine.clock import VirtualClock
from relance.server.app import create_app
from relance.server.settings import Settings

from .conftest import NOW

RULES = "rules:\n" + "".join(f"  - id: r{i}\n    when: {dotted}\n    steps: [tag t{i}]\n"
                             for i, dotted in enumerate(SEGMENT_ECOMMERCE.values())) + """\
  - id: signup
    when: signup
    steps: [tag new]
"""


@pytest.fixture
def shop(tmp_path: Path, write: Callable[..., Path]) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = Settings(rules=(str(write("workspace: shop\n" + RULES, "shop/rules.yaml")),),
                        database_url=f"sqlite://{tmp_path / 'api.sqlite3'}")
    app = create_app(settings, clock=VirtualClock(NOW), run_scheduler=False)
    with TestClient(app) as client:
        key = client.portal.call(app.state.runtime.create_key, "shop")
        yield client, {"Authorization": f"Bearer {key}"}


def test_every_segment_ecommerce_event_starts_the_rule_of_its_dotted_name(shop) -> None:
    client, headers = shop
    write_key = headers["Authorization"].removeprefix("Bearer ")
    calls = [{"type": "track", "messageId": f"m{i}", "userId": "u1", "event": name, "timestamp": "2026-03-02T10:00:00Z"}
             for i, name in enumerate(SEGMENT_ECOMMERCE)]
    basic = {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}
    response = client.post("/v1/batch?wait=true", json={"batch": calls}, headers=basic)
    assert response.status_code == 200, response.text  # as Segment answers
    started = sorted(e["rule"] for e in response.json()["effects"] if e["kind"] == "run.started")
    assert started == sorted(f"r{i}" for i in range(len(SEGMENT_ECOMMERCE)))


def unheard(client: TestClient) -> dict[str, float]:
    families = text_string_to_metric_families(client.get("/metrics").text)
    return {sample.labels["type"]: sample.value for family in families if family.name == "relance_events_unheard"
            for sample in family.samples if sample.name.endswith("_total") and sample.labels["workspace"] == "shop"}


def test_events_of_a_type_nothing_uses_are_counted_by_type(shop) -> None:
    client, headers = shop
    events = [{"id": f"e{i}", "type": kind, "contact": {"email": "a@b.test"}}
              for i, kind in enumerate(["signup", "purchase", "purchase", "order.completed", "Order Refunded",
                                        "contact.unsubscribed", "Newsletter Opened"])]
    assert client.post("/v1/events", json=events, headers=headers).status_code == 202
    assert client.post("/v1/events", json=events[1], headers=headers).json()["status"] == "duplicate"
    # order.refunded is a rule's trigger; order.completed and contact.unsubscribed keep the profile
    assert unheard(client) == {"purchase": 2.0, "newsletter.opened": 1.0}


def test_types_counted_are_bounded(shop, monkeypatch) -> None:
    from relance.server import metrics

    monkeypatch.setattr(metrics, "UNHEARD_TYPES", 3)
    client, headers = shop
    events = [{"id": f"e{i}", "type": f"made.up{i}", "contact": {"email": "a@b.test"}} for i in range(6)]
    assert client.post("/v1/events", json=events, headers=headers).status_code == 202
    assert unheard(client) == {"made.up0": 1.0, "made.up1": 1.0, "made.up2": 1.0, "other": 3.0}
