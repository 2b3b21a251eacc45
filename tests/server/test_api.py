"""The HTTP API through the ASGI app: auth, isolation, idempotency, batches, problem+json."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
import gzip
import json
import zlib

import pytest
from starlette.testclient import TestClient

from relance.engine.clock import VirtualClock
from relance.server.app import create_app
from relance.server.settings import Settings

from .conftest import NOW

PROBLEM = "application/problem+json"
HOT = {"id": "m1", "type": "message.received", "contact": {"email": "lea@example.test", "first_name": "Léa"},
       "properties": {"text": "je veux commander, où je paie ?"}}


def test_an_event_with_wait_true_answers_with_its_effects(api) -> None:
    response = api.call("POST", "/v1/events?wait=true", json=HOT)
    assert response.status_code == 202
    body = response.json()
    assert (body["id"], body["status"]) == ("m1", "accepted")
    kinds = [(e["rule"], e["kind"]) for e in body["effects"]]
    assert ("chaud", "run.started") in kinds and ("chaud", "message.queued") in kinds  # sent after the answer's step
    [message] = api.call("GET", "/v1/messages?status=sent").json()["messages"]
    assert (message["template"], message["body"]) == ("lien", "Bonjour Léa")


def test_the_same_id_twice_is_processed_once_and_says_so(api) -> None:
    first = api.call("POST", "/v1/events", json=HOT).json()
    again = api.call("POST", "/v1/events", json=HOT).json()
    assert (first["status"], again["status"]) == ("accepted", "duplicate")
    assert len(api.call("GET", "/v1/messages").json()["messages"]) == 1


def test_the_same_id_with_another_body_is_a_409_naming_the_id(api) -> None:
    api.call("POST", "/v1/events", json=HOT)
    response = api.call("POST", "/v1/events", json={**HOT, "properties": {"text": "merci"}})
    assert (response.status_code, response.headers["content-type"]) == (409, PROBLEM)
    assert response.json()["detail"].startswith("event 'm1' was already received with a different body")


def test_a_batch_with_a_bad_item_rejects_only_that_item(api) -> None:
    batch = {"events": [HOT, {**HOT, "id": "m2", "at": "not a time"}, {**HOT, "id": "m3"}]}
    response = api.call("POST", "/v1/events", json=batch)
    assert response.status_code == 207
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    [bad] = [r for r in body["results"] if r["status"] == "rejected"]
    assert (bad["index"], bad["problem"]["pointer"]) == (1, "/events/1/at")
    assert [m["run_id"] for m in api.call("GET", "/v1/messages").json()["messages"]] == [1, 2]  # m1, m3: one each


@pytest.mark.parametrize("body, pointer, detail", [
    ({**HOT, "type": ""}, "/type", "expected an event type"),
    ({**HOT, "contact": {}}, "/contact", "names no one"),
    ({**HOT, "contact": {"email": "not-an-email"}}, "/contact/email", "'not-an-email' is not an email address"),
    ({**HOT, "colour": "red"}, "/colour", "unknown field"),
    ({**HOT, "at": "2026-03-02T10:00:00"}, "/at", "has no timezone"),
])
def test_a_bad_event_is_a_422_naming_the_field(api, body, pointer: str, detail: str) -> None:
    response = api.call("POST", "/v1/events", json=body)
    assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM)
    assert response.json()["pointer"] == pointer and detail in response.json()["detail"]


def test_a_body_that_is_not_json(api) -> None:
    response = api.call("POST", "/v1/events", content=b'{"id": ', headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["detail"].startswith("the body is not JSON")


def test_an_oversize_body_is_refused_before_it_is_read(api) -> None:
    response = api.call("POST", "/v1/events", content=b"x" * (1024 * 1024 + 1))
    assert (response.status_code, response.headers["content-type"]) == (413, PROBLEM)


def test_a_batch_over_500_events_is_refused(api) -> None:
    events = [{**HOT, "id": f"e{i}"} for i in range(501)]
    assert api.call("POST", "/v1/events", json=events).status_code == 413


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer rk_wrong"}, {"Authorization": "Token x"}])
def test_missing_or_bad_keys_are_401(api, headers: dict) -> None:
    response = api.call("POST", "/v1/events", shop=None, json=HOT, headers=headers)
    assert (response.status_code, response.headers["content-type"]) == (401, PROBLEM)


def test_unknown_routes_and_wrong_methods_are_problems_too(api) -> None:
    missing = api.call("GET", "/v1/nothing")
    wrong = api.call("DELETE", "/v1/events")
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)
    assert (wrong.status_code, wrong.headers["content-type"]) == (405, PROBLEM)


def test_a_key_reaches_its_own_workspace_only(api) -> None:
    api.call("POST", "/v1/events", json=HOT)
    [run] = api.call("GET", "/v1/runs").json()["runs"]
    contact_id = run["contact_id"]
    assert api.call("GET", f"/v1/runs/{run['id']}").status_code == 200
    assert api.call("GET", f"/v1/runs/{run['id']}", shop="shop-b").status_code == 404
    assert api.call("GET", f"/v1/contacts/{contact_id}", shop="shop-b").status_code == 404
    assert api.call("GET", "/v1/messages", shop="shop-b").json()["messages"] == []
    assert api.call("GET", "/v1/contacts?email=lea@example.test", shop="shop-b").json()["contacts"] == []


def test_a_run_and_its_trace(api) -> None:
    api.call("POST", "/v1/events", json={"id": "c1", "type": "checkout.started",
                                         "contact": {"email": "alice@example.test"}, "properties": {}})
    [run] = api.call("GET", "/v1/runs?rule=panier").json()["runs"]
    detail = api.call("GET", f"/v1/runs/{run['id']}").json()
    assert (detail["status"], detail["node_id"]) == ("waiting", "panier/steps/1")
    assert [t.get("node") for t in detail["trace"]] == [None, "panier/steps/0"]
    contact = api.call("GET", "/v1/contacts?email=Alice@Example.test").json()["contacts"][0]
    assert contact["id"] == run["contact_id"]


def test_health_and_readiness(api) -> None:
    assert api.call("GET", "/healthz", shop=None).json() == {"status": "ok"}
    assert api.call("GET", "/readyz", shop=None).json() == {"status": "ready", "workspaces": ["shop-a", "shop-b"],
                                                            "database": "ok", "loops": {}}  # no loop runs here


def test_contacts_of_a_segment_and_stats_per_rule(api) -> None:
    api.call("POST", "/v1/events", json=HOT)
    api.call("POST", "/v1/events", json={"id": "c1", "type": "checkout.started", "contact": {"email": "bo@x.test"}})
    api.call("POST", "/v1/events", json={"id": "o1", "type": "order.completed", "contact": {"email": "bo@x.test"},
                                         "properties": {"revenue": 42}})
    stats = api.call("GET", "/v1/stats").json()["rules"]
    assert stats["chaud"] == {"runs": {"finished": 1}, "conversions": 0, "revenue": 0.0, "messages": {"sent": 1}}
    assert stats["panier"]["runs"] == {"waiting": 1}
    assert api.call("GET", "/v1/stats", shop="shop-b").json()["rules"]["chaud"]["runs"] == {}
    buyers = api.call("GET", "/v1/contacts?segment=acheteurs").json()["contacts"]
    assert [c["email"] for c in buyers] == ["bo@x.test"]
    assert api.call("GET", "/v1/contacts?segment=acheteurs", shop="shop-b").json()["contacts"] == []
    assert api.call("GET", "/v1/contacts?segment=nope").status_code == 404


@pytest.mark.parametrize("body, pointer", [
    ({**HOT, "contact": {"email": "a@b.test", "timezone": "Europe/Pariss"}}, "/contact/timezone"),
    ({**HOT, "type": "x" * 201}, "/type"),
    ({**HOT, "contact": {"phone": "1" * 51}}, "/contact/phone"),
    ({**HOT, "properties": {"text": "nul \u0000 here"}}, "/properties/text"),
])
def test_values_the_database_would_refuse_are_422_at_the_door(api, body, pointer: str) -> None:
    response = api.call("POST", "/v1/events", json=body)
    assert (response.status_code, response.json().get("pointer")) == (422, pointer)


def test_stats_count_a_conversion_after_the_last_reminder(tmp_path: Path, write: Callable[..., Path]) -> None:
    """Issue 12 item 4: ECOM-03's last reminder at D+5, the order at D+6 within `goal: … within 7d`:
    /v1/stats counts the conversion and its revenue (it showed 0)."""
    rules = write("""\
        workspace: shop
        channels: {email: {plugin: log}}
        templates: {rappel: {email: {subject: "Panier", body: "Votre panier"}}}
        rules:
          - id: panier
            when: checkout.started
            goal: order.completed within 7d
            steps: [wait 1d, send email rappel, wait 2d, send email rappel, wait 2d, send email rappel]
        """, "shop/rules.yaml")
    clock = VirtualClock(NOW)
    app = create_app(Settings(rules=(str(rules),), database_url=f"sqlite://{tmp_path / 's.sqlite3'}"), clock=clock,
                     run_scheduler=False)
    with TestClient(app) as client:
        runtime = app.state.runtime
        headers = {"Authorization": f"Bearer {client.portal.call(runtime.create_key, 'shop')}"}
        contact = {"email": "alice@example.test"}
        assert client.post("/v1/events?wait=true", headers=headers, json={
            "id": "cart", "type": "checkout.started", "contact": contact}).status_code == 202
        for _ in range(5):
            clock.advance(timedelta(days=1))
            client.portal.call(runtime.engines["shop"].run_due)
        assert client.get("/v1/stats", headers=headers).json()["rules"]["panier"]["runs"] == {"converting": 1}
        clock.advance(timedelta(days=1))
        assert client.post("/v1/events?wait=true", headers=headers, json={
            "id": "order", "type": "order.completed", "contact": contact,
            "properties": {"revenue": 80.5}}).status_code == 202
        stats = client.get("/v1/stats", headers=headers).json()["rules"]["panier"]
    assert (stats["runs"], stats["conversions"], stats["revenue"]) == ({"goal": 1}, 1, 80.5)
    assert stats["messages"] == {"sent": 3}
@pytest.mark.parametrize("encoding, compress", [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
])
def test_compressed_bodies_are_read(api, encoding: str, compress) -> None:
    body = compress(json.dumps([HOT, {**HOT, "id": "m2"}]).encode())
    response = api.call("POST", "/v1/events", content=body,
                        headers={"Content-Type": "application/json", "Content-Encoding": encoding})
    assert (response.status_code, response.json()["accepted"]) == (202, 2), response.text


def test_the_size_limit_applies_to_the_decompressed_body(api) -> None:
    bomb = gzip.compress(b"[" + b" " * (20 * 1024 * 1024) + b"]")  # 20 KB that would be 20 MB
    assert len(bomb) < 64 * 1024
    response = api.call("POST", "/v1/events", content=bomb,
                        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert (response.status_code, response.headers["content-type"]) == (413, PROBLEM)
    assert "decompressed" in response.json()["detail"]


@pytest.mark.parametrize("body, encoding, status", [
    (b"not gzip at all", "gzip", 400),
    (gzip.compress(b'[{"id": "x"}]')[:-6], "gzip", 400),  # cut short
    (b"[]", "br", 415),
])
def test_bad_or_unknown_compression_is_a_4xx(api, body: bytes, encoding: str, status: int) -> None:
    response = api.call("POST", "/v1/events", content=body,
                        headers={"Content-Type": "application/json", "Content-Encoding": encoding})
    assert (response.status_code, response.headers["content-type"]) == (status, PROBLEM), response.text


def test_why_a_contact_did_not_enter_is_answered_by_the_api(api) -> None:
    """GET /v1/contacts/{id}/why, which `relance why` prints: the rules an event did not start, and why."""
    api.call("POST", "/v1/events", json={"id": "m1", "type": "message.received",
                                         "contact": {"email": "why@example.test"}, "properties": {"text": "merci"}})
    [contact] = api.call("GET", "/v1/contacts?email=why@example.test").json()["contacts"]
    answer = api.call("GET", f"/v1/contacts/{contact['id']}/why").json()
    [decision] = [d for d in answer["decisions"] if d["rule_id"] == "chaud"]
    assert decision["started"] is False and decision["reason"].startswith("its trigger's condition is false")
    assert any("chaud" in line and "trigger" in line for line in answer["story"]), answer["story"]
    unknown = api.call("GET", f"/v1/contacts/{contact['id']}/why?rule=nope")
    assert (unknown.status_code, unknown.json()["pointer"]) == (404, "/query/rule")
    other = api.call("GET", f"/v1/contacts/{contact['id']}/why", shop="shop-b")
    assert other.status_code == 404  # another workspace's contact is not there
