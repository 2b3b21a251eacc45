"""A compiled rule drawn as text (for golden files and review), Mermaid or Graphviz dot."""
from __future__ import annotations

import re
from collections.abc import Iterator

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


def _safe_id(node_id: str | None) -> str:
    return "finish" if node_id is None else "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)


def _quote(text: str) -> str:
    return text.replace('"', "'")


def as_mermaid(rule: g.Rule) -> str:
    lines = ["flowchart TD", f'  start(["{_quote(rule.id)}: {_quote(rule.when)}"])',
             f"  start --> {_safe_id(rule.start)}", '  finish(["end"])']
    for node_id, node in sorted(rule.nodes.items(), key=_order):
        shape = '{{"%s"}}' if isinstance(node, (g.BranchNode, g.SplitNode)) else '["%s"]'
        lines.append(f"  {_safe_id(node_id)}{shape % _quote(label(node))}")
        for edge_label, target in edges(node):
            arrow = f'-- "{_quote(edge_label)}" -->' if edge_label else "-->"
            lines.append(f"  {_safe_id(node_id)} {arrow} {_safe_id(target)}")
    return "\n".join(lines) + "\n"


def as_dot(rule: g.Rule) -> str:
    lines = [f'digraph "{_quote(rule.id)}" {{', "  node [shape=box];",
             f'  start [shape=oval, label="{_quote(rule.id)}: {_quote(rule.when)}"];',
             '  finish [shape=oval, label="end"];', f"  start -> {_safe_id(rule.start)};"]
    for node_id, node in sorted(rule.nodes.items(), key=_order):
        shape = ", shape=diamond" if isinstance(node, (g.BranchNode, g.SplitNode)) else ""
        lines.append(f'  {_safe_id(node_id)} [label="{_quote(label(node))}"{shape}];')
        for edge_label, target in edges(node):
            attrs = f' [label="{_quote(edge_label)}"]' if edge_label else ""
            lines.append(f"  {_safe_id(node_id)} -> {_safe_id(target)}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"


RENDERERS = {"text": as_text, "mermaid": as_mermaid, "dot": as_dot}
