"""/readyz and /metrics tell the truth about what is down; a transient fault in a request is a 503 to retry."""
from __future__ import annotations

import asyncpg
import pytest

from relance.engine.engine import Engine


def break_database(api, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Every read of the store fails as when PostgreSQL is stopped."""
    store = api.client.app.state.runtime.store

    async def refused(*arguments: object, **options: object) -> None:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    for method in ("next_wake", "gauges", "api_key_workspace"):
        monkeypatch.setattr(store, method, refused)


def test_readyz_is_503_naming_the_database_when_it_is_down(api, monkeypatch) -> None:
    break_database(api, monkeypatch)
    response = api.call("GET", "/readyz", shop=None, settle=False)
    assert (response.status_code, response.headers["content-type"]) == (503, "application/problem+json")
    body = response.json()
    assert body["detail"] == "not ready: database"
    assert body["database"] == "ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 5432)"


def test_readyz_is_503_naming_a_failing_background_loop(api) -> None:
    runtime = api.client.app.state.runtime
    runtime.loops.health("inbox:shop-a").failed(ConnectionResetError(104, "reset"), runtime.clock.now())
    runtime.loops.health("watcher")
    response = api.call("GET", "/readyz", shop=None)
    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == "not ready: loop inbox:shop-a"
    assert body["loops"] == {"inbox:shop-a": {"ok": False, "failing_for": 0.0, "failures": 1,
                                              "error": "ConnectionResetError: [Errno 104] reset"},
                             "watcher": {"ok": True}}
    runtime.loops.health("inbox:shop-a").worked(runtime.clock.now())
    assert api.call("GET", "/readyz", shop=None).json()["status"] == "ready"


def test_metrics_answer_while_the_database_is_away_and_say_so(api, monkeypatch) -> None:
    before = api.call("GET", "/metrics", shop=None)
    assert 'relance_up{component="database"} 1.0' in before.text
    break_database(api, monkeypatch)
    runtime = api.client.app.state.runtime
    runtime.loops.health("timers:shop-a").failed(ConnectionRefusedError(111, "refused"), runtime.clock.now())
    response = api.call("GET", "/metrics", shop=None, settle=False)
    assert response.status_code == 200
    assert 'relance_up{component="database"} 0.0' in response.text
    assert 'relance_loop_healthy{loop="timers:shop-a"} 0.0' in response.text


@pytest.mark.parametrize("error", [asyncpg.CannotConnectNowError("the database system is starting up"),
                                   ConnectionRefusedError(111, "Connect call failed")], ids=lambda e: type(e).__name__)
def test_a_request_that_meets_a_transient_fault_is_a_503_to_try_again(api, monkeypatch, error) -> None:
    async def accept(self, items, wait=False):  # type: ignore[no-untyped-def]
        raise error

    monkeypatch.setattr(Engine, "accept", accept)
    response = api.call("POST", "/v1/events", json={"id": "e1", "type": "page.viewed",
                                                    "contact": {"email": "a@x.test"}}, settle=False)
    assert (response.status_code, response.headers["content-type"]) == (503, "application/problem+json")
    assert response.headers["retry-after"] == "2" and "try again" in response.json()["detail"]


@pytest.mark.parametrize("error", [RuntimeError("a bug"), FileNotFoundError(2, "No such file"),
                                   asyncpg.UndefinedTableError('relation "relance_events" does not exist')],
                         ids=lambda e: type(e).__name__)
def test_a_bug_in_a_request_is_still_a_500(api, monkeypatch, error) -> None:
    async def accept(self, items, wait=False):  # type: ignore[no-untyped-def]
        raise error

    monkeypatch.setattr(Engine, "accept", accept)
    response = api.call("POST", "/v1/events", json={"id": "e1", "type": "page.viewed",
                                                    "contact": {"email": "a@x.test"}}, settle=False)
    assert response.status_code == 500 and "retry-after" not in response.headers
