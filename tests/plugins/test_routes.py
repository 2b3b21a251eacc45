"""A plugin's HTTP routes come in through `relance_routes`, with the host the server gives them."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from relance.engine.clock import VirtualClock
from relance.plugins import hookimpl
from relance.plugins.registry import PluginError, plugin_manager
from relance.plugins.routes import RouteHost
from relance.server.app import create_app
from relance.server.settings import Settings

from ..server.conftest import NOW

RULES = """\
workspace: shop
channels: {email: {plugin: log, address: email}}
rules:
  - id: merci
    when: ping.received
    steps: [tag pinged]
"""


class Ping:
    """A plugin whose route turns a POSTed address into a ping.received event."""

    @hookimpl
    def relance_routes(self, host: RouteHost) -> list[Route]:
        async def ping(request: Request) -> JSONResponse:
            """A ping from a partner, as an event."""
            shop = host.engine(request.path_params["workspace"])
            email = (await host.body(request)).decode()
            if "@" not in email:
                raise host.problem(422, "the body is an email address", pointer="/")
            [accepted] = await host.accept(shop, {"id": f"ping:{email}", "type": "ping.received",
                                                  "contact": {"email": email}}, wait=True)
            return JSONResponse({"status": accepted.status, "base_url": host.base_url,
                                 "channels": [(c.name, c.plugin) for c in host.channel_configs(shop.workspace.name)],
                                 "log_installed": "log" in host.channels})
        return [Route("/v1/partners/ping/{workspace}", ping, methods=["POST"])]


class Clash:
    @hookimpl
    def relance_routes(self, host: RouteHost) -> list[Route]:
        return [Route("/v1/events", lambda request: JSONResponse({}), methods=["POST"])]


def app_with(plugin: object, rules: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    manager = plugin_manager(load_entry_points=False)
    manager.register(plugin)
    settings = Settings(rules=(str(rules),), database_url=f"sqlite://{tmp_path / 'routes.sqlite3'}",
                        public_url="https://relance.test/")
    return create_app(settings, clock=VirtualClock(NOW), run_scheduler=False, manager=manager)


def test_a_plugin_route_reads_accepts_and_answers_problems(write: Callable[..., Path], tmp_path: Path) -> None:
    with TestClient(app_with(Ping(), write(RULES), tmp_path), raise_server_exceptions=False) as client:
        first = client.post("/v1/partners/ping/shop", content=b"lea@example.test")
        again = client.post("/v1/partners/ping/shop", content=b"lea@example.test")
        unknown = client.post("/v1/partners/ping/elsewhere", content=b"lea@example.test")
        wrong = client.post("/v1/partners/ping/shop", content=b"lea")
        too_big = client.post("/v1/partners/ping/shop", content=b"x" * (1024 * 1024 + 1))
    assert first.json() == {"status": "accepted", "base_url": "https://relance.test",
                            "channels": [["email", "log"]], "log_installed": True}
    assert again.json()["status"] == "duplicate"
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "no workspace 'elsewhere'")
    assert (wrong.status_code, wrong.headers["content-type"], wrong.json()["pointer"]) == \
        (422, "application/problem+json", "/")
    assert too_big.status_code == 413


def test_a_plugin_route_is_in_the_openapi_document(write: Callable[..., Path], tmp_path: Path) -> None:
    with TestClient(app_with(Ping(), write(RULES), tmp_path)) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert paths["/v1/partners/ping/{workspace}"]["post"]["summary"] == "A ping from a partner, as an event."
    assert paths["/v1/providers/twilio/{workspace}"]["post"]["summary"].startswith("Twilio delivery statuses")


def test_a_route_the_server_serves_already_is_refused(write: Callable[..., Path], tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="two routes answer POST /v1/events"):
        app_with(Clash(), write(RULES), tmp_path)
