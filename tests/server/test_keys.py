"""API keys and the metrics token: shown once and never logged, refused within a second once revoked, listed; /metrics closed."""
from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from starlette.testclient import TestClient

from relance.engine.clock import VirtualClock
from relance.server.app import create_app
from relance.server.cli import main
from relance.server.settings import Settings

from .conftest import NOW, SHOP


def test_the_first_start_key_is_printed_never_logged(tmp_path: Path, write, caplog, capsys) -> None:
    rules = write(SHOP.format(name="shop-a"))
    app = create_app(Settings(rules=(str(rules),), database_url=f"sqlite://{tmp_path / 'k.sqlite3'}"),
                     clock=VirtualClock(NOW), run_scheduler=False)
    with caplog.at_level(logging.DEBUG), TestClient(app):
        pass
    printed = capsys.readouterr().out
    key = printed.split("(shown once, keep it): ")[1].split()[0]
    assert key.startswith("rk_")
    assert key not in caplog.text and "API key created for workspace shop-a" in caplog.text


def test_a_revoked_key_is_refused_within_a_second(api) -> None:
    assert api.call("GET", "/v1/runs").status_code == 200  # used once: known to the server
    store = api.client.app.state.runtime.store

    async def revoke() -> None:  # as `relance keys revoke` does, from another process
        async with store.transaction() as tx:
            await tx.db.execute_query("DELETE FROM relance_api_keys WHERE workspace = 'shop-a'")
    api.client.portal.call(revoke)
    api.client.app.state.runtime.clock.advance(timedelta(seconds=1))  # servers read keys again each second
    assert api.call("GET", "/v1/runs").status_code == 401
    assert api.call("GET", "/v1/runs", shop="shop-b").status_code == 200


def test_keys_create_list_and_revoke(tmp_path: Path) -> None:
    database = ["--database-url", f"sqlite://{tmp_path / 'cli.sqlite3'}"]
    runner = CliRunner()
    created = runner.invoke(main, ["keys", "create", "shop-a", "--name", "site", *database])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    second = runner.invoke(main, ["keys", "create", "shop-b", *database]).stdout.strip()
    listed = runner.invoke(main, ["keys", "list", *database]).stdout
    assert key not in listed and second not in listed  # keys are shown once, at creation
    [header, first, other] = listed.splitlines()
    assert header.split() == ["workspace", "key", "name", "created", "last", "used"]
    assert first.split()[:3] == ["shop-a", key[:11] + "…", "site"] and first.endswith("never")
    assert other.split()[:2] == ["shop-b", second[:11] + "…"]
    assert runner.invoke(main, ["keys", "list", "shop-b", *database]).stdout.count("shop-") == 1
    revoked = runner.invoke(main, ["keys", "revoke", key[:11] + "…", *database])
    assert (revoked.exit_code, revoked.stdout.strip()) == (0, f"revoked {key[:11]}… of workspace shop-a")
    assert runner.invoke(main, ["keys", "revoke", "rk_nothing-like-it", *database]).exit_code == 2
    assert "shop-a" not in runner.invoke(main, ["keys", "list", *database]).stdout


def test_a_key_in_use_shows_when_it_was_last_used(tmp_path: Path, write) -> None:
    rules = write(SHOP.format(name="shop-a"))
    url = f"sqlite://{tmp_path / 'used.sqlite3'}"
    app = create_app(Settings(rules=(str(rules),), database_url=url), clock=VirtualClock(NOW), run_scheduler=False)
    with TestClient(app) as client:
        key = client.portal.call(app.state.runtime.create_key, "shop-a", "crm")
        assert client.get("/v1/runs", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    listed = CliRunner().invoke(main, ["keys", "list", "shop-a", "--database-url", url]).stdout
    [row] = [line for line in listed.splitlines() if "crm" in line]
    assert row.endswith(f"{NOW:%Y-%m-%d %H:%M}")


def test_the_metrics_token_closes_metrics_and_the_details_of_readyz(tmp_path: Path, write) -> None:
    rules = write(SHOP.format(name="shop-a"))
    settings = Settings(rules=(str(rules),), database_url=f"sqlite://{tmp_path / 'm.sqlite3'}", metrics_token="s3cret")
    app = create_app(settings, clock=VirtualClock(NOW), run_scheduler=False)
    with TestClient(app) as client:
        closed = client.get("/metrics")
        assert (closed.status_code, closed.headers["content-type"]) == (401, "application/problem+json")
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        opened = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert opened.status_code == 200 and 'workspace="shop-a"' in opened.text
        assert client.get("/readyz").json() == {"status": "ready"}
        detailed = client.get("/readyz", headers={"Authorization": "Bearer s3cret"}).json()
        assert (detailed["status"], detailed["workspaces"], detailed["database"]) == ("ready", ["shop-a"], "ok")
    assert settings.masked()["metrics_token"] == "***"
