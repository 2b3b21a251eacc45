"""The `relance` command."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from importlib import metadata
from pathlib import Path

import click
import pluggy

from relance.dsl import check_workspace
from relance.dsl.errors import Problem, RelanceError
from relance.dsl.diagrams import RENDERERS
from relance.dsl.durations import parse_duration
from relance.dsl.formatting import format_text
from relance.dsl.graph import Workspace
from relance.dsl.loader import workspace_files
from relance.engine.events import Event, EventError
from relance.engine.ruletests import RuleTestResult, load_tests, rule_test_files, run_rule_test
from relance.engine.simulation import read_events, simulate
from relance.engine.timeline import Effect
from relance.server.settings import Settings, SettingsError, load_settings
from relance.plugins.registry import channels, function_registry, plugin_manager, scorers, store_for

EXIT_CLEAN, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _existing(paths: tuple[str, ...]) -> None:
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")


def _checked(paths: Sequence[str]) -> tuple[Workspace | None, list[Problem]]:
    """Check with every installed plugin: its functions, channel plugins and their settings."""
    manager = plugin_manager()
    return check_workspace(paths, function_registry(manager), channels(manager))


def _workspace(manager: pluggy.PluginManager, paths: tuple[str, ...] | list[str]) -> Workspace:
    """The compiled workspace, or its problems printed and exit 1."""
    _existing(tuple(paths))
    workspace, problems = check_workspace(paths, function_registry(manager), channels(manager))
    if workspace is None:
        for problem in problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_PROBLEMS)
    return workspace


def _simulator(manager: pluggy.PluginManager, workspace: Workspace):  # type: ignore[no-untyped-def]
    async def run(events: list[Event], until: timedelta) -> list[Effect]:
        store = store_for(manager, "sqlite://:memory:")
        return await simulate(workspace, store, events, channels(manager), scorers(manager), until)
    return run


def _duration(value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a duration such as 7d or 36h") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="relance")
def main() -> None:
    """Relance: marketing-automation rules you can check, test and simulate before they go live."""


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text",
              help="json: one object with every problem, for CI tools.")
def check(paths: tuple[str, ...], output: str) -> None:
    """Check rules files or folders; report every problem with file:line:column.

    Exit status: 0 clean, 1 problems found, 2 unusable arguments.
    """
    _existing(paths)
    workspace, problems = _checked(paths)
    if output == "json":
        click.echo(json.dumps({"ok": not problems, "problems": [p.as_dict() for p in problems]}, indent=2))
    else:
        for problem in problems:
            click.echo(str(problem), err=True)
        if workspace is not None:
            click.echo(f"ok: {len(workspace.rules)} rules, {len(workspace.segments)} segments, "
                       f"{len(workspace.templates)} templates")
        else:
            click.echo(f"{len(problems)} problem{'s' if len(problems) != 1 else ''}", err=True)
    sys.exit(EXIT_CLEAN if not problems else EXIT_PROBLEMS)


@main.command()
@click.argument("path")
@click.option("--rule", "rule_id", help="Only this rule.")
@click.option("--format", "output", type=click.Choice(sorted(RENDERERS)), default="text")
def graph(path: str, rule_id: str | None, output: str) -> None:
    """Print the compiled graph of each rule (text, mermaid or dot)."""
    _existing((path,))
    workspace, problems = _checked([path])
    if workspace is None:
        for problem in problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_PROBLEMS)
    rules = list(workspace.rules.values())
    if rule_id is not None:
        if rule_id not in workspace.rules:
            raise click.UsageError(f"no rule '{rule_id}'; rules: {', '.join(workspace.rules)}")
        rules = [workspace.rules[rule_id]]
    click.echo("\n".join(RENDERERS[output](rule) for rule in rules), nl=False)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would change.")
def fmt(paths: tuple[str, ...], check_only: bool) -> None:
    """Normalise indentation and quoting of rules files, keeping comments."""
    _existing(paths)
    yaml_files, _, _ = workspace_files(paths)
    changed, failed = [], False
    for path in yaml_files:
        text = path.read_text(encoding="utf-8")
        formatted, problems = format_text(text, str(path))
        for problem in problems:
            click.echo(str(problem), err=True)
        if formatted is None:
            failed = True
        elif formatted != text:
            changed.append(path)
            if not check_only:
                path.write_text(formatted, encoding="utf-8")
    for path in changed:
        click.echo(f"{'would reformat' if check_only else 'reformatted'} {path}")
    sys.exit(EXIT_PROBLEMS if failed or (check_only and changed) else EXIT_CLEAN)


@main.command(name="simulate")
@click.argument("rules")
@click.argument("events", type=click.Path(exists=True, dir_okay=False))
@click.option("--until", help="How long to run after the last event (default 30d).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per effect and line.")
def simulate_command(rules: str, events: str, until: str | None, as_json: bool) -> None:
    """Run RULES on the events of a JSON Lines file, on a virtual clock; print the timeline."""
    manager = plugin_manager()
    workspace = _workspace(manager, [rules])
    horizon = _duration(until)
    try:
        parsed = read_events(Path(events))
    except EventError as error:
        click.echo(error.message, err=True)
        sys.exit(EXIT_PROBLEMS)
    timeline = asyncio.run(_simulator(manager, workspace)(parsed, horizon or timedelta(days=30)))
    for effect in timeline:
        local = effect.local(workspace.timezone)
        click.echo(json.dumps(local.as_json(), ensure_ascii=False, default=str) if as_json else local.describe())


def _report(result: RuleTestResult, zone: str) -> str:
    lines = [f"FAIL {result.test.name} ({result.test.path}:{result.test.line})"]
    lines += [f"  expected, not found: {e.describe(zone)}" for e in result.missing]
    lines += [f"  not expected, found: {effect.local(zone).describe()}" for _, effect in result.unexpected]
    lines.append("  actual timeline:")
    lines += [f"    {effect.local(zone).describe()}" for effect in result.timeline]
    return "\n".join(lines)


@main.command(name="test")
@click.argument("path")
def test_command(path: str) -> None:
    """Run the rule tests (NAME.test.yaml beside the rules, or *.test.yaml in the folder)."""
    manager = plugin_manager()
    workspace = _workspace(manager, [path])
    files = rule_test_files(Path(path))
    if not files:
        click.echo(f"no rule tests found for {path} (write them in *.test.yaml beside the rules)", err=True)
        sys.exit(EXIT_PROBLEMS)
    run = _simulator(manager, workspace)
    passed = failed = 0
    for file in files:
        try:
            tests = load_tests(file)
        except EventError as error:
            click.echo(error.message, err=True)
            sys.exit(EXIT_PROBLEMS)
        for test in tests:
            result = asyncio.run(run_rule_test(test, run))
            if result.passed:
                passed += 1
                click.echo(f"ok   {test.name}")
            else:
                failed += 1
                click.echo(_report(result, workspace.timezone))
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(EXIT_CLEAN if not failed else EXIT_PROBLEMS)


@main.command(name="plugins")
def plugins_command() -> None:
    """List the loaded plugins, their versions and the hooks they implement."""
    manager = plugin_manager()
    distributions = {id(plugin): dist for plugin, dist in manager.list_plugin_distinfo()}
    own = metadata.version("relance")
    for name, plugin in manager.list_name_plugin():
        dist = distributions.get(id(plugin))
        version = f"{dist.project_name} {dist.version}" if dist else f"relance {own} (built in)"
        hooks = ", ".join(sorted(h.name for h in manager.get_hookcallers(plugin) or []))
        click.echo(f"{name}  [{version}]  {hooks}")


@main.command()
@click.argument("rules", nargs=-1)
@click.option("--host", help="Address to listen on (default 127.0.0.1; RELANCE_HOST).")
@click.option("--port", type=int, help="Port (default 8000; RELANCE_PORT).")
@click.option("--workers", type=int, help="Processes (default 1; RELANCE_WORKERS); more needs PostgreSQL and Redis.")
@click.option("--database-url", help="sqlite://FILE (default sqlite://relance.sqlite3) or postgres://…; DATABASE_URL.")
@click.option("--redis-url", help="redis://HOST:PORT/DB: waits go to `relance worker` processes; REDIS_URL.")
@click.option("--config", "config_file", help="A TOML config file (default relance.toml if present).")
def serve(rules: tuple[str, ...], host: str | None, port: int | None, workers: int | None,
          database_url: str | None, redis_url: str | None, config_file: str | None) -> None:
    """Serve the HTTP API on RULES (files or folders, one workspace each; default rules.example.yaml)."""
    import uvicorn

    from .app import SETTINGS_VARIABLE, create_app

    settings = _settings({"rules": rules, "host": host, "port": port, "workers": workers,
                          "database_url": database_url, "redis_url": redis_url}, config_file)
    if settings.workers > 1 and (not settings.redis_url or settings.database_url.startswith("sqlite")):
        raise click.UsageError("--workers > 1 needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL), "
                               "with `relance worker` processes for the waits")
    try:
        app = create_app(settings)
    except RelanceError as error:
        click.echo(str(error), err=True)
        sys.exit(EXIT_PROBLEMS)
    if settings.workers > 1:  # each process builds its app from the settings passed in its environment
        os.environ[SETTINGS_VARIABLE] = json.dumps(dataclasses.asdict(settings))
        uvicorn.run("relance.server.app:app_from_environment", factory=True, host=settings.host, port=settings.port,
                    workers=settings.workers, log_level=settings.log_level)
        return
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)


@main.command()
@click.argument("rules", nargs=-1)
@click.option("--database-url", help="postgres://… (DATABASE_URL), the servers' database.")
@click.option("--redis-url", help="redis://HOST:PORT/DB (REDIS_URL), the servers' Redis.")
@click.option("--config", "config_file", help="A TOML config file (default relance.toml if present).")
@click.option("--check", is_flag=True, help="Health check: exit 0 if a worker of this host polled lately, else 1.")
def worker(rules: tuple[str, ...], database_url: str | None, redis_url: str | None, config_file: str | None,
           check: bool) -> None:
    """Run due steps, send the outbox and run periodic jobs (arq), beside `relance serve` processes."""
    from .worker import check as check_workers, run

    settings = _settings({"rules": rules, "database_url": database_url, "redis_url": redis_url}, config_file)
    if not settings.redis_url:
        raise click.UsageError("relance worker needs Redis: set REDIS_URL or --redis-url")
    if check:
        alive = asyncio.run(check_workers(settings))
        click.echo("\n".join(alive) if alive else "no worker of this host polled in the last "
                   "health interval", err=not alive)
        sys.exit(0 if alive else 1)
    try:
        run(settings)
    except RelanceError as error:
        click.echo(str(error), err=True)
        sys.exit(EXIT_PROBLEMS)


def _settings(flags: dict[str, object], config_file: str | None) -> Settings:
    """Settings from flags, environment and config file, logged and printed (secrets masked)."""
    import logging

    try:
        settings = load_settings(flags, config_file=config_file)
    except SettingsError as error:
        raise click.UsageError(str(error)) from None
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name, value in settings.masked().items():
        click.echo(f"relance: {name} = {value}")
    return settings


@main.group()
def keys() -> None:
    """API keys: each reaches its own workspace only."""


@keys.command(name="create")
@click.argument("workspace")
@click.option("--database-url", help="The server's database (default as `relance serve`).")
@click.option("--config", "config_file", help="A TOML config file.")
def keys_create(workspace: str, database_url: str | None, config_file: str | None) -> None:
    """Create an API key for WORKSPACE and print it, once: only its digest is kept."""
    from .runtime import Runtime
    from .settings import load_settings

    settings = load_settings({"database_url": database_url}, config_file=config_file)

    async def create() -> str:
        runtime = Runtime(settings)
        await runtime.store.open()
        try:
            return await runtime.create_key(workspace)
        finally:
            await runtime.store.close()

    click.echo(asyncio.run(create()))
