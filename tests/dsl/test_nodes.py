"""The backward pass: steps → graph nodes, each knowing the next, ids saying where each step is."""
from __future__ import annotations

from datetime import time, timedelta

import pytest

from relance.dsl import Scope
from relance.dsl import graph as g
from relance.dsl.nodes import NodeBuilder
from relance.dsl.parser import parse
from relance.dsl.source import Located, SourceFile
from relance.dsl.steps import IfStep, SplitStep, StatementStep

FILE = SourceFile("rules.yaml", ())
ORIGIN = g.Origin("rules.yaml", 1, 1, "")


def step(text: str) -> StatementStep:
    return StatementStep(Located(text, FILE, 7, 9), parse(text, "statement"))


@pytest.fixture
def builder(functions) -> NodeBuilder:
    return NodeBuilder(functions)


@pytest.mark.parametrize("text, node", [
    ("wait 3d", g.WaitNode("n", timedelta(days=3), "next", ORIGIN)),
    ("wait until 10:00", g.WaitUntilTimeNode("n", time(10), "next", ORIGIN)),
    ("score +5", g.ScoreNode("n", 5, "next", ORIGIN)),
    ("tag vip", g.TagNode("n", "vip", True, "next", ORIGIN)),
    ("untag vip", g.TagNode("n", "vip", False, "next", ORIGIN)),
    ('task "Call back" due 1d', g.TaskNode("n", "Call back", timedelta(days=1), "next", ORIGIN)),
    ("start bienvenue", g.StartNode("n", "bienvenue", "next", ORIGIN)),
    ("stop", g.StopNode("n", ORIGIN)),
])
def test_each_statement_becomes_its_node(builder, text: str, node: g.Node) -> None:
    assert builder.statement(parse(text, "statement"), "n", "next", ORIGIN) == node


def test_statements_with_expressions_compile_them(builder) -> None:
    send = builder.statement(parse("send email promo with code = contact.code offer 'X1'", "statement"), "n", None, ORIGIN)
    assert isinstance(send, g.SendNode) and (send.channel, send.template, send.offer) == ("email", "promo", "X1")
    [(name, value)] = send.params
    assert name == "code" and value(Scope(contact={"code": "A"})) == "A"
    wait = builder.statement(parse("wait until order.completed where event.total > 5 within 2d", "statement"),
                             "n", None, ORIGIN)
    assert isinstance(wait, g.WaitEventNode) and wait.within == timedelta(days=2)
    assert wait.where(Scope(contact={}, event={"total": 6})) is True


def test_a_sequence_is_linked_last_to_first(builder) -> None:
    start = builder.build([step("tag a"), step("wait 1d"), step("stop")], "r/steps")
    assert start == "r/steps/0"
    assert [builder.nodes[f"r/steps/{i}"].next for i in range(2)] == ["r/steps/1", "r/steps/2"]
    assert builder.nodes["r/steps/0"].origin == g.Origin("rules.yaml", 7, 9, "tag a")


def test_no_steps_lead_to_what_follows(builder) -> None:
    assert builder.build([], "r/steps", after="r/steps/3") == "r/steps/3"
    assert builder.nodes == {}


def test_branches_rejoin_after_the_block(builder) -> None:
    head = parse("if contact.vip", "block")
    block = IfStep(Located("if contact.vip", FILE, 3, 5), [(head, Located("if contact.vip", FILE, 3, 5), [step("tag a")])])
    builder.build([block, step("stop")], "r/steps")
    branch = builder.nodes["r/steps/0"]
    assert isinstance(branch, g.BranchNode)
    assert [b.target for b in branch.branches] == ["r/steps/0/if/0"] and branch.otherwise == "r/steps/1"
    assert builder.nodes["r/steps/0/if/0"].next == "r/steps/1"
    assert branch.branches[0].condition(Scope(contact={"vip": True})) is True


def test_a_split_s_variants_are_named_in_their_ids(builder) -> None:
    variants = [(parse("a 50%", "variant"), [step("tag a")]), (parse("control 50%", "variant"), [])]
    builder.build([SplitStep(Located("split", FILE, 3, 5), variants)], "r/steps", after=None)
    split = builder.nodes["r/steps/0"]
    assert [(v.name, v.weight, v.target) for v in split.variants] == [("a", 50, "r/steps/0/a/0"), ("control", 50, None)]
