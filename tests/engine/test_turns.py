"""Messages released together under a frequency cap: judged in turn, by priority then age, none starved."""
from __future__ import annotations

import asyncio
import itertools
import random
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relance.dsl import check_workspace
from relance.engine.outbox import Dispatcher
from relance.engine.events import parse_event
from relance.engine.records import ContactRecord, MessageRecord
from relance.engine.simulation import Simulation
from relance.plugins.registry import plugin_manager, store_for

from .conftest import T0, RecordingChannel

PARIS = timezone(timedelta(hours=1))  # Europe/Paris in March before the change to summer time
SMS_FAN = {"email": "alice@example.test", "phone": "+33600000001"}


def shop_with(policy: str, rules: list[tuple[str, str, str]]) -> str:
    """A workspace with `policy` and rules given as (id, trigger, extra keys such as 'priority: high')."""
    text = f"""\
workspace: shop
timezone: Europe/Paris
channels: {{email: {{plugin: log}}, sms: {{plugin: log}}}}
templates:
  t: {{email: {{subject: "T", body: "t"}}, sms: "t"}}
policy:
{policy}
rules:
"""
    for rule_id, trigger, extra in rules:
        channel = "sms" if "sms" in rule_id else "email"
        text += (f"  - id: {rule_id}\n    when: {trigger}\n    entry: always\n"
                 + (f"    {extra}\n" if extra else "") + f"    steps: [send {channel} t]\n")
    return text


async def outcomes(shop) -> list[tuple[str, str, datetime | None, str | None]]:
    """(rule, status, when it was sent in Paris time, why not) of every message, in the order queued."""
    return [(m.rule_id, m.status, m.sent_at.astimezone(PARIS) if m.sent_at else None, m.error)
            for m in await shop.engine.store.messages("shop")]


async def test_two_sms_released_together_by_quiet_hours_one_goes_the_cap_skips_the_other(open_shop) -> None:
    shop = await open_shop(shop_with('  quiet_hours: {sms: "21:00-09:00"}\n'
                                     "  frequency: {sms: {max: 1, per: 24h, over: skip}}",
                                     [("sms-cart", "checkout.started", ""), ("sms-browse", "product.viewed", "")]))
    await shop.event("contact.subscribed", SMS_FAN, channel="sms")
    await shop.event("checkout.started", SMS_FAN, at=datetime(2026, 3, 2, 22, 0, tzinfo=PARIS))
    await shop.event("product.viewed", SMS_FAN, at=datetime(2026, 3, 2, 22, 30, tzinfo=PARIS))
    await shop.wait(timedelta(days=10))
    nine = datetime(2026, 3, 3, 9, 0, tzinfo=PARIS)
    assert await outcomes(shop) == [("sms-cart", "sent", nine, None),
                                    ("sms-browse", "skipped", None, "frequency cap reached (1 message per 1d on sms)")]
    assert [m.rule_id for m in shop.channel.sent] == ["sms-cart"]
    assert [(e.rule, e.kind, e.at) for e in shop.effects if e.kind in ("message.sent", "message.skipped")
            and e.at >= nine] == [("sms-cart", "message.sent", nine), ("sms-browse", "message.skipped", nine)]


async def test_three_emails_deferred_by_the_cap_go_one_a_day_none_left_pending(open_shop) -> None:
    rules = [(f"mail-{n}", "checkout.started", "") for n in range(3)]
    shop = await open_shop(shop_with("  frequency: {email: {max: 1, per: 24h}}", rules))
    await shop.event("checkout.started")
    await shop.wait(timedelta(days=10))
    start = T0.astimezone(PARIS)
    assert await outcomes(shop) == [(f"mail-{n}", "sent", start + timedelta(days=n), None) for n in range(3)]
    assert [(e.rule, e.at) for e in shop.kinds("message.sent")] == [("mail-0", T0), ("mail-1", T0 + timedelta(days=1)),
                                                                     ("mail-2", T0 + timedelta(days=2))]


async def test_the_step_says_a_message_waits_its_turn_behind_one_due_now(open_shop) -> None:
    rules = [(f"mail-{n}", "checkout.started", "") for n in range(2)]
    shop = await open_shop(shop_with("  frequency: {email: {max: 1, per: 24h, over: skip}}", rules))
    await shop.event("checkout.started")
    second = (await shop.engine.store.runs("shop"))[1]
    assert second.trace[-1]["why"] == ("message 2:mail-1/steps/0:1 pending: waits its turn after 1 earlier message "
                                       "due now (frequency cap reached (1 message per 1d on email)), "
                                       "until 2026-03-02T09:00:00+00:00")
    assert [(m.rule_id, m.status) for m in await shop.engine.store.messages("shop")] == [
        ("mail-0", "sent"), ("mail-1", "skipped")]


NEWSLETTER_THEN_CART = [("newsletter", "newsletter.scheduled", "priority: low"),
                        ("cart", "checkout.started", "priority: high")]


async def test_a_cart_reminder_goes_before_the_newsletter_released_with_it(open_shop) -> None:
    shop = await open_shop(shop_with('  quiet_hours: {email: "21:00-09:00"}\n'
                                     "  frequency: {email: {max: 1, per: 24h, over: skip}}", NEWSLETTER_THEN_CART))
    await shop.event("newsletter.scheduled", at=datetime(2026, 3, 2, 21, 30, tzinfo=PARIS))
    await shop.event("checkout.started", at=datetime(2026, 3, 2, 23, 0, tzinfo=PARIS))
    await shop.wait(timedelta(days=10))
    assert await outcomes(shop) == [
        ("newsletter", "skipped", None, "frequency cap reached (1 message per 1d on email)"),
        ("cart", "sent", datetime(2026, 3, 3, 9, 0, tzinfo=PARIS), None)]


async def test_a_newsletter_deferred_by_the_cart_reminder_goes_the_next_day(open_shop) -> None:
    shop = await open_shop(shop_with("  frequency: {email: {max: 1, per: 24h}}", [
        ("newsletter", "checkout.started", "priority: low"), ("cart", "checkout.started", "priority: high")]))
    await shop.event("checkout.started")  # both rules at once: the newsletter, first in the file, queued first
    await shop.wait(timedelta(days=10))
    start = T0.astimezone(PARIS)
    assert await outcomes(shop) == [("newsletter", "sent", start + timedelta(days=1), None),
                                    ("cart", "sent", start, None)]


PRIORITY = {"high": 10, "normal": 0, "low": -10, "5": 5, "-3": -3}
releases = st.lists(st.tuples(st.sampled_from(sorted(PRIORITY)), st.integers(0, 719)), min_size=2, max_size=7)
examples = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=releases, cap=st.integers(1, 3), over=st.sampled_from(["defer", "skip"]))
def test_messages_released_together_take_the_slots_in_turn(database, write, functions, rules, cap, over) -> None:
    """Rules (priority, minutes after 21:00 their event comes) each queue one email in the quiet
    hours; all are released at 09:00 under a cap of `cap` a day: exactly `cap` go each day, highest
    priority first, then oldest; over: skip keeps the first `cap` and skips the rest; none waits forever."""
    name = f"shop{next(examples)}"
    text = shop_with('  quiet_hours: {email: "21:00-09:00"}\n'
                     f"  frequency: {{email: {{max: {cap}, per: 24h, over: {over}}}}}",
                     [(f"r{k}", f"signal.r{k}", f"priority: {priority}") for k, (priority, _) in enumerate(rules)])
    workspace, problems = check_workspace([write(text.replace("workspace: shop", f"workspace: {name}"))], functions)
    assert problems == []
    evening = datetime(2026, 3, 2, 21, 0, tzinfo=PARIS)
    statuses, sent = asyncio.run(_release(workspace, database, evening, [
        (f"signal.r{k}", evening + timedelta(minutes=minute)) for k, (_, minute) in enumerate(rules)]))
    turns = sorted(range(len(rules)), key=lambda k: (-PRIORITY[rules[k][0]], rules[k][1], k))
    nine = datetime(2026, 3, 3, 9, 0, tzinfo=PARIS)
    if over == "defer":
        expected = {f"r{k}": ("sent", nine + timedelta(days=place // cap)) for place, k in enumerate(turns)}
    else:
        expected = {f"r{k}": ("sent", nine) if place < cap else ("skipped", None) for place, k in enumerate(turns)}
    assert statuses == expected
    assert sent == [(expected[f"r{k}"][1], f"r{k}") for k in turns if expected[f"r{k}"][0] == "sent"]


async def _release(workspace, database: str, start: datetime,
                   events: list[tuple[str, datetime]]) -> tuple[dict[str, tuple[str, datetime | None]], list]:
    """Each event at its time, then ten days: each rule's message (status, sent at) and what the channel got."""
    store = store_for(plugin_manager(load_entry_points=False), database)
    await store.open()
    try:
        channel = RecordingChannel()
        simulation = Simulation(workspace, store, start, {"log": channel})
        for n, (type_, at) in sorted(enumerate(events), key=lambda item: (item[1][1], item[0])):
            await simulation.advance_to(at)
            await simulation.engine.ingest(parse_event({"id": f"e{n}", "type": type_, "at": at.isoformat(),
                                                        "contact": {"email": "alice@example.test"}}))
        await simulation.advance_to(start + timedelta(days=10))
        messages = await store.messages(workspace.name)
    finally:
        await store.close()
    statuses = {m.rule_id: (m.status, m.sent_at.astimezone(PARIS) if m.sent_at else None) for m in messages}
    return statuses, [(m.at.astimezone(PARIS), m.rule_id) for m in channel.sent]


async def test_dispatchers_at_once_give_each_contact_the_one_message_its_cap_allows(open_shop) -> None:
    """Eight dispatchers (as in eight workers) claim at once the due messages of 150 contacts, four
    each, queued in rounds (a contact's messages are spread among the others'): under max 1 a
    day each contact gets exactly one, its highest-priority one (the oldest of those). Without
    the contact's lock held while its messages are judged, two of them go, or claims deadlock."""
    shop = await open_shop(shop_with("  frequency: {email: {max: 1, per: 24h, over: skip}}",
                                     [("mail", "checkout.started", "")]))
    store, draw = shop.engine.store, random.Random(18)
    async with store.transaction() as tx:
        contacts = [await tx.create_contact(ContactRecord(0, "shop", T0, email=f"c{n}@example.test"))
                    for n in range(150)]
        for n in range(4):
            for contact in contacts:
                await tx.insert_message(MessageRecord("shop", f"{contact.id}:{n}", contact.id, None, "mail",
                                                      "mail/steps/0", "email", "t", "T", "t", T0,
                                                      priority=draw.randint(-2, 2)))
    queued = await store.messages("shop")
    channel = RecordingChannel()
    dispatchers = [Dispatcher(store, shop.clock, {"log": channel}) for _ in range(8)]
    await asyncio.gather(*(dispatcher.dispatch(shop.engine.workspace) for dispatcher in dispatchers))
    first = {}
    for message in sorted(queued, key=lambda m: (-m.priority, m.id)):
        first.setdefault(message.contact_id, message.key)
    assert sorted(m.key for m in channel.sent) == sorted(first.values())
    assert sorted((m.key, m.status) for m in await store.messages("shop")) == sorted(
        (m.key, "sent" if m.key in first.values() else "skipped") for m in queued)


async def test_a_claim_locks_the_contacts_it_claims_and_no_others(open_shop) -> None:
    """A claim tries contacts' locks oldest first until it holds `limit` of them: a contact it does not
    claim stays free for steps and other dispatchers (PostgreSQL; SQLite has no such locks)."""
    shop = await open_shop(shop_with("  frequency: {email: {max: 1, per: 24h}}", [("mail", "checkout.started", "")]))
    store = shop.engine.store
    async with store.transaction() as tx:
        for n in range(120):
            contact = await tx.create_contact(ContactRecord(0, "shop", T0, email=f"c{n}@example.test"))
            await tx.insert_message(MessageRecord("shop", f"k{n}", contact.id, None, "mail", "mail/steps/0", "email",
                                                  "t", "T", "t", T0))
    async with store.transaction() as tx:
        claimed = await tx.claim_due_messages("shop", T0, 50)
        assert [m.key for m in claimed] == [f"k{n}" for n in range(50)]
        if tx.locking:
            _, [row] = await tx.db.execute_query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                                 "AND pid = pg_backend_pid()")
            assert row[0] == 50


async def test_a_dispatch_goes_on_past_contacts_held_elsewhere(open_shop, database: str) -> None:
    """The oldest due messages are those of ten contacts whose locks another process holds (PostgreSQL):
    each claim takes the free contacts it finds among the oldest, and the dispatch goes on after
    a short group until every free contact's message is sent."""
    shop = await open_shop(shop_with("  frequency: {email: {max: 50, per: 24h}}", [("mail", "checkout.started", "")]))
    store = shop.engine.store
    async with store.transaction() as tx:
        contacts = [await tx.create_contact(ContactRecord(0, "shop", T0, email=f"c{n}@example.test"))
                    for n in range(110)]
        busy, free = contacts[:10], contacts[10:]
        for contact in busy:
            for n in range(48):
                await tx.insert_message(MessageRecord("shop", f"{contact.id}:{n}", contact.id, None, "mail",
                                                      "mail/steps/0", "email", "t", "T", "t", T0))
        for contact in free:
            await tx.insert_message(MessageRecord("shop", f"{contact.id}:0", contact.id, None, "mail", "mail/steps/0",
                                                  "email", "t", "T", "t", T0))
    locked, done = asyncio.Event(), asyncio.Event()

    async def hold() -> None:  # another connection, as another process's step
        async with store.transaction() as tx:
            await tx.lock_contacts([contact.id for contact in busy])
            locked.set()
            await done.wait()

    postgres = database.startswith("postgres")  # SQLite has one writer at a time and no such locks
    holder = asyncio.create_task(hold()) if postgres else None
    if holder is not None:
        await asyncio.wait_for(locked.wait(), 10)
    channel = RecordingChannel()
    await Dispatcher(store, shop.clock, {"log": channel}).dispatch(shop.engine.workspace)
    done.set()
    if holder is not None:
        await holder
    assert {m.contact_id for m in channel.sent} == {contact.id for contact in (free if postgres else contacts)}
