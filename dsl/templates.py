"""Message templates: text with `{{ expr }}` placeholders, compiled like any expression.

A placeholder prints as `formats.plain` shows its value; `{{ price(event.cart.total) }}`,
`{{ number(x) }}` and `{{ date(event.at, "long") }}` format in the workspace's locale.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .expressions import Compiled, Scope
from .formats import plain
from .html_templates import HtmlTemplate

PLACEHOLDER = re.compile(r"\{\{.*?\}\}", re.S)


def placeholders(text: str) -> list[tuple[re.Match[str], int, int]]:
    """Each `{{ … }}` in `text` with its 1-based line and column inside the text."""
    found = []
    for match in PLACEHOLDER.finditer(text):
        before = text[: match.start()]
        line = before.count("\n") + 1
        column = match.start() - (before.rfind("\n") + 1) + 1
        found.append((match, line, column))
    return found


@dataclass(frozen=True, slots=True)
class Text:
    """Literal pieces and compiled placeholders, rendered in order."""

    parts: tuple[str | Compiled, ...]

    def render(self, scope: Scope) -> str:
        return "".join(part if isinstance(part, str) else plain(part(scope)) for part in self.parts)


def compile_text(text: str, compile_placeholder: Callable[[str, int, int], Compiled | None]) -> Text:
    """Split `text` at its placeholders; `compile_placeholder(source, line, column)` compiles each."""
    parts: list[str | Compiled] = []
    cursor = 0
    for match, line, column in placeholders(text):
        if match.start() > cursor:
            parts.append(text[cursor: match.start()])
        compiled = compile_placeholder(match.group(0), line, column)
        if compiled is not None:
            parts.append(compiled)
        cursor = match.end()
    if cursor < len(text):
        parts.append(text[cursor:])
    return Text(tuple(parts))


@dataclass(frozen=True, slots=True)
class Template:
    """One template for one channel; email templates have a subject.

    An email template may also have an HTML part (`<name>.email.html`); with only that
    file, `body` is empty and the channel derives the text part from the HTML.
    """

    name: str
    channel: str
    subject: Text | None
    body: Text
    path: str
    line: int
    html: HtmlTemplate | None = None
