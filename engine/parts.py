"""What the engine's parts (intake, admission, endings, stepping, timed passes) share: the engine."""
from __future__ import annotations

from typing import TYPE_CHECKING

from relance.dsl import graph as g

from .clock import Clock
from .store import Store

if TYPE_CHECKING:
    from .engine import Engine


class EnginePart:
    """One job of a workspace's engine; reads the engine's current rules, store and clock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def workspace(self) -> g.Workspace:
        return self.engine.workspace

    @property
    def store(self) -> Store:
        return self.engine.store

    @property
    def clock(self) -> Clock:
        return self.engine.clock
