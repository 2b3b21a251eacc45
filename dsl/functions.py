"""The functions rule expressions may call, filled by plugins (`relance_functions` hook)."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Function:
    """A function callable from rule text as `name(arg, …)`.

    `impl` receives the arguments, each possibly `None` (a missing path): it should
    answer `None` rather than raise. With `uses_now`, it receives the clock's current
    time first, so `days_since(x)` works on a virtual clock. With `uses_scope`, it
    receives the whole `Scope` first instead: the clock (`now`), the zone calendar days
    are in (`tz`), the workspace's `locale`, the contact and the event. `check`, given
    the arguments as written (the value of a literal, None for anything else), says what
    is wrong with them, if anything: `relance check` reports it (`date(x, "longg")`).
    """

    name: str
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None = None  # None: as many as given
    uses_now: bool = False
    doc: str = ""
    uses_scope: bool = False
    check: Callable[[Sequence[Any]], str | None] | None = None

    def arity_text(self) -> str:
        if self.max_args == self.min_args:
            return f"{self.min_args} argument{'s' if self.min_args != 1 else ''}"
        if self.max_args is None:
            return f"at least {self.min_args} argument{'s' if self.min_args != 1 else ''}"
        return f"{self.min_args} to {self.max_args} arguments"

    def accepts(self, count: int) -> bool:
        return count >= self.min_args and (self.max_args is None or count <= self.max_args)


class FunctionRegistry:
    """Functions by name; registering one name twice is a mistake worth reporting."""

    def __init__(self, functions: Iterable[Function] = ()) -> None:
        self._functions: dict[str, Function] = {}
        for function in functions:
            self.register(function)

    def register(self, function: Function) -> None:
        if function.name in self._functions:
            raise ValueError(f"function '{function.name}' is registered twice")
        self._functions[function.name] = function

    def get(self, name: str) -> Function | None:
        return self._functions.get(name)

    def names(self) -> list[str]:
        return sorted(self._functions)

    def __iter__(self) -> Iterator[Function]:
        return iter(self._functions.values())

    def __contains__(self, name: object) -> bool:
        return name in self._functions
