"""The routes plugins add through `relance_routes`, and the host they are given: the runtime, seen from a route."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from relance.dsl.graph import ChannelConfig
from relance.engine.channels import Channel
from relance.engine.engine import Accepted, Engine
from relance.engine.events import parse_event
from relance.engine.inbox import Received
from relance.plugins.registry import PluginError

from .problems import HttpProblem
from .requests import body_bytes
from .runtime import Runtime


class RuntimeHost:
    """A `relance.plugins.routes.RouteHost` over the server's runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    @property
    def base_url(self) -> str:
        return self._runtime.settings.base_url().rstrip("/")

    @property
    def channels(self) -> Mapping[str, Channel]:
        return self._runtime.channels

    def engine(self, workspace: str) -> Engine:
        found = self._runtime.engines.get(workspace)
        if found is None:
            raise HttpProblem(404, f"no workspace '{workspace}'")
        return found

    def channel_configs(self, workspace: str) -> Sequence[ChannelConfig]:
        return list(self.engine(workspace).workspace.channels.values())

    async def accept(self, engine: Engine, event: Mapping[str, Any], wait: bool = False) -> list[Accepted]:
        parsed = parse_event(dict(event), now=engine.clock.now())
        return await engine.accept([Received(parsed, at_given="at" in event)], wait=wait)

    def problem(self, status: int, detail: str, pointer: str | None = None) -> Exception:
        return HttpProblem(status, detail, pointer=pointer)

    async def body(self, request: Request) -> bytes:
        return await body_bytes(request)


def plugin_routes(runtime: Runtime, served: Sequence[BaseRoute]) -> list[BaseRoute]:
    """Every route the plugins give, after the server's own `served`; a path and method served twice is an error."""
    taken = {(route.path, method) for route in served if isinstance(route, Route) for method in route.methods or ()}
    found: list[BaseRoute] = []
    for provided in runtime.manager.hook.relance_routes(host=RuntimeHost(runtime)):
        for route in provided:
            for method in (route.methods or ()) if isinstance(route, Route) else ():
                if (route.path, method) in taken:
                    raise PluginError(f"two routes answer {method} {route.path}: a plugin's and "
                                      "the server's or another plugin's")
                taken.add((route.path, method))
            found.append(route)
    return found
