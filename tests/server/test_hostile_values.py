"""Values no store keeps or no rule can use are refused at the door, by JSON pointer, item by item.

Each case puts one hostile value in the middle event of a batch, sent as raw JSON text (Python's
json would not write some of them), on SQLite and on PostgreSQL: that event is a 422 naming its
field, the two others are stored and processed, and the workspace reads and sends as before.
"""
from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from relance.engine.clock import VirtualClock
from relance.server.app import create_app
from relance.server.settings import Settings

from .conftest import NOW, SHOP
from .test_segment import basic

PROBLEM = "application/problem+json"
GOOD = '{{"id": "{id}", "type": "message.received", "contact": {{"email": "{id}@example.test", "first_name": "Léa"}}, ' \
       '"properties": {{"text": "je veux commander, où je paie ?"}}}}'
DEEP = '{"a": ' * 900 + "1" + "}" * 900


def bad_event(contact: str = '{"email": "bad@example.test"}', properties: str = "{}", extra: str = "") -> str:
    return f'{{"id": "bad", "type": "message.received", "contact": {contact}, "properties": {properties}{extra}}}'


HOSTILE = [  # (event as JSON text, pointer of the field at fault)
    (bad_event(properties='{"total": NaN}'), "/1/properties/total"),
    (bad_event(properties='{"total": Infinity}'), "/1/properties/total"),
    (bad_event(properties='{"total": -Infinity}'), "/1/properties/total"),
    (bad_event(properties='{"total": 1e400}'), "/1/properties/total"),
    (bad_event(properties='{"n": ' + "9" * 5000 + "}"), "/1/properties/n"),
    (bad_event(properties='{"items": [1, 2, ' + str(2 ** 64) + "]}"), "/1/properties/items/2"),
    (bad_event(contact='{"email": "bad@example.test", "first_name": "\\ud800"}'), "/1/contact/first_name"),
    (bad_event(properties='{"a/b": {"\\udc00": 1}}'), "/1/properties/a~1b/\udc00"),
    (bad_event(properties='{"k\\u0000": 1}'), "/1/properties/k\x00"),
    (bad_event(properties='{"text": "a\\u0000b"}'), "/1/properties/text"),
    (bad_event(properties=DEEP), "/1/properties" + "/a" * 31),
    (bad_event(extra=', "at": "0001-01-01T00:00:00+14:00"'), "/1/at"),
    (bad_event(extra=', "at": "9999-12-31T23:59:59-14:00"'), "/1/at"),
    (bad_event(extra=', "at": "1850-06-01T00:00:00Z"'), "/1/at"),
    (bad_event(contact=f'{{"id": {2 ** 70}}}'), "/1/contact/id"),
    (bad_event(contact=f'{{"id": {2 ** 63}}}'), "/1/contact/id"),
    (bad_event(contact='{"id": 0}'), "/1/contact/id"),
    (bad_event(contact='{"id": 4242}'), "/1/contact/id"),  # no such contact: not created
    # wrong types for every envelope field
    ('{"id": 5, "type": "a.b", "contact": {"email": "bad@example.test"}}', "/1/id"),
    ('{"id": "bad", "type": ["a"], "contact": {"email": "bad@example.test"}}', "/1/type"),
    (bad_event(extra=', "at": 5'), "/1/at"),
    (bad_event(contact='"x"'), "/1/contact"),
    (bad_event(properties="[1]"), "/1/properties"),
    (bad_event(contact='{"email": 5}'), "/1/contact/email"),
    (bad_event(contact='{"phone": ["+33600000000"]}'), "/1/contact/phone"),
    (bad_event(contact='{"email": "bad@example.test", "external_ids": []}'), "/1/contact/external_ids"),
    (bad_event(contact='{"email": "bad@example.test", "external_ids": {"shopify": {}}}'), "/1/contact/external_ids"),
    (bad_event(contact='{"email": "bad@example.test", "external_ids": {"shopify": true}}'), "/1/contact/external_ids"),
    (bad_event(contact='{"email": "bad@example.test", "timezone": 5}'), "/1/contact/timezone"),
    (bad_event(contact='{"email": "bad@example.test", "orders_count": "x"}'), "/1/contact/orders_count"),
    (bad_event(contact='{"email": "bad@example.test", "birthday": "0001-01-01T00:00:00+14:00"}'),
     "/1/contact/birthday"),
    (bad_event(contact='{"email": "bad@example.test", "notes": "' + "x" * 500_000 + '"}'), "/1/contact"),
    ("[]", "/1"),
]


@pytest.mark.parametrize("bad, pointer", HOSTILE, ids=[p for _, p in HOSTILE])
def test_one_hostile_value_is_refused_by_its_pointer_and_the_batch_goes_on(api_on, bad: str, pointer: str) -> None:
    body = f"[{GOOD.format(id='good-0')}, {bad}, {GOOD.format(id='good-2')}]".encode("utf-8", "surrogatepass")
    response = api_on.call("POST", "/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 207, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert (results[1]["problem"]["status"], results[1]["problem"]["pointer"]) == (422, pointer)
    runs = api_on.call("GET", "/v1/runs")
    assert runs.status_code == 200, runs.text
    assert len(runs.json()["runs"]) == 2
    sent = api_on.call("GET", "/v1/messages?status=sent").json()["messages"]
    assert sorted(m["body"] for m in sent) == ["Bonjour Léa", "Bonjour Léa"]
    found = api_on.call("GET", "/v1/contacts?email=bad@example.test").json()["contacts"]
    assert found == []  # nothing of the bad event was stored


@pytest.mark.parametrize("bad, pointer", HOSTILE[:12], ids=[p for _, p in HOSTILE[:12]])
def test_one_hostile_event_alone_is_a_422_problem(api_on, bad: str, pointer: str) -> None:
    response = api_on.call("POST", "/v1/events", content=bad.encode("utf-8", "surrogatepass"),
                           headers={"Content-Type": "application/json"})
    assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM), response.text
    assert response.json()["pointer"] == pointer.removeprefix("/1")


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"id": NaN', b"\xff\xfe"])
def test_a_body_the_parser_cannot_read_is_a_400_never_a_500(api, body: bytes) -> None:
    response = api.call("POST", "/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.headers["content-type"]) == (400, PROBLEM), response.text


SEGMENT_BAD = [  # (call, pointer): one malformed field each
    ({"context": "x"}, "/batch/1/context"),
    ({"context": {"traits": [1]}}, "/batch/1/context/traits"),
    ({"traits": ["a"]}, "/batch/1/traits"),
    ({"properties": "x"}, "/batch/1/properties"),
    ({"userId": {"a": 1}}, "/batch/1/userId"),
    ({"anonymousId": [1]}, "/batch/1/anonymousId"),
    ({"timestamp": 5}, "/batch/1/timestamp"),
    ({"timestamp": "0001-01-01T00:00:00+14:00"}, "/batch/1/timestamp"),
    ({"messageId": 5}, "/batch/1/messageId"),
    ({"type": 5}, "/batch/1/type"),
    ({"event": ["x"]}, "/batch/1/event"),
    ({"properties": {"revenue": float("nan")}}, "/batch/1/properties/revenue"),
    ({"context": {"traits": {"email": 5}}}, "/batch/1/context/traits/email"),
    ({"traits": {"totalSpent": "a lot"}}, "/batch/1/traits/totalSpent"),
]


@pytest.mark.parametrize("change, pointer", SEGMENT_BAD, ids=[p for _, p in SEGMENT_BAD])
def test_a_malformed_segment_call_is_refused_alone(api_on, change: dict, pointer: str) -> None:
    def call(n: int) -> dict:
        return {"type": "track", "messageId": f"s{n}", "userId": f"u{n}", "event": "Product Viewed",
                "properties": {"sku": "A"}}

    batch = {"batch": [call(0), {**call(1), **change}, call(2)]}
    response = api_on.call("POST", "/v1/batch", shop=None, content=json.dumps(batch).encode(),
                           headers={**basic(api_on.keys["shop-a"]), "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["pointer"], body["code"]) == (pointer, "invalid_request")
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted"]
    for n in (0, 2):
        assert len(api_on.call("GET", f"/v1/contacts?external_id=segment:u{n}").json()["contacts"]) == 1
    assert api_on.call("GET", "/v1/contacts?external_id=segment:u1").json()["contacts"] == []


async def test_concurrent_requests_with_one_hostile_value_are_answered_each_on_its_own(tmp_path, write, database) -> None:
    rules = write(SHOP.format(name="shop-a"), "shop-a/rules.yaml")
    app = create_app(Settings(rules=(str(rules),), database_url=database), clock=VirtualClock(NOW), run_scheduler=False)
    runtime = app.state.runtime
    await runtime.start(run_scheduler=False)
    try:
        key = await runtime.create_key("shop-a")
        bodies = [GOOD.format(id=f"good-{n}") for n in range(30)]
        bodies[13] = bad_event(properties='{"total": NaN}')
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relance.test") as client:
            answers = await asyncio.gather(*(client.post("/v1/events", content=body, headers=headers)
                                             for body in bodies))
            assert [a.status_code for a in answers] == [202] * 13 + [422] + [202] * 16
            await runtime.settle()
            sent = (await client.get("/v1/messages?status=sent", headers=headers)).json()["messages"]
            assert len(sent) == 29
    finally:
        await runtime.stop()
