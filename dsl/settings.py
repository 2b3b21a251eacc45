"""Settings a plugin takes in the rules, such as `channels: {email: {plugin: smtp, host: …}}`, and their check."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import did_you_mean

TYPE_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
              list: "a list", dict: "a mapping"}


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its type, whether it must be given, its default, allowed values, the settings
    it needs beside it (`requires`) and a line of help.

    Secrets never go in rules files (they live in git): a plugin takes the *name* of an
    environment variable instead, by convention a setting ending in `_env`.
    """

    type: type | tuple[type, ...] = str
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] = ()
    help: str = ""
    requires: tuple[str, ...] = ()

    def describe(self) -> str:
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        text = " or ".join(TYPE_NAMES.get(t, t.__name__) for t in types)
        if self.choices:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        return text


def check_settings(schema: Mapping[str, Setting], values: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    """Problems with `values` as (the key they concern or None for the whole mapping, message)."""
    problems: list[tuple[str | None, str]] = []
    for key, value in values.items():
        setting = schema.get(key)
        if setting is None:
            known = ", ".join(sorted(schema)) or "none"
            problems.append((key, f"unknown setting '{key}'{did_you_mean(key, schema)}; this plugin takes: {known}"))
            continue
        types = setting.type if isinstance(setting.type, tuple) else (setting.type,)
        wrong_type = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        if wrong_type or (setting.choices and value not in setting.choices):
            problems.append((key, f"setting '{key}' should be {setting.describe()}, not {value!r}"))
    for key in values:
        for needed in schema[key].requires if key in schema else ():
            if needed not in values:
                problems.append((key, f"setting '{key}' needs '{needed}' beside it ({schema[needed].help})"))
    missing = [key for key, setting in schema.items() if setting.required and key not in values]
    for key in missing:
        problems.append((None, f"missing setting '{key}' ({schema[key].describe()}{': ' + schema[key].help if schema[key].help else ''})"))
    return problems


def with_defaults(schema: Mapping[str, Setting], values: Mapping[str, Any]) -> dict[str, Any]:
    """The values given, and the default of every setting not given."""
    return {**{k: s.default for k, s in schema.items() if s.default is not None}, **values}
