"""Compiling a workspace: graph shape, stable ids, the trigger index, golden output."""
from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from relance.dsl import Scope, check_workspace
from relance.dsl import graph as g
from relance.dsl.diagrams import as_text

GOLDEN = Path(__file__).parent / "golden"
EXAMPLE = Path(__file__).resolve().parents[2] / "rules.example.yaml"


def test_example_workspace_compiles(functions) -> None:
    workspace, problems = check_workspace([EXAMPLE], functions)
    assert problems == []
    assert set(workspace.rules) == {"ecom-01-prospect-chaud", "ecom-02-prospect-tiede", "ecom-03-panier-abandonne",
                                    "bienvenue", "avis-apres-achat", "vip-bienvenue"}
    assert set(workspace.segments) == {"vip", "dormant"}
    assert workspace.scoring["order.completed"] == 50
    assert workspace.policy.quiet_hours["sms"] == (time(21), time(9))
    assert workspace.policy.frequency == {"all": g.Frequency(3, timedelta(hours=24))}


@pytest.mark.parametrize("rule_id", ["ecom-01-prospect-chaud", "ecom-03-panier-abandonne", "avis-apres-achat"])
def test_example_graphs_match_golden_files(functions, request, rule_id: str) -> None:
    workspace, _ = check_workspace([EXAMPLE], functions)
    text = as_text(workspace.rules[rule_id]).replace(workspace.rules[rule_id].version, "VERSION")
    golden = GOLDEN / f"{rule_id}.graph.txt"
    if request.config.getoption("--update-golden"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_rules_are_indexed_by_trigger_event_type(compile_text) -> None:
    rules = "".join(f"  - id: r{i}\n    when: type{i % 10}.happened\n    steps: [stop]\n" for i in range(100))
    workspace, problems = compile_text("rules:\n" + rules)
    assert problems == []
    assert [r.id for r in workspace.rules_for("type3.happened")] == [f"r{i}" for i in range(3, 100, 10)]
    assert workspace.rules_for("order.completed") == ()


def test_segment_spec_names_map_to_dotted_event_types(compile_text) -> None:
    workspace, _ = compile_text("rules:\n  - id: a\n    when: Order Completed\n    steps: [stop]\n"
                                "  - id: b\n    when: Product Added to Wishlist\n    steps: [stop]\n")
    assert workspace.rules["a"].trigger.event_type == "order.completed"
    assert workspace.rules["b"].trigger.event_type == "wishlist.product_added"


def test_if_elif_else_edges_rejoin_after_the_block(compile_text) -> None:
    workspace, problems = compile_text("""
        channels: {email: {plugin: log}}
        rules:
          - id: r
            when: a.b
            steps:
              - if contact.score > 100:
                  - tag hot
                elif contact.score > 10:
                  - tag warm
                  - score +1
                else:
                  - tag cold
              - stop
        """)
    assert problems == []
    nodes = workspace.rules["r"].nodes
    branch = nodes["r/steps/0"]
    assert [b.target for b in branch.branches] == ["r/steps/0/if/0", "r/steps/0/elif-1/0"]
    assert branch.otherwise == "r/steps/0/else/0"
    assert nodes["r/steps/0/if/0"].next == "r/steps/1"
    assert nodes["r/steps/0/elif-1/0"].next == "r/steps/0/elif-1/1"
    assert nodes["r/steps/0/elif-1/1"].next == "r/steps/1"
    assert isinstance(nodes["r/steps/1"], g.StopNode)
    assert branch.branches[0].condition(Scope(contact={"score": 500})) is True
    assert branch.branches[1].condition(Scope(contact={})) is False


def test_if_without_else_continues_after_the_block(compile_text) -> None:
    workspace, _ = compile_text("rules:\n  - id: r\n    when: a.b\n    steps:\n"
                                "      - if contact.vip:\n          - tag vip\n      - score +5\n")
    assert workspace.rules["r"].nodes["r/steps/0"].otherwise == "r/steps/1"


def test_node_ids_are_stable_when_steps_are_added_after_them(compile_text) -> None:
    base = "rules:\n  - id: r\n    when: a.b\n    steps:\n      - wait 1d\n      - tag a\n"
    before, _ = compile_text(base)
    after, _ = compile_text(base + "      - tag b\n")
    assert set(before.rules["r"].nodes) < set(after.rules["r"].nodes)
    assert before.rules["r"].version != after.rules["r"].version


@pytest.mark.parametrize("when, trigger", [
    ("3d before contact.next_payment_at", g.DateTrigger(("next_payment_at",), -timedelta(days=3), None, None)),
    ("90d after contact.last_order_at at 10:00",
     g.DateTrigger(("last_order_at",), timedelta(days=90), time(10), None)),
    ("yearly on contact.birthday at 10:00", g.YearlyTrigger(("birthday",), time(10), None)),
    ("every monday at 09:00 for segment dormant", g.EveryTrigger("monday", time(9), "dormant")),
    ("segment.entered dormant", g.EventTrigger("segment.entered", "dormant", None)),
])
def test_triggers(compile_text, when: str, trigger: g.Trigger) -> None:
    workspace, problems = compile_text(f"segments: {{dormant: days_since(contact.last_order_at) >= 90}}\n"
                                       f"rules:\n  - id: r\n    when: {when}\n    steps: [stop]\n")
    assert problems == []
    assert workspace.rules["r"].trigger == trigger


def test_goals_and_exits(compile_text) -> None:
    workspace, _ = compile_text("rules:\n  - id: r\n    when: a.b\n    goal: order.completed where event.total > 10 "
                                "within 7d\n    exit: [if contact.unsubscribed, email.bounced]\n    steps: [stop]\n")
    rule = workspace.rules["r"]
    [goal] = rule.goals
    assert (goal.event_type, goal.within) == ("order.completed", timedelta(days=7))
    assert goal.where(Scope(contact={}, event={"total": 20})) is True
    unsubscribed, bounced = rule.exits
    assert isinstance(unsubscribed, g.ContactCondition) and unsubscribed.predicate(Scope(contact={"unsubscribed": True}))
    assert isinstance(bounced, g.EventCondition) and bounced.event_type == "email.bounced"


def test_send_statement(compile_text) -> None:
    workspace, _ = compile_text("""
        channels: {email: {plugin: log}}
        templates: {promo: {email: {subject: s, body: "{{ params.coupon }} {{ params.n }}"}}}
        rules:
          - id: r
            when: a.b
            steps:
              - send email promo with coupon = "PANIER10", n = contact.score * 2 transactional offer "PANIER10"
        """)
    node = workspace.rules["r"].nodes["r/steps/0"]
    assert (node.channel, node.template, node.transactional, node.offer) == ("email", "promo", True, "PANIER10")
    params = {name: value(Scope(contact={"score": 4})) for name, value in node.params}
    assert params == {"coupon": "PANIER10", "n": 8}
    template = workspace.templates[("promo", "email")]
    assert template.body.render(Scope(contact={}, params=params)) == "PANIER10 8"


def test_templates_folder_beside_the_rules(write, functions) -> None:
    rules = write("channels: {email: {plugin: log}, sms: {plugin: log}}\nrules:\n  - id: r\n    when: a.b\n"
                  "    steps: [send email promo, send sms promo]\n")
    write("Subject: Bonjour {{ contact.first_name }}\n\nVotre code : {{ params.coupon }}\n", "templates/promo.email.txt")
    write("Code {{ params.coupon }}\n", "templates/promo.sms.txt")
    workspace, problems = check_workspace([rules], functions)
    assert problems == []
    email = workspace.templates[("promo", "email")]
    scope = Scope(contact={"first_name": "Alice"}, params={"coupon": "X1"})
    assert email.subject.render(scope) == "Bonjour Alice"
    assert email.body.render(scope) == "Votre code : X1"


def test_template_file_problem_points_into_the_file(write, functions) -> None:
    rules = write("channels: {sms: {plugin: log}}\n")
    template = write("Bonjour\nCode {{ parms.coupon }}\n", "templates/promo.sms.txt")
    _, problems = check_workspace([rules], functions)
    [problem] = problems
    assert (problem.path, problem.line, problem.column) == (str(template), 2, 9)
    assert problem.message.startswith("unknown name 'parms' (did you mean 'params'?)")


def test_a_folder_of_files_is_one_workspace(write, functions, tmp_path) -> None:
    write("workspace: shop\nchannels: {email: {plugin: log}}\ntemplates: {t: {email: {subject: s, body: b}}}\n",
          "shop/base.yaml")
    write("rules:\n  - id: r1\n    when: a.b\n    steps: [send email t, start r2]\n", "shop/one.yaml")
    write("rules:\n  - id: r2\n    when: c.d\n    steps: [stop]\n", "shop/two.yml")
    write("this: is a rule test, not rules\n", "shop/r1.test.yaml")
    workspace, problems = check_workspace([tmp_path / "shop"], functions)
    assert problems == []
    assert (workspace.name, sorted(workspace.rules)) == ("shop", ["r1", "r2"])


def test_setting_a_scalar_twice_across_files(write, functions, tmp_path) -> None:
    write("timezone: Europe/Paris\n", "shop/a.yaml")
    write("timezone: UTC\n", "shop/b.yaml")
    _, problems = check_workspace([tmp_path / "shop"], functions)
    [problem] = problems
    assert problem.message.startswith("'timezone' is already set in")


def test_link_hosts_are_the_listed_ones_and_those_the_templates_write(write, functions) -> None:
    rules = write("""\
channels: {email: {plugin: log}, sms: {plugin: log}}
links: {hosts: [Maison-Demo.test, "*.cdn.maison-demo.test"]}
templates:
  a: {sms: "https://aide.maison-demo.fr/faq et {{ event.cart.url }} et https://{{ event.host }}/x"}
  b: {email: {subject: "Voir https://promo.maison-demo.fr", body: "https://shop.test{{ event.path }} ou http://Blog.Shop.test:8080/"}}
rules:
  - id: r
    when: a.b
    steps: [send sms a, send email b, send email panier]
""")
    write('Subject: x\n\n<a href="https://www.maison-demo.fr/p?x=1">x</a><a href="{{ event.url }}">y</a>\n'
          '<a href=https://cgv.maison-demo.fr>z</a>', "templates/panier.email.html")
    workspace, problems = check_workspace([rules], functions)
    assert problems == []
    assert workspace.link_hosts == {"maison-demo.test", "*.cdn.maison-demo.test", "aide.maison-demo.fr",
                                    "promo.maison-demo.fr", "blog.shop.test", "www.maison-demo.fr",
                                    "cgv.maison-demo.fr"}  # not shop.test: a placeholder could extend it
