"""Goals and exits on the events' own time, late triggers, and runs open for their goal after their last step."""
from __future__ import annotations

from datetime import timedelta

from .conftest import T0

CART = """\
workspace: shop
channels: {chat: {plugin: log}}
templates: {r1: {chat: "r1"}, r2: {chat: "r2"}, r3: {chat: "r3"}}
rules:
  - id: cart
    when: checkout.started
    goal: order.completed within 7d
    exit: contact.stopped == true
%s    steps: [wait 1d, send chat r1, wait 2d, send chat r2, wait 2d, send chat r3]
"""


FAST_CART = CART.replace("[wait 1d, send chat r1, wait 2d, send chat r2, wait 2d, send chat r3]",
                         "[wait 1m, send chat r1, wait 1m, send chat r2, wait 1m, send chat r3]")


async def test_an_order_stored_before_its_carts_late_webhook_ends_the_run_before_any_step(open_shop) -> None:
    """Issue 12 item 3: the order (later `at`) arrives first, the cart 5 minutes late, its reminders
    a minute apart: a conversion and nothing sent (it sent all three at once and ended `finished`)."""
    shop = await open_shop(FAST_CART % "", start=T0 + timedelta(days=3))
    now = shop.clock.now()
    await shop.event("order.completed", at=now - timedelta(minutes=1), id="order", revenue=80.5)
    await shop.event("checkout.started", at=now - timedelta(minutes=5), id="cart")
    await shop.wait(timedelta(days=8))
    assert shop.channel.sent == []
    [ended] = shop.kinds("run.ended", "cart")
    assert (ended.details["reason"], ended.details["revenue"]) == ("goal", 80.5)
    [run] = await shop.engine.store.runs("shop")
    assert (run.status, run.revenue) == ("goal", 80.5)


async def test_a_late_trigger_never_releases_several_messages_of_one_run_together(open_shop) -> None:
    """Issue 12 item 3: a cart webhook 10 days late: r1 at once, then each wait lasts from when the
    step before it actually ran, not from the cart's own time."""
    shop = await open_shop(CART % "", start=T0 + timedelta(days=10))
    late_by = timedelta(days=10)
    await shop.event("checkout.started", at=shop.clock.now() - late_by, id="cart")
    await shop.wait(timedelta(days=6))
    sent = [(effect.details["template"], effect.at) for effect in shop.kinds("message.sent", "cart")]
    arrived = T0 + timedelta(days=10)
    assert [template for template, _ in sent] == ["r1", "r2", "r3"]
    sent_at = {m.template: m.sent_at for m in await shop.engine.store.messages("shop")}
    assert sent_at["r1"] == arrived
    assert sent_at["r2"] == arrived + timedelta(days=2)
    assert sent_at["r3"] == arrived + timedelta(days=4)


async def test_late_skip_drops_a_send_overdue_by_more_than_its_limit(open_shop) -> None:
    shop = await open_shop(CART % "    late: skip after 12h\n", start=T0 + timedelta(days=10))
    await shop.event("checkout.started", at=shop.clock.now() - timedelta(days=10), id="cart")
    await shop.wait(timedelta(days=6))
    [skipped] = shop.kinds("message.skipped", "cart")
    assert skipped.details["template"] == "r1" and "late by" in skipped.details["reason"]
    assert [m.template for m in shop.channel.sent] == ["r2", "r3"]


async def test_a_late_trigger_in_a_rule_test(write, functions) -> None:
    """`arrives:` in a rule test: the event reaches the server after its own time."""
    from relance.engine.ruletests import check_tests, run_rule_test
    from relance.engine.simulation import simulate
    from relance.dsl import check_workspace
    from relance.plugins.registry import plugin_manager, store_for
    from .conftest import RecordingChannel

    rules = write(FAST_CART % "")
    workspace, problems = check_workspace([rules], functions)
    assert not problems
    tests = write("""\
        tests:
          - name: an order stored before its cart's late webhook
            contact: {email: alice@example.test}
            events:
              - {type: order.completed, at: "2026-03-05T10:00:00+00:00", properties: {revenue: 40}}
              - {type: checkout.started, at: "2026-03-05T09:55:00+00:00", arrives: 10m}
            until: 8d
            expect:
              - {kind: run.ended, rule: cart, reason: goal, revenue: 40}
            expect_not:
              - {kind: message.sent}
        """, "rules.test.yaml")
    [test], problems = check_tests(tests, workspace)
    assert not [p for p in problems if p.is_error], problems

    async def run(events, until, arrivals):  # type: ignore[no-untyped-def]
        store = store_for(plugin_manager(False), "sqlite://:memory:")
        return await simulate(workspace, store, events, {"log": RecordingChannel()}, (), until, arrivals)

    result = await run_rule_test(test, run)
    assert result.passed, [e.describe() for e in result.timeline]


async def test_an_order_after_the_last_reminder_within_the_goal_window_counts(open_shop) -> None:
    """Issue 12 item 4: the last reminder at D+5, the order at D+6, goal within 7d: a conversion with revenue."""
    shop = await open_shop(CART % "")
    await shop.event("checkout.started", id="cart")
    await shop.wait(timedelta(days=5, hours=1))
    [run] = await shop.engine.store.runs("shop")
    assert run.status == "converting" and [m.template for m in shop.channel.sent] == ["r1", "r2", "r3"]
    await shop.event("order.completed", at=T0 + timedelta(days=6), revenue=59.9)
    [run] = await shop.engine.store.runs("shop")
    assert (run.status, run.revenue) == ("goal", 59.9)


async def test_a_converting_run_ends_when_its_goal_window_closes(open_shop) -> None:
    shop = await open_shop(CART % "")
    await shop.event("checkout.started", id="cart")
    await shop.wait(timedelta(days=8))
    [run] = await shop.engine.store.runs("shop")
    assert (run.status, run.ended_at) == ("finished", T0 + timedelta(days=7))
    await shop.event("order.completed", revenue=10)  # after the window: not this run's conversion
    [run] = await shop.engine.store.runs("shop")
    assert run.status == "finished"


async def test_entering_again_while_converting_hands_the_goal_to_the_new_run(open_shop) -> None:
    shop = await open_shop(CART % "")
    await shop.event("checkout.started", id="cart-1")
    await shop.wait(timedelta(days=5, hours=1))
    await shop.event("checkout.started", id="cart-2")
    await shop.event("order.completed", revenue=30)
    first, second = await shop.engine.store.runs("shop")
    assert (first.status, first.revenue) == ("finished", None)
    assert (second.status, second.revenue) == ("goal", 30)


async def test_an_exit_ends_a_waiting_run_when_its_event_arrives(open_shop) -> None:
    """Issue 12 item 5: the profile change that meets the exit ends the run at once, not at its next step."""
    shop = await open_shop(CART % "")
    await shop.event("checkout.started", id="cart")
    await shop.wait(timedelta(hours=30))  # r1 sent, waiting two days for r2
    stop_at = shop.clock.now()
    await shop.event("profile.updated", contact={"email": "alice@example.test", "stopped": True})
    [run] = await shop.engine.store.runs("shop")
    assert (run.status, run.ended_at) == ("exited", stop_at)
    assert any(entry.get("why", "").startswith("exited: contact.stopped == true") for entry in run.trace)


async def test_a_goal_event_ends_a_waiting_run_when_it_arrives_and_the_trace_says_why(open_shop) -> None:
    shop = await open_shop(CART % "")
    await shop.event("checkout.started", id="cart")
    await shop.wait(timedelta(hours=30))
    await shop.event("order.completed", id="o-1", revenue=12)
    [run] = await shop.engine.store.runs("shop")
    assert run.status == "goal" and run.wake_at is None
    assert run.trace[-1]["why"] == "goal: order.completed within 7d (order.completed o-1)"
