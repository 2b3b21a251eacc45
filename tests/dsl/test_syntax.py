"""The syntax tree (dsl/syntax.py): immutable values, equal when written alike, so parses can be shared."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from relance.dsl import syntax as s


def test_a_path_is_dotted_from_its_root_and_keys() -> None:
    assert s.Path("contact", ("cart", "total"), (1, 1)).dotted == "contact.cart.total"
    assert s.Path("now", (), (1, 1)).dotted == "now"


def test_nodes_are_values_equal_and_hashed_alike_when_written_alike() -> None:
    def build() -> s.Binary:
        return s.Binary(">", s.Path("contact", ("score",), (1, 1)), s.Literal(3, (1, 17)), (1, 1))
    assert build() == build()
    assert hash(build()) == hash(build())
    assert build() != dataclasses.replace(build(), op=">=")


def test_nodes_are_immutable() -> None:
    wait = s.Wait(timedelta(days=1), (1, 1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        wait.duration = timedelta(days=2)  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):
        wait.extra = 1  # type: ignore[attr-defined]  # slots: no stray attributes


def test_an_entry_defaults_to_no_delay() -> None:
    assert s.Entry("once").after is None
    assert s.Entry("after", timedelta(days=30)) == s.Entry("after", timedelta(days=30))


def test_either_ending_holds_both_readings() -> None:
    event = s.EventSpec("contact.vip", None, None, (1, 1))
    condition = s.ConditionSpec(s.Path("contact", ("vip",), (1, 1)), (1, 1))
    either = s.EitherEnding(event, condition, (1, 1))
    assert (either.event.event_type, either.condition.condition.dotted) == ("contact.vip", "contact.vip")
