"""Every effect the engine writes is in timeline.KINDS with its details: what rule tests may expect."""
from __future__ import annotations

import ast
from pathlib import Path

from relance.engine.timeline import KINDS

ENGINE = Path(__file__).resolve().parents[2] / "engine"


def written_effects() -> list[tuple[str, str, set[str]]]:
    """(where, kind, detail keys) of each effect written with a literal kind in engine/*.py."""
    found = []
    for path in sorted(ENGINE.glob("*.py")):
        for call in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(call, ast.Call):
                continue
            name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            if name == "effect" and call.args:
                kind, keys = call.args[0], {k.arg for k in call.keywords if k.arg not in (None, "at")}
            elif name == "Effect" and len(call.args) >= 4:
                kind = call.args[3]
                details = call.args[4] if len(call.args) > 4 else None
                keys = {k.value for k in details.keys if isinstance(k, ast.Constant)} \
                    if isinstance(details, ast.Dict) else set()
            else:
                continue
            if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
                found.append((f"{path.name}:{call.lineno}", kind.value, keys))
    return found


def test_every_effect_written_is_a_known_kind_with_known_details() -> None:
    effects = written_effects()
    assert len(effects) > 15  # the walker, the engine and the dispatcher write them
    unknown = [(where, kind, keys - set(KINDS.get(kind, ()))) for where, kind, keys in effects
               if kind not in KINDS or not keys <= set(KINDS[kind])]
    assert unknown == []
