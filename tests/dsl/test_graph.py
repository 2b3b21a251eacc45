"""The executable graph (dsl/graph.py): rules found by event type, clock-started rules, consent per channel."""
from __future__ import annotations

from relance.dsl import graph as g
from relance.dsl.channel_traits import ChannelTraits

RULES = """\
rules:
  - id: cart
    when: checkout.started
    steps: [stop]
  - id: cart-again
    when: checkout.started where event.total > 10
    steps: [stop]
  - id: birthday
    when: yearly on contact.birthday at 10:00
    steps: [stop]
  - id: weekly
    when: every monday at 09:00 for segment vip
    steps: [stop]
segments:
  vip: contact.score > 100
"""


def test_rules_for_an_event_type_are_the_rules_it_starts(compile_text) -> None:
    workspace, problems = compile_text(RULES)
    assert problems == []
    assert [rule.id for rule in workspace.rules_for("checkout.started")] == ["cart", "cart-again"]
    assert workspace.rules_for("order.completed") == ()


def test_timed_rules_are_the_ones_the_clock_starts(compile_text) -> None:
    workspace, _ = compile_text(RULES)
    assert [rule.id for rule in workspace.timed_rules()] == ["birthday", "weekly"]
    assert workspace.depends_on_time()


def test_a_workspace_of_event_rules_without_segments_does_not_depend_on_time(compile_text) -> None:
    workspace, _ = compile_text("rules:\n  - id: r\n    when: a.b\n    steps: [stop]\n")
    assert workspace.timed_rules() == () and not workspace.depends_on_time()


def test_segments_alone_make_a_workspace_depend_on_time(compile_text) -> None:
    workspace, _ = compile_text("segments: {dormant: days_since(contact.last_order_at) >= 90}\n"
                                "rules:\n  - id: r\n    when: a.b\n    steps: [stop]\n")
    assert workspace.timed_rules() == () and workspace.depends_on_time()


def test_nodes_are_linked_by_stable_ids_from_their_place_in_the_file(compile_text) -> None:
    workspace, _ = compile_text("rules:\n  - id: r\n    when: a.b\n    steps:\n      - wait 1d\n"
                                "      - if contact.vip:\n          - tag vip\n        else:\n          - stop\n")
    rule = workspace.rules["r"]
    assert rule.start == "r/steps/0"
    wait, branch = rule.nodes["r/steps/0"], rule.nodes["r/steps/1"]
    assert isinstance(wait, g.WaitNode) and wait.next == "r/steps/1"
    assert isinstance(branch, g.BranchNode)
    assert isinstance(rule.nodes[branch.branches[0].target], g.TagNode)
    assert isinstance(rule.nodes[branch.otherwise], g.StopNode)


def test_consent_is_the_workspaces_word_else_the_plugins_default() -> None:
    email = g.ChannelConfig("email", "smtp", {}, ChannelTraits("email", "opt_out"))
    sms = g.ChannelConfig("sms", "twilio", {}, ChannelTraits("phone", "opt_in"))
    policy = g.Policy(consent={"email": "opt_in"})
    assert policy.consent_rule(email) == "opt_in"
    assert policy.consent_rule(sms) == "opt_in"
    assert g.Policy().consent_rule(email) == "opt_out"
    assert g.Policy().consent_rule(g.ChannelConfig("log", "log", {})) == "none"
