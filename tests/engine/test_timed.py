"""Rules started by the clock: date triggers, yearly, `every … for segment`, time-based segments."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .conftest import T0

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
