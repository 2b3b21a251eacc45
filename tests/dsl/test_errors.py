"""Problems for the person who wrote the rule (dsl/errors.py): where, what, the line, a suggestion."""
from __future__ import annotations

import pytest

from relance.dsl.errors import Problem, RelanceError, RuleError, did_you_mean


def test_a_problem_prints_its_place_message_and_a_caret_under_the_column() -> None:
    problem = Problem("rules.yaml", 4, 11, "unknown name 'contcat'", "    if: contcat.x > 3")
    assert str(problem) == ("rules.yaml:4:11: unknown name 'contcat'\n"
                            "        if: contcat.x > 3\n"
                            "              ^")


def test_a_problem_without_its_line_prints_the_place_and_message_only() -> None:
    assert str(Problem("rules.yaml", 1, 1, "empty file")) == "rules.yaml:1:1: empty file"


def test_a_warning_says_so_and_is_not_an_error() -> None:
    warning = Problem("rules.yaml", 2, 3, "no rule sets contact.vip", severity="warning")
    assert not warning.is_error
    assert str(warning) == "rules.yaml:2:3: warning: no rule sets contact.vip"
    assert Problem("rules.yaml", 2, 3, "x").is_error


def test_as_dict_is_what_the_api_answers() -> None:
    problem = Problem("rules.yaml", 2, 3, "bad", "source line")
    assert problem.as_dict() == {"path": "rules.yaml", "line": 2, "column": 3, "severity": "error",
                                 "message": "bad"}


def test_a_rule_error_carries_every_problem_and_prints_them_all() -> None:
    problems = [Problem("a.yaml", 1, 1, "first"), Problem("b.yaml", 2, 2, "second")]
    error = RuleError(iter(problems))
    assert error.problems == tuple(problems)
    assert str(error) == "a.yaml:1:1: first\nb.yaml:2:2: second"
    assert isinstance(error, RelanceError)
    with pytest.raises(RelanceError):
        raise error


@pytest.mark.parametrize("name, candidates, suggestion", [
    ("contcat", ["contact", "event", "now"], " (did you mean 'contact'?)"),
    ("sendd", ("send", "set", "stop"), " (did you mean 'send'?)"),
    ("xyz", ["contact", "event"], ""),
    ("x", [], ""),
])
def test_did_you_mean_names_a_close_candidate_only(name: str, candidates: list[str], suggestion: str) -> None:
    assert did_you_mean(name, candidates) == suggestion
