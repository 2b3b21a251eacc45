"""A workspace's YAML → the executable graph, with every problem found in one run."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from . import graph as g
from . import syntax as s
from .channel_traits import ChannelPlugin, ChannelTraits
from .checks import CONTACT_ROOTS, STEP_ROOTS, TEMPLATE_ROOTS, TRIGGER_ROOTS, check_expression, uses_root
from .durations import parse_duration, suggest_duration
from .errors import Problem, RuleError, did_you_mean
from .expressions import Compiled, compile_expression
from .fields import FIELD_NAME, FieldUse, contact_fields, unknown_field_warnings
from .functions import FunctionRegistry
from .html_templates import HtmlTemplate, check_html, known_locale
from .link_hosts import HOST, literal_hosts
from .loader import (
    Document, TemplateFile, key_position, load_document, load_template_file, located_item,
    located_key, located_value, workspace_files,
)
from .parser import SyntaxProblem, parse
from .settings import check_settings
from .snapshots import read_sources
from .source import Located, SourceFile
from .templates import Template, Text, compile_text

TOP_LEVEL_KEYS = ("workspace", "timezone", "locale", "mode", "channels", "policy",
                  "templates", "scoring", "segments", "fields", "links", "rules")
RULE_KEYS = ("id", "name", "description", "when", "if", "goal", "exit", "entry", "mode", "priority", "late", "steps")
REQUIRED_RULE_KEYS = ("id", "when", "steps")
MODES = ("auto", "assist", "advise")
POLICY_KEYS = ("quiet_hours", "frequency", "offers", "consent")
CONSENT_RULES = ("opt_in", "opt_out", "none")
OVER_CAP = ("defer", "skip")
PRIORITIES = {"high": 10, "normal": 0, "low": -10}  # a rule's priority in words; or a number from -100 to 100
RULE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
QUIET_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


ChannelPlugins = Mapping[str, ChannelPlugin]


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
    compiler = _Compiler(functions, channel_plugins)
    workspace = compiler.compile([d for d in documents if d.data is not None], templates)
    problems += compiler.problems
    if contact_fields is not None:
        problems += compiler.field_warnings(contact_fields)
    problems.sort(key=lambda p: (p.path, p.line, p.column))
    if any(p.is_error for p in problems):
        return None, problems
    return dataclasses.replace(workspace, sources=read_sources(paths)), problems


@dataclass
class _Parsed:
    """A step after the forward pass: a statement, an if-chain or a split, with its bodies."""

    located: Located
    statement: s.Statement | None = None
    branches: list[tuple[s.BlockHead, Located, list[_Parsed]]] = field(default_factory=list)
    otherwise: list[_Parsed] | None = None
    variants: list[tuple[s.Variant, list[_Parsed]]] = field(default_factory=list)
    kind: str = "statement"  # statement, if, split


@dataclass(frozen=True)
class _TemplatePart:
    """Where a template part was defined, its subject if it has one, and its body."""

    where: Located
    subject: Located | None
    body: Located


@dataclass
class _TemplateParts:
    """One template's parts: text (inline or `.txt`) and HTML (`.email.html`), either may be missing."""

    text: _TemplatePart | None = None
    html: _TemplatePart | None = None

    @property
    def first(self) -> _TemplatePart:
        """The part that places the template in messages: the text part, else the HTML."""
        part = self.text or self.html
        assert part is not None, "parts are created with a part"
        return part


@dataclass
class _RuleContext:
    rule_id: str
    file: SourceFile
    nodes: dict[str, g.Node] = field(default_factory=dict)


class _Compiler:
    """One method per section and per statement; problems collect in `self.problems`."""

    def __init__(self, functions: FunctionRegistry, channel_plugins: ChannelPlugins | None) -> None:
        self.functions = functions
        self.channel_plugins = channel_plugins
        self.problems: list[Problem] = []
        self.settings: dict[str, Any] = {"workspace": "default", "timezone": "UTC", "locale": "en", "mode": "auto"}
        self.channels: dict[str, g.ChannelConfig] = {}
        self.template_sources: dict[tuple[str, str], _TemplateParts] = {}
        self.scoring: dict[str, int] = {}
        self.segments: dict[str, g.Segment] = {}
        self.policy = g.Policy()
        self.link_hosts: set[str] = set()
        self.rule_sources: list[tuple[CommentedMap, SourceFile, int, int]] = []
        self.segment_sources: list[tuple[str, Located]] = []
        self.declared_fields: dict[str, Located] = {}
        self.fields_set: set[str] = set()
        self.field_uses: list[FieldUse] = []
        self._seen: dict[str, Located] = {}

    # ------------------------------------------------------------ entry point
    def compile(self, documents: list[Document], template_files: list[TemplateFile]) -> g.Workspace:
        for document in documents:
            self._document(document)
        for template in template_files:
            self._template_file(template)
        for name, text in self.segment_sources:
            self._segment(name, text)
        templates = self._templates()
        rules = self._rules()
        by_type: dict[str, list[g.Rule]] = {}
        for rule in rules.values():
            if isinstance(rule.trigger, g.EventTrigger):
                by_type.setdefault(rule.trigger.event_type, []).append(rule)
        return g.Workspace(
            name=str(self.settings["workspace"]), timezone=str(self.settings["timezone"]),
            locale=str(self.settings["locale"]), mode=str(self.settings["mode"]),
            channels=self.channels, policy=self.policy, templates=templates, scoring=self.scoring,
            segments=self.segments, rules=rules, by_event_type={k: tuple(v) for k, v in by_type.items()},
            event_types=frozenset(self.scoring) | frozenset(t for rule in rules.values() for t in _event_types(rule)),
            link_hosts=frozenset(self.link_hosts | self._template_hosts()),
        )

    def field_warnings(self, provided: Collection[str]) -> list[Problem]:
        """Warnings for the contact fields used that no rule sets, nobody declares and nothing provides."""
        known = {*provided, *self.fields_set, *self.declared_fields}
        return unknown_field_warnings(self.field_uses, known)

    # -------------------------------------------------------------- helpers
    def problem(self, where: Located, message: str, line: int = 1, column: int = 1) -> None:
        self.problems.append(where.problem(message, line, column))

    def at(self, file: SourceFile, position: tuple[int, int], message: str) -> None:
        self.problems.append(file.problem(position[0], position[1], message))

    def parse(self, text: Located, start: str) -> Any:
        try:
            return parse(text.text, start)
        except SyntaxProblem as error:
            self.problem(text, error.message, error.line, error.column)
            return None

    def expression(self, text: Located, roots: tuple[str, ...], where: str,
                   start: str = "expression") -> tuple[s.Expr | None, Compiled | None]:
        expr = self.parse(text, start)
        if expr is None:
            return None, None
        return expr, self.compiled(expr, text, roots, where)

    def compiled(self, expr: s.Expr, text: Located, roots: tuple[str, ...], where: str,
                 at: s.Pos = (1, 1)) -> Compiled | None:
        """`expr` checked and compiled; its positions count from `at` inside `text`."""
        found = check_expression(expr, roots, self.functions, where)
        self._note_fields(expr, text, at)
        for message, position in found:
            self.problem(text, message, *_inside(at, position))
        if found:
            return None
        return compile_expression(expr, self.functions)

    def _note_fields(self, expr: s.Expr, text: Located, at: s.Pos = (1, 1)) -> None:
        self.field_uses += [FieldUse(path.keys[0], path, text, at) for path in contact_fields(expr)]

    def _unique_setting(self, key: str, text: Located) -> bool:
        if key in self._seen:
            first = self._seen[key]
            self.problem(text, f"'{key}' is already set in {first.file.path}:{first.line}")
            return False
        self._seen[key] = text
        return True

    # ------------------------------------------------------------ top level
    def _document(self, document: Document) -> None:
        data, file = document.data, document.file
        if not isinstance(data, CommentedMap):
            self.at(file, (1, 1), "a rules file is a mapping of sections: workspace, channels, rules, …")
            return
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                self.at(file, key_position(data, key),
                        f"unknown section '{key}'{did_you_mean(str(key), TOP_LEVEL_KEYS)}; "
                        f"sections are: {', '.join(TOP_LEVEL_KEYS)}")
                continue
            getattr(self, f"_section_{key}")(data, key, file)

    def _scalar_setting(self, data: CommentedMap, key: str, file: SourceFile) -> Located | None:
        text = located_value(data, key, file)
        if isinstance(data[key], (CommentedMap, CommentedSeq)) or data[key] is None:
            self.problem(text, f"'{key}' takes a single value")
            return None
        return text if self._unique_setting(key, text) else None

    def _section_workspace(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        text = self._scalar_setting(data, key, file)
        if text:
            self.settings["workspace"] = text.text

    def _section_timezone(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        text = self._scalar_setting(data, key, file)
        if text is None:
            return
        try:
            ZoneInfo(text.text)
        except (ZoneInfoNotFoundError, ValueError):
            self.problem(text, f"unknown timezone '{text.text}'; use an IANA name such as Europe/Paris")
            return
        self.settings["timezone"] = text.text

    def _section_locale(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        text = self._scalar_setting(data, key, file)
        if text is None:
            return
        if not re.match(r"^[a-z]{2,3}(?:[_-][A-Z]{2})?$", text.text):
            self.problem(text, f"bad locale '{text.text}'; write a language such as fr or fr_FR")
            return
        if not known_locale(text.text):
            self.problem(text, f"unknown locale '{text.text}'; write a language such as fr or fr_FR")
            return
        self.settings["locale"] = text.text

    def _section_mode(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        text = self._scalar_setting(data, key, file)
        if text and self._mode(text):
            self.settings["mode"] = text.text

    def _mode(self, text: Located) -> bool:
        if text.text in MODES:
            return True
        self.problem(text, f"unknown mode '{text.text}'{did_you_mean(text.text, MODES)}; "
                           f"modes are: {', '.join(MODES)}")
        return False

    def _mapping(self, data: CommentedMap, key: str, file: SourceFile) -> CommentedMap | None:
        value = data[key]
        if value is None:
            return None
        if not isinstance(value, CommentedMap):
            self.problem(located_value(data, key, file), f"'{key}' is a mapping of names to values")
            return None
        return value

    def _section_channels(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        channels = self._mapping(data, key, file)
        for name in channels or ():
            name_text = located_key(channels, name, file)
            settings = channels[name]
            if name in self.channels:
                self.problem(name_text, f"channel '{name}' is declared twice")
                continue
            if not isinstance(settings, CommentedMap) or "plugin" not in settings:
                self.problem(name_text, f"channel '{name}' needs settings with a plugin, "
                                        "for example {plugin: smtp, from: …}")
                continue
            plugin = located_value(settings, "plugin", file)
            if self.channel_plugins is not None and plugin.text not in self.channel_plugins:
                self.problem(plugin, f"unknown channel plugin '{plugin.text}'"
                                     f"{did_you_mean(plugin.text, self.channel_plugins)}; "
                                     f"installed: {', '.join(sorted(self.channel_plugins))}")
            options = {str(k): _plain(v) for k, v in settings.items() if k != "plugin"}
            found = (self.channel_plugins or {}).get(plugin.text)
            schema = found.settings_schema if found is not None else None
            problems = check_settings(schema, options) if schema is not None else []
            for key, message in problems:
                where = plugin if key is None else (located_key(settings, key, file) if key not in schema
                                                    else located_value(settings, key, file))
                self.problem(where, f"channel '{name}' ({plugin.text}): {message}")
            traits = found.traits(options) if found is not None and not problems else ChannelTraits()
            self.channels[str(name)] = g.ChannelConfig(str(name), plugin.text, options, traits)

    def _section_policy(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        policy = self._mapping(data, key, file)
        if policy is None or not self._unique_setting("policy", located_value(data, key, file)):
            return
        for name in policy:
            if name not in POLICY_KEYS:
                self.problem(located_key(policy, name, file),
                             f"unknown policy '{name}'{did_you_mean(str(name), POLICY_KEYS)}; "
                             f"policies are: {', '.join(POLICY_KEYS)}")
        quiet = self._quiet_hours(policy, file) if "quiet_hours" in policy else {}
        frequency = self._frequencies(policy, file) if "frequency" in policy else {}
        window = self._offer_window(policy, file) if "offers" in policy else g.Policy.offer_window
        consent = self._consent(policy, file) if "consent" in policy else {}
        self.policy = g.Policy(quiet, frequency, window, consent)

    def _quiet_hours(self, policy: CommentedMap, file: SourceFile) -> dict[str, tuple[time, time]]:
        hours = self._mapping(policy, "quiet_hours", file) or {}
        quiet = {}
        for channel in hours:
            text = located_value(hours, channel, file)
            match = QUIET_HOURS.match(text.text)
            if not match or int(match[1]) > 23 or int(match[3]) > 23 or int(match[2]) > 59 or int(match[4]) > 59:
                self.problem(text, f"bad quiet hours '{text.text}'; write a range such as \"21:00-09:00\"")
                continue
            quiet[str(channel)] = (time(int(match[1]), int(match[2])), time(int(match[3]), int(match[4])))
        return quiet

    def _frequencies(self, policy: CommentedMap, file: SourceFile) -> dict[str, g.Frequency]:
        """`{max: N, per: D}` caps all channels together; or caps by channel name, `all` for all of them."""
        value = policy["frequency"]
        if isinstance(value, CommentedMap) and "max" in value:
            found = self._frequency(policy, "frequency", file)
            return {"all": found} if found else {}
        caps = self._mapping(policy, "frequency", file) or {}
        found_caps = {}
        for channel in caps:
            cap = self._frequency(caps, channel, file)
            if cap is not None:
                found_caps[str(channel)] = cap
        return found_caps

    def _frequency(self, mapping: CommentedMap, key: str, file: SourceFile) -> g.Frequency | None:
        value = mapping[key]
        where = located_value(mapping, key, file)
        if not isinstance(value, CommentedMap) or not {"max", "per"} <= set(value) or set(value) - {"max", "per", "over"}:
            self.problem(where, "frequency is {max: N, per: DURATION} with an optional over: defer|skip, "
                                "for example {max: 2, per: 24h}")
            return None
        if not isinstance(value["max"], int) or isinstance(value["max"], bool) or value["max"] < 1:
            self.problem(located_value(value, "max", file), "frequency max is a whole number of messages, 1 or more")
            return None
        over = str(value.get("over", "defer"))
        if over not in OVER_CAP:
            self.problem(located_value(value, "over", file),
                         f"over the cap a message is deferred or skipped: write over: defer or over: skip, not '{over}'")
            return None
        per = self._duration(located_value(value, "per", file))
        return g.Frequency(value["max"], per, over) if per else None

    def _offer_window(self, policy: CommentedMap, file: SourceFile) -> timedelta:
        value = policy["offers"]
        if not isinstance(value, CommentedMap) or set(value) != {"window"}:
            self.problem(located_value(policy, "offers", file),
                         "offers is {window: DURATION}: an offer is not sent again within it, on any channel")
            return g.Policy.offer_window
        return self._duration(located_value(value, "window", file)) or g.Policy.offer_window

    def _consent(self, policy: CommentedMap, file: SourceFile) -> dict[str, str]:
        rules = self._mapping(policy, "consent", file) or {}
        found = {}
        for channel in rules:
            text = located_value(rules, channel, file)
            if text.text not in CONSENT_RULES:
                self.problem(text, f"consent for {channel} is opt_in (needs the contact's yes), opt_out (goes out "
                                   f"unless the contact said no) or none, not '{text.text}'")
                continue
            found[str(channel)] = text.text
        return found

    def _duration(self, text: Located) -> Any:
        try:
            return parse_duration(text.text)
        except ValueError:
            hint = suggest_duration(text.text)
            self.problem(text, f"bad duration '{text.text}'" + (f" (did you mean '{hint}'?)" if hint else
                                                               "; write a number and a unit: 30m, 24h, 3d, 2w"))
            return None

    def _section_links(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        """`links: {hosts: [maison-demo.test, "*.maison-demo.test"]}`: the hosts event data may link to."""
        links = self._mapping(data, key, file)
        if links is None or not self._unique_setting("links", located_value(data, key, file)):
            return
        for name in links:
            if name != "hosts":
                self.problem(located_key(links, name, file), f"unknown links setting '{name}'; links takes: hosts")
        hosts = links.get("hosts")
        if "hosts" in links and not isinstance(hosts, CommentedSeq):
            self.problem(located_value(links, "hosts", file), "hosts is a list such as [maison-demo.test, "
                                                             "\"*.maison-demo.test\"]")
            return
        for index in range(len(hosts or ())):
            text = located_item(hosts, index, file)
            if not HOST.match(text.text.lower()):
                self.problem(text, f"bad host '{text.text}'; write a host name such as maison-demo.test or "
                                   "*.maison-demo.test (no scheme, no path)")
                continue
            self.link_hosts.add(text.text.lower())

    def _template_hosts(self) -> set[str]:
        """Hosts the templates write literally: the agency wrote them, no event did."""
        sources = [located.text for parts in self.template_sources.values() for part in (parts.text, parts.html)
                   if part is not None for located in (part.body, part.subject) if located is not None]
        return {host for source in sources for host in literal_hosts(source)}

    def _section_scoring(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        scoring = self._mapping(data, key, file)
        for event in scoring or ():
            points = scoring[event]
            if not isinstance(points, int) or isinstance(points, bool):
                self.problem(located_value(scoring, event, file),
                             f"points for '{event}' must be a whole number such as +5 or -10")
                continue
            name = located_key(scoring, event, file)
            event_spec = self.parse(name, "event_spec")
            if event_spec is not None:
                self.scoring[event_spec.event_type] = self.scoring.get(event_spec.event_type, 0) + points

    def _section_fields(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        """`fields:` the contact fields the workspace's events bring: a list of names, or names and what they hold."""
        fields = data[key]
        if isinstance(fields, CommentedSeq):
            names = [located_item(fields, i, file) for i in range(len(fields))]
        elif isinstance(fields, CommentedMap):
            names = [located_key(fields, name, file) for name in fields]
        else:
            self.problem(located_value(data, key, file), "'fields' lists contact fields: [skin_type, plan] or "
                                                          "{skin_type: what it holds, …}")
            return
        for name in names:
            if not FIELD_NAME.match(name.text):
                self.problem(name, f"bad field name '{name.text}'; use letters, digits and '_'")
            elif name.text in self.declared_fields:
                first = self.declared_fields[name.text]
                self.problem(name, f"field '{name.text}' is declared twice (first at {first.file.path}:{first.line})")
            else:
                self.declared_fields[name.text] = name

    def _section_segments(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        segments = self._mapping(data, key, file)
        for name in segments or ():
            if any(name == known for known, _ in self.segment_sources):
                self.problem(located_key(segments, name, file), f"segment '{name}' is defined twice")
                continue
            self.segment_sources.append((str(name), located_value(segments, name, file)))

    def _segment(self, name: str, text: Located) -> None:
        _, condition = self.expression(text, CONTACT_ROOTS, "a segment condition")
        if condition is not None:
            self.segments[name] = g.Segment(name, condition, text.text)

    def _section_templates(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        templates = self._mapping(data, key, file)
        for name in templates or ():
            by_channel = templates[name]
            if not isinstance(by_channel, CommentedMap):
                self.problem(located_key(templates, name, file),
                             f"template '{name}' maps channels to messages, for example "
                             "email: {subject: …, body: …}")
                continue
            for channel in by_channel:
                self._inline_template(str(name), str(channel), by_channel, file)

    def _inline_template(self, name: str, channel: str, by_channel: CommentedMap, file: SourceFile) -> None:
        message = by_channel[channel]
        where = located_key(by_channel, channel, file)
        if isinstance(message, str):
            body: Located | None = located_value(by_channel, channel, file)
            subject = None
        elif isinstance(message, CommentedMap):
            for k in message:
                if k not in ("subject", "body"):
                    self.problem(located_key(message, k, file),
                                 f"unknown template key '{k}'{did_you_mean(str(k), ('subject', 'body'))}; "
                                 "a template has a subject (email) and a body")
            body = located_value(message, "body", file) if "body" in message else None
            subject = located_value(message, "subject", file) if "subject" in message else None
        else:
            self.problem(where, "a template is a body text, or {subject: …, body: …}")
            return
        if body is None:
            self.problem(where, f"template '{name}' for {channel} has no body")
            return
        self._add_template(name, channel, subject, body, where)

    def _template_file(self, template: TemplateFile) -> None:
        where = Located("", template.body.file, 1, 1)
        if template.html and template.channel != "email":
            self.problem(where, f"HTML templates are for email; name this file "
                                f"{template.name}.{template.channel}.txt")
            return
        self._add_template(template.name, template.channel, template.subject, template.body, where,
                           html=template.html)

    def _add_template(self, name: str, channel: str, subject: Located | None, body: Located, where: Located,
                      html: bool = False) -> None:
        parts = self.template_sources.setdefault((name, channel), _TemplateParts())
        if (parts.html if html else parts.text) is not None:
            self.problem(where, f"template '{name}' for {channel} is defined twice")
            return
        part = _TemplatePart(where, subject, body)
        if html:
            parts.html = part
        else:
            parts.text = part

    def _templates(self) -> dict[tuple[str, str], Template]:
        templates = {}
        for (name, channel), parts in self.template_sources.items():
            subject = self._subject(name, channel, parts)
            body = self._text(parts.text.body) if parts.text else Text(())
            html = self._html(parts.html.body) if parts.html else None
            templates[(name, channel)] = Template(name, channel, subject, body, parts.first.body.file.path,
                                                  parts.first.where.line, html)
        return templates

    def _subject(self, name: str, channel: str, parts: _TemplateParts) -> Text | None:
        """The subject from the text part or the HTML file's `Subject:` line; email needs exactly one."""
        subjects = [part.subject for part in (parts.text, parts.html) if part and part.subject]
        if len(subjects) == 2:
            first = subjects[0]
            self.problem(subjects[1], f"template '{name}' for {channel} already has a subject in "
                                      f"{first.file.path}:{first.line}; keep one")
        if channel == "email" and not subjects:
            self.problem(parts.first.where, f"email template '{name}' needs a subject")
        return self._text(subjects[0]) if subjects else None

    def _html(self, source: Located) -> HtmlTemplate | None:
        problems = check_html(source.text, self.functions)
        for line, column, message in problems:
            self.problem(source, message, line, column)
        return None if problems else HtmlTemplate(source.text, source.file.path, source.line, self.functions)

    def _text(self, text: Located) -> Text:
        def placeholder(source: str, line: int, column: int) -> Compiled | None:
            try:
                parsed = parse(source, "placeholder")
            except SyntaxProblem as error:
                self.problem(text, f"template placeholder {source!r} does not parse: {error.message}",
                             *_inside((line, column), (error.line, error.column)))
                return None
            return self.compiled(parsed.expr, text, TEMPLATE_ROOTS, "a template", (line, column))
        return compile_text(text.text, placeholder)

    # ------------------------------------------------------------------ rules
    def _section_rules(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        rules = data[key]
        if rules is None:
            return
        if not isinstance(rules, CommentedSeq):
            self.problem(located_value(data, key, file), "'rules' is a list of rules, each starting with '- id: …'")
            return
        for index, rule in enumerate(rules):
            line, column = rules.lc.item(index)
            if not isinstance(rule, CommentedMap):
                self.at(file, (line + 1, column + 1), "a rule is a mapping with id, when and steps")
                continue
            self.rule_sources.append((rule, file, line + 1, column + 1))

    def _rules(self) -> dict[str, g.Rule]:
        ids: dict[str, Located] = {}
        for rule, file, line, column in self.rule_sources:
            if "id" in rule:
                text = located_value(rule, "id", file)
                if text.text in ids:
                    first = ids[text.text]
                    self.problem(text, f"duplicate rule id '{text.text}' (first at {first.file.path}:{first.line})")
                else:
                    ids[text.text] = text
        rules = {}
        for rule, file, line, column in self.rule_sources:
            compiled = self._rule(rule, file, line, column, ids)
            if compiled and compiled.id not in rules:
                rules[compiled.id] = compiled
        self._start_loops(rules)
        return rules

    def _start_loops(self, rules: dict[str, g.Rule]) -> None:
        """`start` statements must not lead back to their own rule: a run would start runs forever."""
        starts = {rule_id: [n for n in rule.nodes.values() if isinstance(n, g.StartNode)]
                  for rule_id, rule in rules.items()}

        def path_back(origin: str, current: str, seen: list[str]) -> list[str] | None:
            for node in starts.get(current, []):
                if node.rule_id == origin:
                    return [*seen, origin]
                if node.rule_id not in seen:
                    found = path_back(origin, node.rule_id, [*seen, node.rule_id])
                    if found:
                        return found
            return None

        for rule_id, nodes in starts.items():
            for node in nodes:
                loop = path_back(rule_id, node.rule_id, [rule_id, node.rule_id]) if node.rule_id != rule_id \
                    else [rule_id, rule_id]
                if loop:
                    self.problems.append(Problem(node.origin.path, node.origin.line, node.origin.column,
                                                 f"'{node.origin.text}' makes a loop: {' → '.join(loop)}"))

    def _rule(self, rule: CommentedMap, file: SourceFile, line: int, column: int,
              ids: dict[str, Located]) -> g.Rule | None:
        where = Located("", file, line, column)
        for key in rule:
            if key not in RULE_KEYS:
                self.problem(located_key(rule, key, file),
                             f"unknown rule key '{key}'{did_you_mean(str(key), RULE_KEYS)}; "
                             f"a rule has: {', '.join(RULE_KEYS)}")
        missing = [k for k in REQUIRED_RULE_KEYS if k not in rule]
        rule_name = f"rule '{rule['id']}'" if "id" in rule else "this rule"
        for key in missing:
            self.problem(where, f"{rule_name} has no '{key}'")
        if "id" not in rule:
            return None
        id_text = located_value(rule, "id", file)
        if not RULE_ID.match(id_text.text):
            self.problem(id_text, f"bad rule id '{id_text.text}'; use letters, digits, '-' and '_'")
        before = len(self.problems)
        trigger = self._trigger(located_value(rule, "when", file)) if "when" in rule else None
        condition = None
        if "if" in rule:
            _, condition = self.expression(located_value(rule, "if", file), TRIGGER_ROOTS, "a rule condition")
        goals = self._conditions(rule, "goal", file)
        exits = self._conditions(rule, "exit", file)
        entry = self.parse(located_value(rule, "entry", file), "entry") if "entry" in rule else s.Entry("one-at-a-time")
        mode = str(self.settings["mode"])
        if "mode" in rule and self._mode(located_value(rule, "mode", file)):
            mode = str(rule["mode"])
        late_skip = self._late(located_value(rule, "late", file)) if "late" in rule else None
        priority = self._priority(rule, file) if "priority" in rule else 0
        context = _RuleContext(id_text.text, file)
        parsed: list[_Parsed] = []
        if "steps" in rule:
            steps = rule["steps"]
            if not isinstance(steps, CommentedSeq):
                self.problem(located_value(rule, "steps", file), "'steps' is a list of steps, each '- …'")
            else:
                parsed = self._steps(steps, context, ids, waited=False)
        if len(self.problems) > before or missing or trigger is None or entry is None or priority is None:
            return None
        start = self._build(parsed, f"{id_text.text}/steps", None, context)
        return g.Rule(
            id=id_text.text, name=str(rule.get("name", id_text.text)), version=_version(rule),
            when=str(rule["when"]), trigger=trigger, condition=condition, goals=goals, exits=exits, entry=entry, mode=mode,
            start=start, nodes=context.nodes, origin=g.Origin(file.path, line, column, id_text.text),
            condition_text=str(rule["if"]) if "if" in rule else None, late_skip=late_skip, priority=priority,
        )

    def _late(self, text: Located) -> timedelta | None:
        """`late: skip after 12h`: a send step taken more than 12 hours after its time is skipped."""
        match = re.fullmatch(r"\s*skip after\s+(\S+)\s*", text.text)
        if match is None:
            self.problem(text, f"late is 'skip after DURATION', for example 'skip after 12h', not '{text.text}'")
            return None
        try:
            return parse_duration(match.group(1))
        except ValueError:
            hint = suggest_duration(match.group(1))
            self.problem(text, f"bad duration '{match.group(1)}'" + (f" (did you mean '{hint}'?)" if hint else
                                                                    "; write a number and a unit: 30m, 24h, 3d"),
                         1, match.start(1) + 1)
            return None

    def _priority(self, rule: CommentedMap, file: SourceFile) -> int | None:
        """`priority: high|normal|low` or a whole number from -100 to 100; None (a problem) otherwise."""
        value, text = rule["priority"], located_value(rule, "priority", file)
        if isinstance(value, int) and not isinstance(value, bool) and -100 <= value <= 100:
            return value
        if isinstance(value, str) and value in PRIORITIES:
            return PRIORITIES[value]
        self.problem(text, f"priority is high, normal (the default) or low, or a whole number from -100 to 100 "
                           f"(higher goes first), not '{text.text}'{did_you_mean(str(value), PRIORITIES)}")
        return None

    def _trigger(self, text: Located) -> g.Trigger | None:
        trigger = self.parse(text, "trigger")
        if trigger is None:
            return None
        method: Callable[[Any, Located], g.Trigger | None] = getattr(self, f"_trigger_{type(trigger).__name__}")
        return method(trigger, text)

    def _where(self, expr: s.Expr | None, text: Located, roots: tuple[str, ...], where: str) -> Compiled | None:
        return self.compiled(expr, text, roots, where) if expr is not None else None

    def _trigger_EventTrigger(self, trigger: s.EventTrigger, text: Located) -> g.Trigger | None:
        takes_segment = trigger.event_type in ("segment.entered", "segment.left")
        if takes_segment and trigger.segment is None:
            self.problem(text, f"'{trigger.event_type}' needs a segment name, for example "
                               f"'{trigger.event_type} vip'", *trigger.pos)
        elif not takes_segment and trigger.segment is not None:
            self.problem(text, f"unexpected '{trigger.segment}'; only segment.entered and segment.left "
                               "take a segment name; to filter, write 'where …'", *(trigger.segment_pos or (1, 1)))
        elif trigger.segment is not None:
            self._known_segment(trigger.segment, text, trigger.segment_pos or (1, 1))
        where = self._where(trigger.where, text, TRIGGER_ROOTS, "a trigger")
        return g.EventTrigger(trigger.event_type, trigger.segment, where)

    def _date_field(self, path: s.Path, text: Located) -> bool:
        self._note_fields(path, text)
        if path.root != "contact" or not path.keys:
            self.problem(text, f"a date trigger counts from a contact field such as contact.birthday, "
                               f"not '{path.dotted}'", *path.pos)
            return False
        return True

    def _trigger_DateTrigger(self, trigger: s.DateTrigger, text: Located) -> g.Trigger | None:
        where = self._where(trigger.where, text, CONTACT_ROOTS, "a date trigger")
        if not self._date_field(trigger.field, text):
            return None
        return g.DateTrigger(trigger.field.keys, trigger.offset, trigger.at, where)

    def _trigger_YearlyTrigger(self, trigger: s.YearlyTrigger, text: Located) -> g.Trigger | None:
        where = self._where(trigger.where, text, CONTACT_ROOTS, "a date trigger")
        if not self._date_field(trigger.field, text):
            return None
        return g.YearlyTrigger(trigger.field.keys, trigger.at, where)

    def _trigger_EveryTrigger(self, trigger: s.EveryTrigger, text: Located) -> g.Trigger | None:
        self._known_segment(trigger.segment, text, trigger.segment_pos)
        return g.EveryTrigger(trigger.period, trigger.at, trigger.segment)

    def _known_segment(self, name: str, text: Located, pos: s.Pos) -> None:
        known = [n for n, _ in self.segment_sources]
        if name not in known:
            self.problem(text, f"unknown segment '{name}'{did_you_mean(name, known)}", *pos)

    def _conditions(self, rule: CommentedMap, key: str, file: SourceFile) -> tuple[g.Condition, ...]:
        if key not in rule:
            return ()
        value = rule[key]
        if isinstance(value, CommentedSeq):
            texts = [located_item(value, i, file) for i in range(len(value))]
        else:
            texts = [located_value(rule, key, file)]
        conditions = []
        for text in texts:
            condition = self._condition(text, key)
            if condition is not None:
                conditions.append(condition)
        return tuple(conditions)

    def _condition(self, text: Located, key: str) -> g.Condition | None:
        """`event TYPE …`, `if COND`, or bare text that reads both ways and must hold one way only."""
        ending = self.parse(text, "ending")
        if not isinstance(ending, s.EitherEnding):
            return self._ending(ending, text, key) if ending is not None else None
        valid = [reading for reading in (ending.event, ending.condition) if not self._ending_problems(reading, key)]
        if len(valid) == 2:
            self.problem(text, f"'{text.text}' reads two ways: the event {ending.event.event_type} (when one comes), "
                               f"or the condition {text.text} (while the contact matches it); write "
                               f"'{key}: event {text.text}' or '{key}: if {text.text}'")
            return None
        return self._ending((valid or [ending.event])[0], text, key)  # the reading that holds, else the event's problems

    def _ending_problems(self, ending: s.Ending, key: str) -> list[tuple[str, s.Pos]]:
        if isinstance(ending, s.ConditionSpec):
            return check_expression(ending.condition, CONTACT_ROOTS, self.functions, f"a rule {key}")
        if ending.where is None:
            return []
        return check_expression(ending.where, TRIGGER_ROOTS, self.functions, f"a rule {key}")

    def _ending(self, ending: s.Ending, text: Located, key: str) -> g.Condition | None:
        found = self._ending_problems(ending, key)
        condition = ending.condition if isinstance(ending, s.ConditionSpec) else ending.where
        if condition is not None:
            self._note_fields(condition, text)
        for message, position in found:
            self.problem(text, message, *position)
        if found:
            return None
        if isinstance(ending, s.ConditionSpec):
            return g.ContactCondition(compile_expression(ending.condition, self.functions), text.text)
        where = compile_expression(ending.where, self.functions) if ending.where is not None else None
        return g.EventCondition(ending.event_type, where, ending.within, text.text)

    # ------------------------------------------------------------------ steps
    def _steps(self, steps: CommentedSeq, context: _RuleContext, ids: dict[str, Located],
               waited: bool) -> list[_Parsed]:
        """Forward pass: parse and check each step; `waited` says a `wait until` came before."""
        parsed: list[_Parsed] = []
        stopped = False
        for index in range(len(steps)):
            text = located_item(steps, index, context.file)
            if stopped:
                self.problem(text, "this step can never run: it comes after 'stop'")
                stopped = False  # one report per sequence is enough
            item = steps[index]
            if isinstance(item, CommentedMap):
                step = self._block(item, context, ids, waited)
            elif isinstance(item, (str, int, float)) and not isinstance(item, bool):
                step = self._statement(text, ids, waited)
            else:
                self.problem(text, "a step is a statement such as 'wait 1d', or a block such as 'if …:'")
                continue
            if step is None:
                continue
            parsed.append(step)
            waited = waited or _defines_waited(step)
            stopped = isinstance(step.statement, s.Stop) or stopped
        return parsed

    def _statement(self, text: Located, ids: dict[str, Located], waited: bool) -> _Parsed | None:
        statement = self.parse(text, "statement")
        if statement is None:
            return None
        getattr(self, f"_check_{type(statement).__name__}")(statement, text, ids, waited)
        return _Parsed(text, statement=statement)

    def _step_expression(self, expr: s.Expr, text: Located, waited: bool, roots: tuple[str, ...] = STEP_ROOTS) -> None:
        found = check_expression(expr, roots, self.functions, "a step")
        self._note_fields(expr, text)
        for message, (line, column) in found:
            self.problem(text, message, line, column)
        path = uses_root(expr, "waited")
        if path is not None and not waited and "waited" in roots:
            self.problem(text, "'waited' is only set after a 'wait until EVENT … within …' step", *path.pos)

    def _check_Send(self, st: s.Send, text: Located, ids: dict[str, Located], waited: bool) -> None:
        if st.channel not in self.channels:
            self.problem(text, f"unknown channel '{st.channel}'{did_you_mean(st.channel, self.channels)}"
                               + (f"; declared channels: {', '.join(self.channels)}" if self.channels
                                  else "; declare it under 'channels:'"), *st.channel_pos)
        elif (st.template, st.channel) not in self.template_sources:
            names = sorted({name for name, _ in self.template_sources})
            channels = sorted(c for n, c in self.template_sources if n == st.template)
            if channels:
                self.problem(text, f"template '{st.template}' has no {st.channel} version "
                                   f"(it has: {', '.join(channels)})", *st.template_pos)
            else:
                self.problem(text, f"unknown template '{st.template}'{did_you_mean(st.template, names)}",
                             *st.template_pos)
        for assignment in st.params:
            self._step_expression(assignment.value, text, waited)

    def _check_SetFields(self, st: s.SetFields, text: Located, ids: dict[str, Located], waited: bool) -> None:
        for assignment in st.assignments:
            self.fields_set.add(assignment.name)
            self._step_expression(assignment.value, text, waited)

    def _check_WaitEvent(self, st: s.WaitEvent, text: Located, ids: dict[str, Located], waited: bool) -> None:
        if st.where is not None:
            self._step_expression(st.where, text, waited, TRIGGER_ROOTS)

    def _check_Start(self, st: s.Start, text: Located, ids: dict[str, Located], waited: bool) -> None:
        if st.rule_id not in ids:
            self.problem(text, f"unknown rule '{st.rule_id}'{did_you_mean(st.rule_id, ids)}", *st.rule_pos)

    def _check_nothing(self, st: s.Statement, text: Located, ids: dict[str, Located], waited: bool) -> None:
        """Statements with no names or expressions to check."""

    _check_Wait = _check_WaitTime = _check_Score = _check_Tag = _check_Untag = _check_nothing
    _check_Task = _check_Stop = _check_nothing

    def _block(self, item: CommentedMap, context: _RuleContext, ids: dict[str, Located],
               waited: bool) -> _Parsed | None:
        heads = []
        for key in item:
            head_text = located_key(item, key, context.file)
            head = self.parse(head_text, "block")
            if head is None:
                return None
            heads.append((key, head, head_text))
        kinds = [head.kind for _, head, _ in heads]
        if kinds[0] == "split":
            if len(heads) > 1:
                self.problem(heads[1][2], "a split block has only the 'split' key; its variants go under it")
            return self._split(item, heads[0][0], heads[0][2], context, ids, waited)
        if kinds[0] != "if":
            self.problem(heads[0][2], f"'{kinds[0]}' must follow an 'if' in the same block")
            return None
        parsed = _Parsed(heads[0][2], kind="if")
        for position, (key, head, head_text) in enumerate(heads):
            if head.kind == "if" and position > 0:
                self.problem(head_text, "a second 'if' starts a new block: write it as a new step '- if …:'")
            if head.kind == "split":
                self.problem(head_text, "'split' is a block of its own: write it as a new step '- split:'")
            if head.kind == "else" and position != len(heads) - 1:
                self.problem(head_text, "'else' must come last in its block")
            if head.condition is not None:
                self._step_expression(head.condition, head_text, waited)
            body = self._body(item, key, context, ids, waited)
            if head.kind == "else":
                parsed.otherwise = body
            else:
                parsed.branches.append((head, head_text, body))
        return parsed

    def _body(self, item: CommentedMap, key: Any, context: _RuleContext, ids: dict[str, Located],
              waited: bool) -> list[_Parsed]:
        value = item[key]
        if value is None:
            return []
        if not isinstance(value, CommentedSeq):
            self.problem(located_value(item, key, context.file), f"'{key}' is followed by a list of steps")
            return []
        return self._steps(value, context, ids, waited)

    def _split(self, item: CommentedMap, key: Any, head_text: Located, context: _RuleContext,
               ids: dict[str, Located], waited: bool) -> _Parsed | None:
        variants = item[key]
        parsed = _Parsed(head_text, kind="split")
        if not isinstance(variants, CommentedMap) or not variants:
            self.problem(head_text, "a split lists its variants with their weights, for example "
                                    "'a 50%:', 'b 40%:', 'control 10%:'")
            return None
        total = 0.0
        for name in variants:
            variant = self.parse(located_key(variants, name, context.file), "variant")
            if variant is None:
                continue
            if any(v.name == variant.name for v, _ in parsed.variants):
                self.problem(located_key(variants, name, context.file), f"variant '{variant.name}' appears twice")
            total += variant.weight
            parsed.variants.append((variant, self._body(variants, name, context, ids, waited)))
        if abs(total - 100) > 1e-9 and len(parsed.variants) == len(variants):
            self.problem(head_text, f"split weights add up to {total:g}%, not 100%")
        return parsed

    # ------------------------------------------------------ building the graph
    def _build(self, parsed: list[_Parsed], prefix: str, after: str | None, context: _RuleContext) -> str | None:
        """Backward pass: create nodes last to first so each knows its `next`; return the first id."""
        following = after
        for index in range(len(parsed) - 1, -1, -1):
            step = parsed[index]
            node_id = f"{prefix}/{index}"
            origin = g.Origin(step.located.file.path, step.located.line, step.located.column, step.located.text)
            if step.kind == "if":
                node: g.Node = self._build_if(step, node_id, following, context, origin)
            elif step.kind == "split":
                node = self._build_split(step, node_id, following, context, origin)
            else:
                node = getattr(self, f"_node_{type(step.statement).__name__}")(step.statement, node_id,
                                                                               following, origin)
            context.nodes[node_id] = node
            following = node_id
        return following

    def _build_if(self, step: _Parsed, node_id: str, following: str | None, context: _RuleContext,
                  origin: g.Origin) -> g.BranchNode:
        branches = []
        for number, (head, head_text, body) in enumerate(step.branches):
            label = "if" if number == 0 else f"elif-{number}"
            target = self._build(body, f"{node_id}/{label}", following, context)
            condition = compile_expression(head.condition, self.functions)
            branches.append(g.Branch(condition, head_text.text, target))
        otherwise = following
        if step.otherwise is not None:
            otherwise = self._build(step.otherwise, f"{node_id}/else", following, context)
        return g.BranchNode(node_id, tuple(branches), otherwise, origin)

    def _build_split(self, step: _Parsed, node_id: str, following: str | None, context: _RuleContext,
                     origin: g.Origin) -> g.SplitNode:
        variants = tuple(
            g.Variant(variant.name, variant.weight, self._build(body, f"{node_id}/{variant.name}", following, context))
            for variant, body in step.variants
        )
        return g.SplitNode(node_id, variants, origin)

    def _params(self, assignments: tuple[s.Assignment, ...]) -> tuple[tuple[str, Compiled], ...]:
        return tuple((a.name, compile_expression(a.value, self.functions)) for a in assignments)

    def _node_Send(self, st: s.Send, node_id: str, nxt: str | None, origin: g.Origin) -> g.Node:
        return g.SendNode(node_id, st.channel, st.template, self._params(st.params), st.transactional,
                          st.offer, nxt, origin)

    def _node_SetFields(self, st: s.SetFields, node_id: str, nxt: str | None, origin: g.Origin) -> g.Node:
        return g.SetNode(node_id, self._params(st.assignments), nxt, origin)

    def _node_Score(self, st: s.Score, node_id: str, nxt: str | None, origin: g.Origin) -> g.Node:
        return g.ScoreNode(node_id, st.points, nxt, origin)

    def _node_Tag(self, st: s.Tag, node_id: str, nxt: str | None, origin: g.Origin) -> g.Node:
        return g.TagNode(node_id, st.name, True, nxt, origin)

    def _node_Untag(self, st: s.Untag, node_id: str, nxt: str | None, origin: g.Origin) -> g.Node:
        return g.TagNode(node_id, st.name, False, nxt, origin)

    def _node_Task(self, st: s.Task, node_id: str, nxt: str | None, origin: g.Origin) -> g.Node:
        return g.TaskNode(node_id, st.title, st.due, nxt, origin)

    def _node_Start(self, st: s.Start, node_id: str, nxt: str | None, origin: g.Origin) -> g.Node:
        return g.StartNode(node_id, st.rule_id, nxt, origin)

    def _node_Wait(self, st: s.Wait, node_id: str, nxt: str | None, origin: g.Origin) -> g.Node:
        return g.WaitNode(node_id, st.duration, nxt, origin)

    def _node_WaitTime(self, st: s.WaitTime, node_id: str, nxt: str | None, origin: g.Origin) -> g.Node:
        return g.WaitUntilTimeNode(node_id, st.at, nxt, origin)

    def _node_WaitEvent(self, st: s.WaitEvent, node_id: str, nxt: str | None, origin: g.Origin) -> g.Node:
        where = compile_expression(st.where, self.functions) if st.where is not None else None
        return g.WaitEventNode(node_id, st.event_type, where, st.within, nxt, origin)

    def _node_Stop(self, st: s.Stop, node_id: str, nxt: str | None, origin: g.Origin) -> g.Node:
        return g.StopNode(node_id, origin)


def _event_types(rule: g.Rule) -> Iterator[str]:
    """The event types a rule listens to: its trigger, goals, exits and `wait until` steps."""
    if isinstance(rule.trigger, g.EventTrigger):
        yield rule.trigger.event_type
    yield from (c.event_type for c in (*rule.goals, *rule.exits) if isinstance(c, g.EventCondition))
    yield from (n.event_type for n in rule.nodes.values() if isinstance(n, g.WaitEventNode))


def _defines_waited(step: _Parsed) -> bool:
    """True when every path through `step` passes a `wait until EVENT`."""
    if step.kind == "statement":
        return isinstance(step.statement, s.WaitEvent)
    if step.kind == "split":
        return bool(step.variants) and all(any(_defines_waited(x) for x in body) for _, body in step.variants)
    bodies = [body for _, _, body in step.branches]
    if step.otherwise is None:
        return False
    return all(any(_defines_waited(x) for x in body) for body in [*bodies, step.otherwise])


def _inside(at: s.Pos, position: s.Pos) -> s.Pos:
    """(line, column) counted from `at` of a text, as counted from the text's start."""
    line, column = position
    return (at[0], at[1] + column - 1) if line == 1 else (at[0] + line - 1, column)


def _plain(value: Any) -> Any:
    """ruamel's commented containers and scalar strings as plain Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def _version(rule: CommentedMap) -> str:
    """A short hash of the rule's content: it changes when the rule's text changes."""
    canonical = json.dumps(_plain(rule), sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]
