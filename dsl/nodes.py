"""The backward pass: checked steps → graph nodes, last to first so each node knows its `next`."""
from __future__ import annotations

from . import graph as g
from . import syntax as s
from .expressions import Compiled, compile_expression
from .functions import FunctionRegistry
from .steps import IfStep, SplitStep, StatementStep, Step


class NodeBuilder:
    """Builds one rule's nodes into `nodes`, keyed by ids that say where each step is (`rule/steps/2/if/0`)."""

    def __init__(self, functions: FunctionRegistry) -> None:
        self.functions = functions
        self.nodes: dict[str, g.Node] = {}

    def build(self, steps: list[Step], prefix: str, after: str | None = None) -> str | None:
        """Create the nodes of `steps`, the last one leading to `after`; return the first one's id."""
        following = after
        for index in range(len(steps) - 1, -1, -1):
            step = steps[index]
            node_id = f"{prefix}/{index}"
            located = step.located
            origin = g.Origin(located.file.path, located.line, located.column, located.text)
            match step:
                case IfStep():
                    node: g.Node = self._branch(step, node_id, following, origin)
                case SplitStep():
                    node = self._split(step, node_id, following, origin)
                case StatementStep():
                    node = self.statement(step.statement, node_id, following, origin)
                case _:
                    raise TypeError(f"unknown step: {type(step).__name__}")
            self.nodes[node_id] = node
            following = node_id
        return following

    def _branch(self, step: IfStep, node_id: str, following: str | None, origin: g.Origin) -> g.BranchNode:
        branches = []
        for number, (head, head_text, body) in enumerate(step.branches):
            label = "if" if number == 0 else f"elif-{number}"
            target = self.build(body, f"{node_id}/{label}", following)
            condition = compile_expression(head.condition, self.functions)
            branches.append(g.Branch(condition, head_text.text, target))
        otherwise = following
        if step.otherwise is not None:
            otherwise = self.build(step.otherwise, f"{node_id}/else", following)
        return g.BranchNode(node_id, tuple(branches), otherwise, origin)

    def _split(self, step: SplitStep, node_id: str, following: str | None, origin: g.Origin) -> g.SplitNode:
        variants = tuple(
            g.Variant(variant.name, variant.weight, self.build(body, f"{node_id}/{variant.name}", following))
            for variant, body in step.variants
        )
        return g.SplitNode(node_id, variants, origin)

    def statement(self, st: s.Statement, node_id: str, nxt: str | None, origin: g.Origin) -> g.Node:
        """The node a statement becomes, leading to `nxt`."""
        match st:
            case s.Send():
                return g.SendNode(node_id, st.channel, st.template, self._params(st.params), st.transactional,
                                  st.offer, nxt, origin)
            case s.SetFields():
                return g.SetNode(node_id, self._params(st.assignments), nxt, origin)
            case s.Score():
                return g.ScoreNode(node_id, st.points, nxt, origin)
            case s.Tag():
                return g.TagNode(node_id, st.name, True, nxt, origin)
            case s.Untag():
                return g.TagNode(node_id, st.name, False, nxt, origin)
            case s.Task():
                return g.TaskNode(node_id, st.title, st.due, nxt, origin)
            case s.Start():
                return g.StartNode(node_id, st.rule_id, nxt, origin)
            case s.Wait():
                return g.WaitNode(node_id, st.duration, nxt, origin)
            case s.WaitTime():
                return g.WaitUntilTimeNode(node_id, st.at, nxt, origin)
            case s.WaitEvent():
                where = compile_expression(st.where, self.functions) if st.where is not None else None
                return g.WaitEventNode(node_id, st.event_type, where, st.within, nxt, origin)
            case s.Stop():
                return g.StopNode(node_id, origin)
            case _:
                raise TypeError(f"unknown statement syntax: {type(st).__name__}")

    def _params(self, assignments: tuple[s.Assignment, ...]) -> tuple[tuple[str, Compiled], ...]:
        return tuple((a.name, compile_expression(a.value, self.functions)) for a in assignments)
