"""The `relance` command."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
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
from relance.engine.profiles import CONTACT_FIELDS
from relance.engine.ruletests import RuleTest, RuleTestResult, check_tests, rule_test_files, run_rule_test
from relance.engine.simulation import read_events, simulate
from relance.engine.timeline import Effect
from relance.server.settings import Settings, SettingsError, load_settings
from relance.plugins.registry import (
    PluginError, channels, commands, function_registry, plugin_manager, scorers, store_for,
)
from relance.server.why import why_command

EXIT_CLEAN, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _existing(paths: tuple[str, ...]) -> None:
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")


def _checked(paths: Sequence[str]) -> tuple[Workspace | None, list[Problem]]:
    """Check with every installed plugin (its functions, channel plugins and their settings) and
    the contact fields the engine provides; then the rule tests beside the rules."""
    manager = plugin_manager()
    workspace, problems = check_workspace(paths, function_registry(manager), channels(manager), CONTACT_FIELDS)
    for path in paths:
        for file in rule_test_files(Path(path)):
            problems += check_tests(file, workspace)[1]
    return (workspace if all(not p.is_error for p in problems) else None), problems


def _tests(paths: Sequence[Path], workspace: Workspace) -> list[RuleTest]:
    """The rule tests of these files; with an error in any, every problem printed and exit 1."""
    tests, problems = [], []
    for path in paths:
        found, found_problems = check_tests(path, workspace)
        tests += found
        problems += found_problems
    for problem in problems:
        click.echo(str(problem), err=True)
    errors = [p for p in problems if p.is_error]
    if errors:
        click.echo(f"{_count(errors, 'problem')} in the rule tests; no test was run", err=True)
        sys.exit(EXIT_PROBLEMS)
    return tests


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
    async def run(events: list[Event], until: timedelta,
                  arrivals: list[datetime | None] | None = None) -> list[Effect]:
        store = store_for(manager, "sqlite://:memory:")
        return await simulate(workspace, store, events, channels(manager), scorers(manager), until, arrivals)
    return run


def _duration(value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a duration such as 7d or 36h") from None


class WithPluginCommands(click.Group):
    """A group that adds the commands plugins give (`relance_commands`) the first time it is asked for
    one it does not have, or for the list: `relance check` loads no plugin to start."""

    _plugins_added = False

    def _add_plugin_commands(self) -> None:
        if self._plugins_added:
            return
        self._plugins_added = True
        try:
            added = commands(plugin_manager())
        except PluginError as error:
            raise click.ClickException(str(error)) from None
        for command in added:
            if command.name in self.commands:
                raise click.ClickException(f"a plugin adds the command 'relance {command.name}', "
                                           "which relance has already")
            self.add_command(command)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            self._add_plugin_commands()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return super().list_commands(ctx)


@click.group(cls=WithPluginCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="relance")
def main() -> None:
    """Relance: marketing-automation rules you can check, test and simulate before they go live."""


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text",
              help="json: one object with every problem, for CI tools.")
@click.option("--strict", is_flag=True, help="Warnings fail the check too.")
def check(paths: tuple[str, ...], output: str, strict: bool) -> None:
    """Check rules files or folders; report every problem with file:line:column.

    Exit status: 0 clean or only warnings (unless --strict), 1 errors found, 2 unusable arguments.
    """
    _existing(paths)
    workspace, problems = _checked(paths)
    warnings = [p for p in problems if not p.is_error]
    failed = workspace is None or (strict and bool(warnings))
    if output == "json":
        click.echo(json.dumps({"ok": not failed, "problems": [p.as_dict() for p in problems]}, indent=2))
    else:
        for problem in problems:
            click.echo(str(problem), err=True)
        counted = f", {_count(warnings, 'warning')}" if warnings else ""
        if workspace is None:
            click.echo(_count([p for p in problems if p.is_error], "problem") + counted, err=True)
        elif failed:
            click.echo(f"{_count(warnings, 'warning')}, which --strict counts as problems", err=True)
        else:
            click.echo(f"ok: {len(workspace.rules)} rules, {len(workspace.segments)} segments, "
                       f"{len(workspace.templates)} templates{counted}")
    sys.exit(EXIT_PROBLEMS if failed else EXIT_CLEAN)


def _count(items: Sequence[object], noun: str) -> str:
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''}"


@main.command()
@click.argument("path")
@click.option("--rule", "rule_id", help="Only this rule.")
@click.option("--format", "output", type=click.Choice(sorted(RENDERERS)), default="text")
def graph(path: str, rule_id: str | None, output: str) -> None:
    """Print the compiled graph of each rule: text, or one mermaid or dot document (a subgraph per rule)."""
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
    click.echo(RENDERERS[output](workspace.name, rules), nl=False)


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
    tests = _tests(files, workspace)
    run = _simulator(manager, workspace)
    passed = failed = 0
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


main.add_command(why_command)


@main.command()
def schema() -> None:
    """Print the JSON Schema of a rules file, for editors (see the README: VS Code's YAML extension)."""
    from relance.dsl.schema import json_schema_text

    click.echo(json_schema_text())


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
    from .logs import logging_config

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
    log_config = logging_config(settings.log_level, settings.log_format)
    if settings.workers > 1:  # each process builds its app from the settings passed in its environment
        os.environ[SETTINGS_VARIABLE] = settings.model_dump_json()
        uvicorn.run("relance.server.app:app_from_environment", factory=True, host=settings.host, port=settings.port,
                    workers=settings.workers, log_level=settings.log_level, log_config=log_config)
        return
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level, log_config=log_config)


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
    import logging.config

    from .logs import logging_config

    try:
        settings = load_settings(flags, config_file=config_file)
    except SettingsError as error:
        raise click.UsageError(str(error)) from None
    logging.config.dictConfig(logging_config(settings.log_level, settings.log_format))
    if settings.log_format == "json":  # every line a JSON object: the settings too
        logging.getLogger("relance.settings").info("settings: %s", json.dumps(settings.masked(), default=str))
    else:
        for name, value in settings.masked().items():
            click.echo(f"relance: {name} = {value}")
    return settings


@main.group()
def keys() -> None:
    """API keys: each reaches its own workspace only."""


def _on_store(database_url: str | None, config_file: str | None, work):  # type: ignore[no-untyped-def]
    """Run `work(runtime)` on the server's database (as `relance serve` would open it)."""
    from .runtime import Runtime

    try:
        settings = load_settings({"database_url": database_url}, config_file=config_file)
    except SettingsError as error:
        raise click.UsageError(str(error)) from None

    async def run():  # type: ignore[no-untyped-def]
        runtime = Runtime(settings)
        await runtime.store.open()
        try:
            return await work(runtime)
        finally:
            await runtime.store.close()

    return asyncio.run(run())


DATABASE_OPTION = click.option("--database-url", help="The server's database (default as `relance serve`).")
CONFIG_OPTION = click.option("--config", "config_file", help="A TOML config file.")


@keys.command(name="create")
@click.argument("workspace")
@click.option("--name", help="What the key is for (shown by `relance keys list`).")
@DATABASE_OPTION
@CONFIG_OPTION
def keys_create(workspace: str, name: str | None, database_url: str | None, config_file: str | None) -> None:
    """Create an API key for WORKSPACE and print it, once: only its digest is kept."""
    click.echo(_on_store(database_url, config_file, lambda runtime: runtime.create_key(workspace, name)))


@keys.command(name="list")
@click.argument("workspace", required=False)
@DATABASE_OPTION
@CONFIG_OPTION
def keys_list(workspace: str | None, database_url: str | None, config_file: str | None) -> None:
    """The keys of WORKSPACE (of every workspace by default): their first characters, name, creation, last use."""
    found = _on_store(database_url, config_file, lambda runtime: runtime.store.api_keys(workspace))
    if not found:
        click.echo("no API keys" + (f" for workspace {workspace}" if workspace else ""), err=True)
        return
    click.echo(f"{'workspace':<20} {'key':<14} {'name':<20} {'created':<20} last used")
    for key in found:
        used = key.last_used_at.strftime("%Y-%m-%d %H:%M") if key.last_used_at else "never"
        click.echo(f"{key.workspace:<20} {key.prefix + '…':<14} {key.name or '':<20} "
                   f"{key.created_at:%Y-%m-%d %H:%M}     {used}")


@keys.command(name="revoke")
@click.argument("key")
@DATABASE_OPTION
@CONFIG_OPTION
def keys_revoke(key: str, database_url: str | None, config_file: str | None) -> None:
    """Revoke KEY (the whole key, or its first characters as `relance keys list` shows them): every
    server refuses it within a second."""
    from . import keys as api_keys

    async def revoke(runtime):  # type: ignore[no-untyped-def]
        given = key.rstrip("…")
        matching = [k for k in await runtime.store.api_keys() if k.digest == api_keys.digest(given)
                    or (len(given) >= 6 and (k.prefix.startswith(given) or given.startswith(k.prefix)))]
        if len(matching) != 1:
            return matching
        await runtime.store.revoke_api_keys([matching[0].digest])
        return matching

    matching = _on_store(database_url, config_file, revoke)
    if not matching:
        raise click.UsageError(f"no API key {key}; `relance keys list` shows them")
    if len(matching) > 1:
        raise click.UsageError(f"{len(matching)} keys start with {key}: give more of its characters, or the whole key")
    click.echo(f"revoked {matching[0].prefix}… of workspace {matching[0].workspace}")
