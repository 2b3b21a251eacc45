"""What a scorer is: events turned into points on `contact.score`."""
from __future__ import annotations

from typing import Protocol

from relance.dsl.graph import Workspace

from .events import Event
from .records import ContactRecord


class Scorer(Protocol):
    name: str

    def score(self, event: Event, contact: ContactRecord, workspace: Workspace) -> int:
        """Points this event adds (or removes) for this contact; no I/O."""
