"""Rule language speed: compiling 1,000 rules, and evaluating a condition vs a Python lambda.

    python bench/dsl.py [--rules 1000]

Prints the figures and the ratio to the baseline measured in the same run.
Goals: compile a 1,000-rule workspace in under 1 s; evaluate at least 0.5× a lambda.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import timeit
from pathlib import Path

from relance.dsl import Scope, check_workspace
from relance.dsl.compiler import WorkspaceCompiler
from relance.dsl.expressions import _code, compile_expression
from relance.dsl.loader import load_document
from relance.dsl.parser import parse
from relance.plugins.registry import function_registry, plugin_manager

CONDITION = 'event.cart.total > 50 and contact.lead_chaleur == "chaud" and "vip" in contact.tags and contact.orders_count >= 3'


def workspace_text(rules: int) -> str:
    """A workspace of `rules` distinct rules over 50 event types, each with a trigger, condition and 7 steps."""
    head = ("workspace: bench\nchannels: {email: {plugin: log}, sms: {plugin: log}}\n"
            "templates:\n  t: {email: {subject: 'Bonjour {{ contact.first_name }}', body: 'x {{ params.n }}'},"
            " sms: 'y {{ event.cart.url }}'}\nsegments: {vip: contact.score >= 500}\nrules:\n")
    body = []
    for i in range(rules):
        body.append(f"""\
  - id: rule-{i}
    when: type{i % 50}.happened where event.cart.total >= {i % 97}
    if: contact.email or contact.phone
    goal: order.completed within {1 + i % 9}d
    exit: if contact.unsubscribed
    steps:
      - wait {1 + i % 5}d
      - send email t with n = {i}
      - wait until email.opened within 24h
      - if not waited and contact.score < {i}:
          - send sms t
        else:
          - score +{i % 20}
      - set last_rule = "rule-{i}", seen = contact.seen + 1
      - tag t{i % 7}
""")
    return head + "".join(body)


def best_of(repeat: int, function) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--rules", type=int, default=1000)
    options = arguments.parse_args()
    functions = function_registry(plugin_manager())
    parse("x", "expression")  # build the parser once, as a server does at start-up

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.yaml"
        path.write_text(workspace_text(options.rules), encoding="utf-8")
        lines = path.read_text().count("\n")
        load = best_of(3, lambda: load_document(path))
        document, _ = load_document(path)

        def compile_only(cold: bool = True) -> None:
            if cold:  # a first start: nothing parsed or compiled yet
                parse.cache_clear()
                _code.cache_clear()
            compiler = WorkspaceCompiler(functions, None)
            compiler.compile([document], [])
            assert not compiler.problems, compiler.problems[:3]

        compile_time = best_of(3, compile_only)
        reload_time = best_of(3, lambda: compile_only(cold=False))
        total = best_of(3, lambda: (parse.cache_clear(), _code.cache_clear(), check_workspace([path], functions)))
        workspace, problems = check_workspace([path], functions)
        assert not problems and len(workspace.rules) == options.rules

    print(f"workspace: {options.rules} rules, {lines} lines of YAML")
    print(f"  YAML load (ruamel, positions kept): {load * 1000:8.1f} ms")
    print(f"  compile (parse, check, build graph): {compile_time * 1000:8.1f} ms   goal < 1000 ms")
    print(f"  compile again, as a reload does:     {reload_time * 1000:8.1f} ms   (unchanged strings reuse their parse)")
    print(f"  load + compile (relance check):     {total * 1000:8.1f} ms")

    compiled = compile_expression(parse(CONDITION, "expression"), functions)
    baseline = lambda c, e: e["cart"]["total"] > 50 and c["lead_chaleur"] == "chaud" and "vip" in c["tags"] and c["orders_count"] >= 3  # noqa: E731,E501
    contact = {"lead_chaleur": "chaud", "tags": ["vip", "new"], "orders_count": 4}
    event = {"cart": {"total": 80.5}}
    scope = Scope(contact=contact, event=event)
    assert compiled(scope) is baseline(contact, event) is True
    number = 300_000
    ours = min(timeit.repeat(lambda: compiled(scope), number=number, repeat=5))
    theirs = min(timeit.repeat(lambda: baseline(contact, event), number=number, repeat=5))
    missing = Scope(contact={}, event={})
    safe = min(timeit.repeat(lambda: compiled(missing), number=number, repeat=5))
    print(f"condition: {CONDITION}")
    print(f"  Python lambda:        {number / theirs:12,.0f} evaluations/s")
    print(f"  compiled rule text:   {number / ours:12,.0f} evaluations/s   ratio {theirs / ours:.2f} (goal >= 0.5)")
    print(f"  same, every key missing (null-safe path): {number / safe:12,.0f} evaluations/s")


if __name__ == "__main__":
    main()
