"""The example third-party channel package in examples/: installed, found by its entry point, used by a rule,
its command run through `relance`, its contract tests passing."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = """\
workspace: demo
channels:
  archive: {plugin: jsonl, path: "%s"}
templates:
  merci: {archive: "Merci {{ contact.first_name }} !"}
rules:
  - id: merci
    when: order.completed
    steps: [send archive merci]
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The example package installed into a folder of its own; an environment that sees it."""
    target, source = tmp_path_factory.mktemp("site"), tmp_path_factory.mktemp("src") / "package"
    shutil.copytree(ROOT / "examples" / "relance-jsonl-channel", source)  # pip builds in place: not in the repo
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(source)],
                   check=True, capture_output=True, timeout=120)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}


def relance(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relance.server", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def test_the_installed_plugin_is_listed_checked_and_delivers(installed: dict[str, str], tmp_path: Path) -> None:
    assert "jsonl  [relance-jsonl-channel 0.1.0]  relance_channels" in relance(installed, "plugins", cwd=tmp_path).stdout
    outbox = tmp_path / "outbox.jsonl"
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES % outbox, encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"id": "o1", "type": "order.completed", "at": "2026-03-02T10:00:00+01:00",
                                  "contact": {"email": "lea@example.test", "first_name": "Léa"}}) + "\n")
    result = relance(installed, "simulate", str(rules), str(events), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [line] = outbox.read_text(encoding="utf-8").splitlines()
    assert (json.loads(line)["body"], json.loads(line)["to"]) == ("Merci Léa !", "lea@example.test")


def test_its_settings_are_checked_with_file_line_and_column(installed: dict[str, str], tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text((RULES % "x.jsonl").replace("path:", "pth:"), encoding="utf-8")
    result = relance(installed, "check", str(rules), cwd=tmp_path)
    assert result.returncode == 1
    assert f"{rules}:3:28: channel 'archive' (jsonl): unknown setting 'pth' (did you mean 'path'?)" in result.stderr
    assert f"{rules}:3:21: channel 'archive' (jsonl): missing setting 'path'" in result.stderr


def test_its_command_runs_through_relance(installed: dict[str, str], tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    outbox.write_text("".join(json.dumps({"key": f"r1:n1:{i}", "to": "lea@example.test", "subject": None,
                                          "body": f"message {i}"}) + "\n" for i in range(3)), encoding="utf-8")
    listed = relance(installed, "--help", cwd=tmp_path)
    assert "jsonl-show" in listed.stdout and "check" in listed.stdout
    result = relance(installed, "jsonl-show", str(outbox), "--last", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["r1:n1:1  lea@example.test  message 1",
                                          "r1:n1:2  lea@example.test  message 2"]
    assert "relance_channels, relance_commands" in relance(installed, "plugins", cwd=tmp_path).stdout


def test_it_passes_the_channel_contract(installed: dict[str, str], tmp_path: Path) -> None:
    """The package's own tests: relance.plugins.testing.ChannelContract against its channel, run as its
    author runs them (pytest in the package, its own configuration)."""
    source = tmp_path / "package"
    shutil.copytree(ROOT / "examples" / "relance-jsonl-channel", source)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], env=installed, cwd=source,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout
