"""Reading a workspace's files: YAML with every node's file, line and column kept."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, ComposerError, MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from .errors import Problem
from .source import Located, SourceFile
from .tabs import tab_problems, without_tabs

YAML_SUFFIXES = (".yaml", ".yml")
TEST_SUFFIXES = (".test.yaml", ".test.yml")  # rule tests live beside the rules
TEMPLATE_FILE = re.compile(r"^(?P<name>[A-Za-z0-9_-]+)\.(?P<channel>[A-Za-z0-9_-]+)\.(?:txt|html|md)$")
ALIAS_BUDGET = 5_000  # YAML nodes a file's aliases may add once expanded (a few shared step lists add hundreds)
MAX_DEPTH = 200  # nested YAML collections: deeper is refused before Python's own recursion limit


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML file: its text and its top-level mapping (None when it did not load)."""

    file: SourceFile
    data: Any


@dataclass(frozen=True, slots=True)
class TemplateFile:
    """`templates/<name>.<channel>.txt`; email files start with a `Subject:` line.

    `html`: the file is `<name>.email.html`, a Jinja2 template (the subject stays text).
    """

    name: str
    channel: str
    subject: Located | None
    body: Located
    html: bool = False


class AliasBudgetError(ComposerError):
    """Aliases that would expand a file beyond ALIAS_BUDGET nodes, or refer to a node inside itself."""


class _BudgetComposer(Composer):
    """A composer that counts what aliases add once expanded, and refuses a document beyond the budget.

    ruamel shares an aliased node rather than copy it, but everything that reads the rules
    walks it once per alias: `&a [10 steps]` used ten times in a list used ten times, four
    levels deep, is 10,000 steps to check and compile from a 1 KB file (an alias bomb).
    """

    def compose_document(self) -> Any:
        self._added, self._sizes, self._open = 0, {}, set()
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            if event.anchor in self._open:
                raise AliasBudgetError(None, None, f"the alias *{event.anchor} is inside the node it names: "
                                                   "it would repeat for ever", event.start_mark)
            node = super().compose_node(parent, index)
            self._added += self._size(node)
            if self._added > ALIAS_BUDGET:
                raise AliasBudgetError(None, None, f"aliases expand this file by more than {ALIAS_BUDGET:,} nodes "
                                                   f"(*{event.anchor} here); write the shared part fewer times",
                                       event.start_mark)
            return node
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open.discard(anchor)

    def _size(self, node: Node) -> int:
        """Nodes under `node`, itself included, every alias inside it expanded."""
        known = self._sizes.get(id(node))
        if known is None:
            if isinstance(node, SequenceNode):
                known = 1 + sum(self._size(item) for item in node.value)
            elif isinstance(node, MappingNode):
                known = 1 + sum(self._size(key) + self._size(value) for key, value in node.value)
            else:
                known = 1
            self._sizes[id(node)] = known
        return known


def yaml_reader() -> YAML:
    """The round-trip reader: keeps positions, comments and quoting; aliases and nesting bounded."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.Composer = _BudgetComposer
    yaml.max_depth = MAX_DEPTH
    return yaml


def workspace_files(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path], list[Problem]]:
    """The YAML files and template files a set of paths names, and paths that do not exist."""
    yaml_files: list[Path] = []
    template_files: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if _is_rules_file(p))
            if not found:
                problems.append(Problem(str(raw), 1, 1, "no rules files (*.yaml) in this folder"))
            yaml_files += found
            folder = path
        elif path.is_file() and path.name.endswith(TEST_SUFFIXES):
            problems.append(Problem(str(raw), 1, 1, "this is a rule-test file; give the rules it tests "
                                                    f"({path.name.replace('.test.', '.')})"))
            continue
        elif path.is_file():
            yaml_files.append(path)
            folder = path.parent
        else:
            problems.append(Problem(str(raw), 1, 1, "no such file or folder"))
            continue
        templates = folder / "templates"
        if templates.is_dir():
            template_files += sorted(p for p in templates.iterdir() if p.is_file())
    return list(dict.fromkeys(yaml_files)), list(dict.fromkeys(template_files)), problems


def _is_rules_file(path: Path) -> bool:
    return path.is_file() and path.name.endswith(YAML_SUFFIXES) and not path.name.endswith(TEST_SUFFIXES)


def read_source(path: Path) -> SourceFile:
    text = path.read_text(encoding="utf-8")
    return SourceFile(str(path), tuple(text.splitlines()))


def load_document(path: Path) -> tuple[Document, list[Problem]]:
    """Parse one YAML file; tabs in indentation and YAML errors become problems.

    A file with tabs in its indentation is still read with its tabs expanded (see
    `tabs.without_tabs`), so that its other problems are reported too.
    """
    text = path.read_text(encoding="utf-8")
    file = SourceFile(str(path), tuple(text.splitlines()))
    problems = tab_problems(file)
    if problems:
        expanded = without_tabs(file, yaml_reader().load)
        return (Document(*expanded) if expanded else Document(file, None)), problems
    try:
        data = yaml_reader().load(text)
    except MarkedYAMLError as error:
        return Document(file, None), [yaml_problem(error, file)]
    return Document(file, data), []


def yaml_problem(error: MarkedYAMLError, file: SourceFile) -> Problem:
    """A ruamel error as a problem at its mark."""
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    message = " ".join(str(error.problem or error.context or "invalid YAML").split())
    if isinstance(error, AliasBudgetError):
        return file.problem(line, column, message)
    if isinstance(error, MaxDepthExceededError):
        return file.problem(line, column, f"YAML nested more than {MAX_DEPTH} levels deep")
    return file.problem(line, column, f"YAML syntax error: {message}")


def load_template_file(path: Path) -> tuple[TemplateFile | None, list[Problem]]:
    match = TEMPLATE_FILE.match(path.name)
    file = read_source(path)
    if not match:
        return None, [file.problem(1, 1, "a template file is named NAME.CHANNEL.txt (or .html, .md), "
                                         "for example panier-rappel.email.txt")]
    name, channel = match.group("name"), match.group("channel")
    lines = file.lines
    subject = None
    first_body_line = 0
    if lines and lines[0].lower().startswith("subject:"):
        head = lines[0]
        start = len("subject:") + len(head[len("subject:"):]) - len(head[len("subject:"):].lstrip())
        subject = Located(head[start:].strip(), file, 1, start + 1)
        first_body_line = 2 if len(lines) > 1 and not lines[1].strip() else 1
    body = Located("\n".join(lines[first_body_line:]), file, first_body_line + 1, 1)
    return TemplateFile(name, channel, subject, body, path.suffix == ".html"), []


# ---------------------------------------------------------------- positions
def key_position(mapping: CommentedMap, key: Any) -> tuple[int, int]:
    line, column = mapping.lc.key(key)
    return line + 1, column + 1


def value_position(mapping: CommentedMap, key: Any) -> tuple[int, int]:
    line, column = mapping.lc.value(key)
    return line + 1, column + 1


def item_position(sequence: CommentedSeq, index: int) -> tuple[int, int]:
    line, column = sequence.lc.item(index)
    return line + 1, column + 1


def located(value: Any, file: SourceFile, line: int, column: int) -> Located:
    """A scalar whose node starts at (line, column), as text, its position moved onto its first character."""
    text = "" if value is None else str(value)
    node = (line, column) if isinstance(value, str) else None
    if isinstance(value, (LiteralScalarString, FoldedScalarString)):
        content_line = line + 1
        while content_line <= len(file.lines) and not file.line_text(content_line).strip():
            content_line += 1
        raw = file.line_text(content_line)
        indent = len(raw) - len(raw.lstrip(" "))
        return Located(text.rstrip("\n"), file, content_line, indent + 1, indent, node)
    raw = file.line_text(line)
    if column <= len(raw) and raw[column - 1] in "\"'":
        column += 1
    return Located(text, file, line, column, node=node)


def located_value(mapping: CommentedMap, key: Any, file: SourceFile) -> Located:
    return located(mapping[key], file, *value_position(mapping, key))


def located_key(mapping: CommentedMap, key: Any, file: SourceFile) -> Located:
    return located(key, file, *key_position(mapping, key))


def located_item(sequence: CommentedSeq, index: int, file: SourceFile) -> Located:
    return located(sequence[index], file, *item_position(sequence, index))
