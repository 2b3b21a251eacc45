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
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from relance.dsl.durations import parse_duration
from relance.dsl.loader import TEST_SUFFIXES, yaml_reader

from .events import Event, EventError, parse_event, parse_time
from .timeline import Effect

TIME_KEYS = ("after", "at", "by")


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


def load_tests(path: Path) -> list[RuleTest]:
    """Parse one test file; a mistake raises EventError naming the file, the line and the field."""
    try:
        return _load_tests(path)
    except ValueError as error:  # a bad duration or time in `after`, `until`, `by`
        raise EventError("/tests", f"{path}: {error}") from None


def _load_tests(path: Path) -> list[RuleTest]:
    data = yaml_reader().load(path.read_text(encoding="utf-8"))
    if not isinstance(data, Mapping) or not isinstance(data.get("tests"), list):
        raise EventError("/tests", f"{path}:1: a rule-test file has 'tests:', a list of tests")
    return [_test(path, index, item, data["tests"].lc.item(index)[0] + 1) for index, item in enumerate(data["tests"])]


def _test(path: Path, index: int, item: Any, line: int) -> RuleTest:
    where = f"{path}:{line}"
    if not isinstance(item, Mapping) or "events" not in item:
        raise EventError(f"/tests/{index}", f"{where}: a test has a name, events and expectations")
    name = str(item.get("name", f"test {index + 1}"))
    contact = dict(item.get("contact") or {})
    events: list[Event] = []
    arrivals: list[datetime | None] = []
    start: datetime | None = None
    for number, raw in enumerate(item["events"]):
        pointer = f"/tests/{index}/events/{number}"
        body = dict(raw)
        after = body.pop("after", None)
        arrives = body.pop("arrives", None)
        if after is not None:
            if start is None:
                raise EventError(f"{pointer}/after", f"{where}: the first event needs an `at`")
            body["at"] = (start + parse_duration(str(after))).isoformat()
        body.setdefault("id", f"{name}#{number + 1}")
        body.setdefault("contact", contact)
        try:
            event = parse_event(body, pointer=pointer)
        except EventError as error:
            raise EventError(error.pointer, f"{where}: {error.pointer}: {error.message}") from None
        start = start or event.at
        events.append(event)
        arrivals.append(event.at + parse_duration(str(arrives)) if arrives is not None else None)
    if start is None:
        raise EventError(f"/tests/{index}/events", f"{where}: a test needs at least one event")
    until = parse_duration(str(item.get("until", "30d")))
    return RuleTest(name, str(path), line, events, until,
                    [_expectation(e, start, where) for e in item.get("expect") or []],
                    [_expectation(e, start, where) for e in item.get("expect_not") or []], arrivals)


def _expectation(raw: Any, start: datetime, where: str) -> Expectation:
    if not isinstance(raw, Mapping):
        raise EventError("/expect", f"{where}: an expectation is a mapping such as {{kind: message.sent, template: x}}")
    fields = {str(k): v for k, v in raw.items() if k not in TIME_KEYS}
    at = start + parse_duration(str(raw["after"])) if "after" in raw else None
    if "at" in raw:
        at = parse_time(str(raw["at"]), "/at")
    by = start + parse_duration(str(raw["by"])) if "by" in raw else None
    return Expectation(fields, at, by)


Simulate = Callable[[list[Event], timedelta, list[datetime | None]], Awaitable[list[Effect]]]


async def run_rule_test(test: RuleTest, simulate: Simulate) -> RuleTestResult:
    timeline = await simulate(test.events, test.until, test.arrivals)
    missing = [e for e in test.expect if not any(e.matches(effect) for effect in timeline)]
    unexpected = [(e, effect) for e in test.expect_not for effect in timeline if e.matches(effect)]
    return RuleTestResult(test, missing, unexpected, timeline)
