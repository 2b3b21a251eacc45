"""A rule edited while contacts are inside it."""
from __future__ import annotations

from datetime import timedelta

from relance.dsl import check_workspace

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
