"""Goals and exits in runs: an event exit ends the run when the event comes, a condition before a step."""
from __future__ import annotations

from datetime import timedelta

import pytest

from .conftest import T0
from .test_runs import rule


@pytest.mark.parametrize("extra", ["    exit: event contact.upgraded\n", "    exit: [event contact.upgraded]\n",
                                   "    goal: contact.upgraded within 7d\n"])
async def test_an_event_ending_ends_the_run_when_the_event_comes(open_shop, extra: str) -> None:
    shop = await open_shop(rule("wait 1d\nsend chat ping", extra=extra))
    await shop.event("checkout.started")
    await shop.event("contact.upgraded", at=T0 + timedelta(hours=2))
    await shop.wait(timedelta(days=2))
    assert shop.channel.sent == []
    [ended] = shop.kinds("run.ended")
    assert (ended.at, ended.details["event"]) == (T0 + timedelta(hours=2), "contact.upgraded")
    assert ended.details["reason"] == ("goal" if "goal" in extra else "exited")


async def test_a_condition_ending_ends_the_run_when_an_event_makes_it_true(open_shop) -> None:
    """Checked before every step, and as soon as an event changes the contact (issue 12 item 5)."""
    shop = await open_shop(rule("wait 1d\nsend chat ping", extra="    exit: if contact.plan == 'pro'\n"))
    await shop.event("checkout.started")
    await shop.event("contact.upgraded", {"email": "alice@example.test", "plan": "pro"}, at=T0 + timedelta(hours=2))
    await shop.wait(timedelta(days=2))
    assert shop.channel.sent == []
    [ended] = shop.kinds("run.ended")
    assert (ended.at, ended.details) == (T0 + timedelta(hours=2), {
        "reason": "exited", "event": "contact.upgraded", "condition": "if contact.plan == 'pro'"})


async def test_a_condition_ending_true_from_the_start_ends_the_run_before_its_first_step(open_shop) -> None:
    shop = await open_shop(rule("send chat ping", extra="    exit: if contact.plan == 'pro'\n"))
    await shop.event("checkout.started", {"email": "alice@example.test", "plan": "pro"})
    assert shop.channel.sent == []
    [ended] = shop.kinds("run.ended")
    assert (ended.at, ended.details) == (T0, {"reason": "exited", "condition": "if contact.plan == 'pro'"})
