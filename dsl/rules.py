"""The rules pass: each rule's header (id, when, if, goal, exit, entry, mode, late, priority) and steps → a graph rule."""
from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from . import graph as g
from . import syntax as s
from .checks import TRIGGER_ROOTS
from .compile_context import CompileContext, plain
from .durations import parse_duration, suggest_duration
from .errors import Problem, did_you_mean
from .loader import located_value
from .nodes import NodeBuilder
from .rule_endings import compile_endings
from .schema import PRIORITIES, Rule
from .sections import Sections, known_mode
from .source import Located, SourceFile
from .steps import Step, StepChecker
from .template_parts import TemplateSources
from .triggers import compile_trigger

REQUIRED_RULE_KEYS = tuple(field.alias or name for name, field in Rule.model_fields.items() if field.is_required())
RULE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
LATE = re.compile(r"\s*skip after\s+(\S+)\s*")


class Rules:
    """Rules gathered from every file's `rules:`, compiled once the other sections are known."""

    def __init__(self, context: CompileContext) -> None:
        self.context = context
        self.sources: list[tuple[CommentedMap, SourceFile, int, int]] = []

    def add_section(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        rules = data[key]
        if rules is None:
            return
        if not isinstance(rules, CommentedSeq):
            return
        for index, rule in enumerate(rules):
            line, column = rules.lc.item(index)
            if not isinstance(rule, CommentedMap):
                continue
            self.sources.append((rule, file, line + 1, column + 1))

    def compile(self, sections: Sections, templates: TemplateSources) -> dict[str, g.Rule]:
        ids: dict[str, Located] = {}
        for rule, file, _, _ in self.sources:
            if "id" in rule:
                text = located_value(rule, "id", file)
                if text.text in ids:
                    first = ids[text.text]
                    self.context.problem(text, f"duplicate rule id '{text.text}' "
                                               f"(first at {first.file.path}:{first.line})")
                else:
                    ids[text.text] = text
        rules: dict[str, g.Rule] = {}
        for rule, file, line, column in self.sources:
            compiled = self._rule(rule, file, line, column, ids, sections, templates)
            if compiled and compiled.id not in rules:
                rules[compiled.id] = compiled
        self.context.problems += start_loops(rules)
        return rules

    def _rule(self, rule: CommentedMap, file: SourceFile, line: int, column: int, ids: dict[str, Located],
              sections: Sections, templates: TemplateSources) -> g.Rule | None:
        context = self.context
        missing = [k for k in REQUIRED_RULE_KEYS if k not in rule]  # shape.py reports them
        if "id" not in rule:
            return None
        id_text = located_value(rule, "id", file)
        if not RULE_ID.match(id_text.text):
            context.problem(id_text, f"bad rule id '{id_text.text}'; use letters, digits, '-' and '_'")
        before = len(context.problems)
        trigger = (compile_trigger(context, located_value(rule, "when", file), sections.segment_names())
                   if "when" in rule else None)
        condition = None
        if "if" in rule:
            _, condition = context.expression(located_value(rule, "if", file), TRIGGER_ROOTS, "a rule condition")
        goals = compile_endings(context, rule, "goal", file)
        exits = compile_endings(context, rule, "exit", file)
        entry = context.parse(located_value(rule, "entry", file), "entry") if "entry" in rule else s.Entry("one-at-a-time")
        mode = str(sections.settings["mode"])
        if "mode" in rule and known_mode(context, located_value(rule, "mode", file)):
            mode = str(rule["mode"])
        late_skip = self._late(located_value(rule, "late", file)) if "late" in rule else None
        priority = self._priority(rule, file) if "priority" in rule else 0
        parsed: list[Step] = []
        if "steps" in rule:
            steps = rule["steps"]
            if isinstance(steps, CommentedSeq):
                parsed = StepChecker(context, file, sections.channels, templates, ids).steps(steps)
        if len(context.problems) > before or missing or trigger is None or entry is None or priority is None:
            return None
        builder = NodeBuilder(context.functions)
        start = builder.build(parsed, f"{id_text.text}/steps")
        return g.Rule(
            id=id_text.text, name=str(rule.get("name", id_text.text)), version=rule_version(rule),
            when=str(rule["when"]), trigger=trigger, condition=condition, goals=goals, exits=exits, entry=entry, mode=mode,
            start=start, nodes=builder.nodes, origin=g.Origin(file.path, line, column, id_text.text),
            condition_text=str(rule["if"]) if "if" in rule else None, late_skip=late_skip, priority=priority,
        )

    def _late(self, text: Located) -> timedelta | None:
        """`late: skip after 12h`: a send step taken more than 12 hours after its time is skipped."""
        found = LATE.fullmatch(text.text)
        if found is None:
            self.context.problem(text, f"late is 'skip after DURATION', for example 'skip after 12h', not '{text.text}'")
            return None
        try:
            return parse_duration(found.group(1))
        except ValueError:
            hint = suggest_duration(found.group(1))
            self.context.problem(text, f"bad duration '{found.group(1)}'" + (f" (did you mean '{hint}'?)" if hint else
                                                                            "; write a number and a unit: 30m, 24h, 3d"),
                                 1, found.start(1) + 1)
            return None

    def _priority(self, rule: CommentedMap, file: SourceFile) -> int | None:
        """`priority: high|normal|low` or a whole number from -100 to 100; None (a problem) otherwise."""
        value, text = rule["priority"], located_value(rule, "priority", file)
        if isinstance(value, int) and not isinstance(value, bool) and -100 <= value <= 100:
            return value
        if isinstance(value, str) and value in PRIORITIES:
            return PRIORITIES[value]
        self.context.problem(text, f"priority is high, normal (the default) or low, or a whole number from -100 to "
                                   f"100 (higher goes first), not '{text.text}'{did_you_mean(str(value), PRIORITIES)}")
        return None


def start_loops(rules: dict[str, g.Rule]) -> list[Problem]:
    """`start` statements must not lead back to their own rule: a run would start runs forever."""
    starts = {rule_id: [n for n in rule.nodes.values() if isinstance(n, g.StartNode)]
              for rule_id, rule in rules.items()}

    def path_back(origin: str, current: str, seen: list[str]) -> list[str] | None:
        for node in starts.get(current, []):
            if node.rule_id == origin:
                return [*seen, origin]
            if node.rule_id not in seen:
                found = path_back(origin, node.rule_id, [*seen, node.rule_id])
                if found:
                    return found
        return None

    problems = []
    for rule_id, nodes in starts.items():
        for node in nodes:
            loop = path_back(rule_id, node.rule_id, [rule_id, node.rule_id]) if node.rule_id != rule_id \
                else [rule_id, rule_id]
            if loop:
                problems.append(Problem(node.origin.path, node.origin.line, node.origin.column,
                                        f"'{node.origin.text}' makes a loop: {' → '.join(loop)}"))
    return problems


def rule_version(rule: CommentedMap) -> str:
    """A short hash of the rule's content: it changes when the rule's text changes."""
    canonical = json.dumps(plain(rule), sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]
