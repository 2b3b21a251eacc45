"""The templates pass: inline `templates:` and `templates/` files gathered by (name, channel), then compiled."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ruamel.yaml.comments import CommentedMap

from .checks import TEMPLATE_ROOTS
from .graph import ChannelConfig
from .compile_context import CompileContext, inside
from .expressions import Compiled
from .html_templates import HtmlTemplate, check_html
from .link_hosts import literal_hosts
from .loader import TemplateFile, located_key, located_value
from .parser import SyntaxProblem, parse
from .source import Located, SourceFile
from .templates import Template, Text, compile_text


@dataclass(frozen=True)
class TemplatePart:
    """Where a template part was defined, its subject if it has one, and its body."""

    where: Located
    subject: Located | None
    body: Located


@dataclass
class TemplateParts:
    """One template's parts: text (inline or `.txt`) and HTML (`.email.html`), either may be missing."""

    text: TemplatePart | None = None
    html: TemplatePart | None = None

    @property
    def first(self) -> TemplatePart:
        """The part that places the template in messages: the text part, else the HTML."""
        part = self.text or self.html
        assert part is not None, "parts are created with a part"
        return part


class TemplateSources:
    """Every template part found, by (name, channel); `compile` turns them into templates."""

    def __init__(self, context: CompileContext, channels: Mapping[str, ChannelConfig] | None = None) -> None:
        self.context = context
        self.channels = channels if channels is not None else {}  # the workspace's, read before template files
        self.parts: dict[tuple[str, str], TemplateParts] = {}

    def is_email(self, channel: str) -> bool:
        """Whether a channel sends email, so takes HTML parts: named `email`, or its plugin delivers to
        an email address — `newsletter: {plugin: smtp}` is one."""
        config = self.channels.get(channel)
        return channel == "email" or (config is not None and config.traits.address == "email")

    def has(self, name: str, channel: str) -> bool:
        return (name, channel) in self.parts

    def names(self) -> list[str]:
        return sorted({name for name, _ in self.parts})

    def channels_of(self, name: str) -> list[str]:
        return sorted(c for n, c in self.parts if n == name)

    def add_section(self, templates: CommentedMap, file: SourceFile) -> None:
        """`templates: {NAME: {CHANNEL: body or {subject, body}}}` of one file."""
        for name in templates:
            by_channel = templates[name]
            if not isinstance(by_channel, CommentedMap):
                continue  # shape.py reports a template of the wrong shape
            for channel in by_channel:
                self._inline(str(name), str(channel), by_channel, file)

    def _inline(self, name: str, channel: str, by_channel: CommentedMap, file: SourceFile) -> None:
        message = by_channel[channel]
        where = located_key(by_channel, channel, file)
        if isinstance(message, str):
            body: Located | None = located_value(by_channel, channel, file)
            subject = None
        elif isinstance(message, CommentedMap):
            body = located_value(message, "body", file) if "body" in message else None
            subject = located_value(message, "subject", file) if "subject" in message else None
        else:
            return
        if body is None:
            return
        self._add(name, channel, subject, body, where)

    def add_file(self, template: TemplateFile) -> None:
        where = Located("", template.body.file, 1, 1)
        if template.html and not self.is_email(template.channel):
            self.context.problem(where, f"HTML templates are for email; name this file "
                                        f"{template.name}.{template.channel}.txt")
            return
        self._add(template.name, template.channel, template.subject, template.body, where, html=template.html)

    def _add(self, name: str, channel: str, subject: Located | None, body: Located, where: Located,
             html: bool = False) -> None:
        parts = self.parts.setdefault((name, channel), TemplateParts())
        if (parts.html if html else parts.text) is not None:
            self.context.problem(where, f"template '{name}' for {channel} is defined twice")
            return
        part = TemplatePart(where, subject, body)
        if html:
            parts.html = part
        else:
            parts.text = part

    def hosts(self) -> set[str]:
        """Hosts the templates write literally: the agency wrote them, no event did."""
        sources = [located.text for parts in self.parts.values() for part in (parts.text, parts.html)
                   if part is not None for located in (part.body, part.subject) if located is not None]
        return {host for source in sources for host in literal_hosts(source)}

    def compile(self) -> dict[tuple[str, str], Template]:
        templates = {}
        for (name, channel), parts in self.parts.items():
            subject = self._subject(name, channel, parts)
            body = self._text(parts.text.body) if parts.text else Text(())
            html = self._html(parts.html.body) if parts.html else None
            templates[(name, channel)] = Template(name, channel, subject, body, parts.first.body.file.path,
                                                  parts.first.where.line, html)
        return templates

    def _subject(self, name: str, channel: str, parts: TemplateParts) -> Text | None:
        """The subject from the text part or the HTML file's `Subject:` line; email needs exactly one."""
        subjects = [part.subject for part in (parts.text, parts.html) if part and part.subject]
        if len(subjects) == 2:
            first = subjects[0]
            self.context.problem(subjects[1], f"template '{name}' for {channel} already has a subject in "
                                              f"{first.file.path}:{first.line}; keep one")
        if channel == "email" and not subjects:
            self.context.problem(parts.first.where, f"email template '{name}' needs a subject")
        return self._text(subjects[0]) if subjects else None

    def _html(self, source: Located) -> HtmlTemplate | None:
        functions = self.context.functions
        problems = check_html(source.text, functions)
        for line, column, message in problems:
            self.context.problem(source, message, line, column)
        return None if problems else HtmlTemplate(source.text, source.file.path, source.line, functions)

    def _text(self, text: Located) -> Text:
        def placeholder(source: str, line: int, column: int) -> Compiled | None:
            try:
                parsed = parse(source, "placeholder")
            except SyntaxProblem as error:
                self.context.problem(text, f"template placeholder {source!r} does not parse: {error.message}",
                                     *inside((line, column), (error.line, error.column)))
                return None
            return self.context.compiled(parsed.expr, text, TEMPLATE_ROOTS, "a template", (line, column))
        return compile_text(text.text, placeholder)
