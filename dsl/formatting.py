"""`relance fmt`: one indentation and quoting style for rules files, comments kept."""
from __future__ import annotations

import io

from ruamel.yaml import YAML
from ruamel.yaml.emitter import Emitter
from ruamel.yaml.error import MarkedYAMLError

from .errors import Problem
from .loader import yaml_problem
from .tabs import tab_problems
from .source import SourceFile


class _DoubleQuotingEmitter(Emitter):
    """Plain scalars where YAML allows them, double quotes where it does not (never single)."""

    def choose_scalar_style(self) -> str | None:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


def _formatter() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Emitter = _DoubleQuotingEmitter
    yaml.preserve_quotes = False  # quote only where YAML needs it
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never fold a step onto two lines
    return yaml


def format_text(text: str, path: str = "<text>") -> tuple[str | None, list[Problem]]:
    """The formatted text, or None and the problems if it does not parse as YAML."""
    file = SourceFile(path, tuple(text.splitlines()))
    problems = tab_problems(file)
    if problems:
        return None, problems
    yaml = _formatter()
    try:
        data = yaml.load(text)
    except MarkedYAMLError as error:
        return None, [yaml_problem(error, file)]
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue(), []
