"""Rules started by the clock: date triggers, yearly, `every … for segment`, time-based segments."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from .conftest import T0

FEBRUARY = datetime(2026, 2, 14, 12, 0, tzinfo=timezone.utc)

BASE = """\
workspace: shop
timezone: Europe/Paris
channels: {chat: {plugin: log}}
templates: {ping: {chat: "ping"}}
segments:
  dormant: days_since(contact.last_order_at) >= 90
rules:
"""


async def test_a_payment_reminder_three_days_before_the_due_date(open_shop) -> None:
    shop = await open_shop(BASE + "  - id: rappel\n    when: 3d before contact.next_payment_at at 10:00\n"
                                  "    steps: [send chat ping]\n")
    await shop.event("contact.updated", {"email": "a@x.test", "next_payment_at": "2026-03-10T00:00:00+01:00"})
    await shop.wait(timedelta(days=10))
    [sent] = shop.kinds("message.sent")
    assert sent.at == datetime(2026, 3, 7, 9, 0, tzinfo=timezone.utc)  # 10:00 in Paris, 3 days before


async def test_a_birthday_every_year_at_ten(open_shop) -> None:
    shop = await open_shop(BASE + "  - id: anniversaire\n    when: yearly on contact.birthday at 10:00\n"
                                  "    entry: always\n    steps: [send chat ping]\n")
    await shop.event("contact.updated", {"email": "a@x.test", "birthday": "1990-03-05"})
    await shop.wait(timedelta(days=6))
    [sent] = shop.kinds("message.sent")
    assert sent.at == datetime(2026, 3, 5, 9, 0, tzinfo=timezone.utc)


async def test_every_monday_for_a_segment_and_time_based_segments(open_shop) -> None:
    shop = await open_shop(BASE + "  - id: reactivation\n    when: every monday at 09:00 for segment dormant\n"
                                  "    entry: always\n    steps: [send chat ping]\n")
    long_ago = (T0 - timedelta(days=89)).isoformat()
    await shop.event("contact.updated", {"email": "old@x.test", "last_order_at": long_ago})
    await shop.event("contact.updated", {"email": "new@x.test", "last_order_at": T0.isoformat()})
    await shop.wait(timedelta(days=14))
    # old@ becomes dormant on 3 March (90 days); Mondays at 09:00 Paris are the 9th and the 16th.
    assert [(e.contact, e.at) for e in shop.kinds("message.sent")] == [
        ("old@x.test", datetime(2026, 3, 9, 8, 0, tzinfo=timezone.utc)),
        ("old@x.test", datetime(2026, 3, 16, 8, 0, tzinfo=timezone.utc)),
    ]
    assert [e.contact for e in shop.effects if e.kind == "run.started"] == ["old@x.test"] * 2


async def test_a_segment_blast_starts_each_run_once_and_a_failing_step_fails_only_its_run(open_shop) -> None:
    """Contacts due together start their runs and take their first steps together; one step that
    raises fails its own run only, the others of its group go on."""
    shop = await open_shop(BASE + "  - id: relance\n    when: every monday at 09:00 for segment dormant\n"
                                  "    steps:\n      - set x = round(1.5, contact.digits)\n"
                                  "      - send chat ping\n      - wait 7d\n      - send chat ping\n")
    long_ago = (T0 - timedelta(days=120)).isoformat()
    emails = [f"c{n}@x.test" for n in range(120)]
    for n, email in enumerate(emails):
        await shop.event("contact.updated", {"email": email, "last_order_at": long_ago,
                                             "digits": 0.5 if n == 70 else 0})
    await shop.wait(timedelta(days=8))  # Monday 9 March, 09:00 in Paris
    started = [e.contact for e in shop.kinds("run.started")]
    assert sorted(started) == sorted(emails)
    sent = [e for e in shop.kinds("message.sent")]
    assert sorted(e.contact for e in sent) == sorted(set(emails) - {"c70@x.test"})
    assert {e.at for e in sent} == {datetime(2026, 3, 9, 8, 0, tzinfo=timezone.utc)}
    runs = await shop.engine.store.runs("shop")
    assert sorted(r.status for r in runs) == ["failed"] + ["waiting"] * 119
    [failed] = [r for r in runs if r.status == "failed"]
    assert "relance/steps/0" in (failed.end_reason or "") and len(shop.channel.sent) == 119


async def test_a_timed_pass_goes_on_from_the_last_pass_of_any_process(open_shop) -> None:
    """Workers take turns at the minute's pass: one that never ran a pass goes on from the last
    pass of the others, it does not look a day back and start today's 09:00 an hour late."""
    from relance.engine.engine import Engine

    shop = await open_shop(BASE + "  - id: daily\n    when: every day at 09:00 for segment dormant\n"
                                  "    entry: always\n    steps: [send chat ping]\n")
    await shop.event("contact.updated", {"email": "old@x.test", "last_order_at": (T0 - timedelta(days=100)).isoformat()})
    await shop.wait(timedelta(hours=1))  # 11:00 in Paris: it entered the segment after today's 09:00
    other = Engine(shop.engine.workspace, shop.engine.store, shop.clock, {"chat": shop.channel})
    assert await other.run_timed() == 0
    assert await shop.engine.store.runs("shop") == []
    await shop.wait(timedelta(days=1))
    assert [e.at for e in shop.kinds("run.started")] == [datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc)]


async def test_time_alone_moves_a_contact_into_a_segment_without_any_timed_rule(open_shop) -> None:
    """The virtual clock runs the server's periodic pass (hourly) whenever a workspace has segments."""
    shop = await open_shop(BASE + "  - id: retour\n    when: segment.entered dormant\n    steps: [send chat ping]\n")
    await shop.event("contact.updated", {"email": "a@x.test",
                                         "last_order_at": (T0 - timedelta(days=89, hours=12)).isoformat()})
    await shop.wait(timedelta(days=1))
    assert [(e.kind, e.at) for e in shop.kinds("message.sent")] == [("message.sent", T0 + timedelta(hours=12))]


# ------------------------------------------- dates without a time are calendar days in a zone
def zoned(zone: str, steps: str) -> str:
    return BASE.replace("timezone: Europe/Paris", f"timezone: {zone}") + steps


@pytest.mark.parametrize("zone", ["America/New_York", "Pacific/Kiritimati"])  # more zones in test_dates.py
async def test_a_birthday_is_wished_on_its_day_in_the_workspace_zone(open_shop, zone: str) -> None:
    shop = await open_shop(zoned(zone, "  - id: anniversaire\n    when: yearly on contact.birthday at 10:00\n"
                                       "    entry: always\n    steps: [send chat ping]\n"), start=FEBRUARY)
    await shop.event("contact.updated", {"email": "a@x.test", "birthday": "1990-02-15"})
    await shop.wait(timedelta(days=2))
    [sent] = shop.kinds("message.sent")
    assert sent.at.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == datetime(2026, 2, 15, 10, 0)


async def test_a_birthday_is_in_the_contacts_own_zone_and_at_midnight_without_a_time(open_shop) -> None:
    shop = await open_shop(zoned("Europe/Paris", "  - id: anniversaire\n    when: yearly on contact.birthday\n"
                                                 "    entry: always\n    steps: [send chat ping]\n"), start=FEBRUARY)
    await shop.event("contact.updated", {"email": "ny@x.test", "birthday": "1990-02-15",
                                         "timezone": "America/New_York"})
    await shop.event("contact.updated", {"email": "paris@x.test", "birthday": "1990-02-15"})
    await shop.wait(timedelta(days=2))
    assert sorted((e.contact, e.at) for e in shop.kinds("message.sent")) == [
        ("ny@x.test", datetime(2026, 2, 15, 5, 0, tzinfo=timezone.utc)),     # midnight in New York
        ("paris@x.test", datetime(2026, 2, 14, 23, 0, tzinfo=timezone.utc)),  # midnight in Paris
    ]


async def test_a_date_trigger_counts_calendar_days_in_the_zone(open_shop) -> None:
    """Clocks went forward in New York on 8 March at 02:00: 3 days before the 11th is still the 8th."""
    shop = await open_shop(zoned("America/New_York", "  - id: rappel\n    when: 3d before contact.due_on at 10:00\n"
                                                     "    steps: [send chat ping]\n"), start=datetime(2026, 3, 7, 12, 0, tzinfo=timezone.utc))
    await shop.event("contact.updated", {"email": "a@x.test", "due_on": "2026-03-11"})
    await shop.wait(timedelta(days=2))
    [sent] = shop.kinds("message.sent")
    assert sent.at == datetime(2026, 3, 8, 14, 0, tzinfo=timezone.utc)  # 10:00 EDT


async def test_a_segment_on_a_day_enters_when_that_day_starts_in_the_zone(open_shop) -> None:
    shop = await open_shop(zoned("America/New_York", "  - id: echeance\n    when: segment.entered due\n"
                                                     "    steps: [send chat ping]\n")
                           .replace("  dormant: days_since(contact.last_order_at) >= 90",
                                    "  due: contact.due_on <= now\n  late: days_since(contact.due_on) >= 1"))
    evening = datetime(2026, 3, 3, 3, 0, tzinfo=timezone.utc)  # 2 March, 22:00 in New York
    await shop.event("contact.updated", {"email": "a@x.test", "due_on": "2026-03-03"}, at=evening)
    assert shop.kinds("run.started") == []
    await shop.wait(timedelta(hours=3))
    assert [e.at for e in shop.kinds("run.started")] == [evening + timedelta(hours=2)]  # the pass at midnight there
    async with shop.engine.store.transaction() as tx:
        [contact] = await tx.find_contacts("shop", [("email", "a@x.test")])
    assert contact.segments == ["due"]  # late: not a whole day in New York yet


async def test_a_date_off_the_calendar_skips_its_contact_and_the_pass_goes_on(open_shop) -> None:
    """0001-01-01T00:00:00+14:00 is in year 0 once in UTC, 9999-12-31 has no day after: no moment,
    and no error for the other contacts."""
    shop = await open_shop(zoned("America/New_York", "  - id: anniversaire\n    when: yearly on contact.birthday at 10:00\n"
                                                     "    entry: always\n    steps: [send chat ping]\n"
                                                     "  - id: rappel\n    when: 1d after contact.due_on\n"
                                                     "    steps: [send chat ping]\n"), start=FEBRUARY)
    for email, day in (("bad@x.test", "1990-02-15"), ("good@x.test", "2026-02-15"), ("late@x.test", "1990-02-15")):
        await shop.event("contact.updated", {"email": email, "birthday": day, "due_on": day})
    async with shop.engine.store.transaction() as tx:  # values stored before the door refused such values
        for email, day in (("bad@x.test", "0001-01-01T00:00:00+14:00"), ("late@x.test", "9999-12-31")):
            [contact] = await tx.find_contacts("shop", [("email", email)])
            contact.attributes.update(birthday=day, due_on=day)
            await tx.save_contact(contact)
    await shop.wait(timedelta(days=2))
    assert sorted((e.contact, e.rule) for e in shop.kinds("message.sent")) == [
        ("good@x.test", "anniversaire"), ("good@x.test", "rappel")]
