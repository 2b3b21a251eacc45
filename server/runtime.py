"""What a running server holds: one store, an engine per workspace, the scheduler, and their health."""
from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import pluggy

from relance.dsl import check_workspace
from relance.dsl.errors import Problem, RelanceError, RuleError
from relance.dsl.graph import Workspace
from relance.dsl.loader import workspace_files
from relance.dsl.snapshots import check_sources
from relance.engine.clock import Clock, SystemClock
from relance.engine.channels import Channel
from relance.engine.engine import Engine
from relance.engine.links import Links
from relance.engine.loops import Loops
from relance.engine.scheduler import HandOff, Scheduler, send_here
from relance.engine.store import Store
from relance.engine.suppressions import Suppressions
from relance.plugins.registry import channels, function_registry, plugin_manager, scorers, store_for

from . import keys
from .reminders import Reminders
from .rule_checks import RuleChecker
from .settings import Settings

logger = logging.getLogger("relance.server")
PROBE_SECONDS = 2.0  # a database or Redis that does not answer a readiness probe within this is down


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None,
                 manager: pluggy.PluginManager | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.manager = manager or plugin_manager()
        self.store: Store = store_for(self.manager, settings.database_url)
        self.engines: dict[str, Engine] = {}
        self.scheduler: Scheduler | None = None
        self._scheduler_task: asyncio.Task[None] | None = None
        self._keys: dict[str, tuple[str, datetime]] = {}  # digest -> (workspace, when read from the database)
        self._used: dict[str, datetime] = {}  # digest -> when its last use was noted
        self.paths: dict[str, str] = {}  # workspace -> its rules file or folder
        self._mtimes: dict[str, dict[str, float]] = {}
        self._watch_task: asyncio.Task[None] | None = None
        self.links: Links | None = None
        self.reminders: Reminders | None = None
        self.hand_off: HandOff = send_here  # the messages events queued: sent here, or by a worker (with Redis)
        self.channels: dict[str, Channel] = {}
        self.loops = Loops(self.clock)
        self.checker = RuleChecker()
        self._reload_wanted = asyncio.Event()  # SIGHUP: every workspace, changed or not
        self._reload_all = False

    def _check(self, path: str) -> tuple[Workspace | None, list[Problem]]:
        """The rules' problems, and then what stops a channel from sending here (a secret not set):
        a server whose messages would all fail does not start."""
        workspace, problems = self._check_paths([path])
        plugins = channels(self.manager)
        for channel in workspace.channels.values() if workspace is not None else ():
            for missing in plugins[channel.plugin].check_environment(channel.settings):
                problems.append(Problem(path, 1, 1,
                                        f"channel '{channel.name}' ({channel.plugin}) cannot send: {missing}"))
        return (None, problems) if any(p.is_error for p in problems) else (workspace, problems)

    def _check_paths(self, paths: Sequence[str | Path]) -> tuple[Workspace | None, list[Problem]]:
        return check_workspace(paths, function_registry(self.manager), channels(self.manager))

    def compile_sources(self, sources: Mapping[str, str]) -> Workspace | None:
        """A stored workspace snapshot compiled with this process's plugins (a run pinned to a version
        this process did not load); None, logged, when it does not compile here."""
        workspace, problems = check_sources(sources, self._check_paths)
        if workspace is None:
            logger.error("a stored rules snapshot does not compile with this process's plugins:\n%s",
                         "\n".join(str(p) for p in problems))
        return workspace

    def compile(self) -> list[Workspace]:
        """Every workspace named by the settings, compiled; RuleError lists all problems."""
        compiled, problems = [], []
        for path in self.settings.rules:
            if not Path(path).exists():
                raise RelanceError(f"{path}: no such rules file or folder")
            workspace, found = self._check(path)
            problems += found
            if workspace is not None:
                compiled.append(workspace)
                self.paths[workspace.name] = path
        if problems:
            raise RuleError(problems)
        names = [w.name for w in compiled]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise RelanceError(f"two rules folders name the workspace '{duplicates.pop()}'")
        return compiled

    async def start(self, run_scheduler: bool = True, follow: bool = False) -> None:
        """Open the store and an engine per workspace. A server publishes the rules it loaded (they
        become the workspace's current rules); `follow` (a worker) loads the current ones instead,
        its own files serving until some are published."""
        workspaces = self.compile()
        await self.store.open()
        secret = self.settings.secret or await self.store.kept_value("link_secret", lambda: secrets.token_urlsafe(32))
        self.links = Links(self.settings.base_url(), secret)
        self.channels = channels(self.manager)
        suppressions = Suppressions(await self.store.kept_value("suppression_secret", lambda: secrets.token_urlsafe(32)))
        for workspace in workspaces:
            self.engines[workspace.name] = Engine(workspace, self.store, self.clock, self.channels,
                                                  scorers(self.manager), links=self.links,
                                                  compile_sources=self.compile_sources)
            self.engines[workspace.name].suppressions = suppressions
            self.engines[workspace.name].inbox_limit = self.settings.inbox_limit
            if follow:
                await self.engines[workspace.name].follow()
            else:
                await self.engines[workspace.name].publish()
            await self._first_key(workspace.name)
        if self.settings.redis_url:  # waits go to `relance worker` processes through Redis
            self.reminders = Reminders(self.settings.redis_url, self.loops)
            await self.reminders.open()
            for engine in self.engines.values():
                engine.on_wait = self.reminders.remind_or_leave
        self.hand_off = self.reminders.dispatch_soon if self.reminders is not None else send_here  # workers send
        self.scheduler = Scheduler(list(self.engines.values()), self.clock, loops=self.loops, hand_off=self.hand_off)
        for name in self.engines:
            self._mtimes[name] = _mtimes(self.paths[name])
        if run_scheduler:
            self._scheduler_task = asyncio.create_task(self.scheduler.run(timers=self.reminders is None))
            self._watch_task = asyncio.create_task(self.loops.run("watcher", self._watch, wake=self._reload_wanted))
            await self.checker.start()

    async def settle(self) -> None:
        """Process every accepted event now and send what it queued, as the scheduler would (tests,
        and tools that run the server without it)."""
        for engine in self.engines.values():
            await engine.process_inbox()
            await engine.dispatch()

    async def reload(self, workspace: str) -> list[Problem]:
        """Compile the workspace's files again; with problems, keep the running rules and return them.

        The files are checked first in the checker's child process (time and memory budget),
        then compiled here in a thread: neither holds the event loop.
        """
        path = self.paths[workspace]
        self._mtimes[workspace] = _mtimes(path)
        compiled, problems = None, await self.checker.check(path)
        if not any(p.is_error for p in problems):
            compiled, problems = await asyncio.to_thread(self._check, path)
        if compiled is not None and compiled.name != workspace:
            problems = [Problem(path, 1, 1, f"the workspace is named '{workspace}'; renaming it needs a restart")]
        if any(p.is_error for p in problems) or compiled is None:
            logger.error("rules of %s not reloaded, the previous ones keep running:\n%s", workspace,
                         "\n".join(str(p) for p in problems))
            return problems
        engine = self.engines[workspace]
        engine.reload(compiled)
        await engine.publish()  # the workspace's current rules now, for the workers that follow the store
        logger.info("rules of %s reloaded: %d rules", workspace, len(compiled.rules))
        return []

    def reload_all(self) -> None:
        """Reload every workspace soon (SIGHUP), in the watcher's loop."""
        self._reload_all = True
        self._reload_wanted.set()

    async def _watch(self, every: float = 1.0) -> float:
        """A round of the watcher: reload the workspaces whose files changed (all after `reload_all`)."""
        everything, self._reload_all = self._reload_all, False
        for name in self.engines:
            if everything or _mtimes(self.paths[name]) != self._mtimes.get(name):
                await self.reload(name)
        return every

    async def health(self) -> dict[str, object]:
        """What this process depends on, each "ok" or why not: the database, Redis when used,
        and every background loop (engine/loops.py)."""
        found: dict[str, object] = {"database": await _probe(self._ping_database)}
        if self.reminders is not None:
            found["redis"] = await _probe(self.reminders.ping)
        found["loops"] = self.loops.report()
        return found

    async def _ping_database(self) -> None:
        for name in self.engines:
            await self.store.next_wake(name)

    async def _first_key(self, workspace: str) -> None:
        """A workspace with no key gets one at first start, printed once on the terminal: never
        through logging, whose lines end up in files and log platforms."""
        if await self.store.api_key_count(workspace) == 0:
            key = await self.create_key(workspace, "first start")
            logger.warning("API key created for workspace %s: printed on the terminal, not logged", workspace)
            print(f"relance: API key for workspace {workspace} (shown once, keep it): {key}", flush=True)

    async def create_key(self, workspace: str, name: str | None = None) -> str:
        key = keys.new_key()
        await self.store.add_api_key(workspace, keys.digest(key), keys.prefix(key), self.clock.now(), name)
        return key

    async def stop(self) -> None:
        self.loops.stop()
        for task in (self._watch_task, self._scheduler_task):
            if task is not None:
                await task
        await self.checker.close()
        if self.reminders is not None:
            await self.reminders.close()
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                await close()
        await self.store.close()

    async def workspace_for_key(self, key: str) -> str | None:
        """The key's workspace, read again from the database when last read a second ago or more: a
        key revoked (by `relance keys revoke`, from any process) is refused within a second, and a
        burst of requests costs one query a second, not one each. Its last use is noted at most
        once a minute."""
        digest = keys.digest(key)
        now = self.clock.now()
        known = self._keys.get(digest)
        if known is not None and now - known[1] < keys.RECHECK_EVERY:
            return known[0]
        workspace = await self.store.api_key_workspace(digest)
        if workspace is None:
            self._keys.pop(digest, None)
            return None
        self._keys[digest] = (workspace, now)
        if digest not in self._used or now - self._used[digest] >= keys.TOUCH_EVERY:
            self._used[digest] = now
            await self.store.touch_api_key(digest, now)
        return workspace


async def _probe(check: Callable[[], Awaitable[object]]) -> str:
    """"ok", or what went wrong (a probe that takes longer than PROBE_SECONDS is down)."""
    try:
        await asyncio.wait_for(check(), PROBE_SECONDS)
    except asyncio.TimeoutError:
        return f"no answer within {PROBE_SECONDS:.0f} s"
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return "ok"


def _mtimes(path: str) -> dict[str, float]:
    """Modification times of a workspace's rules and template files."""
    yaml_files, templates, _ = workspace_files([path])
    found = {}
    for file in [*yaml_files, *templates]:
        try:
            found[str(file)] = file.stat().st_mtime
        except FileNotFoundError:
            continue
    return found
