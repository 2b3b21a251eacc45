"""What steps keep: `set` and `send … with` values in the store, read back as the same kind of value."""
from __future__ import annotations

from datetime import timedelta

from .conftest import T0

SHOP = """\
workspace: shop
timezone: America/New_York
channels: {chat: {plugin: log}}
templates: {ping: {chat: "relance {{ params.delay }} à {{ params.when }}"}}
rules:
  - id: r
    when: checkout.started
    steps:
      - set delay = 24h, last = now, due = contact.next_payment_at - 3d, soon = contact.next_payment_at - 36h
      - set total = event.cart.total * 2, seen = [now, 90m], same = contact.delay
      - wait 2h
      - if now - contact.last >= 2h and contact.delay == 24h and contact.due == "2026-03-07" and contact.due < now + 6d and contact.soon > now:
          - tag kept
          - send chat ping with delay = contact.delay + 1h, when = contact.last + contact.delay
"""


async def test_set_keeps_dates_and_durations_and_reads_them_back_as_such(open_shop) -> None:
    shop = await open_shop(SHOP)
    await shop.event("checkout.started", {"email": "a@x.test", "next_payment_at": "2026-03-10"}, cart={"total": 40})
    await shop.wait(timedelta(hours=3))
    async with shop.engine.store.transaction() as tx:
        [contact] = await tx.find_contacts("shop", [("email", "a@x.test")])
    assert {k: contact.attributes[k] for k in ("delay", "last", "due", "soon", "total", "seen", "same")} == {
        "delay": "P1D", "last": T0.isoformat(), "due": "2026-03-07", "soon": "2026-03-08T12:00:00-04:00",
        "total": 80, "seen": [T0.isoformat(), "PT1H30M"], "same": "P1D",
    }
    assert contact.tags == ["kept"]
    [run] = await shop.engine.store.runs("shop")
    assert run.status == "finished", run.end_reason
    [message] = await shop.engine.store.messages("shop")
    assert message.params == {"delay": "P1DT1H", "when": (T0 + timedelta(days=1)).isoformat()}
    assert message.body == f"relance P1DT1H à {(T0 + timedelta(days=1)).isoformat()}"
