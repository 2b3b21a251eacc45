"""Runs on the virtual clock: statements, blocks, waits, goals, exits and entry limits; then each
transition of engine/runs.py alone."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import asyncio

import pytest

from relance.engine import runs
from relance.engine.records import RunRecord
from relance.plugins.builtins.tortoise_store import TortoiseStore

from .conftest import T0

CHANNELS = """\
workspace: shop
timezone: Europe/Paris
channels: {email: {plugin: log}, chat: {plugin: log}}
templates:
  hello: {email: {subject: "Bonjour {{ contact.first_name }}", body: "Panier {{ event.cart.total }} {{ params.code }}"}}
  ping: {chat: "ping"}
"""


def rule(steps: str, extra: str = "", when: str = "checkout.started") -> str:
    """A workspace with one rule; `steps` has one step a line, nested lines indented under theirs."""
    indented = "".join(f"      {line}\n" if line.startswith(" ") else f"      - {line}\n"
                       for line in steps.strip("\n").splitlines())
    return CHANNELS + f"rules:\n  - id: r\n    when: {when}\n{extra}    steps:\n{indented}"


async def test_send_queues_a_rendered_message_and_delivers_it_once(open_shop) -> None:
    shop = await open_shop(rule('send email hello with code = "X1"'))
    await shop.event("checkout.started", {"email": "alice@example.test", "first_name": "Alice"}, cart={"total": 80})
    [message] = shop.channel.sent
    assert (message.subject, message.body, message.email) == ("Bonjour Alice", "Panier 80 X1", "alice@example.test")
    [stored] = await shop.engine.store.messages("shop")
    assert (stored.status, stored.key) == ("sent", message.key)
    assert await shop.engine.dispatch() == 0  # nothing left to send


async def test_set_score_tag_untag_task(open_shop) -> None:
    shop = await open_shop(rule('set stage = "relance", total = event.cart.total * 2\nscore +7\ntag hot\ntag vip\n'
                                'untag hot\ntask "Appeler" due 1d'))
    await shop.event("checkout.started", cart={"total": 40})
    async with shop.engine.store.transaction() as tx:
        [contact] = await tx.find_contacts("shop", [("email", "alice@example.test")])
    assert (contact.attributes["stage"], contact.attributes["total"]) == ("relance", 80)
    assert (contact.score, contact.tags) == (7, ["vip"])
    [task] = await shop.engine.store.tasks("shop")
    assert (task.title, task.due_at) == ("Appeler", T0 + timedelta(days=1))


async def test_wait_fires_exactly_on_time_not_before(open_shop) -> None:
    shop = await open_shop(rule("wait 3d\nsend chat ping"))
    await shop.event("checkout.started")
    await shop.wait(timedelta(days=3) - timedelta(seconds=1))
    assert shop.channel.sent == []
    await shop.wait(timedelta(seconds=1))
    assert [e.at for e in shop.kinds("message.sent")] == [T0 + timedelta(days=3)]


async def test_wait_until_a_time_in_the_contacts_timezone(open_shop) -> None:
    shop = await open_shop(rule("wait until 09:00\nsend chat ping"))
    await shop.event("checkout.started", {"email": "a@x.test", "timezone": "America/New_York"})
    await shop.wait(timedelta(days=2))
    [sent] = shop.kinds("message.sent")
    assert sent.at == datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)  # 09:00 in New York


async def test_wait_until_event_resumes_with_waited_true(open_shop) -> None:
    shop = await open_shop(rule("wait until email.opened within 24h\nif waited:\n    - tag opened\n  else:\n"
                                "    - send chat ping"))
    await shop.event("checkout.started")
    await shop.event("email.opened", at=T0 + timedelta(hours=5))
    await shop.wait(timedelta(days=2))
    assert [e.details for e in shop.kinds("tag.added")] == [{"value": "opened"}]
    assert shop.channel.sent == []


async def test_wait_until_event_times_out_with_waited_false(open_shop) -> None:
    shop = await open_shop(rule("wait until email.opened within 24h\nif not waited:\n    - send chat ping"))
    await shop.event("checkout.started")
    await shop.event("email.opened", at=T0 + timedelta(hours=25))  # too late
    await shop.wait(timedelta(days=2))
    assert [e.at for e in shop.kinds("message.sent")] == [T0 + timedelta(hours=24)]
    [run] = await shop.engine.store.runs("shop")
    assert any("not waited" in entry.get("why", "") for entry in run.trace)


async def test_if_elif_else_takes_the_first_true_branch_and_the_trace_says_why(open_shop) -> None:
    shop = await open_shop(rule("if event.cart.total > 100:\n    - tag big\n  elif event.cart.total > 50:\n"
                                "    - tag medium\n  else:\n    - tag small"))
    await shop.event("checkout.started", cart={"total": 80})
    assert [e.details["value"] for e in shop.kinds("tag.added")] == ["medium"]
    [run] = await shop.engine.store.runs("shop")
    assert {"node": "r/steps/0", "why": "elif event.cart.total > 50: true"}.items() <= run.trace[1].items()


async def test_split_is_deterministic_and_follows_the_weights(open_shop) -> None:
    shop = await open_shop(rule("split:\n    a 50%: [tag a]\n    b 40%: [tag b]\n    control 10%: []",
                                extra="    entry: always\n"))
    for i in range(400):
        await shop.event("checkout.started", {"email": f"c{i}@x.test"})
    counts = {name: 0 for name in ("a", "b", "control")}
    for effect in shop.kinds("split.assigned"):
        counts[effect.details["value"]] += 1
    assert 160 <= counts["a"] <= 240 and 120 <= counts["b"] <= 200 and 15 <= counts["control"] <= 65
    await shop.event("checkout.started", {"email": "c7@x.test"})  # the same contact again
    first, again = [e.details["value"] for e in shop.kinds("split.assigned") if e.contact == "c7@x.test"]
    assert first == again


async def test_stop_ends_the_run(open_shop) -> None:
    shop = await open_shop(rule("stop"))
    await shop.event("checkout.started")
    assert [e.details["reason"] for e in shop.kinds("run.ended")] == ["stopped"]


async def test_start_runs_another_rule_for_the_same_contact(open_shop) -> None:
    text = rule("start other") + "  - id: other\n    when: never.happens\n    steps: [tag started]\n"
    shop = await open_shop(text)
    await shop.event("checkout.started")
    assert [(e.rule, e.details["value"]) for e in shop.kinds("tag.added")] == [("other", "started")]


async def test_goal_ends_the_run_with_the_revenue_of_the_goal_event(open_shop) -> None:
    shop = await open_shop(rule("wait 1d\nsend chat ping\nwait 2d\nsend chat ping",
                                extra="    goal: order.completed within 7d\n"))
    await shop.event("checkout.started")
    await shop.wait(timedelta(days=1, hours=1))
    await shop.event("order.completed", revenue=59.9)
    await shop.wait(timedelta(days=5))
    assert len(shop.channel.sent) == 1
    [ended] = shop.kinds("run.ended")
    assert ended.details == {"reason": "goal", "event": "order.completed", "revenue": 59.9}


async def test_goal_is_judged_on_the_events_own_time(open_shop) -> None:
    """An order placed before the reminder was due stops it, though the webhook came after."""
    shop = await open_shop(rule("wait 1d\nsend chat ping", extra="    goal: order.completed within 7d\n"))
    await shop.event("checkout.started")
    shop.clock.advance(timedelta(days=1, minutes=10))  # the scheduler lags: the reminder is due, not yet run
    await shop.engine.ingest(shop.make_event("order.completed", at=T0 + timedelta(hours=23), revenue=10))
    await shop.engine.run_due()
    assert shop.channel.sent == []
    assert shop.kinds("run.ended")[0].details["reason"] == "goal"


async def test_exit_on_a_contact_condition(open_shop) -> None:
    shop = await open_shop(rule("wait 1d\nsend chat ping", extra="    exit: if contact.unsubscribed\n"))
    await shop.event("checkout.started")
    await shop.event("contact.unsubscribed", at=T0 + timedelta(hours=2))
    await shop.wait(timedelta(days=2))
    assert shop.channel.sent == []
    assert shop.kinds("run.ended")[0].details["reason"] == "exited"


async def test_entry_default_is_one_active_run_at_a_time(open_shop) -> None:
    shop = await open_shop(rule("wait 1d"))
    await shop.event("checkout.started")
    await shop.event("checkout.started", at=T0 + timedelta(hours=1))
    assert len(shop.kinds("run.started")) == 1
    await shop.wait(timedelta(days=1))
    await shop.event("checkout.started")
    assert len(shop.kinds("run.started")) == 2


async def test_entry_once(open_shop) -> None:
    shop = await open_shop(rule("tag x", extra="    entry: once\n"))
    for day in range(3):
        await shop.event("checkout.started", at=T0 + timedelta(days=day))
    assert len(shop.kinds("run.started")) == 1


async def test_entry_after_a_duration(open_shop) -> None:
    shop = await open_shop(rule("tag x", extra="    entry: after 30d\n"))
    for day in (0, 10, 29, 30, 45, 61):
        await shop.event("checkout.started", at=T0 + timedelta(days=day))
    assert [(e.at - T0).days for e in shop.kinds("run.started")] == [0, 30, 61]


async def test_entry_always_runs_side_by_side(open_shop) -> None:
    shop = await open_shop(rule("wait 1d\nsend chat ping", extra="    entry: always\n"))
    await shop.event("checkout.started")
    await shop.event("checkout.started")
    await shop.wait(timedelta(days=2))
    assert len(shop.channel.sent) == 2


async def test_a_repeated_event_changes_nothing(open_shop) -> None:
    shop = await open_shop(rule("send chat ping", extra="    entry: always\n"))
    first = await shop.event("checkout.started", id="same")
    again = await shop.event("checkout.started", id="same")
    assert (first.duplicate, again.duplicate) == (False, True)
    assert len(shop.channel.sent) == 1


async def test_assist_mode_keeps_drafts_and_advise_only_records(open_shop) -> None:
    shop = await open_shop(rule("send chat ping", extra="    mode: assist\n")
                           + "  - id: r2\n    when: checkout.started\n    mode: advise\n    steps: [send chat ping]\n")
    await shop.event("checkout.started")
    assert shop.channel.sent == []
    statuses = sorted((m.rule_id, m.status) for m in await shop.engine.store.messages("shop"))
    assert statuses == [("r", "draft"), ("r2", "advised")]


async def test_a_restart_in_the_middle_of_a_three_day_wait(open_shop) -> None:
    text = rule("wait 1d\nsend chat ping\nwait 3d\nsend email hello")
    shop = await open_shop(text)
    await shop.event("checkout.started", cart={"total": 5})
    await shop.wait(timedelta(days=2))
    await shop.engine.store.close()  # the process stops, 1 day into the 3-day wait

    restarted = await open_shop(text, start=T0 + timedelta(days=2, hours=5))
    await restarted.wait(timedelta(days=5))
    assert [m.template for m in restarted.channel.sent] == ["hello"]
    messages = await restarted.engine.store.messages("shop")
    assert sorted(m.template for m in messages) == ["hello", "ping"]
    assert [e.at for e in restarted.kinds("message.sent")] == [T0 + timedelta(days=4)]


async def test_killed_between_outbox_commit_and_dispatch_sends_exactly_once(open_shop) -> None:
    text = rule("send chat ping")
    shop = await open_shop(text)

    async def die() -> int:
        raise SystemExit("killed")  # the process dies right after the step committed

    shop.engine.dispatch = die  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        await shop.engine.ingest(shop.make_event("checkout.started"))
    assert shop.channel.sent == []
    assert [m.status for m in await shop.engine.store.messages("shop")] == ["pending"]
    await shop.engine.store.close()

    restarted = await open_shop(text)
    await restarted.engine.recover()
    assert await restarted.engine.dispatch() == 1
    assert await restarted.engine.dispatch() == 0
    assert len(restarted.channel.sent) == 1


async def test_a_message_claimed_by_a_dead_process_is_sent_again_with_the_same_key(open_shop) -> None:
    text = rule("send chat ping")
    shop = await open_shop(text)
    shop.engine.dispatch = _noop  # type: ignore[method-assign]
    await shop.engine.ingest(shop.make_event("checkout.started"))
    [message] = await shop.engine.store.messages("shop")
    async with shop.engine.store.transaction() as tx:
        message.status = "sending"  # claimed, then the process died before recording the result
        await tx.save_message(message)
    await shop.engine.store.close()
    restarted = await open_shop(text)
    assert await restarted.engine.recover() == 1
    await restarted.engine.dispatch()
    assert [m.key for m in restarted.channel.sent] == [message.key]


async def _noop() -> int:
    return 0


async def test_store_reopens_without_losing_schema(tmp_path) -> None:
    store = TortoiseStore(f"sqlite://{tmp_path / 'x.sqlite3'}")
    await store.open()
    await store.close()
    await store.open()
    assert await store.runs("nobody") == []
    await store.close()


async def test_events_out_of_order_a_goal_stored_before_its_run_started(open_shop) -> None:
    """The order webhook came before the (late) cart webhook: the reminder still never goes out."""
    shop = await open_shop(rule("wait 1d\nsend chat ping", extra="    goal: order.completed within 7d\n"))
    await shop.event("order.completed", at=T0 + timedelta(hours=23), revenue=30)
    await shop.engine.ingest(shop.make_event("checkout.started", at=T0))  # arrives late, happened first
    await shop.wait(timedelta(days=3))
    assert shop.channel.sent == []
    [ended] = shop.kinds("run.ended")
    assert (ended.at, ended.details["reason"], ended.details["event"]) == (T0 + timedelta(hours=23), "goal",
                                                                           "order.completed")


async def test_concurrent_dispatches_send_each_message_once(open_shop) -> None:
    shop = await open_shop(rule("send chat ping", extra="    entry: always\n"))
    shop.engine.dispatch = _noop  # type: ignore[method-assign]  # queue without sending
    for _ in range(20):
        await shop.engine.ingest(shop.make_event("checkout.started"))
    del shop.engine.dispatch  # back to the real one
    await asyncio.gather(*(shop.engine.dispatch() for _ in range(4)))
    assert len(shop.channel.sent) == 20
    assert len({m.key for m in shop.channel.sent}) == 20


async def test_a_failing_step_fails_its_run_and_holds_back_no_one_else(open_shop) -> None:
    """A step that raises (here round() with 1.5 digits) must not block every other due run."""
    shop = await open_shop(rule("wait 1h\nset x = round(event.total, event.digits)\nsend chat ping",
                                extra="    entry: always\n"))
    await shop.event("checkout.started", {"email": "bob@x.test"}, total=3.14159, digits=1.5)
    await shop.event("checkout.started", {"email": "alice@x.test"}, at=T0 + timedelta(minutes=1), total=2, digits=1)
    await shop.wait(timedelta(hours=3))
    assert [m.email for m in shop.channel.sent] == ["alice@x.test"]
    failed = [r for r in await shop.engine.store.runs("shop") if r.status == "failed"]
    assert len(failed) == 1 and "r/steps/1" in (failed[0].end_reason or "")


async def test_steps_taken_together_keep_those_before_a_failing_one(open_shop) -> None:
    """Steps without a wait between them share a transaction; when one fails, the steps before
    it still count (sent once, tagged) and the run fails on the step that raised."""
    shop = await open_shop(rule("send chat ping\ntag first\nset x = round(event.total, event.digits)\nsend chat ping"))
    await shop.event("checkout.started", {"email": "bob@x.test"}, total=3.14159, digits=1.5)
    assert [m.body for m in shop.channel.sent] == ["ping"]
    [run] = await shop.engine.store.runs("shop")
    assert run.status == "failed" and "r/steps/2" in (run.end_reason or "")
    assert [e["node"] for e in run.trace if e.get("node")] == ["r/steps/0", "r/steps/1", "r/steps/2"]
    async with shop.engine.store.transaction() as tx:
        contact = await tx.get_contact(run.contact_id)
    assert contact is not None and contact.tags == ["first"]


async def test_a_run_whose_rule_version_is_gone_is_cancelled_not_stuck(open_shop, write, functions) -> None:
    from relance.dsl import check_workspace
    from relance.engine.versions import Versions

    text = rule("send chat ping\nwait 1d\nwait 1d\nsend chat ping")
    shop = await open_shop(text)
    await shop.event("checkout.started")
    await shop.engine.store.close()
    edited, _ = check_workspace([write(rule("send chat ping"), "v2.yaml")], functions)
    restarted = await open_shop(text, start=T0 + timedelta(hours=1))
    restarted.engine.versions = Versions("shop")  # a version neither loaded here nor stored in the database
    restarted.engine.reload(edited)
    await restarted.wait(timedelta(days=3))
    [run] = await restarted.engine.store.runs("shop")
    assert (run.status, run.end_reason) == ("cancelled", "rule version gone")


async def test_a_goal_of_the_triggers_own_type_is_not_met_by_the_trigger(open_shop) -> None:
    shop = await open_shop(rule("wait 1d\nsend chat ping", when="order.completed",
                                extra="    goal: order.completed within 30d\n"))
    await shop.event("order.completed", revenue=50)
    await shop.wait(timedelta(days=31))  # the steps are done after a day; the goal's window closes at 30 days
    assert len(shop.channel.sent) == 1 and shop.kinds("run.ended")[0].details["reason"] == "finished"


async def test_a_channel_that_raises_fails_the_message_instead_of_stranding_it(open_shop) -> None:
    shop = await open_shop(rule("send chat ping"))

    async def broken(message):  # type: ignore[no-untyped-def]
        raise ConnectionError("provider down")

    shop.channel.send = broken  # type: ignore[method-assign]
    await shop.event("checkout.started")
    [message] = await shop.engine.store.messages("shop")
    assert message.status == "failed" and "provider down" in (message.error or "")


async def test_a_dispatch_given_a_deadline_claims_no_group_after_it(open_shop) -> None:
    """A worker's dispatch job stops claiming groups at its deadline (arq would cancel it in the
    middle of a send at its timeout): the group in hand is sent and recorded, the rest waits."""
    from relance.engine.channels import DeliveryResult, OutboundMessage
    from relance.engine.clock import VirtualClock
    from relance.engine.outbox import Dispatcher
    from relance.engine.records import ContactRecord, MessageRecord

    shop = await open_shop(rule("send chat ping"))
    store = shop.engine.store
    async with store.transaction() as tx:
        contact = await tx.create_contact(ContactRecord(0, "shop", T0, email="a@x.test"))
        for n in range(120):
            await tx.insert_message(MessageRecord("shop", f"k{n}", contact.id, None, "r", "r/steps/0", "chat", "ping",
                                                  None, "ping", T0))
    clock = VirtualClock(T0)

    class SlowChannel:
        name = "log"

        async def send(self, message: OutboundMessage) -> DeliveryResult:
            clock.set(clock.now() + timedelta(seconds=1))
            return DeliveryResult("delivered")

    dispatcher = Dispatcher(store, clock, {"log": SlowChannel()})
    assert await dispatcher.dispatch(shop.engine.workspace, until=T0 + timedelta(seconds=30)) == 50
    assert len(await store.messages("shop", "sent")) == 50 and len(await store.messages("shop", "pending")) == 70
    assert await dispatcher.dispatch(shop.engine.workspace) == 70


# ------------------------------------------------ transitions (engine/runs.py), no store
WAITING_RULE = rule("wait until email.opened within 24h\nsend chat ping", extra="    goal: order.completed within 7d\n")
WAIT_NODE, SEND_NODE = "r/steps/0", "r/steps/1"


def started_run(compiled) -> tuple[Any, RunRecord]:
    """The rule of WAITING_RULE and a run of it just started at T0."""
    rule_ = compiled(WAITING_RULE).rules["r"]
    return rule_, runs.new_run("shop", rule_, 7, T0, {"id": "e1", "type": "checkout.started"}, "started by e1")


def test_a_new_run_is_at_its_rules_first_node_due_now(compiled) -> None:
    rule_, run = started_run(compiled)
    assert (run.status, run.node_id, run.wake_at, run.step_at, run.version) == ("active", WAIT_NODE, T0, T0, 1)
    assert (run.rule_version, run.contact_id, run.trigger_event["id"]) == (rule_.version, 7, "e1")
    assert run.trace == [{"at": T0.isoformat(), "node": None, "why": "started by e1"}]


def test_advance_moves_to_the_target_due_at_once(compiled) -> None:
    _, run = started_run(compiled)
    later = T0 + timedelta(hours=1)
    runs.advance(run, later, SEND_NODE)
    assert (run.status, run.node_id, run.wake_at, run.version, len(run.trace)) == ("active", SEND_NODE, later, 2, 1)


def test_suspend_until_a_time_goes_on_at_the_next_node(compiled) -> None:
    _, run = started_run(compiled)
    runs.suspend(run, T0 + timedelta(days=1), SEND_NODE)
    assert (run.status, run.node_id, run.wake_at, run.waiting_for, run.version) == (
        "waiting", SEND_NODE, T0 + timedelta(days=1), None, 2)


def test_suspend_for_an_event_stays_on_its_node(compiled) -> None:
    _, run = started_run(compiled)
    run.waited = True  # from an earlier wait
    runs.suspend(run, T0 + timedelta(days=1), None, waiting_for="email.opened")
    assert (run.status, run.node_id, run.waiting_for, run.waited, run.version) == (
        "waiting", WAIT_NODE, "email.opened", None, 2)


def test_resume_goes_on_after_the_wait_waited_true(compiled) -> None:
    rule_, run = started_run(compiled)
    runs.suspend(run, T0 + timedelta(days=1), None, waiting_for="email.opened")
    opened = T0 + timedelta(hours=5)
    runs.resume(run, rule_.nodes[WAIT_NODE], opened, "email.opened at 14:00")
    assert (run.status, run.node_id, run.waited, run.waiting_for, run.step_at, run.wake_at, run.version) == (
        "active", SEND_NODE, True, None, opened, opened, 3)
    assert run.trace[-1] == {"at": opened.isoformat(), "node": WAIT_NODE, "why": "waited: email.opened at 14:00"}


def test_resume_by_an_event_older_than_the_step_keeps_the_steps_time(compiled) -> None:
    rule_, run = started_run(compiled)
    run.step_at = T0 + timedelta(hours=2)
    runs.resume(run, rule_.nodes[WAIT_NODE], T0 + timedelta(hours=1), "late")
    assert (run.step_at, run.wake_at) == (T0 + timedelta(hours=2), T0 + timedelta(hours=2))


def test_time_out_goes_on_after_the_wait_waited_false_at_the_wake_time(compiled) -> None:
    rule_, run = started_run(compiled)
    until = T0 + timedelta(days=1)
    runs.suspend(run, until, None, waiting_for="email.opened")
    runs.time_out(run, rule_.nodes[WAIT_NODE])
    assert (run.status, run.node_id, run.waited, run.waiting_for, run.step_at, run.version) == (
        "active", SEND_NODE, False, None, until, 3)
    assert run.trace[-1]["why"] == f"not waited: no email.opened by {until.isoformat()}"


def test_wake_makes_a_waiting_run_active_at_its_due_time(compiled) -> None:
    _, run = started_run(compiled)
    runs.suspend(run, T0 + timedelta(days=1), SEND_NODE)
    runs.wake(run)
    assert (run.status, run.node_id, run.step_at, run.version) == ("active", SEND_NODE, T0 + timedelta(days=1), 3)


def test_done_with_an_open_goal_window_converts_until_it_closes(compiled) -> None:
    _, run = started_run(compiled)
    closes = T0 + timedelta(days=7)
    assert runs.done(run, T0 + timedelta(days=1), closes) is True
    assert (run.status, run.node_id, run.wake_at, run.version, run.ended_at) == ("converting", None, closes, 2, None)
    assert run.trace[-1]["why"] == f"steps done: open for its goal until {closes.isoformat()}"


@pytest.mark.parametrize("closes", [None, T0 + timedelta(hours=1)])
def test_done_without_an_open_goal_window_finishes(compiled, closes) -> None:
    _, run = started_run(compiled)
    assert runs.done(run, T0 + timedelta(hours=1), closes) is False
    assert (run.status, run.end_reason, run.ended_at, run.wake_at, run.node_id, run.version) == (
        "finished", "finished", T0 + timedelta(hours=1), None, None, 2)


def test_end_for_a_goal_keeps_its_revenue_and_clears_the_wait(compiled) -> None:
    _, run = started_run(compiled)
    runs.suspend(run, T0 + timedelta(days=1), None, waiting_for="email.opened")
    runs.end(run, T0 + timedelta(hours=3), "goal", "goal: order.completed", revenue=42.5)
    assert (run.status, run.end_reason, run.revenue, run.wake_at, run.waiting_for, run.version) == (
        "goal", "goal", 42.5, None, None, 3)
    assert run.trace[-1] == {"at": (T0 + timedelta(hours=3)).isoformat(), "node": WAIT_NODE,
                             "why": "goal: order.completed"}


def test_end_for_another_reason_keeps_no_revenue_and_no_trace_without_why(compiled) -> None:
    _, run = started_run(compiled)
    runs.end(run, T0, "exited", revenue=10.0)
    assert (run.status, run.revenue, len(run.trace), run.version) == ("exited", None, 1, 2)


def test_cancel_and_fail_end_with_their_status_and_reason(compiled) -> None:
    _, cancelled = started_run(compiled)
    runs.cancel(cancelled, T0, "contact gone")
    assert (cancelled.status, cancelled.end_reason, cancelled.version) == ("cancelled", "contact gone", 2)
    _, failed = started_run(compiled)
    failed.step_at = T0 + timedelta(minutes=5)
    runs.fail(failed, "step r/steps/1 failed: boom")
    assert (failed.status, failed.end_reason, failed.ended_at, failed.trace[-1]["why"]) == (
        "failed", "step r/steps/1 failed: boom", T0 + timedelta(minutes=5), "step r/steps/1 failed: boom")


def test_move_version_changes_the_version_and_says_so_once(compiled) -> None:
    rule_, run = started_run(compiled)
    runs.move_version(run, "v2")
    assert (run.rule_version, run.node_id, run.version) == ("v2", WAIT_NODE, 2)
    assert run.trace[-1]["why"] == f"rule edited: moved from version {rule_.version} to v2"


def test_stay_on_version_is_traced_once_per_newer_version_and_is_no_transition(compiled) -> None:
    rule_, run = started_run(compiled)
    for _ in range(2):
        runs.stay_on_version(run, "v2", "has no step there")
    runs.stay_on_version(run, "v3", "has no step there")
    assert [e.get("version") for e in run.trace] == [None, "v2", "v3"]
    assert (run.rule_version, run.version) == (rule_.version, 1)
