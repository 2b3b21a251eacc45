"""Rules checked in a child process (server/rule_checks.py): a time and a memory budget, the server's loop free."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from relance.server.rule_checks import RuleChecker

ROOT = Path(__file__).resolve().parents[2]
RULE = """\
  - id: r{n}
    when: checkout.started where event.cart.total >= 20
    steps:
      - wait 1d
      - send chat t
      - if contact.score > 10:
          - tag hot
        else:
          - score +5
      - wait until email.opened within 24h
"""


def many_rules(path: Path, size: int) -> Path:
    """A valid rules file of about `size` bytes, no alias in it: large, and slow to check."""
    head = 'workspace: big\nchannels: {chat: {plugin: log}}\ntemplates: {t: {chat: "hi {{ contact.first_name }}"}}\nrules:\n'
    path.write_text(head + "".join(RULE.format(n=n) for n in range(size // len(RULE))), encoding="utf-8")
    return path


async def test_a_check_that_passes_its_time_is_stopped_and_the_next_one_works(tmp_path: Path) -> None:
    checker = RuleChecker(seconds=0.3)
    try:
        started = time.monotonic()
        [problem] = await checker.check(many_rules(tmp_path / "big.yaml", 400_000))
        assert time.monotonic() - started < 2
        assert (problem.line, problem.column) == (1, 1) and "took more than 0.3 s, the limit" in problem.message
        checker.seconds = 30
        assert await checker.check(ROOT / "rules.example.yaml") == []  # a fresh child took over
    finally:
        await checker.close()


async def test_the_event_loop_goes_on_while_a_file_is_checked(tmp_path: Path) -> None:
    checker = RuleChecker()
    await checker.start()
    try:
        ticks: list[float] = []

        async def tick() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(tick())
        problems = await checker.check(many_rules(tmp_path / "big.yaml", 100_000))
        ticking.cancel()
        assert problems == []
        assert max(b - a for a, b in zip(ticks, ticks[1:])) < 0.25  # never held for long
    finally:
        await checker.close()


@pytest.mark.slow
async def test_a_check_that_needs_more_than_its_memory_is_refused_and_the_next_one_works(tmp_path: Path) -> None:
    checker = RuleChecker(memory=100 * 1024 ** 2)
    try:
        [problem] = await checker.check(many_rules(tmp_path / "big.yaml", 1_000_000))
        assert problem.message == "checking these rules needed more than 100 MB, the limit; split the file"
        assert await checker.check(ROOT / "rules.example.yaml") == []
    finally:
        await checker.close()
