"""`relance fmt`: normalised indentation and quoting, values and comments kept, idempotent."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml as pyyaml  # a YAML 1.1 reader, as many tools around rules files are
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from relance.dsl import check_workspace
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


def test_the_example_is_formatted() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert format_text(text, str(EXAMPLE)) == (text, [])


def test_formatting_twice_changes_nothing() -> None:
    for text in (MESSY, EXAMPLE.read_text(encoding="utf-8"), COMMENTED, "\n".join(f"k{i}: {v}" for i, v in
                                                                                enumerate(YAML_1_1_VALUES))):
        once, _ = format_text(text)
        assert format_text(once)[0] == once


def test_quotes_only_where_yaml_needs_them_and_then_double() -> None:
    formatted, _ = format_text("a: 'plain'\nb: 'needs: quoting'\nc: \"l'apostrophe: ici\"\nd: '123'\n")
    assert formatted == "a: plain\nb: \"needs: quoting\"\nc: \"l'apostrophe: ici\"\nd: \"123\"\n"


@pytest.mark.parametrize("written", ["+50", "+1", "-3", "+1.50", "-0.5", "0x1F", "1_000", "007"])
def test_numbers_are_written_as_they_were(written: str) -> None:
    assert format_text(f"scoring:\n  order.completed: {written}\n")[0] == f"scoring:\n  order.completed: {written}\n"


# Strings YAML 1.1 tools read as booleans, numbers (10:00 is 600), nulls, dates or merge keys.
YAML_1_1_VALUES = ["yes", "Yes", "YES", "no", "No", "on", "On", "ON", "off", "Off", "y", "Y", "n", "N", "10:00",
                   "09:30", "1:30:00", "190:20:30", "~", "null", "2026-03-02", "0777", "1e3", "1_000", ".inf", "<<",
                   "="]


def reads_as_a_string(text: str) -> bool:
    try:
        return isinstance(YAML(typ="safe").load(text)["a"], str)
    except YAMLError:
        return False


# Each value quoted, single-quoted and plain, where YAML 1.2 (what Relance reads) reads a string.
STRINGS = [f"a: {quote}{value}{quote}\n" for value in YAML_1_1_VALUES for quote in ('"', "'", "")
           if reads_as_a_string(f"a: {quote}{value}{quote}\n")]


@pytest.mark.parametrize("text", STRINGS)
def test_a_string_keeps_its_meaning_for_yaml_1_1_and_1_2_readers(text: str) -> None:
    value = YAML(typ="safe").load(text)["a"]
    formatted, _ = format_text(text)
    assert YAML(typ="safe").load(formatted)["a"] == value
    assert pyyaml.safe_load(formatted)["a"] == value, formatted


def test_plain_strings_a_yaml_1_1_tool_misreads_are_quoted() -> None:
    assert format_text("a: on\nb: 10:00\nc: y\nd: 21:00-09:00\n")[0] == 'a: "on"\nb: "10:00"\nc: "y"\nd: 21:00-09:00\n'


COMMENTED = """\
rules:
- id: r
  when: a.b
  steps:
        # first, a day
        - wait 1d
        # then the reminder
        - send email x
        - if contact.vip:
                # only for VIPs
                - tag vip
                # more to come
        # the end
  # the rule's end
- id: s
  when: c.d
  body: |
    # a line of text, not a comment
        # nor this one
  steps: [stop]
# the file's end
"""


def test_comments_move_with_the_lines_around_them() -> None:
    assert format_text(COMMENTED)[0] == """\
rules:
  - id: r
    when: a.b
    steps:
      # first, a day
      - wait 1d
      # then the reminder
      - send email x
      - if contact.vip:
          # only for VIPs
          - tag vip
          # more to come
      # the end
    # the rule's end
  - id: s
    when: c.d
    body: |
      # a line of text, not a comment
          # nor this one
    steps: [stop]
# the file's end
"""


def messy(text: str) -> str:
    """The same document written with other indentation and every string in single quotes."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=4, sequence=4, offset=0)
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(yaml.load(text), out)
    return out.getvalue()


def test_a_formatted_workspace_compiles_to_the_same_rules(write, functions) -> None:
    original = EXAMPLE.read_text(encoding="utf-8")
    rewritten = messy(original)
    assert rewritten != original
    formatted, _ = format_text(rewritten)
    graphs = []
    for name, text in (("original", original), ("messy", rewritten), ("formatted", formatted)):
        workspace, problems = check_workspace([write(text, f"{name}.yaml")], functions)
        assert problems == [], [str(p) for p in problems]
        graphs.append({rule.id: (rule.version, {n: node.origin.text for n, node in rule.nodes.items()})
                       for rule in workspace.rules.values()})
        graphs[-1]["scoring"] = dict(workspace.scoring)
    assert graphs[0] == graphs[1] == graphs[2]


def test_a_file_that_does_not_parse_is_reported_not_rewritten() -> None:
    formatted, problems = format_text("a: [1, 2\n", "rules.yaml")
    assert formatted is None
    assert problems[0].message.startswith("YAML syntax error")
