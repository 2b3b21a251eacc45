"""Links in an email's HTML read by a tokenizer, rewritten tag by tag, the rest kept byte for byte."""
from __future__ import annotations

import pytest

from relance.engine.html_links import before_body_end, hrefs, rewrite_links

PAGE = ('<html><body>\n<p>Bonjour</p>\n<a class="btn" href="https://shop.test/c?a=1&amp;b=2">Panier</a>\n'
        "<area href=https://shop.test/map shape=rect>\n<a name=top>haut</a><link href=https://cdn.test/x.css>\n"
        "<a href='mailto:aide@shop.test'/>\n</body></html>")


def test_hrefs_are_those_of_a_and_area_tags_decoded_as_a_browser_reads_them() -> None:
    assert hrefs(PAGE) == ["https://shop.test/c?a=1&b=2", "https://shop.test/map", "mailto:aide@shop.test"]


def test_the_first_href_of_a_tag_counts() -> None:
    assert hrefs('<a href="https://one.test" href="https://two.test">x</a>') == ["https://one.test"]


def test_rewriting_changes_only_the_tags_whose_link_changes() -> None:
    rewritten = rewrite_links(PAGE, lambda url: "https://t.test/?u=1&v=2" if "map" in url else None)
    assert rewritten == PAGE.replace("<area href=https://shop.test/map shape=rect>",
                                     '<area href="https://t.test/?u=1&amp;v=2" shape="rect">')


def test_rewriting_to_nothing_unlinks_and_keeps_the_text_and_self_closing_tags() -> None:
    rewritten = rewrite_links(PAGE, lambda url: "" if url.startswith("mailto:") else None)
    assert "<a />" in rewritten and hrefs(rewritten) == hrefs(PAGE)[:2]


def test_offsets_hold_across_lines_and_attributes_without_values() -> None:
    text = "a\nb\n  <a download href=x>1</a>\n<a href=y>2</a>"
    assert rewrite_links(text, lambda url: url.upper()) == 'a\nb\n  <a download href="X">1</a>\n<a href="Y">2</a>'


@pytest.mark.parametrize("text, expected", [
    ("<body>hi</body>", "<body>hi<img></body>"),
    ("<body>a</body> <body>b</BODY>", "<body>a</body> <body>b<img></BODY>"),  # the last </body>
    ("no body", "no body<img>"),
])
def test_a_fragment_goes_before_the_last_body_end(text: str, expected: str) -> None:
    assert before_body_end(text, "<img>") == expected
