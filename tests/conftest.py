"""Fixtures shared by every test: the plugin functions and workspaces written to disk."""
from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from relance.dsl import FunctionRegistry, Problem, check_workspace
from relance.dsl.graph import Workspace
from relance.plugins.registry import function_registry, plugin_manager

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "rules.example.yaml"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from the current output")


@pytest.fixture(scope="session")
def functions() -> FunctionRegistry:
    return function_registry(plugin_manager(load_entry_points=False))


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """write(text, name="rules.yaml") → the path of a file holding `text`, dedented."""
    def write_file(text: str, name: str = "rules.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path
    return write_file


@pytest.fixture
def compile_text(write: Callable[..., Path], functions: FunctionRegistry) -> Callable[[str], tuple[Workspace | None, list[Problem]]]:
    """compile_text(yaml) → (workspace or None, problems)."""
    def run(text: str) -> tuple[Workspace | None, list[Problem]]:
        return check_workspace([write(text)], functions)
    return run
