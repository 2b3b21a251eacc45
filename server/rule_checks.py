"""Rules checked off the event loop: in a child process with a time and a memory budget.

YAML loading and the Lark grammar are pure Python: a file that is slow or large to check
would hold the server's event loop (every shop's requests, `/healthz`), and a thread
can neither be stopped nor kept to a memory limit. The server keeps one child process
(`python -m relance.server.rule_checks`), started once and reused: it reads a path per
line on stdin and answers its problems as a JSON line. A check that passes CHECK_SECONDS
is killed and answered with a problem; the child's address space is limited to
CHECK_MEMORY, and one that runs out is answered likewise. A new child takes the next check.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import resource
import sys
from pathlib import Path

from relance.dsl import FunctionRegistry, check_workspace
from relance.dsl.compiler import ChannelPlugins
from relance.dsl.errors import Problem
from relance.plugins.registry import channels, function_registry, plugin_manager

logger = logging.getLogger("relance.rule_checks")
CHECK_SECONDS = 30.0  # a 1 MiB rules file of 4,000 rules checks in about 5 s on one core
CHECK_MEMORY = 1024 ** 3  # bytes of address space for the child (it starts at about 60 MB)
ANSWER_LIMIT = 64 * 1024 ** 2  # bytes of one answer line (every problem of a large file)


class RuleChecker:
    """Checks workspaces (a file or folder, as `relance check` does) in a budgeted child process."""

    def __init__(self, seconds: float = CHECK_SECONDS, memory: int = CHECK_MEMORY) -> None:
        self.seconds, self.memory = seconds, memory
        self._child: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Start the child now, so that the first check does not wait for its imports."""
        async with self._lock:
            await self._started()

    async def check(self, path: str | Path) -> list[Problem]:
        """Every problem of the workspace at `path`; one problem at 1:1 when the budget ran out."""
        async with self._lock:
            child = await self._started()
            assert child.stdin is not None and child.stdout is not None
            try:
                child.stdin.write(json.dumps({"path": str(path)}).encode() + b"\n")
                await child.stdin.drain()
                line = await asyncio.wait_for(child.stdout.readline(), self.seconds)
            except asyncio.TimeoutError:
                await self._stop()
                return [Problem(str(path), 1, 1, f"checking these rules took more than {self.seconds:g} s, the "
                                                 "limit; split the file, or write repeated parts out fewer times")]
            except (ConnectionError, ValueError):  # the child died while being written to, or a line too long
                line = b""
            answer = json.loads(line) if line else {"error": "died"}
            if "problems" not in answer:
                await self._stop()
                return [Problem(str(path), 1, 1, f"checking these rules needed more than "
                                                 f"{self.memory // 1024 ** 2:,} MB, the limit; split the file")]
            return [Problem(**problem) for problem in answer["problems"]]

    async def close(self) -> None:
        async with self._lock:
            await self._stop()

    async def _started(self) -> asyncio.subprocess.Process:
        if self._child is None or self._child.returncode is not None:
            self._child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "relance.server.rule_checks", str(self.memory),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=ANSWER_LIMIT)
        return self._child

    async def _stop(self) -> None:
        if self._child is not None and self._child.returncode is None:
            self._child.kill()
            await self._child.wait()
        self._child = None


def _answer(path: str, functions: FunctionRegistry, schemas: ChannelPlugins) -> dict[str, object]:
    try:
        _, problems = check_workspace([path], functions, schemas)
    except RecursionError:
        problems = [Problem(path, 1, 1, "these rules are nested too deeply to be read")]
    except MemoryError:
        raise
    except Exception as error:  # a plugin's bug: said as a problem, the child goes on
        problems = [Problem(path, 1, 1, f"these rules could not be checked: {type(error).__name__}: {error}")]
    return {"problems": [dataclasses.asdict(problem) for problem in problems]}


def main() -> None:
    """The child: limit its own memory, then answer one path per line until stdin closes."""
    memory = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    manager = plugin_manager()
    functions, schemas = function_registry(manager), channels(manager)
    for line in sys.stdin:
        try:
            answer = _answer(json.loads(line)["path"], functions, schemas)
        except MemoryError:
            answer = {"error": "memory"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
        if "error" in answer:
            return  # after running out of memory, a fresh child is safer


if __name__ == "__main__":
    main()
