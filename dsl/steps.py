"""The forward pass over a rule's `steps:`: each step parsed and checked, in order, into a tree of steps."""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from . import syntax as s
from .checks import STEP_ROOTS, TRIGGER_ROOTS, check_expression, uses_root
from .compile_context import CompileContext
from .errors import did_you_mean
from .loader import located_item, located_key, located_value
from .source import Located, SourceFile
from .template_parts import TemplateSources


@dataclass(frozen=True)
class StatementStep:
    """One statement such as `wait 1d` or `send email promo`."""

    located: Located
    statement: s.Statement


@dataclass
class IfStep:
    """`if …:` with its `elif …:` branches and their bodies, and the `else:` body if there is one."""

    located: Located
    branches: list[tuple[s.BlockHead, Located, list[Step]]] = field(default_factory=list)
    otherwise: list[Step] | None = None


@dataclass
class SplitStep:
    """`split:` with each variant's weight and body."""

    located: Located
    variants: list[tuple[s.Variant, list[Step]]] = field(default_factory=list)


Step = StatementStep | IfStep | SplitStep


def defines_waited(step: Step) -> bool:
    """True when every path through `step` passes a `wait until EVENT`."""
    match step:
        case StatementStep():
            return isinstance(step.statement, s.WaitEvent)
        case SplitStep():
            return bool(step.variants) and all(any(defines_waited(x) for x in body) for _, body in step.variants)
        case IfStep(otherwise=None):
            return False
        case IfStep():
            bodies = [body for _, _, body in step.branches]
            return all(any(defines_waited(x) for x in body) for body in [*bodies, step.otherwise])
        case _:
            raise TypeError(f"unknown step: {type(step).__name__}")


class StepChecker:
    """Checks one rule's steps against the workspace's channels, templates and rule ids."""

    def __init__(self, context: CompileContext, file: SourceFile, channels: Mapping[str, Any],
                 templates: TemplateSources, rule_ids: Collection[str]) -> None:
        self.context = context
        self.file = file
        self.channels = channels
        self.templates = templates
        self.rule_ids = rule_ids

    def steps(self, steps: CommentedSeq, waited: bool = False) -> list[Step]:
        """Parse and check each step; `waited` says a `wait until` came before."""
        parsed: list[Step] = []
        stopped = False
        for index in range(len(steps)):
            text = located_item(steps, index, self.file)
            if stopped:
                self.context.problem(text, "this step can never run: it comes after 'stop'")
                stopped = False  # one report per sequence is enough
            item = steps[index]
            if isinstance(item, CommentedMap):
                step = self._block(item, waited)
            elif isinstance(item, (str, int, float)) and not isinstance(item, bool):
                step = self._statement(text, waited)
            else:
                self.context.problem(text, "a step is a statement such as 'wait 1d', or a block such as 'if …:'")
                continue
            if step is None:
                continue
            parsed.append(step)
            waited = waited or defines_waited(step)
            stopped = stopped or (isinstance(step, StatementStep) and isinstance(step.statement, s.Stop))
        return parsed

    # ------------------------------------------------------------- statements
    def _statement(self, text: Located, waited: bool) -> StatementStep | None:
        statement = self.context.parse(text, "statement")
        match statement:
            case None:
                return None
            case s.Send():
                self._send(statement, text, waited)
            case s.SetFields():
                for assignment in statement.assignments:
                    self.context.fields_set.add(assignment.name)
                    self._expression(assignment.value, text, waited)
            case s.WaitEvent(where=None):
                pass
            case s.WaitEvent():
                self._expression(statement.where, text, waited, TRIGGER_ROOTS)
            case s.Start():
                if statement.rule_id not in self.rule_ids:
                    self.context.problem(text, f"unknown rule '{statement.rule_id}'"
                                               f"{did_you_mean(statement.rule_id, self.rule_ids)}", *statement.rule_pos)
            case s.Wait() | s.WaitTime() | s.Score() | s.Tag() | s.Untag() | s.Task() | s.Stop():
                pass  # no names or expressions to check
            case _:
                raise TypeError(f"unknown statement syntax: {type(statement).__name__}")
        return StatementStep(text, statement)

    def _send(self, st: s.Send, text: Located, waited: bool) -> None:
        if st.channel not in self.channels:
            self.context.problem(text, f"unknown channel '{st.channel}'{did_you_mean(st.channel, self.channels)}"
                                       + (f"; declared channels: {', '.join(self.channels)}" if self.channels
                                          else "; declare it under 'channels:'"), *st.channel_pos)
        elif not self.templates.has(st.template, st.channel):
            channels = self.templates.channels_of(st.template)
            if channels:
                self.context.problem(text, f"template '{st.template}' has no {st.channel} version "
                                           f"(it has: {', '.join(channels)})", *st.template_pos)
            else:
                self.context.problem(text, f"unknown template '{st.template}'"
                                           f"{did_you_mean(st.template, self.templates.names())}", *st.template_pos)
        for assignment in st.params:
            self._expression(assignment.value, text, waited)

    def _expression(self, expr: s.Expr, text: Located, waited: bool, roots: tuple[str, ...] = STEP_ROOTS) -> None:
        found = check_expression(expr, roots, self.context.functions, "a step")
        self.context.note_fields(expr, text)
        for message, (line, column) in found:
            self.context.problem(text, message, line, column)
        path = uses_root(expr, "waited")
        if path is not None and not waited and "waited" in roots:
            self.context.problem(text, "'waited' is only set after a 'wait until EVENT … within …' step", *path.pos)

    # ----------------------------------------------------------------- blocks
    def _block(self, item: CommentedMap, waited: bool) -> Step | None:
        heads = []
        for key in item:
            head_text = located_key(item, key, self.file)
            head = self.context.parse(head_text, "block")
            if head is None:
                return None
            heads.append((key, head, head_text))
        kinds = [head.kind for _, head, _ in heads]
        if kinds[0] == "split":
            if len(heads) > 1:
                self.context.problem(heads[1][2], "a split block has only the 'split' key; its variants go under it")
            return self._split(item, heads[0][0], heads[0][2], waited)
        if kinds[0] != "if":
            self.context.problem(heads[0][2], f"'{kinds[0]}' must follow an 'if' in the same block")
            return None
        parsed = IfStep(heads[0][2])
        for position, (key, head, head_text) in enumerate(heads):
            if head.kind == "if" and position > 0:
                self.context.problem(head_text, "a second 'if' starts a new block: write it as a new step '- if …:'")
            if head.kind == "split":
                self.context.problem(head_text, "'split' is a block of its own: write it as a new step '- split:'")
            if head.kind == "else" and position != len(heads) - 1:
                self.context.problem(head_text, "'else' must come last in its block")
            if head.condition is not None:
                self._expression(head.condition, head_text, waited)
            body = self._body(item, key, waited)
            if head.kind == "else":
                parsed.otherwise = body
            else:
                parsed.branches.append((head, head_text, body))
        return parsed

    def _body(self, item: CommentedMap, key: Any, waited: bool) -> list[Step]:
        value = item[key]
        if value is None:
            return []
        if not isinstance(value, CommentedSeq):
            self.context.problem(located_value(item, key, self.file), f"'{key}' is followed by a list of steps")
            return []
        return self.steps(value, waited)

    def _split(self, item: CommentedMap, key: Any, head_text: Located, waited: bool) -> SplitStep | None:
        variants = item[key]
        parsed = SplitStep(head_text)
        if not isinstance(variants, CommentedMap) or not variants:
            self.context.problem(head_text, "a split lists its variants with their weights, for example "
                                            "'a 50%:', 'b 40%:', 'control 10%:'")
            return None
        total = 0.0
        for name in variants:
            variant = self.context.parse(located_key(variants, name, self.file), "variant")
            if variant is None:
                continue
            if any(v.name == variant.name for v, _ in parsed.variants):
                self.context.problem(located_key(variants, name, self.file), f"variant '{variant.name}' appears twice")
            total += variant.weight
            parsed.variants.append((variant, self._body(variants, name, waited)))
        if abs(total - 100) > 1e-9 and len(parsed.variants) == len(variants):
            self.context.problem(head_text, f"split weights add up to {total:g}%, not 100%")
        return parsed
