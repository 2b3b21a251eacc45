"""A workspace file checked against its schema: pydantic's errors as problems at the YAML's line and column."""
from __future__ import annotations

import re
import types
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import Discriminator, Tag, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .errors import Problem, did_you_mean
from .loader import located_item, located_key, located_value
from .schema import Section, Shape, WorkspaceFile
from .source import SourceFile

NOT_A_MAPPING = "a rules file is a mapping of sections: workspace, channels, rules, …"


def shape_problems(data: Any, file: SourceFile) -> list[Problem]:
    """What in one file's YAML `data` is not of the workspace file's shape: unknown or missing keys, wrong types."""
    if not isinstance(data, CommentedMap):
        return [file.problem(1, 1, NOT_A_MAPPING)]
    try:
        WorkspaceFile.model_validate(data)
    except ValidationError as error:
        return _problems(error.errors(include_url=False, include_context=False), data, file)
    return []


@dataclass(frozen=True, slots=True)
class _Level:
    """One step down the data along an error's location: where the value is, and its type in the schema."""

    loc: tuple[Any, ...]
    parent: Any  # the mapping or list holding the value; None at the top
    key: Any
    value: Any
    type: Any
    shapes: tuple[Shape, ...]


def _problems(errors: list[ErrorDetails], data: CommentedMap, file: SourceFile) -> list[Problem]:
    ordered = sorted(errors, key=lambda error: error["type"] != "extra_forbidden")  # unknown keys first, as written
    found: list[tuple[tuple[Any, ...], bool, Problem]] = []
    for error in ordered:
        loc = tuple(error["loc"])
        levels = _levels(loc[:-1] if error["type"] in ("extra_forbidden", "missing") else loc, data)
        found.append(_problem(error, levels, file))
    wholes = [loc for loc, whole, _ in found if whole]
    problems: list[Problem] = []
    for loc, whole, problem in found:
        covered = any(loc[:len(w)] == w and (loc != w or not whole) for w in wholes)
        if not covered and problem not in problems:
            problems.append(problem)
    return problems


def _problem(error: ErrorDetails, levels: list[_Level], file: SourceFile) -> tuple[tuple[Any, ...], bool, Problem]:
    """The problem for one error, the location it covers, and whether it stands for its whole mapping."""
    kind, key = error["type"], error["loc"][-1] if error["loc"] else None
    owner = levels[-1] if kind in ("extra_forbidden", "missing") else None
    if owner is not None and isinstance(owner.type, type) and issubclass(owner.type, Section):
        model = owner.type
        words = {"key": key, "suggestion": did_you_mean(str(key), model.keys()), "keys": ", ".join(model.keys()),
                 **_names(levels), **model.names(owner.value)}
        template = model.unknown if kind == "extra_forbidden" else model.missing
        if kind == "extra_forbidden" and not model.whole:
            return tuple(error["loc"]), False, located_key(owner.value, key, file).problem(_fill(template, words))
        return owner.loc, model.whole, _at(owner, model.at, file, _fill(template, words))
    for depth in range(len(levels) - 1, -1, -1):
        level = levels[depth]
        if level.shapes:
            shape = level.shapes[-1]
            return tuple(error["loc"]), False, _at(level, shape.at, file,
                                                   _fill(shape.message, _names(levels[:depth + 1])))
    return tuple(error["loc"]), False, _at(levels[-1], "value", file, error["msg"])


def _fill(template: str, words: dict[str, Any]) -> str:
    """`template` with its `{word}`s filled in; other braces, as in `{max: N, per: D}`, stay as written."""
    return re.sub(r"\{(\w+)\}", lambda found: str(words.get(found[1], found[0])), template)


def _names(levels: list[_Level]) -> dict[str, str]:
    """`name`: the key naming the deepest value; `parent`: the key above it."""
    keys = [str(level.key) for level in levels if isinstance(level.parent, CommentedMap)]
    return {"name": keys[-1] if keys else "", "parent": keys[-2] if len(keys) > 1 else ""}


def _at(level: _Level, at: str, file: SourceFile, message: str) -> Problem:
    if isinstance(level.parent, CommentedMap):
        located = (located_key if at == "key" else located_value)(level.parent, level.key, file)
    elif isinstance(level.parent, CommentedSeq):
        located = located_item(level.parent, level.key, file)
    else:
        return file.problem(1, 1, message)
    return located.problem(message)


def _levels(loc: tuple[Any, ...], data: CommentedMap) -> list[_Level]:
    """The values along `loc`, from the file's top mapping down, each with its type and shapes in the schema."""
    levels = [_Level((), None, None, data, WorkspaceFile, ())]
    current, shapes = _unwrap(WorkspaceFile)
    for index, element in enumerate(loc):
        value = levels[-1].value
        if isinstance(current, type) and issubclass(current, Section):
            field = next((f for name, f in current.model_fields.items() if (f.alias or name) == element), None)
            if field is None:
                break
            inner, shapes = _unwrap(Annotated[(field.annotation, *field.metadata)] if field.metadata
                                    else field.annotation)
        elif get_origin(current) is dict:
            inner, shapes = _unwrap(get_args(current)[1])
        elif get_origin(current) is list:
            inner, shapes = _unwrap(get_args(current)[0])
        elif _is_union(current):
            member = _tagged(current, element)
            if member is None:
                break
            current, more = _unwrap(member)
            levels[-1] = _Level(levels[-1].loc + (element,), levels[-1].parent, levels[-1].key, value, current,
                                (*levels[-1].shapes, *more))
            continue
        else:
            break
        child = value[element] if isinstance(value, (dict, list)) and _has(value, element) else None
        levels.append(_Level(loc[:index + 1], value, element, child, inner, shapes))
        current = inner
    return levels


def _has(container: dict[Any, Any] | list[Any], key: Any) -> bool:
    if isinstance(container, dict):
        return key in container
    return isinstance(key, int) and 0 <= key < len(container)


def _unwrap(annotation: Any) -> tuple[Any, tuple[Shape, ...]]:
    """`annotation` without Annotated and `| None`, and the shapes it carried, outermost first."""
    shapes: list[Shape] = []
    while True:
        if get_origin(annotation) is Annotated:
            args = get_args(annotation)
            if any(isinstance(m, Discriminator) for m in args[1:]):  # a tagged union keeps its tags
                shapes += [m for m in args[1:] if isinstance(m, Shape)]
                return annotation, tuple(shapes)
            shapes += [m for m in args[1:] if isinstance(m, Shape)]
            annotation = args[0]
        elif _is_union(annotation) and type(None) in get_args(annotation):
            rest = [a for a in get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation, tuple(shapes)
            annotation = rest[0]
        else:
            return annotation, tuple(shapes)


def _is_union(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_union(get_args(annotation)[0])
    return origin is Union or origin is types.UnionType


def _tagged(union: Any, tag: Any) -> Any:
    """The member of a tagged union that `tag` names, or None."""
    members = get_args(get_args(union)[0] if get_origin(union) is Annotated else union)
    for member in members:
        if get_origin(member) is Annotated and any(isinstance(m, Tag) and m.tag == tag for m in get_args(member)[1:]):
            return member
    return None
