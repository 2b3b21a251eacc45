"""The `relance` command."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from relance.dsl import check_workspace
from relance.dsl.diagrams import RENDERERS
from relance.dsl.formatting import format_text
from relance.dsl.loader import workspace_files
from relance.plugins.registry import function_registry, plugin_manager

EXIT_CLEAN, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _existing(paths: tuple[str, ...]) -> None:
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")


def _functions():  # type: ignore[no-untyped-def]
    return function_registry(plugin_manager())


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
    workspace, problems = check_workspace(paths, _functions())
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
    workspace, problems = check_workspace([path], _functions())
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
