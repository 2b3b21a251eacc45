"""The OpenAPI document matches the routes; metrics answer in Prometheus format."""
from __future__ import annotations

import re


def normalise(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_the_document_and_the_routes_name_the_same_operations(api) -> None:
    document = api.call("GET", "/openapi.json", shop=None).json()
    documented = {(normalise(path), method.upper()) for path, item in document["paths"].items() for method in item}
    served = {(normalise(route.path), method) for route in api.client.app.routes for method in route.methods - {"HEAD"}}
    assert documented == served


def test_metrics_count_events_and_show_waiting_runs(api) -> None:
    api.call("POST", "/v1/events", json={"id": "c1", "type": "checkout.started", "contact": {"email": "a@b.test"}})
    api.call("POST", "/v1/events", json={"id": "c1", "type": "checkout.started", "contact": {"email": "a@b.test"}})
    text = api.call("GET", "/metrics", shop=None).text
    assert 'relance_events_total{outcome="accepted",workspace="shop-a"} 1.0' in text
    assert 'relance_events_total{outcome="duplicate",workspace="shop-a"} 1.0' in text
    assert 'relance_state{state="runs_waiting",workspace="shop-a"} 1.0' in text
