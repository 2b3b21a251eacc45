"""The functions rule text may call (dsl/functions.py): arity, and a registry that refuses a name twice."""
from __future__ import annotations

import pytest

from relance.dsl.functions import Function, FunctionRegistry


def function(name: str, min_args: int = 1, max_args: int | None = 1) -> Function:
    return Function(name, lambda *args: args, min_args, max_args)


@pytest.mark.parametrize("min_args, max_args, text", [
    (1, 1, "1 argument"), (2, 2, "2 arguments"), (0, 0, "0 arguments"),
    (1, None, "at least 1 argument"), (2, None, "at least 2 arguments"), (1, 3, "1 to 3 arguments"),
])
def test_arity_text_says_how_many_arguments(min_args: int, max_args: int | None, text: str) -> None:
    assert function("f", min_args, max_args).arity_text() == text


@pytest.mark.parametrize("min_args, max_args, counts, accepted", [
    (1, 1, (0, 1, 2), (False, True, False)),
    (1, None, (0, 1, 50), (False, True, True)),
    (1, 3, (0, 1, 3, 4), (False, True, True, False)),
])
def test_accepts_counts_within_the_arity(min_args: int, max_args: int | None, counts: tuple[int, ...],
                                         accepted: tuple[bool, ...]) -> None:
    f = function("f", min_args, max_args)
    assert tuple(f.accepts(count) for count in counts) == accepted


def test_a_registry_finds_lists_and_iterates_its_functions() -> None:
    upper, lower = function("upper"), function("lower")
    registry = FunctionRegistry([upper, lower])
    assert registry.get("upper") is upper and registry.get("nope") is None
    assert registry.names() == ["lower", "upper"]
    assert list(registry) == [upper, lower]
    assert "lower" in registry and "nope" not in registry


def test_registering_a_name_twice_is_refused() -> None:
    registry = FunctionRegistry([function("upper")])
    with pytest.raises(ValueError, match="function 'upper' is registered twice"):
        registry.register(function("upper", 2, 2))
    with pytest.raises(ValueError, match="registered twice"):
        FunctionRegistry([function("x"), function("x")])
