"""A rule edited while contacts are inside it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from relance.dsl import check_workspace

from .conftest import T0

RULES = """\
workspace: shop
channels: {chat: {plugin: log}}
templates: {a: {chat: "a"}, b: {chat: "b"}, c: {chat: "c"}}
rules:
  - id: r
    when: checkout.started
    steps:
{steps}"""


def steps(*lines: str) -> str:
    return RULES.replace("{steps}", "".join(f"      - {line}\n" for line in lines))


async def test_runs_move_to_the_same_node_of_the_new_version(open_shop, write, functions) -> None:
    shop = await open_shop(steps("wait 1d", "send chat a"))
    await shop.event("checkout.started")
    edited, _ = check_workspace([write(steps("wait 1d", "send chat b"), "v2.yaml")], functions)
    shop.engine.reload(edited)
    await shop.wait(timedelta(days=2))
    assert [m.template for m in shop.channel.sent] == ["b"]
    [run] = await shop.engine.store.runs("shop")
    assert run.rule_version == edited.rules["r"].version
    assert any("rule edited: moved" in entry.get("why", "") for entry in run.trace)


async def test_runs_stay_on_their_version_when_their_node_is_gone(open_shop, write, functions) -> None:
    shop = await open_shop(steps("send chat a", "wait 1d", "wait 1d", "send chat c"))
    await shop.event("checkout.started")
    await shop.wait(timedelta(hours=30))  # inside the second wait, node r/steps/3 is next
    edited, _ = check_workspace([write(steps("send chat b"), "v2.yaml")], functions)
    shop.engine.reload(edited)
    await shop.wait(timedelta(days=2))
    assert [m.template for m in shop.channel.sent] == ["a", "c"]


async def test_a_run_does_not_move_to_a_node_that_now_holds_another_step(open_shop, write, functions) -> None:
    """Steps added at the top shift ids: the waiting run must not land on 'send a' again."""
    shop = await open_shop(steps("send chat a", "wait 1d", "send chat b"))
    await shop.event("checkout.started")
    edited, _ = check_workspace([write(steps("tag x", "tag y", "send chat a", "wait 1d", "send chat b"), "v2.yaml")],
                                functions)
    shop.engine.reload(edited)
    await shop.wait(timedelta(days=2))
    assert [m.template for m in shop.channel.sent] == ["a", "b"]


EDITED_ABOVE = steps("tag a", "tag b", "wait 30s", "send chat a", "wait 40s", "send chat b")
ORIGINAL = steps("wait 30s", "send chat a", "wait 40s", "send chat b")


async def sent_keys(shop) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(m.template, m.key.split(":", 1)[1]) for m in await shop.engine.store.messages("shop")]


async def test_a_restart_after_steps_are_inserted_above_never_sends_a_step_again(open_shop) -> None:
    """Issue 12 item 1: r1 sent, the server stops, two steps are inserted at the top, it starts again.

    The old version is read back from the database, so the run stays on it (the steps before its
    next node changed) instead of landing on 'send a' again under a new key.
    """
    shop = await open_shop(ORIGINAL)
    await shop.event("checkout.started")
    await shop.wait(timedelta(seconds=45))
    assert [m.template for m in shop.channel.sent] == ["a"]
    await shop.engine.store.close()
    restarted = await open_shop(EDITED_ABOVE, start=T0 + timedelta(seconds=50))
    await restarted.wait(timedelta(minutes=5))
    assert [m.template for m in restarted.channel.sent] == ["b"]
    assert await sent_keys(restarted) == [("a", "r/steps/1:1"), ("b", "r/steps/3:1")]
    [run] = await restarted.engine.store.runs("shop")
    assert run.status == "finished" and run.rule_version == shop.engine.workspace.rules["r"].version
    assert any("stays on version" in entry.get("why", "") for entry in run.trace)


@pytest.mark.parametrize("edit, moves", [
    (steps("wait 30s", "send chat a", "wait 40s", "send chat c"), True),    # the next step edited in place
    (steps("wait 30s", "send chat a", "wait 40s", "send chat b", "send chat c"), True),  # a step appended
    (steps("wait 30s", "send chat a", "wait 40s"), False),                  # the next step removed
    (steps("tag x", "wait 30s", "send chat a", "wait 40s", "send chat b"), False),  # a step inserted above
    (steps("wait 30s", "send chat c", "wait 40s", "send chat b"), False),   # a step taken already, edited
])
async def test_move_or_stay_is_the_same_after_a_restart_as_on_a_live_reload(open_shop, write, functions,
                                                                              edit: str, moves: bool) -> None:
    outcomes = []
    for restart in (False, True):
        shop = await open_shop(ORIGINAL)
        await shop.event("checkout.started", id=f"cart-{restart}")
        await shop.wait(timedelta(seconds=45))
        if restart:
            await shop.engine.store.close()
            shop = await open_shop(edit, start=shop.clock.now())
        else:
            edited, _ = check_workspace([write(edit, "v2.yaml")], functions)
            shop.engine.reload(edited)
        await shop.wait(timedelta(minutes=5))
        runs = [r for r in await shop.engine.store.runs("shop") if r.trigger_event["id"] == f"cart-{restart}"]
        [run] = runs
        outcomes.append((any("rule edited: moved" in e.get("why", "") for e in run.trace),
                         sorted(m.template for m in await shop.engine.store.messages("shop") if m.run_id == run.id)))
        await shop.engine.store.close()
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] is moves


async def test_a_process_with_older_rules_walks_a_newer_run_on_its_stored_version(open_shop) -> None:
    """Issue 12 item 2: a worker started with an older copy of the files meets a run the server pinned
    to the newer version: it walks it on the stored newer version, and never moves it back."""
    older = steps("wait 1d", "send chat a")
    newer = steps("wait 1d", "send chat b")
    shop = await open_shop(older)  # the older files were deployed first (a server publishes them at start)
    await shop.engine.publish()
    await shop.engine.store.close()
    server = await open_shop(newer)
    await server.event("checkout.started")
    [run] = await server.engine.store.runs("shop")
    assert run.rule_version == server.engine.workspace.rules["r"].version
    await server.engine.store.close()
    worker = await open_shop(older, start=T0 + timedelta(hours=1))  # a worker with the older copy
    await worker.wait(timedelta(days=2))
    assert [m.template for m in worker.channel.sent] == ["b"]
    [run] = await worker.engine.store.runs("shop")
    assert run.status == "finished" and run.rule_version == server.engine.workspace.rules["r"].version
    assert not any("rule edited" in e.get("why", "") for e in run.trace)


async def test_a_step_inserted_in_a_branch_above_the_run_keeps_it_on_its_version(open_shop, write, functions) -> None:
    """The same-steps-before check holds at every level of a nested node's path."""
    branch = 'if contact.email:\n          - wait 1d\n          - send chat a\n          - wait 1d\n          - send chat b'
    shop = await open_shop(steps(branch))
    await shop.event("checkout.started")
    await shop.wait(timedelta(hours=30))  # after a, waiting before b (node r/steps/0/if/3)
    inserted = 'if contact.email:\n          - send chat c\n          - wait 1d\n          - send chat a\n          - wait 1d\n          - send chat b'
    edited, problems = check_workspace([write(steps(inserted), "v2.yaml")], functions)
    assert not problems
    await shop.engine.store.close()
    restarted = await open_shop(steps(inserted), start=shop.clock.now())
    await restarted.wait(timedelta(days=2))
    assert [m.template for m in restarted.channel.sent] == ["b"]


async def test_a_process_that_follows_the_store_loads_the_rules_last_published(open_shop) -> None:
    """`relance worker` walks the rules the servers published, not the copy of the files it was given."""
    server = await open_shop(steps("wait 1d", "send chat b"))
    await server.engine.publish()
    await server.engine.store.close()
    worker = await open_shop(steps("wait 1d", "send chat a"))  # a stale copy: never published
    assert await worker.engine.follow()
    assert worker.engine.workspace.rules["r"].version == server.engine.workspace.rules["r"].version
    assert not await worker.engine.follow()  # nothing new published since
    await worker.event("checkout.started")
    await worker.wait(timedelta(days=2))
    assert [m.template for m in worker.channel.sent] == ["b"]
