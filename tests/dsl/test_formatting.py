"""`relance fmt`: normalised indentation and quoting, comments kept, idempotent."""
from __future__ import annotations

from pathlib import Path

from relance.dsl.formatting import format_text

EXAMPLE = Path(__file__).resolve().parents[2] / "rules.example.yaml"

MESSY = """\
# the shop's rules
workspace:   demo   # trailing comment
rules:
- id: r
  when: 'checkout.started'
  steps:
        - wait 1d          # one day
        - 'send email x'
        - "task \\"Appeler\\" due 1d"
        - if contact.vip:
           - tag 'vip'
"""


def test_indentation_and_quoting_are_normalised_and_comments_kept() -> None:
    """End-of-line comments keep their column, as ruamel writes them."""
    formatted, problems = format_text(MESSY)
    assert problems == []
    assert formatted == """\
# the shop's rules
workspace: demo     # trailing comment
rules:
  - id: r
    when: checkout.started
    steps:
      - wait 1d            # one day
      - send email x
      - task "Appeler" due 1d
      - if contact.vip:
          - tag 'vip'
"""


def test_formatting_twice_changes_nothing() -> None:
    once, _ = format_text(MESSY)
    twice, _ = format_text(once)
    assert twice == once
    example_once, _ = format_text(EXAMPLE.read_text(encoding="utf-8"))
    assert format_text(example_once)[0] == example_once


def test_quotes_only_where_yaml_needs_them_and_then_double() -> None:
    formatted, _ = format_text("a: 'plain'\nb: 'needs: quoting'\nc: \"l'apostrophe: ici\"\nd: '123'\n")
    assert formatted == "a: plain\nb: \"needs: quoting\"\nc: \"l'apostrophe: ici\"\nd: \"123\"\n"


def test_a_file_that_does_not_parse_is_reported_not_rewritten() -> None:
    formatted, problems = format_text("a: [1, 2\n", "rules.yaml")
    assert formatted is None
    assert problems[0].message.startswith("YAML syntax error")
