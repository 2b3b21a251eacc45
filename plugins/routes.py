"""What the server gives a plugin's HTTP routes (`RouteHost`), and how a route joins /openapi.json."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from starlette.requests import Request

from relance.dsl.graph import ChannelConfig
from relance.engine.channels import Channel
from relance.engine.engine import Accepted, Engine

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
OPENAPI_ATTRIBUTE = "relance_openapi"
PROBLEM = {"$ref": "#/components/schemas/Problem"}


class RouteHost(Protocol):
    """The running server, as the routes of a plugin see it (`relance_routes` receives one)."""

    @property
    def base_url(self) -> str:
        """The server's public URL, no trailing slash: the one providers were given for callbacks."""

    @property
    def channels(self) -> Mapping[str, Channel]:
        """The installed channel plugins, by plugin name (`channels["twilio_sms"]`)."""

    def engine(self, workspace: str) -> Engine:
        """The engine of a workspace, by name; raises a 404 problem when the server has none."""

    def channel_configs(self, workspace: str) -> Sequence[ChannelConfig]:
        """The channels a workspace's rules declare (their plugin, settings and traits)."""

    async def accept(self, engine: Engine, event: Mapping[str, Any], wait: bool = False) -> list[Accepted]:
        """An event, as POST /v1/events takes it, checked and accepted into the engine at its clock
        (`engine.accept([Received(parse_event(...))])`); `wait`: processed before this returns.
        Raises `relance.engine.events.EventError` naming the field that is wrong."""

    def problem(self, status: int, detail: str, pointer: str | None = None) -> Exception:
        """An error to raise: the answer becomes application/problem+json, as every other error of the server."""

    async def body(self, request: Request) -> bytes:
        """The request's body, decompressed, read no further than the server's limit (413 past it)."""


def documented(operations: Mapping[str, Any]) -> Callable[[Endpoint], Endpoint]:
    """An endpoint's OpenAPI operations by method (``{"post": {...}}``), for /openapi.json.

    A plugin route without them is listed with its docstring's first line as summary.
    """
    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, OPENAPI_ATTRIBUTE, dict(operations))
        return endpoint
    return mark
