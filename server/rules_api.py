"""The rules of a workspace: list with versions, validate a body without loading it, reload from disk."""
from __future__ import annotations

import tempfile
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse

from relance.dsl import check_workspace
from relance.plugins.registry import channels, function_registry

from .problems import Problem
from .requests import MAX_BODY, engine, runtime


async def list_rules(request: Request) -> JSONResponse:
    shop = await engine(request)
    rules = [{"id": r.id, "name": r.name, "version": r.version, "when": r.when, "mode": r.mode,
              "entry": r.entry.kind} for r in shop.workspace.rules.values()]
    return JSONResponse({"workspace": shop.workspace.name, "rules": rules})


async def validate_rules(request: Request) -> JSONResponse:
    """The body is a rules file (YAML); the answer lists its problems as `relance check` does."""
    await engine(request)
    body = await request.body()
    if len(body) > MAX_BODY:
        raise Problem(413, f"a rules file is at most {MAX_BODY:,} bytes")
    manager = runtime(request).manager
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.yaml"
        path.write_bytes(body)
        _, problems = check_workspace([path], function_registry(manager), channels(manager))
    found = [{**p.as_dict(), "path": "rules.yaml", "text": str(p).replace(str(path), "rules.yaml")} for p in problems]
    return JSONResponse({"ok": not found, "problems": found})


async def reload_rules(request: Request) -> JSONResponse:
    """Read the workspace's files again; with errors, 422 and the running rules stay."""
    shop = await engine(request)
    problems = runtime(request).reload(shop.workspace.name)
    if problems:
        raise Problem(422, "the rules have errors; the previous rules keep running",
                      problems=[{**p.as_dict(), "text": str(p)} for p in problems])
    return JSONResponse({"reloaded": True, "rules": len(shop.workspace.rules)})
