"""Segment-shaped calls: existing Segment or RudderStack clients pointed at Relance."""
from __future__ import annotations

import base64


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def test_track_with_the_write_key_as_basic_auth_user(api) -> None:
    call = {"messageId": "seg-1", "userId": "u42", "event": "Checkout Started", "timestamp": "2026-03-02T10:00:00Z",
            "properties": {"cart": {"total": 50}}, "context": {"traits": {"email": "Ana@Example.test"}}}
    response = api.call("POST", "/v1/track?wait=true", shop=None, json=call, headers=basic(api.keys["shop-a"]))
    assert (response.status_code, response.json()["success"]) == (200, True), response.text
    assert ("panier", "run.started") in [(e["rule"], e["kind"]) for e in response.json()["effects"]]
    [contact] = api.call("GET", "/v1/contacts?external_id=segment:u42").json()["contacts"]
    assert contact["email"] == "ana@example.test"


def test_identify_sets_traits(api) -> None:
    call = {"messageId": "seg-2", "userId": "u7", "traits": {"email": "bo@example.test", "firstName": "Bo",
                                                            "plan": "gold"}}
    assert api.call("POST", "/v1/identify", shop=None, json=call, headers=basic(api.keys["shop-a"])).status_code == 200
    [contact] = api.call("GET", "/v1/contacts?email=bo@example.test").json()["contacts"]
    assert (contact["attributes"]["first_name"], contact["attributes"]["plan"]) == ("Bo", "gold")


def test_batch_of_calls_with_a_bad_one(api) -> None:
    calls = {"batch": [
        {"type": "identify", "messageId": "b1", "userId": "u1", "traits": {"email": "u1@example.test"}},
        {"type": "track", "messageId": "b2", "userId": "u1"},  # no event name
        {"type": "page", "messageId": "b3", "userId": "u1", "name": "Home"},
    ]}
    response = api.call("POST", "/v1/batch", shop=None, json=calls, headers=basic(api.keys["shop-a"]))
    assert (response.status_code, response.headers["content-type"]) == (400, "application/problem+json")
    body = response.json()
    assert (body["success"], body["code"], body["pointer"]) == (False, "invalid_request", "/batch/1/event")
    assert body["message"].startswith("1 of 3 calls refused; first: /batch/1/event: expected the event's name")
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted"]  # the others are kept
    assert len(api.call("GET", "/v1/contacts?external_id=segment:u1").json()["contacts"]) == 1


def test_a_write_key_of_another_workspace_does_not_mix_shops(api) -> None:
    call = {"messageId": "seg-9", "userId": "u9", "event": "Product Viewed"}
    api.call("POST", "/v1/track", shop=None, json=call, headers=basic(api.keys["shop-b"]))
    assert api.call("GET", "/v1/contacts?external_id=segment:u9").json()["contacts"] == []
    assert len(api.call("GET", "/v1/contacts?external_id=segment:u9", shop="shop-b").json()["contacts"]) == 1
