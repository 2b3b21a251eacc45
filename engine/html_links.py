"""Links in an email's HTML, found by a tokenizer: every quoting style, entities decoded.

A regular expression reads `href="…?a=1&amp;b=2"` as the URL `…?a=1&amp;b=2` (Jinja's
autoescape writes every `&` that way) and misses `href=https://…` without quotes; the
standard library's HTMLParser reads attributes as a browser does. Only the tags whose
link changes are written anew; the rest of the document is kept byte for byte.
"""
from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

LINK_TAGS = ("a", "area")


@dataclass(frozen=True, slots=True)
class _Tag:
    start: int  # offsets of the tag's text in the document
    end: int
    name: str
    attrs: list[tuple[str, str | None]]
    closed: bool  # written <a … />


class _Scanner(HTMLParser):
    """Records link tags and the position of the last </body>."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.lines = [0]
        for index, character in enumerate(text):
            if character == "\n":
                self.lines.append(index + 1)
        self.tags: list[_Tag] = []
        self.body_end: int | None = None

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.lines[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in LINK_TAGS:
            raw = self.get_starttag_text() or ""
            start = self._offset()
            self.tags.append(_Tag(start, start + len(raw), tag, attrs, raw.rstrip(">").rstrip().endswith("/")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.body_end = self._offset()


def _scan(text: str) -> _Scanner:
    scanner = _Scanner(text)
    scanner.feed(text)
    scanner.close()
    return scanner


def hrefs(text: str) -> list[str]:
    """The links of `text`'s <a> and <area> tags, decoded as a browser reads them (the first href of a tag)."""
    return [value.strip() for tag in _scan(text).tags for value in [_href(tag)] if value is not None]


def _href(tag: _Tag) -> str | None:
    return next((value for name, value in tag.attrs if name == "href" and value is not None), None)


def rewrite_links(text: str, change: Callable[[str], str | None]) -> str:
    """`text` with each link tag's href replaced by `change(url)` (the decoded URL); None keeps the
    tag as it was, "" removes its href (the text stays, no longer a link)."""
    parts, cursor = [], 0
    for tag in _scan(text).tags:
        href = _href(tag)
        new = change(href.strip()) if href is not None else None
        if new is None:
            continue
        attrs = [(name, value) for name, value in tag.attrs if name != "href"]
        if new:
            attrs.insert(next(i for i, (name, _) in enumerate(tag.attrs) if name == "href"), ("href", new))
        written = "".join(f' {name}="{html.escape(value, quote=True)}"' if value is not None else f" {name}"
                          for name, value in attrs)
        parts += [text[cursor:tag.start], f"<{tag.name}{written}{' /' if tag.closed else ''}>"]
        cursor = tag.end
    return "".join([*parts, text[cursor:]])


def before_body_end(text: str, fragment: str) -> str:
    """`fragment` inserted before the document's </body>, or at its end when it has none."""
    end = _scan(text).body_end
    return text + fragment if end is None else text[:end] + fragment + text[end:]
