"""The rules of a workspace: list with versions, validate a body without loading it, reload from disk.

Checking runs in the runtime's checker (server/rule_checks.py), a child process with a
time and memory budget: a hostile or huge rules file never holds the event loop.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse

from .problems import HttpProblem
from .requests import body_bytes, key_engine, runtime


async def list_rules(request: Request) -> JSONResponse:
    engine = await key_engine(request)
    rules = [{"id": r.id, "name": r.name, "version": r.version, "when": r.when, "mode": r.mode,
              "entry": r.entry.kind} for r in engine.workspace.rules.values()]
    return JSONResponse({"workspace": engine.workspace.name, "rules": rules})


async def validate_rules(request: Request) -> JSONResponse:
    """The body is a rules file (YAML): 200 when it has no problem, else 422 listing its problems as
    `relance check` does (a file refused unread, such as an alias bomb, names the line and column)."""
    await key_engine(request)
    body = await body_bytes(request)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.yaml"
        path.write_bytes(body)
        problems = await runtime(request).checker.check(path)
    found = [{**p.as_dict(), "path": "rules.yaml", "text": str(p).replace(str(path), "rules.yaml")} for p in problems]
    if found:
        raise HttpProblem(422, f"the rules have {len(found)} problem{'s' if len(found) > 1 else ''}; nothing was loaded",
                      ok=False, problems=found)
    return JSONResponse({"ok": True, "problems": []})


async def reload_rules(request: Request) -> JSONResponse:
    """Read the workspace's files again; with errors, 422 and the running rules stay."""
    engine = await key_engine(request)
    problems = await runtime(request).reload(engine.workspace.name)
    if problems:
        raise HttpProblem(422, "the rules have errors; the previous rules keep running",
                      problems=[{**p.as_dict(), "text": str(p)} for p in problems])
    return JSONResponse({"reloaded": True, "rules": len(engine.workspace.rules)})
