"""Engine parts: each reads its engine's current rules, store and clock, never a copy."""
from __future__ import annotations

from types import SimpleNamespace

from relance.engine.clock import VirtualClock
from relance.engine.engine import Engine
from relance.engine.parts import EnginePart

from .conftest import T0

RULES = """\
workspace: shop
channels: {chat: {plugin: log}}
templates: {ping: {chat: "ping"}}
rules:
  - id: RULE
    when: checkout.started
    steps: [send chat ping]
"""


def test_a_part_reads_what_its_engine_has_now(compiled) -> None:
    engine = SimpleNamespace(workspace=compiled(RULES.replace("RULE", "a")), store="store", clock=VirtualClock(T0))
    part = EnginePart(engine)  # type: ignore[arg-type]
    assert (part.workspace, part.store, part.clock) == (engine.workspace, "store", engine.clock)
    engine.workspace, engine.store = compiled(RULES.replace("RULE", "b")), "another store"
    assert (list(part.workspace.rules), part.store) == (["b"], "another store")


def test_every_part_of_an_engine_follows_a_reload(compiled) -> None:
    engine = Engine(compiled(RULES.replace("RULE", "a")), SimpleNamespace(), VirtualClock(T0), {})  # type: ignore[arg-type]
    parts = [engine.intake, engine.admission, engine.endings, engine.stepping, engine.timed]
    assert all(isinstance(part, EnginePart) and part.engine is engine for part in parts)
    engine.reload(compiled(RULES.replace("RULE", "b")))
    assert [list(part.workspace.rules) for part in parts] == [["b"]] * len(parts)
