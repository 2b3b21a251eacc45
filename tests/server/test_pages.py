"""Lists page in the database: a page of 100,000 rows reads a page, and the cursors walk them all once."""
from __future__ import annotations

import pytest

from relance.plugins.builtins import tortoise_models as m
from relance.plugins.builtins import tortoise_pages

from .conftest import NOW

ROWS = 100_000


async def _fill(workspace: str) -> None:
    """ROWS messages, ROWS // 10 runs and tasks, for one contact of `workspace`; a message of another workspace."""
    for start in range(0, ROWS, 20_000):
        await m.Message.bulk_create([m.Message(
            workspace=workspace, key=f"{workspace}:{n}", contact_id=1, run_id=n, rule_id="panier" if n % 2 else "chaud",
            node_id="panier/steps/1", channel="email", template="rappel", body="b", created_at=NOW,
            status="sent" if n % 3 else "failed") for n in range(start, start + 20_000)])
    await m.Run.bulk_create([m.Run(
        workspace=workspace, contact_id=1, rule_id="panier" if n % 2 else "chaud", rule_version="v",
        status="goal" if n % 10 == 0 else "finished", started_at=NOW, step_at=NOW, trigger_event={},
        revenue=2.5 if n % 10 == 0 else None) for n in range(ROWS // 10)])
    await m.Task.bulk_create([m.Task(workspace=workspace, contact_id=1, title=f"t{n}", status="open", created_at=NOW)
                              for n in range(ROWS // 10)])
    await m.Message.create(workspace="shop-b", key="shop-b:1", contact_id=2, rule_id="x", node_id="x", channel="email",
                           template="t", body="b", created_at=NOW, status="sent")


@pytest.mark.slow
def test_lists_of_a_hundred_thousand_rows_read_a_page_and_stats_count_in_the_database(
        api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14 item 7: `GET /v1/messages?limit=1` loaded every message and sliced (1.27 s at 23,000)."""
    api.client.portal.call(_fill, "shop-a")
    read = []
    original = tortoise_pages._record
    monkeypatch.setattr(tortoise_pages, "_record", lambda cls, row: read.append(row) or original(cls, row))
    page = api.call("GET", "/v1/messages?limit=1", settle=False).json()
    assert [msg["key"] for msg in page["messages"]] == [f"shop-a:{ROWS - 1}"]
    assert page["before"] == page["messages"][0]["id"] and page["after"] == page["messages"][0]["id"]
    assert len(read) <= 2  # the page, and the one row that says there is more
    read.clear()
    runs = api.call("GET", "/v1/runs?rule=chaud&limit=50", settle=False).json()["runs"]
    assert len(runs) == 50 and {r["rule_id"] for r in runs} == {"chaud"} and len(read) <= 51

    read.clear()
    stats = api.call("GET", "/v1/stats", settle=False).json()["rules"]
    assert read == []  # no row read into Python: counted by the database
    assert stats["panier"]["runs"] == {"finished": ROWS // 20}
    assert stats["chaud"]["runs"] == {"goal": ROWS // 100, "finished": ROWS // 20 - ROWS // 100}
    assert (stats["chaud"]["conversions"], stats["chaud"]["revenue"]) == (ROWS // 100, ROWS // 100 * 2.5)
    assert sum(stats["panier"]["messages"].values()) + sum(stats["chaud"]["messages"].values()) == ROWS

    forward, after = [], 0
    while True:
        page = api.call("GET", f"/v1/tasks?limit=1000&after={after}", settle=False).json()
        forward += [t["id"] for t in page["tasks"]]
        if not page["more_after"]:
            break
        after = page["after"]
    assert forward == sorted(set(forward)) and len(forward) == ROWS // 10
    back, before = [], None
    while True:
        query = "/v1/messages?status=failed&limit=1000" + (f"&before={before}" if before else "")
        page = api.call("GET", query, settle=False).json()
        assert all(msg["status"] == "failed" for msg in page["messages"])
        back = [msg["id"] for msg in page["messages"]] + back
        if page["before"] is None:
            break
        before = page["before"]
    assert back == sorted(set(back)) and len(back) == len(range(0, ROWS, 3))
    assert [msg["key"] for msg in api.call("GET", "/v1/messages", shop="shop-b", settle=False).json()["messages"]] \
        == ["shop-b:1"]


@pytest.mark.parametrize("query, pointer", [("before=x", "/query/before"), ("after=-1", "/query/after"),
                                            ("before=3&after=2", "/query/after")])
def test_bad_cursors_are_400s_naming_them(api, query: str, pointer: str) -> None:
    answer = api.call("GET", f"/v1/messages?{query}", settle=False)
    assert answer.status_code == 400 and answer.json()["pointer"] == pointer


def test_a_segments_members_come_a_bounded_scan_at_a_time(api, monkeypatch: pytest.MonkeyPatch) -> None:
    from relance.server import resources

    async def fill() -> None:
        await m.Contact.bulk_create([m.Contact(workspace="shop-a", email=f"c{n}@example.test", created_at=NOW,
                                               segments=["acheteurs"] if n % 7 == 0 else []) for n in range(60)])
    api.client.portal.call(fill)
    monkeypatch.setattr(resources, "SEGMENT_SCAN", 10)
    members, after, calls = [], 0, 0
    while after is not None:
        page = api.call("GET", f"/v1/contacts?segment=acheteurs&limit=100&after={after}", settle=False).json()
        members += [c["email"] for c in page["contacts"]]
        after, calls = page["after"], calls + 1
    assert members == [f"c{n}@example.test" for n in range(0, 60, 7)] and calls >= 6
