"""`relance graph`: one valid Mermaid or Graphviz document for any number of rules."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from relance.dsl import check_workspace
from relance.dsl.diagrams import as_dot, as_mermaid

EXAMPLE = Path(__file__).resolve().parents[2] / "rules.example.yaml"
# Rule ids that differ only where diagram ids cannot, text with quotes and backslashes, variants.
TRICKY = r'''
workspace: "the \"shop\""
rules:
  - id: a-b
    when: x.y where event.name == "a \"b\" \\ c"
    steps:
      - split:
          v-1 50%: [tag x]
          v_1 50%: [task "say \"hi\""]
  - id: a_b
    when: end
    steps: [stop]
'''


def workspaces(write, functions) -> list:
    found = []
    for text in (EXAMPLE.read_text(encoding="utf-8"), TRICKY):
        workspace, problems = check_workspace([write(text)], functions)
        assert problems == [], [str(p) for p in problems]
        found.append(workspace)
    return found


MERMAID_NODE = re.compile(r'^\s+(\w+)(\(\["|\["|\{\{")(.*)("\]\)|"\]|"\}\})$')
MERMAID_EDGE = re.compile(r'^\s+(\w+) -->(?:\|"([^"]*)"\|)? (\w+)$')


def check_mermaid(text: str, rule_ids: list[str]) -> None:
    """A Mermaid flowchart as its parser reads it: one header, subgraphs that close, each node once."""
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "flowchart TD" and sum(line.startswith("flowchart") for line in lines) == 1
    defined: list[str] = []
    edges: list[tuple[str, str]] = []
    titles, depth = [], 0
    for line in lines[1:]:
        if match := re.match(r'^  subgraph (\w+) \["(.*)"\]$', line):
            assert depth == 0 and '"' not in match[2]
            titles.append(match[2].replace("#quot;", '"'))
            depth += 1
        elif line == "  end":
            depth -= 1
        elif line.strip() == "direction TB":
            continue
        elif match := MERMAID_NODE.match(line):
            assert '"' not in match[3], line
            defined.append(match[1])
        elif match := MERMAID_EDGE.match(line):
            edges.append((match[1], match[3]))
        else:
            pytest.fail(f"not a Mermaid flowchart line: {line!r}")
    assert depth == 0 and titles == rule_ids
    assert len(defined) == len(set(defined)) and all(not name.startswith("end") for name in defined)
    assert {name for edge in edges for name in edge} <= set(defined)


def check_dot(text: str, rule_ids: list[str]) -> None:
    """A Graphviz digraph: one graph, a cluster per rule, braces that close, each node once."""
    strings = re.compile(r'"(?:[^"\\]|\\.)*"')
    bare = strings.sub('""', text)
    assert bare.startswith('digraph "" {') and bare.count("digraph") == 1
    assert bare.count("{") == bare.count("}") and bare.rstrip().endswith("}")
    assert re.findall(r"subgraph (cluster_\d+) \{", bare) == [f"cluster_{i}" for i in range(1, len(rule_ids) + 1)]
    labels = [m[1:-1].replace('\\"', '"').replace("\\\\", "\\")
              for m in re.findall(r'^    label=("(?:[^"\\]|\\.)*");$', text, re.M)]
    assert labels == rule_ids
    defined = re.findall(r"^    (\w+) \[", bare, re.M)
    edges = re.findall(r"^    (\w+) -> (\w+)", bare, re.M)
    assert len(defined) == len(set(defined))
    assert {name for edge in edges for name in edge} <= set(defined)
    if shutil.which("dot"):  # Graphviz itself, where it is installed
        subprocess.run(["dot", "-Tsvg", "-o", "/dev/null"], input=text, text=True, check=True, timeout=30)


@pytest.mark.parametrize("only_one", [False, True])
def test_mermaid_is_one_document_with_a_subgraph_per_rule(write, functions, only_one: bool) -> None:
    for workspace in workspaces(write, functions):
        rules = list(workspace.rules.values())[:1 if only_one else None]
        check_mermaid(as_mermaid(workspace.name, rules), [r.id for r in rules])


@pytest.mark.parametrize("only_one", [False, True])
def test_dot_is_one_digraph_with_a_cluster_per_rule(write, functions, only_one: bool) -> None:
    for workspace in workspaces(write, functions):
        rules = list(workspace.rules.values())[:1 if only_one else None]
        check_dot(as_dot(workspace.name, rules), [r.id for r in rules])


def test_every_node_and_edge_of_every_rule_is_drawn(write, functions) -> None:
    workspace = workspaces(write, functions)[0]
    text = as_mermaid(workspace.name, list(workspace.rules.values()))
    nodes = sum(len(rule.nodes) for rule in workspace.rules.values())
    assert len([line for line in text.split("\n") if MERMAID_NODE.match(line)]) == nodes + 2 * len(workspace.rules)
