"""The `relance` command as a user runs it: exit codes, output formats."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from relance.plugins import hookimpl
from relance.plugins.registry import plugin_manager
from relance.server import cli
from relance.server.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "rules.example.yaml"
BROKEN = "channels: {email: {plugin: log}}\nrules:\n  - id: r\n    when: a.b\n    steps: [send emial x]\n"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_check_clean_workspace_exits_0() -> None:
    code, out, _ = run("check", str(EXAMPLE))
    assert code == 0
    assert out.startswith("ok: 6 rules, 2 segments")


def test_check_with_problems_exits_1_and_prints_them(write) -> None:
    path = write(BROKEN)
    code, _, err = run("check", str(path))
    assert code == 1
    assert f"{path}:5:18: unknown channel 'emial' (did you mean 'email'?)" in err
    assert err.rstrip().endswith("1 problem")


def test_check_json_for_ci_tools(write) -> None:
    path = write(BROKEN)
    code, out, _ = run("check", "--format", "json", str(path))
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert report["problems"] == [{"path": str(path), "line": 5, "column": 18, "severity": "error",
                                   "message": "unknown channel 'emial' (did you mean 'email'?); declared channels: email"}]


SCROE = "rules:\n  - id: r\n    when: a.b\n    if: contact.scroe > 10\n    steps: [stop]\n"


def test_warnings_are_printed_and_do_not_fail_the_check(write) -> None:
    path = write(SCROE)
    code, out, err = run("check", str(path))
    assert code == 0
    assert f"{path}:4:17: warning: unknown contact field 'scroe' (did you mean 'score'?)" in err
    assert out.strip() == "ok: 1 rules, 0 segments, 0 templates, 1 warning"


def test_strict_makes_warnings_fail(write) -> None:
    path = write(SCROE)
    code, out, err = run("check", "--strict", str(path))
    assert code == 1 and out == ""
    assert err.rstrip().endswith("1 warning, which --strict counts as problems")
    code, out, _ = run("check", "--strict", "--format", "json", str(path))
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert [(p["severity"], p["line"], p["column"]) for p in report["problems"]] == [("warning", 4, 17)]


def test_json_warnings_alone_are_ok(write) -> None:
    code, out, _ = run("check", "--format", "json", str(write(SCROE)))
    assert code == 0 and json.loads(out)["ok"] is True


@pytest.mark.parametrize("args", [["check", "no/such/file.yaml"], ["check"], ["check", "--format", "xml", "x"]])
def test_unusable_arguments_exit_2(args: list[str]) -> None:
    assert run(*args)[0] == 2


@pytest.mark.parametrize("output, first_line", [("text", "rule ecom-03-panier-abandonne"),
                                                 ("mermaid", "flowchart TD"),
                                                 ("dot", 'digraph "maison-demo" {')])
def test_graph_formats(output: str, first_line: str) -> None:
    code, out, _ = run("graph", str(EXAMPLE), "--rule", "ecom-03-panier-abandonne", "--format", output)
    assert code == 0
    assert out.splitlines()[0].startswith(first_line)
    assert "send email panier-derniere-chance" in out


@pytest.mark.parametrize("output, header", [("mermaid", "flowchart"), ("dot", "digraph")])
def test_graph_of_every_rule_is_one_document(output: str, header: str) -> None:
    code, out, _ = run("graph", str(EXAMPLE), "--format", output)
    assert code == 0
    assert [line for line in out.splitlines() if line.startswith(header)] == [out.splitlines()[0]]
    assert out.count("subgraph ") == 6


def test_graph_of_an_unknown_rule_is_a_usage_error() -> None:
    code, _, err = run("graph", str(EXAMPLE), "--rule", "nope")
    assert code == 2 and "no rule 'nope'" in err


def test_fmt_check_then_fix(write) -> None:
    path = write("rules:\n- id: r\n  when: 'a.b'\n  steps: [stop]\n")
    code, out, _ = run("fmt", "--check", str(path))
    assert (code, out.strip()) == (1, f"would reformat {path}")
    assert run("fmt", str(path))[0] == 0
    assert path.read_text() == "rules:\n  - id: r\n    when: a.b\n    steps: [stop]\n"
    assert run("fmt", "--check", str(path))[:2] == (0, "")


def test_fmt_check_passes_on_the_example() -> None:
    assert run("fmt", "--check", str(EXAMPLE))[:2] == (0, "")


def test_the_installed_command_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "relance.server", "check", str(EXAMPLE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_an_empty_folder_is_a_problem_not_a_clean_check(tmp_path) -> None:
    code, _, err = run("check", str(tmp_path))
    assert code == 1 and "no rules files (*.yaml) in this folder" in err


def test_giving_the_test_file_instead_of_the_rules_says_so(write) -> None:
    path = write("tests: []\n", "shop.test.yaml")
    code, _, err = run("check", str(path))
    assert code == 1 and "this is a rule-test file; give the rules it tests (shop.yaml)" in err


class Commands:
    """A plugin adding `relance hello` and, wrongly, its own `relance check`."""

    def __init__(self, *names: str) -> None:
        self.names = names

    @hookimpl
    def relance_commands(self) -> list[click.Command]:
        return [click.Command(name, callback=lambda: click.echo("hello from a plugin")) for name in self.names]


def with_plugin(monkeypatch: pytest.MonkeyPatch, *plugins: object) -> click.Group:
    """A fresh `relance` group whose plugins are these."""
    def manager():  # type: ignore[no-untyped-def]
        found = plugin_manager(load_entry_points=False)
        for plugin in plugins:
            found.register(plugin)
        return found
    monkeypatch.setattr(cli, "plugin_manager", manager)
    return cli.WithPluginCommands(commands=dict(main.commands))


def test_a_plugin_command_runs_as_relance_name(monkeypatch: pytest.MonkeyPatch) -> None:
    group = with_plugin(monkeypatch, Commands("hello"))
    result = CliRunner().invoke(group, ["hello"])
    assert (result.exit_code, result.stdout) == (0, "hello from a plugin\n")
    assert "hello" in CliRunner().invoke(group, ["--help"]).stdout


@pytest.mark.parametrize("plugins, message", [
    ((Commands("check"),), "a plugin adds the command 'relance check', which relance has already"),
    ((Commands("hello"), Commands("hello")), "two plugins add the command 'relance hello'"),
])
def test_a_plugin_command_named_twice_is_refused(monkeypatch: pytest.MonkeyPatch, plugins: tuple[object, ...],
                                                 message: str) -> None:
    result = CliRunner().invoke(with_plugin(monkeypatch, *plugins), ["--help"])
    assert result.exit_code == 1 and message in result.stderr
    assert CliRunner().invoke(with_plugin(monkeypatch, *plugins), ["check", str(EXAMPLE)]).exit_code == 0
