"""A workspace's YAML → the executable graph, with every problem found in one run.

The passes, in order: each file's shape against its schema (`schema.py`, `shape.py`), its sections (`sections.py`, `template_parts.py`, and the
rules gathered by `rules.py`), the template files, the segments, the templates, then each
rule: its trigger (`triggers.py`), goals and exits (`rule_endings.py`), its steps checked
forward (`steps.py`) and built into nodes backward (`nodes.py`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from . import graph as g
from .compile_context import CompileContext
from .errors import Problem, RuleError
from .fields import unknown_field_warnings
from .functions import FunctionRegistry
from .loader import Document, TemplateFile, load_document, load_template_file, workspace_files
from .rules import Rules
from .schema import WorkspaceFile
from .sections import ChannelPlugins, Sections
from .shape import shape_problems
from .snapshots import read_sources
from .template_parts import TemplateSources

__all__ = ["ChannelPlugins", "TOP_LEVEL_KEYS", "WorkspaceCompiler", "check_workspace", "compile_workspace"]

TOP_LEVEL_KEYS = WorkspaceFile.keys()


def compile_workspace(paths: Sequence[str | Path], functions: FunctionRegistry,
                      channel_plugins: ChannelPlugins | None = None) -> g.Workspace:
    """Load and compile the workspace at `paths`; raise RuleError listing every error."""
    workspace, problems = check_workspace(paths, functions, channel_plugins)
    if workspace is None:
        raise RuleError(p for p in problems if p.is_error)
    return workspace


def check_workspace(paths: Sequence[str | Path], functions: FunctionRegistry,
                    channel_plugins: ChannelPlugins | None = None,
                    contact_fields: Collection[str] | None = None) -> tuple[g.Workspace | None, list[Problem]]:
    """The compiled workspace (None if it has errors) and every problem found, warnings included.

    `channel_plugins` maps each installed channel plugin's name to the plugin, which gives its
    settings schema and its traits (what its messages are); without it, plugin names and
    settings are not checked and every channel has neutral traits. `contact_fields`: the
    fields the engine and event sources provide; with it, a contact field that no rule
    sets and the workspace does not declare is a warning.
    """
    yaml_files, template_paths, problems = workspace_files(paths)
    documents = []
    for path in yaml_files:
        document, found = load_document(path)
        documents.append(document)
        problems += found
    templates = []
    for path in template_paths:
        template, found = load_template_file(path)
        problems += found
        if template:
            templates.append(template)
    compiler = WorkspaceCompiler(functions, channel_plugins)
    workspace = compiler.compile([d for d in documents if d.data is not None], templates)
    problems += compiler.problems
    if contact_fields is not None:
        problems += compiler.field_warnings(contact_fields)
    problems.sort(key=lambda p: (p.path, p.line, p.column))
    if any(p.is_error for p in problems):
        return None, problems
    return dataclasses.replace(workspace, sources=read_sources(paths)), problems


class WorkspaceCompiler:
    """Runs the passes over loaded documents; problems collect in `problems`."""

    def __init__(self, functions: FunctionRegistry, channel_plugins: ChannelPlugins | None = None) -> None:
        self.context = CompileContext(functions)
        self.sections = Sections(self.context, channel_plugins)
        self.templates = TemplateSources(self.context, self.sections.channels)
        self.rules = Rules(self.context)

    @property
    def problems(self) -> list[Problem]:
        return self.context.problems

    def compile(self, documents: list[Document], template_files: list[TemplateFile]) -> g.Workspace:
        for document in documents:
            self._document(document)
        for template in template_files:
            self.templates.add_file(template)
        segments = self.sections.segments()
        templates = self.templates.compile()
        rules = self.rules.compile(self.sections, self.templates)
        by_type: dict[str, list[g.Rule]] = {}
        for rule in rules.values():
            if isinstance(rule.trigger, g.EventTrigger):
                by_type.setdefault(rule.trigger.event_type, []).append(rule)
        sections = self.sections
        settings = sections.settings
        return g.Workspace(
            name=str(settings["workspace"]), timezone=str(settings["timezone"]),
            locale=str(settings["locale"]), mode=str(settings["mode"]),
            channels=sections.channels, policy=sections.policy, templates=templates, scoring=sections.scoring,
            segments=segments, rules=rules, by_event_type={k: tuple(v) for k, v in by_type.items()},
            event_types=frozenset(sections.scoring) | frozenset(t for rule in rules.values() for t in _event_types(rule)),
            link_hosts=frozenset(sections.link_hosts | self.templates.hosts()),
        )

    def field_warnings(self, provided: Collection[str]) -> list[Problem]:
        """Warnings for the contact fields used that no rule sets, nobody declares and nothing provides."""
        known = {*provided, *self.context.fields_set, *self.sections.declared_fields}
        return unknown_field_warnings(self.context.field_uses, known)

    def _document(self, document: Document) -> None:
        data, file = document.data, document.file
        self.context.problems += shape_problems(data, file)
        if not isinstance(data, CommentedMap):
            return
        for key in data:
            match key:
                case "rules":
                    self.rules.add_section(data, key, file)
                case "templates":
                    found = self.sections.mapping(data, key)
                    if found is not None:
                        self.templates.add_section(found, file)
                case _ if key in TOP_LEVEL_KEYS:
                    self.sections.read(data, key, file)
                case _:
                    pass  # an unknown section: shape_problems told


def _event_types(rule: g.Rule) -> Iterator[str]:
    """The event types a rule listens to: its trigger, goals, exits and `wait until` steps."""
    if isinstance(rule.trigger, g.EventTrigger):
        yield rule.trigger.event_type
    yield from (c.event_type for c in (*rule.goals, *rule.exits) if isinstance(c, g.EventCondition))
    yield from (n.event_type for n in rule.nodes.values() if isinstance(n, g.WaitEventNode))
