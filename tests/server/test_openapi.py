"""The OpenAPI document matches the routes; metrics answer in Prometheus format."""
from __future__ import annotations

import re

from pydantic import Field

from relance.engine.event_model import EventModel
from relance.server.app import ROUTES
from relance.server.openapi import OPERATIONS, build_document


def normalise(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_the_document_and_the_routes_name_the_same_operations(api) -> None:
    document = api.call("GET", "/openapi.json", shop=None).json()
    documented = {(normalise(path), method.upper()) for path, item in document["paths"].items() for method in item}
    served = {(normalise(route.path), method) for route in api.client.app.routes for method in route.methods - {"HEAD"}}
    assert documented == served


def test_every_operation_described_is_a_route() -> None:
    served = {f"{method} {route.path}" for route in ROUTES for method in route.methods - {"HEAD"}}
    assert set(OPERATIONS) <= served


def test_the_event_schema_is_the_one_that_validates_events(api) -> None:
    schemas = api.call("GET", "/openapi.json", shop=None).json()["components"]["schemas"]
    event = schemas["Event"]
    assert (event["properties"]["type"]["maxLength"], event["properties"]["id"]["maxLength"]) == (200, 200)
    assert event["additionalProperties"] is False and set(event["required"]) == {"id", "type", "contact"}
    assert event["properties"]["contact"] == {"$ref": "#/components/schemas/EventContact"}
    assert schemas["EventContact"]["properties"]["email"]["anyOf"][0]["maxLength"] == 320


def test_a_limit_changed_in_the_model_is_the_documents() -> None:
    class Shorter(EventModel):
        type: str = Field(max_length=64, pattern=r"\S")

    event = build_document(ROUTES, Shorter)["components"]["schemas"]["Event"]
    assert event["properties"]["type"]["maxLength"] == 64


def test_metrics_count_events_and_show_waiting_runs(api) -> None:
    api.call("POST", "/v1/events", json={"id": "c1", "type": "checkout.started", "contact": {"email": "a@b.test"}})
    api.call("POST", "/v1/events", json={"id": "c1", "type": "checkout.started", "contact": {"email": "a@b.test"}})
    text = api.call("GET", "/metrics", shop=None).text
    assert 'relance_events_total{outcome="accepted",workspace="shop-a"} 1.0' in text
    assert 'relance_events_total{outcome="duplicate",workspace="shop-a"} 1.0' in text
    assert 'relance_state{state="runs_waiting",workspace="shop-a"} 1.0' in text
