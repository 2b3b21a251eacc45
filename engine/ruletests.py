"""`relance test`: rule tests written as YAML beside the rules, run on the virtual clock.

    # rules.example.test.yaml
    tests:
      - name: an abandoned cart gets its first reminder a day later
        contact: {email: alice@example.test}
        events:
          - {type: checkout.started, at: "2026-03-02T10:00:00+01:00", properties: {cart: {total: 80}}}
          - {type: order.completed, after: 4d}          # `after`: from the first event
          - {type: checkout.started, after: 5d, arrives: 2h}   # reaches the server 2 hours after its `at`
        until: 10d
        expect:
          - {after: 1d, kind: message.sent, template: panier-rappel}
        expect_not:
          - {kind: message.sent, template: panier-derniere-chance}

An expectation matches an effect when every field it names is equal; `after` (from the
first event), `at` (a time) or `by` (at the latest, from the first event) fix its time.
A test file is checked like the rules (`check_tests`): a key, kind, rule, template or
channel that does not exist is an error at its line and column, so that no expectation
is one that cannot fail; an event of a type nothing uses is a warning.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from relance.dsl.durations import parse_duration, suggest_duration
from relance.dsl.errors import Problem, did_you_mean
from relance.dsl.graph import Workspace
from relance.dsl.loader import TEST_SUFFIXES, key_position, load_document, value_position
from relance.dsl.source import SourceFile

from .events import Event, EventError, parse_event, parse_time
from .profiles import PROFILE_TYPES, heard
from .timeline import KINDS, Effect

FILE_KEYS = ("tests",)
TEST_KEYS = ("name", "contact", "events", "until", "expect", "expect_not")
EVENT_KEYS = ("id", "type", "at", "after", "arrives", "contact", "properties")
TIME_KEYS = ("after", "at", "by")
EFFECT_KEYS = ("kind", "rule", "contact")  # every effect has them; then the details of its kind
DETAILS = tuple(dict.fromkeys(key for keys in KINDS.values() for key in keys))


@dataclass(frozen=True, slots=True)
class Expectation:
    fields: Mapping[str, Any]
    at: datetime | None = None
    by: datetime | None = None

    def matches(self, effect: Effect) -> bool:
        if self.at is not None and effect.at != self.at:
            return False
        if self.by is not None and effect.at > self.by:
            return False
        values = {"kind": effect.kind, "rule": effect.rule, "contact": effect.contact, **effect.details}
        return all(_same(values.get(k), v) for k, v in self.fields.items())

    def describe(self, zone: str) -> str:
        when = f"at {self.at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} " if self.at else ""
        when += f"by {self.by.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} " if self.by else ""
        return when + " ".join(f"{k}={v}" for k, v in self.fields.items())


def _same(actual: Any, expected: Any) -> bool:
    return actual == expected or (actual is not None and str(actual) == str(expected))


@dataclass
class RuleTest:
    name: str
    path: str
    line: int
    events: list[Event]
    until: timedelta
    expect: list[Expectation] = field(default_factory=list)
    expect_not: list[Expectation] = field(default_factory=list)
    arrivals: list[datetime | None] = field(default_factory=list)  # when each event reaches the server


@dataclass
class RuleTestResult:
    test: RuleTest
    missing: list[Expectation]
    unexpected: list[tuple[Expectation, Effect]]
    timeline: list[Effect]

    @property
    def passed(self) -> bool:
        return not self.missing and not self.unexpected


def rule_test_files(path: Path) -> list[Path]:
    """The rule-test files for a rules file (NAME.test.yaml beside it) or a folder (all *.test.yaml)."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.name.endswith(TEST_SUFFIXES))
    stem = path.name.rsplit(".", 1)[0]
    return [p for p in (path.with_name(f"{stem}{suffix}") for suffix in TEST_SUFFIXES) if p.exists()]


def check_tests(path: Path, workspace: Workspace | None) -> tuple[list[RuleTest], list[Problem]]:
    """The tests of one file and every problem in it, at its line and column.

    Rule, template and channel names, and event types, are checked against `workspace`
    when it is given (None: the rules have errors of their own). Tests with errors are
    left out of the list.
    """
    document, problems = load_document(path)
    if document.data is None:
        return [], problems
    reader = _TestFile(document.file, workspace)
    tests = reader.read(document.data)
    return tests, problems + reader.problems


class _TestFile:
    """One method per part of a test file; problems collect in `self.problems`."""

    def __init__(self, file: SourceFile, workspace: Workspace | None) -> None:
        self.file, self.workspace = file, workspace
        self.problems: list[Problem] = []

    def at(self, position: tuple[int, int], message: str, severity: str = "error") -> None:
        self.problems.append(self.file.problem(*position, message, severity))

    def _keys(self, mapping: CommentedMap, allowed: tuple[str, ...], what: str) -> None:
        for key in mapping:
            if key not in allowed:
                self.at(key_position(mapping, key), f"unknown key '{key}'{did_you_mean(str(key), allowed)}; "
                                                    f"{what} has: {', '.join(allowed)}")

    def _duration(self, mapping: CommentedMap, key: str) -> timedelta | None:
        text = str(mapping[key])
        try:
            return parse_duration(text)
        except ValueError as error:
            hint = suggest_duration(text)
            self.at(value_position(mapping, key), f"{key}: {error}" + (f" (did you mean '{hint}'?)" if hint else ""))
            return None

    def _time(self, mapping: CommentedMap, key: str) -> datetime | None:
        value = mapping[key]
        if isinstance(value, (date, datetime)):
            self.at(value_position(mapping, key), f"{key}: write the time in quotes, such as "
                                                  "\"2026-03-02T10:00:00+01:00\" (unquoted, YAML reads a date)")
            return None
        try:
            return parse_time(value, f"/{key}")
        except EventError as error:
            self.at(value_position(mapping, key), f"{key}: {error.message}")
            return None

    # ------------------------------------------------------------ structure
    def read(self, data: Any) -> list[RuleTest]:
        if not isinstance(data, CommentedMap) or not isinstance(data.get("tests"), CommentedSeq):
            self.at((1, 1), "a rule-test file has 'tests:', a list of tests")
            return []
        self._keys(data, FILE_KEYS, "a rule-test file")
        tests = data["tests"]
        found = [self._test(index, tests[index], tests.lc.item(index)) for index in range(len(tests))]
        return [test for test in found if test is not None]

    def _test(self, index: int, item: Any, place: tuple[int, int]) -> RuleTest | None:
        line = place[0] + 1
        if not isinstance(item, CommentedMap) or not isinstance(item.get("events"), CommentedSeq) \
                or not item["events"]:
            self.at((line, place[1] + 1), "a test has a name, events (a list, at least one) and expectations")
            return None
        before = len(self.problems)
        self._keys(item, TEST_KEYS, "a test")
        name = str(item.get("name", f"test {index + 1}"))
        contact = item.get("contact") or {}
        events = self._events(item["events"], name, contact)
        arrivals = self._arrivals(item["events"], events)
        start = events[0].at if events and len(events) == len(item["events"]) else None
        until = self._duration(item, "until") if "until" in item else timedelta(days=30)
        expect = self._expectations(item, "expect", start)
        expect_not = self._expectations(item, "expect_not", start)
        if any(p.is_error for p in self.problems[before:]) or start is None or until is None:
            return None
        return RuleTest(name, self.file.path, line, events, until, expect, expect_not, arrivals)

    # --------------------------------------------------------------- events
    def _events(self, items: CommentedSeq, name: str, contact: Any) -> list[Event]:
        """The events of a test; `after` counts from the first one's `at`."""
        events: list[Event] = []
        for number in range(len(items)):
            raw = items[number]
            line, column = items.lc.item(number)
            if not isinstance(raw, CommentedMap):
                self.at((line + 1, column + 1), "an event is a mapping such as {type: checkout.started, "
                                                "at: \"2026-03-02T10:00:00+01:00\"}")
                continue
            at = self._event_time(raw, number, (line + 1, column + 1), events[0].at if events else None)
            event = self._event(raw, number, name, contact, at) if at is not None else None
            if event is not None:
                events.append(event)
        return events

    def _arrivals(self, items: CommentedSeq, events: list[Event]) -> list[datetime | None]:
        """When each event reaches the server: `arrives: 10m` after its own `at` (a late webhook), else at it."""
        arrivals: list[datetime | None] = []
        for raw, event in zip(items, events):
            late = self._duration(raw, "arrives") if isinstance(raw, CommentedMap) and "arrives" in raw else None
            arrivals.append(event.at + late if late is not None else None)
        return arrivals

    def _event_time(self, raw: CommentedMap, number: int, place: tuple[int, int],
                    start: datetime | None) -> datetime | None:
        self._keys(raw, EVENT_KEYS, "an event")
        if "at" in raw:
            return self._time(raw, "at")
        if "after" not in raw:
            self.at(place, "an event needs an 'at' (a time) or, after the first, an 'after' (a duration)")
            return None
        after = self._duration(raw, "after")
        if number == 0:
            self.at(key_position(raw, "after"), "the first event needs an 'at': 'after' counts from it")
        return start + after if start is not None and after is not None else None

    def _event(self, raw: CommentedMap, number: int, name: str, contact: Any, at: datetime) -> Event | None:
        body = {str(k): _plain(v) for k, v in raw.items() if k in EVENT_KEYS and k not in ("after", "at", "arrives")}
        body.update(at=at.isoformat(), id=body.get("id", f"{name}#{number + 1}"),
                    contact=body.get("contact", _plain(contact)))
        base = f"/events/{number}"
        try:
            event = parse_event(body, pointer=base)
        except EventError as error:
            self.at(_pointer_position(raw, error.pointer.removeprefix(base)), f"{error.pointer.removeprefix(base)[1:]}"
                                                                            f": {error.message}")
            return None
        self._heard(raw, event.type)
        return event

    def _heard(self, raw: CommentedMap, event_type: str) -> None:
        if self.workspace is None or heard(self.workspace, event_type):
            return
        known = sorted({*self.workspace.event_types, *PROFILE_TYPES})
        self.at(value_position(raw, "type"), f"no rule listens to '{event_type}' and the engine does not use it"
                                             f"{did_you_mean(event_type, known)}: this event changes little in the "
                                             "test", "warning")

    # --------------------------------------------------------- expectations
    def _expectations(self, item: CommentedMap, key: str, start: datetime | None) -> list[Expectation]:
        raw = item.get(key)
        if raw is None:
            return []
        if not isinstance(raw, CommentedSeq):
            self.at(value_position(item, key), f"'{key}' is a list of effects such as "
                                               "{kind: message.sent, template: x}")
            return []
        found = [self._expectation(raw, index, start) for index in range(len(raw))]
        return [expectation for expectation in found if expectation is not None]

    def _expectation(self, items: CommentedSeq, index: int, start: datetime | None) -> Expectation | None:
        raw = items[index]
        if not isinstance(raw, CommentedMap) or not raw:
            line, column = items.lc.item(index)
            self.at((line + 1, column + 1), "an expectation is a mapping such as {kind: message.sent, template: x}"
                                            + ("; an empty one matches any effect" if raw == {} else ""))
            return None
        before = len(self.problems)
        kind = str(raw["kind"]) if "kind" in raw else None
        if kind is not None and kind not in KINDS:
            self.at(value_position(raw, "kind"), f"unknown kind '{kind}'{did_you_mean(kind, KINDS)}; "
                                                 f"kinds are: {', '.join(KINDS)}")
            kind = None
        details = KINDS[kind] if kind is not None else DETAILS
        for key in raw:
            if key in (*EFFECT_KEYS, *TIME_KEYS, *details):
                continue
            if key in DETAILS:
                self.at(key_position(raw, key), f"{kind} effects have no '{key}'; they have: "
                                                f"{', '.join((*EFFECT_KEYS, *details))}")
            else:
                allowed = (*EFFECT_KEYS, *TIME_KEYS, *details)
                self.at(key_position(raw, key), f"unknown key '{key}'{did_you_mean(str(key), allowed)}; "
                                                f"an expectation has: {', '.join(allowed)}")
        self._names(raw)
        after = self._duration(raw, "after") if "after" in raw else None
        limit = self._duration(raw, "by") if "by" in raw else None
        at = self._time(raw, "at") if "at" in raw else (start + after if start and after is not None else None)
        by = start + limit if start and limit is not None else None
        if len(self.problems) > before:
            return None
        return Expectation({str(k): _plain(v) for k, v in raw.items() if k not in TIME_KEYS}, at, by)

    def _names(self, raw: CommentedMap) -> None:
        """Rule, template and channel names the workspace does not have."""
        if self.workspace is None:
            return
        known = {"rule": list(self.workspace.rules), "channel": list(self.workspace.channels),
                 "template": sorted({name for name, _ in self.workspace.templates})}
        for key, names in known.items():
            if key in raw and str(raw[key]) not in names:
                self.at(value_position(raw, key), f"unknown {key} '{raw[key]}'{did_you_mean(str(raw[key]), names)}")


def _pointer_position(raw: CommentedMap, pointer: str) -> tuple[int, int]:
    """Where the field a JSON pointer (relative to the event) names is written, as far as it is."""
    node: Any = raw
    position = key_position(raw, next(iter(raw)))
    for part in pointer.strip("/").split("/"):
        if not isinstance(node, CommentedMap) or part not in node:
            break
        position, node = value_position(node, part), node[part]
    return position


def _plain(value: Any) -> Any:
    """ruamel's commented containers and scalar strings as plain Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


Simulate = Callable[[list[Event], timedelta, list[datetime | None]], Awaitable[list[Effect]]]


async def run_rule_test(test: RuleTest, simulate: Simulate) -> RuleTestResult:
    timeline = await simulate(test.events, test.until, test.arrivals)
    missing = [e for e in test.expect if not any(e.matches(effect) for effect in timeline)]
    unexpected = [(e, effect) for e in test.expect_not for effect in timeline if e.matches(effect)]
    return RuleTestResult(test, missing, unexpected, timeline)
