"""The points scorer: the workspace's `scoring:` section, points per event type."""
from __future__ import annotations

from relance.dsl.graph import Workspace
from relance.engine.events import Event
from relance.engine.records import ContactRecord

from .. import hookimpl


class PointsScorer:
    name = "points"

    def score(self, event: Event, contact: ContactRecord, workspace: Workspace) -> int:
        return workspace.scoring.get(event.type, 0)


@hookimpl
def relance_scorers() -> list[PointsScorer]:
    return [PointsScorer()]
