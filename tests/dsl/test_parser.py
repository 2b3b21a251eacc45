"""Rule text → syntax tree (dsl/parser.py): every start symbol, real positions, errors in plain words."""
from __future__ import annotations

from datetime import time, timedelta

import pytest

from relance.dsl import syntax as s
from relance.dsl.parser import SyntaxProblem, parse


def problem(text: str, start: str) -> tuple[int, int, str]:
    with pytest.raises(SyntaxProblem) as caught:
        parse(text, start)
    return caught.value.line, caught.value.column, caught.value.message


def test_statements_carry_the_position_of_their_first_word() -> None:
    assert parse("  stop", "statement") == s.Stop((1, 3))
    assert parse("wait 1d", "statement") == s.Wait(timedelta(days=1), (1, 1))
    send = parse("send email relance with n = 1 transactional offer \"X\"", "statement")
    assert (send.channel, send.template, send.transactional, send.offer) == ("email", "relance", True, "X")
    assert (send.pos, send.channel_pos, send.template_pos) == ((1, 1), (1, 6), (1, 12))
    assert send.params == (s.Assignment("n", s.Literal(1, (1, 29)), (1, 25)),)


def test_every_node_of_an_expression_is_where_its_text_begins() -> None:
    expr = parse("not contact.vip or x in [1, none, true]", "expression")
    assert expr == s.Binary(
        "or", s.Unary("not", s.Path("contact", ("vip",), (1, 5)), (1, 1)),
        s.Binary("in", s.Path("x", (), (1, 20)),
                 s.ListExpr((s.Literal(1, (1, 26)), s.Literal(None, (1, 29)), s.Literal(True, (1, 35))), (1, 25)),
                 (1, 20)),
        (1, 1))


def test_an_operation_begins_at_the_parenthesis_around_its_left_operand() -> None:
    expr = parse("((a + b)) * c", "expression")
    assert (expr.pos, expr.left.pos, expr.left.left.pos, expr.right.pos) == ((1, 1), (1, 3), (1, 3), (1, 13))
    assert parse("not (a) or b", "expression").pos == (1, 1)
    assert parse("f((a) + b)", "expression").args[0].pos == (1, 3)


def test_positions_count_lines_inside_the_text() -> None:
    expr = parse("contact.x\n  and f(2)", "expression")
    assert expr.right == s.Call("f", (s.Literal(2, (2, 9)),), (2, 7))


def test_literals_read_as_values() -> None:
    assert parse("'it\\'s'", "expression").value == "it's"
    assert parse("50%", "expression").value == 0.5
    assert parse("2.5", "expression").value == 2.5
    assert parse("3d", "expression").value == timedelta(days=3)


@pytest.mark.parametrize("text, expected", [
    ("checkout.started where event.cart.total >= 20",
     ("EventTrigger", "checkout.started")),
    ("Order Completed", ("EventTrigger", "order.completed")),
    ("3d before contact.next_payment_at at 10:00", ("DateTrigger", -timedelta(days=3))),
    ("yearly on contact.birthday", ("YearlyTrigger", "contact.birthday")),
    ("every monday at 09:00 for segment dormant", ("EveryTrigger", "dormant")),
])
def test_each_trigger_form_gives_its_node(text: str, expected: tuple) -> None:
    trigger = parse(text, "trigger")
    detail = {"EventTrigger": lambda t: t.event_type, "DateTrigger": lambda t: t.offset,
              "YearlyTrigger": lambda t: t.field.dotted, "EveryTrigger": lambda t: t.segment}
    assert (type(trigger).__name__, detail[type(trigger).__name__](trigger)) == expected
    assert trigger.pos == (1, 1)


def test_a_segment_trigger_knows_where_its_segment_is() -> None:
    trigger = parse("segment.entered vip", "trigger")
    assert (trigger.segment, trigger.segment_pos) == ("vip", (1, 17))


def test_an_ending_is_an_event_a_condition_or_bare_text_read_both_ways() -> None:
    event = parse("event order.completed where event.total > 1 within 7d", "ending")
    assert isinstance(event, s.EventSpec) and (event.event_type, event.within) == ("order.completed", timedelta(days=7))
    condition = parse("if contact.vip", "ending")
    assert condition == s.ConditionSpec(s.Path("contact", ("vip",), (1, 4)), (1, 1))
    assert isinstance(parse("order.completed within 2d", "ending"), s.EventSpec)
    assert isinstance(parse("contact.score > 3", "ending"), s.ConditionSpec)
    both = parse("contact.upgraded", "ending")
    assert isinstance(both, s.EitherEnding)
    assert (both.event.event_type, both.condition.condition.dotted) == ("contact.upgraded", "contact.upgraded")


@pytest.mark.parametrize("text, expected", [
    ("events.x", s.EitherEnding), ("eventful.day within 2d", s.EventSpec), ("ifs > 2", s.ConditionSpec),
    ("event.total > 3", s.ConditionSpec), ("if(x)", s.ConditionSpec),
])
def test_the_keywords_of_an_ending_are_whole_words(text: str, expected: type) -> None:
    assert isinstance(parse(text, "ending"), expected)


def test_bare_text_that_reads_neither_way_gives_the_furthest_problem() -> None:
    assert problem("contact.upgraded wihtin 7d", "ending") == (
        1, 18, "unexpected 'wihtin'; expected the end of the text, 'where', 'within'")
    assert problem("contact.score > ", "ending")[:2] == (1, 17)


def test_blocks_variants_entries_durations_and_placeholders() -> None:
    assert parse("elif contact.x", "block") == s.BlockHead("elif", s.Path("contact", ("x",), (1, 6)), (1, 1))
    assert parse("split", "block") == s.BlockHead("split", None, (1, 1))
    assert parse("b 50%", "variant") == s.Variant("b", 50.0, (1, 1))
    assert parse("after 30d", "entry") == s.Entry("after", timedelta(days=30))
    assert parse("1d12h", "duration") == timedelta(hours=36)
    assert parse("wait until 09:30", "statement").at == time(9, 30)
    assert parse("{{ contact.first_name }}", "placeholder").expr == s.Path("contact", ("first_name",), (1, 4))


@pytest.mark.parametrize("text, start, expected", [
    ("wait 3 dayz", "statement", (1, 6, "bad duration '3 dayz' (did you mean '3d'?)")),
    ("3 days before contact.x", "trigger", (1, 1, "bad duration '3 days' (did you mean '3d'?)")),
    ("x", "duration", (1, 1, "bad duration 'x'; write a number and a unit: 30m, 24h, 3d, 2w")),
    ("wait until 25:00", "statement", (1, 12, "bad time '25:00' (hours 00-23, minutes 00-59)")),
    ("contact.x = 3", "expression", (1, 11, "unexpected '='; to compare, write '=='")),
    ("contact.x\n and\n contact.y >", "expression",
     (3, 13, "unexpected end of text; expected a duration such as 24h, 'false', '(', '[', '-', a name, …")),
    ("stop now", "statement", (1, 6, "unexpected 'now'; expected the end of the text")),
    ("sendd email t", "statement", (1, 1, "unknown statement 'sendd' (did you mean 'send'?); a step is one of: "
                                          "send, wait, set, score, tag, untag, task, start, stop")),
    ("elsif x", "block", (1, 1, "unknown block 'elsif' (did you mean 'elif'?); a block is 'if …', 'elif …', "
                                "'else' or 'split'")),
    ("score x", "statement", (1, 7, "unexpected 'x'; expected a whole number such as +10")),
    ("twice", "entry", (1, 1, "unexpected 'twice'; expected 'after', 'always', 'once'")),
    ("set a = $", "statement", (1, 9, "unexpected '$'; expected a duration such as 24h, '(', '[', '-', a name, "
                                      "a number, …")),
    ("", "ending", (1, 1, "unexpected end of text; expected an event name or a condition, 'event …', 'if …'")),
])
def test_problems_in_plain_words_where_they_are(text: str, start: str, expected: tuple[int, int, str]) -> None:
    assert problem(text, start) == expected


def test_a_duration_past_ten_years_is_a_problem_at_its_token() -> None:
    assert problem("task \"call\" due 99999d", "statement") == (1, 17, "duration '99999d' is longer than 3660d")


def test_a_syntax_error_further_on_is_reported_before_a_bad_value() -> None:
    assert problem("x > 99999d and $", "expression") == (
        1, 16, "unexpected '$'; expected a duration such as 24h, '(', '[', '-', a name, a number, …")
    assert problem("wait 99999d x", "statement") == (1, 13, "unexpected 'x'; expected the end of the text")


def test_the_same_text_is_parsed_once() -> None:
    assert parse("wait 2d", "statement") is parse("wait 2d", "statement")
