"""Two shops behind one server, driven through the ASGI app on a virtual clock."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from relance.engine.clock import VirtualClock
from relance.server.app import create_app
from relance.server.settings import Settings

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SHOP = """\
workspace: {name}
channels: {{email: {{plugin: log}}, whatsapp: {{plugin: log}}}}
templates:
  lien: {{email: {{subject: "Votre lien", body: "Bonjour {{{{ contact.first_name }}}}"}}}}
  rappel: {{email: {{subject: "Panier", body: "Votre panier"}}}}
rules:
  - id: chaud
    when: message.received where intent(event.text) == "forte"
    steps: [set lead_chaleur = "chaud", send email lien]
  - id: panier
    when: checkout.started
    steps: [wait 1d, send email rappel]
  - id: brouillon
    when: form.submitted
    mode: assist
    steps: [send email lien, task "Rappeler"]
"""


class Api:
    """A client per shop, each with its own API key."""

    def __init__(self, client: TestClient, keys: dict[str, str]) -> None:
        self.client, self.keys = client, keys

    def call(self, method: str, path: str, shop: str | None = "shop-a", **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if shop is not None:
            headers.setdefault("Authorization", f"Bearer {self.keys[shop]}")
        return self.client.request(method, path, headers=headers, **kwargs)


@pytest.fixture
def api(tmp_path: Path, write: Callable[..., Path]) -> Iterator[Api]:
    rules = [write(SHOP.format(name=name), f"{name}/rules.yaml") for name in ("shop-a", "shop-b")]
    settings = Settings(rules=tuple(str(r) for r in rules), database_url=f"sqlite://{tmp_path / 'api.sqlite3'}")
    app = create_app(settings, clock=VirtualClock(NOW), run_scheduler=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        runtime = app.state.runtime
        keys = {name: client.portal.call(runtime.create_key, name) for name in ("shop-a", "shop-b")}
        yield Api(client, keys)
