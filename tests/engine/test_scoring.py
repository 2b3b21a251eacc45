"""Scorers: events turned into points on `contact.score`, every scorer's points added up per event."""
from __future__ import annotations

from relance.dsl.graph import Workspace
from relance.engine.events import ContactRef, Event
from relance.engine.records import ContactRecord
from relance.engine.scoring import Scorer
from relance.plugins.registry import plugin_manager, scorers

from .conftest import T0, contact_record

WORKSPACE = """\
workspace: shop
channels: {chat: {plugin: log}}
templates: {ping: {chat: "ping"}}
scoring: {order.completed: +50, email.bounced: -10}
rules: []
"""


class BigSpender:
    """+100 for an order over 500."""

    name = "big-spender"

    def score(self, event: Event, contact: ContactRecord, workspace: Workspace) -> int:
        return 100 if event.type == "order.completed" and event.properties.get("total", 0) > 500 else 0


def test_the_built_in_scorer_gives_the_workspaces_points_per_event_type(compiled) -> None:
    workspace = compiled(WORKSPACE)
    [scorer] = scorers(plugin_manager(load_entry_points=False))
    assert isinstance(scorer.name, str) and callable(scorer.score)  # a Scorer

    def points(event_type: str, scorer: Scorer = scorer) -> int:
        return scorer.score(Event("e", event_type, T0, ContactRef(id=1), {}), contact_record(), workspace)

    assert [points(t) for t in ("order.completed", "email.bounced", "page.viewed")] == [50, -10, 0]


async def test_every_scorers_points_are_added_to_the_contact_once_per_event(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    shop.engine.scorers = (*shop.engine.scorers, BigSpender())
    await shop.event("order.completed", total=800)
    await shop.event("order.completed", total=20)
    await shop.event("page.viewed")
    assert [e.details for e in shop.kinds("score.changed")] == [{"value": 150, "score": 150},
                                                                 {"value": 50, "score": 200}]
    async with shop.engine.store.transaction() as tx:
        assert (await tx.get_contact(1)).score == 200  # type: ignore[union-attr]
