"""Compiled rules drawn as text (for golden files and review), or as one Mermaid or Graphviz document."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

from . import graph as g


def edges(node: g.Node) -> Iterator[tuple[str, str | None]]:
    """(label, target) for each edge leaving `node`; a None target ends the run."""
    if isinstance(node, g.BranchNode):
        for branch in node.branches:
            yield branch.text, branch.target
        yield "else", node.otherwise
    elif isinstance(node, g.SplitNode):
        for variant in node.variants:
            yield f"{variant.name} {variant.weight:g}%", variant.target
    elif not isinstance(node, g.StopNode):
        yield "", node.next


def label(node: g.Node) -> str:
    if isinstance(node, g.BranchNode):
        return "branch"
    if isinstance(node, g.SplitNode):
        return "split"
    return node.origin.text


def as_text(rule: g.Rule) -> str:
    """One line per node, in id order, with its kind, text and edges."""
    lines = [f"rule {rule.id} (version {rule.version})",
             f"  trigger: {rule.when}", f"  entry: {rule.entry.kind}", f"  start: {rule.start}"]
    lines += [f"  goal: {c.text}" for c in rule.goals] + [f"  exit: {c.text}" for c in rule.exits]
    for node_id, node in sorted(rule.nodes.items(), key=_order):
        kind = type(node).__name__.removesuffix("Node").lower()
        lines.append(f"  {node_id} [{kind}] {label(node)}")
        for edge_label, target in edges(node):
            prefix = f"{edge_label} " if edge_label else ""
            lines.append(f"    {prefix}-> {target or 'end'}")
    return "\n".join(lines) + "\n"


def _order(item: tuple[str, g.Node]) -> list[object]:
    return [int(p) if p.isdigit() else p for p in item[0].split("/")]


class _Ids:
    """Diagram ids for a rule's nodes, unique across the document (rule ids and node ids may
    differ only in characters ids cannot hold)."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def rule(self, number: int) -> Callable[[str | None], str]:
        names: dict[str | None, str] = {}

        def id_of(node_id: str | None) -> str:
            if node_id not in names:
                base = f"r{number}_" + ("end" if node_id is None else re.sub(r"[^A-Za-z0-9_]", "_", node_id))
                name, count = base, 1
                while name in self.taken:
                    count += 1
                    name = f"{base}_{count}"
                self.taken.add(name)
                names[node_id] = name
            return names[node_id]
        return id_of


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def as_mermaid(name: str, rules: Sequence[g.Rule]) -> str:
    """One Mermaid flowchart, a subgraph per rule."""
    ids = _Ids()
    lines = ["flowchart TD"]
    for number, rule in enumerate(rules, start=1):
        id_of = ids.rule(number)
        start = id_of("start")
        lines += [f'  subgraph r{number} ["{_mermaid_text(rule.id)}"]', "    direction TB",
                  f'    {start}(["{_mermaid_text(rule.when)}"])', f"    {start} --> {id_of(rule.start)}",
                  f'    {id_of(None)}(["end"])']
        for node_id, node in sorted(rule.nodes.items(), key=_order):
            shape = '{{"%s"}}' if isinstance(node, (g.BranchNode, g.SplitNode)) else '["%s"]'
            lines.append(f"    {id_of(node_id)}{shape % _mermaid_text(label(node))}")
            for edge_label, target in edges(node):
                arrow = f'-->|"{_mermaid_text(edge_label)}"|' if edge_label else "-->"
                lines.append(f"    {id_of(node_id)} {arrow} {id_of(target)}")
        lines.append("  end")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def as_dot(name: str, rules: Sequence[g.Rule]) -> str:
    """One Graphviz digraph, a cluster per rule."""
    ids = _Ids()
    lines = [f"digraph {_dot_text(name)} {{", "  node [shape=box];"]
    for number, rule in enumerate(rules, start=1):
        id_of = ids.rule(number)
        start = id_of("start")
        lines += [f"  subgraph cluster_{number} {{", f"    label={_dot_text(rule.id)};",
                  f"    {start} [shape=oval, label={_dot_text(rule.when)}];",
                  f'    {id_of(None)} [shape=oval, label="end"];', f"    {start} -> {id_of(rule.start)};"]
        for node_id, node in sorted(rule.nodes.items(), key=_order):
            shape = ", shape=diamond" if isinstance(node, (g.BranchNode, g.SplitNode)) else ""
            lines.append(f"    {id_of(node_id)} [label={_dot_text(label(node))}{shape}];")
            for edge_label, target in edges(node):
                attrs = f" [label={_dot_text(edge_label)}]" if edge_label else ""
                lines.append(f"    {id_of(node_id)} -> {id_of(target)}{attrs};")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def as_texts(name: str, rules: Sequence[g.Rule]) -> str:
    return "\n".join(as_text(rule) for rule in rules)


RENDERERS: dict[str, Callable[[str, Sequence[g.Rule]], str]] = {"text": as_texts, "mermaid": as_mermaid,
                                                                "dot": as_dot}
