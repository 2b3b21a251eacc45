"""Every kind of mistake `relance check` reports, with its message, line and column."""
from __future__ import annotations

import pytest

from relance.dsl.channel_traits import ChannelTraits
from relance.dsl.graph import ChannelConfig

HEADER = """\
workspace: demo
channels:
  email: {plugin: log}
  whatsapp: {plugin: log}
templates:
  rappel:
    email: {subject: "Hi", body: "Bonjour {{ contact.first_name }}"}
segments:
  vip: contact.score >= 500
rules:
  - id: other
    when: order.completed
    steps: [stop]
"""
# HEADER has 13 lines; a rule's step written by `rule_with_step` is on line 18.
STEP_LINE = 18


def rule_with_step(step: str) -> str:
    return HEADER + f"""\
  - id: panier
    when: checkout.started
    steps:
      - wait 1d
      - {step}
"""


def only(problems: list) -> tuple[int, int, str]:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0].line, problems[0].column, problems[0].message


@pytest.mark.parametrize("step, column, message", [
    ("wait 3 dayz", 14, "bad duration '3 dayz' (did you mean '3d'?)"),
    ("wait 2 jours", 14, "bad duration '2 jours' (did you mean '2d'?)"),
    ("sned email rappel", 9, "unknown statement 'sned' (did you mean 'send'?); "
                             "a step is one of: send, wait, set, score, tag, untag, task, start, stop"),
    ("send whatsap rappel", 14, "unknown channel 'whatsap' (did you mean 'whatsapp'?); "
                                "declared channels: email, whatsapp"),
    ("send email rapel", 20, "unknown template 'rappel' (did you mean 'rappel'?)".replace("'rappel' (", "'rapel' (")),
    ("send whatsapp rappel", 23, "template 'rappel' has no whatsapp version (it has: email)"),
    ("start ecom-99", 15, "unknown rule 'ecom-99'"),
    ("start othr", 15, "unknown rule 'othr' (did you mean 'other'?)"),
    ("set x = lenn(contact.tags)", 17, "unknown function 'lenn' (did you mean 'len'?)"),
    ("set x = len(1, 2)", 17, "len() takes 1 argument, not 2"),
    ("set x = contcat.email", 17, "unknown name 'contcat' (did you mean 'contact'?); "
                                  "in a step a name starts with contact, event, now, waited"),
    ("set x = contact.score = 3", 31, "unexpected '='; to compare, write '=='"),
    ("score ten", 15, "unexpected 'ten'; expected a whole number such as +10"),
    ("wait until 25:00", 20, "bad time '25:00' (hours 00-23, minutes 00-59)"),
])
def test_step_errors(compile_text, step: str, column: int, message: str) -> None:
    workspace, problems = compile_text(rule_with_step(step))
    assert workspace is None
    assert only(problems) == (STEP_LINE, column, message)


def test_waited_needs_a_wait_until_before_it(compile_text) -> None:
    _, problems = compile_text(rule_with_step("if waited:\n          - stop"))
    assert only(problems) == (STEP_LINE, 12, "'waited' is only set after a 'wait until EVENT … within …' step")


def test_waited_after_wait_until_is_fine(compile_text) -> None:
    workspace, problems = compile_text(rule_with_step(
        "wait until email.opened within 24h\n      - if not waited:\n          - stop"))
    assert problems == [] and workspace is not None


def test_waited_set_in_one_branch_only_is_not_enough(compile_text) -> None:
    steps = ("if contact.vip:\n          - wait until email.opened within 1d\n"
             "      - set seen = waited")
    _, problems = compile_text(rule_with_step(steps))
    assert only(problems)[2].startswith("'waited' is only set after")


def test_steps_after_stop(compile_text) -> None:
    _, problems = compile_text(rule_with_step("stop\n      - tag lost"))
    assert only(problems) == (STEP_LINE + 1, 9, "this step can never run: it comes after 'stop'")


def test_split_weights_must_sum_to_100(compile_text) -> None:
    split = "split:\n          a 50%: [tag a]\n          b 40%: []"
    _, problems = compile_text(rule_with_step(split))
    assert only(problems) == (STEP_LINE, 9, "split weights add up to 90%, not 100%")


def test_split_with_holdout_summing_to_100_is_fine(compile_text) -> None:
    split = "split:\n          a 50%: [tag a]\n          b 40%: [tag b]\n          control 10%: []"
    workspace, problems = compile_text(rule_with_step(split))
    assert problems == []
    node = workspace.rules["panier"].nodes["panier/steps/1"]
    assert [(v.name, v.weight) for v in node.variants] == [("a", 50), ("b", 40), ("control", 10)]
    assert node.variants[2].target is None  # the holdout goes on to what follows the split: the end


def test_yaml_syntax_error(compile_text) -> None:
    _, problems = compile_text("workspace: demo\nrules:\n  - id: [unclosed\n")
    line, column, message = only(problems)
    assert (line, message.split(":")[0]) == (4, "YAML syntax error")


def test_tab_indentation(compile_text) -> None:
    _, problems = compile_text("workspace: demo\nrules:\n\t- {id: x, when: a.b, steps: [stop]}\n")
    assert only(problems) == (3, 1, "tab in indentation; YAML indents with spaces")


def test_unknown_top_level_key(compile_text) -> None:
    _, problems = compile_text("workspace: demo\nsegmnets: {}\n")
    line, column, message = only(problems)
    assert (line, column) == (2, 1)
    assert message.startswith("unknown section 'segmnets' (did you mean 'segments'?)")


def test_unknown_rule_key(compile_text) -> None:
    _, problems = compile_text(HEADER + "  - id: x\n    when: a.b\n    stpes: []\n    steps: [stop]\n")
    line, column, message = only(problems)
    assert (line, column) == (16, 5)
    assert message.startswith("unknown rule key 'stpes' (did you mean 'steps'?)")


@pytest.mark.parametrize("rule, missing", [
    ("  - when: a.b\n    steps: [stop]\n", "this rule has no 'id'"),
    ("  - id: x\n    steps: [stop]\n", "rule 'x' has no 'when'"),
    ("  - id: x\n    when: a.b\n", "rule 'x' has no 'steps'"),
])
def test_missing_required_rule_key(compile_text, rule: str, missing: str) -> None:
    _, problems = compile_text(HEADER + rule)
    assert only(problems) == (14, 5, missing)


def test_duplicate_rule_id(compile_text) -> None:
    _, problems = compile_text(HEADER + "  - id: other\n    when: a.b\n    steps: [stop]\n")
    assert only(problems) == (14, 9, "duplicate rule id 'other' (first at " + problems[0].path + ":11)")


def test_unknown_segment_in_trigger(compile_text) -> None:
    _, problems = compile_text(HEADER + "  - id: x\n    when: segment.entered vipp\n    steps: [stop]\n")
    assert only(problems) == (15, 27, "unknown segment 'vipp' (did you mean 'vip'?)")


def test_unknown_segment_in_every_trigger(compile_text) -> None:
    _, problems = compile_text(HEADER + "  - id: x\n    when: every monday at 09:00 for segment dormant\n"
                                        "    steps: [stop]\n")
    assert only(problems) == (15, 45, "unknown segment 'dormant'")


def test_unknown_root_in_a_condition(compile_text) -> None:
    _, problems = compile_text(HEADER + "  - id: x\n    when: a.b\n    if: contcat.email\n    steps: [stop]\n")
    line, column, message = only(problems)
    assert (line, column) == (16, 9)
    assert message.startswith("unknown name 'contcat' (did you mean 'contact'?)")


def test_event_is_not_available_in_segments(compile_text) -> None:
    _, problems = compile_text("segments:\n  big: event.cart.total > 100\n")
    assert only(problems) == (2, 8, "'event' is not available in a segment condition; use contact, now")


def test_template_placeholder_that_does_not_parse(compile_text) -> None:
    text = HEADER.replace("Bonjour {{ contact.first_name }}", "Bonjour {{ contact.first_name + }}")
    _, problems = compile_text(text)
    line, column, message = only(problems)
    # the column points at the '}}' inside the quoted YAML string, not at the start of the line
    assert (line, column) == (7, 67)
    assert text.splitlines()[6][column - 1:column + 1] == "}}"
    assert message.startswith("template placeholder '{{ contact.first_name + }}' does not parse: unexpected '}}'")


def test_template_placeholder_with_unknown_name(compile_text) -> None:
    text = HEADER.replace("{{ contact.first_name }}", "{{ contact.first_name }} {{ cart.url }}")
    _, problems = compile_text(text)
    line, column, message = only(problems)
    assert (line, column) == (7, 71)
    assert message.startswith("unknown name 'cart'")


def test_column_of_a_quoted_step_points_inside_the_quotes(compile_text) -> None:
    _, problems = compile_text(rule_with_step('"send whatsap rappel"'))
    assert only(problems)[:2] == (STEP_LINE, 15)


def test_every_problem_is_reported_in_one_run(compile_text) -> None:
    text = rule_with_step("sned email x").replace("segments:", "segmnets:") + "      - wait 3 dayz\n"
    _, problems = compile_text(text)
    assert [p.line for p in problems] == [8, STEP_LINE, STEP_LINE + 1]


def test_problem_text_has_the_source_line_and_a_caret(compile_text) -> None:
    _, problems = compile_text(rule_with_step("send whatsap rappel"))
    path, source, caret = str(problems[0]).split("\n")
    assert path.endswith(f":{STEP_LINE}:14: unknown channel 'whatsap' (did you mean 'whatsapp'?); "
                         "declared channels: email, whatsapp")
    assert source == "          - send whatsap rappel"
    assert caret == " " * 17 + "^"
    assert source[caret.index("^")] == "w"


def test_bad_duration_in_policy(compile_text) -> None:
    _, problems = compile_text("policy:\n  frequency: {max: 2, per: 24 hours}\n")
    assert only(problems) == (2, 28, "bad duration '24 hours' (did you mean '24h'?)")


def test_bad_quiet_hours(compile_text) -> None:
    _, problems = compile_text('policy:\n  quiet_hours: {sms: "21h-9h"}\n')
    assert only(problems) == (2, 23, "bad quiet hours '21h-9h'; write a range such as \"21:00-09:00\"")


@pytest.mark.parametrize("policy, line, column, message", [
    ("  frequency: {max: 2, per: 24h, over: drop}\n", 2, 39,
     "over the cap a message is deferred or skipped: write over: defer or over: skip, not 'drop'"),
    ("  frequency:\n    sms: {max: 0, per: 24h}\n", 3, 16, "frequency max is a whole number of messages, 1 or more"),
    ("  consent: {sms: optin}\n", 2, 18, "consent for sms is opt_in (needs the contact's yes), opt_out (goes out "
                                           "unless the contact said no) or none, not 'optin'"),
    ("  offers: {window: 7 days}\n", 2, 20, "bad duration '7 days' (did you mean '7d'?)"),
    ("  offer: {window: 7d}\n", 2, 3, "unknown policy 'offer' (did you mean 'offers'?); "
                                       "policies are: quiet_hours, frequency, offers, consent"),
])
def test_bad_policies(compile_text, policy: str, line: int, column: int, message: str) -> None:
    _, problems = compile_text("policy:\n" + policy)
    assert only(problems) == (line, column, message)


@pytest.mark.parametrize("links, line, column, message", [
    ("links: {hosts: [https://maison-demo.test]}\n", 1, 17,
     "bad host 'https://maison-demo.test'; write a host name such as maison-demo.test or *.maison-demo.test "
     "(no scheme, no path)"),
    ("links: {hosts: [maison-demo.test/cart]}\n", 1, 17, "bad host 'maison-demo.test/cart'; write a host name "
                                                         "such as maison-demo.test or *.maison-demo.test (no scheme, no path)"),
    ("links: {hosts: maison-demo.test}\n", 1, 16, 'hosts is a list such as [maison-demo.test, "*.maison-demo.test"]'),
    ("links: {host: [maison-demo.test]}\n", 1, 9, "unknown links setting 'host'; links takes: hosts"),
])
def test_bad_link_hosts(compile_text, links: str, line: int, column: int, message: str) -> None:
    _, problems = compile_text(links)
    assert only(problems) == (line, column, message)


def test_policies_compile(compile_text) -> None:
    workspace, problems = compile_text("policy:\n  frequency:\n    all: {max: 3, per: 7d}\n"
                                       "    sms: {max: 1, per: 24h, over: skip}\n  offers: {window: 14d}\n"
                                       "  consent: {email: opt_in}\n")
    assert problems == []
    policy = workspace.policy
    assert (policy.frequency["all"].max, policy.frequency["sms"].over) == (3, "skip")
    assert policy.offer_window.days == 14
    email, sms = ChannelTraits("email", "opt_out"), ChannelTraits("phone", "opt_in")
    configs = [ChannelConfig("email", "smtp", {}, email), ChannelConfig("sms", "twilio_sms", {}, sms),
               ChannelConfig("hook", "webhook", {})]
    assert [policy.consent_rule(c) for c in configs] == ["opt_in", "opt_in", "none"]  # the policy, else the plugin


@pytest.mark.parametrize("value, priority", [("high", 10), ("normal", 0), ("low", -10), ("25", 25), ("-100", -100)])
def test_rule_priority(compile_text, value: str, priority: int) -> None:
    workspace, problems = compile_text(HEADER + f"  - id: panier\n    when: checkout.started\n    priority: {value}\n"
                                                "    steps: [stop]\n")
    assert problems == []
    assert (workspace.rules["panier"].priority, workspace.rules["other"].priority) == (priority, 0)


@pytest.mark.parametrize("value, message", [
    ("hihg", "priority is high, normal (the default) or low, or a whole number from -100 to 100 (higher goes first), "
             "not 'hihg' (did you mean 'high'?)"),
    ("101", "priority is high, normal (the default) or low, or a whole number from -100 to 100 (higher goes first), "
            "not '101'"),
    ("2.5", "priority is high, normal (the default) or low, or a whole number from -100 to 100 (higher goes first), "
            "not '2.5'"),
    ("true", "priority is high, normal (the default) or low, or a whole number from -100 to 100 (higher goes first), "
             "not 'True'"),
])
def test_bad_rule_priority(compile_text, value: str, message: str) -> None:
    _, problems = compile_text(HEADER + f"  - id: panier\n    when: checkout.started\n    priority: {value}\n"
                                        "    steps: [stop]\n")
    assert only(problems) == (16, 15, message)


@pytest.mark.parametrize("settings, line, column, message", [
    ("{plugin: smtp, host: mail.test, from: a@b.test, prot: 25}", 2, 58,
     "channel 'email' (smtp): unknown setting 'prot' (did you mean 'port'?); this plugin takes: "),
    ("{plugin: smtp, host: mail.test, from: a@b.test, port: twenty-five}", 2, 64,
     "channel 'email' (smtp): setting 'port' should be a whole number, not 'twenty-five'"),
    ("{plugin: smtp, host: mail.test}", 2, 19, "channel 'email' (smtp): missing setting 'from'"),
    ("{plugin: smtp, host: mail.test, from: a@b.test, dkim_key_env: DKIM_KEY}", 2, 72,
     "channel 'email' (smtp): setting 'dkim_key_env' needs 'dkim_selector' beside it (the DKIM selector, "),
    ("{plugin: smtp, host: mail.test, from: a@b.test, tls: ssl}", 2, 63,
     "channel 'email' (smtp): setting 'tls' should be one of 'starttls', 'tls', 'none', not 'ssl'"),
])
def test_channel_settings_are_checked_against_the_plugin(write, functions, settings: str, line: int, column: int,
                                                         message: str) -> None:
    from relance.dsl import check_workspace
    from relance.plugins.registry import channels, plugin_manager

    path = write(f"channels:\n  email: {settings}\n")
    _, problems = check_workspace([path], functions, channels(plugin_manager(load_entry_points=False)))
    found_line, found_column, found = only(problems)
    assert (found_line, found_column) == (line, column)
    assert found.startswith(message), found


def test_unknown_timezone(compile_text) -> None:
    _, problems = compile_text("timezone: Europe/Pariss\n")
    assert only(problems) == (1, 11, "unknown timezone 'Europe/Pariss'; use an IANA name such as Europe/Paris")


def test_email_template_needs_a_subject(compile_text) -> None:
    _, problems = compile_text("templates:\n  promo:\n    email: {body: hi}\n")
    assert only(problems) == (3, 5, "email template 'promo' needs a subject")


def test_start_loops_are_refused(compile_text) -> None:
    text = HEADER + "  - id: a\n    when: x.y\n    steps: [start b]\n  - id: b\n    when: x.z\n    steps: [start a]\n"
    _, problems = compile_text(text)
    assert [(p.line, p.message) for p in problems] == [(16, "'start b' makes a loop: a → b → a"),
                                                       (19, "'start a' makes a loop: b → a → b")]


@pytest.mark.parametrize("step, message", [
    ("wait 99999999d", "duration '99999999d' is longer than 3660d"),
    ("set x = 1" + "0" * 400 + ".5", "is too large"),
])
def test_numbers_and_durations_too_large_are_problems_not_crashes(compile_text, step: str, message: str) -> None:
    _, problems = compile_text(rule_with_step(step))
    assert message in only(problems)[2]
