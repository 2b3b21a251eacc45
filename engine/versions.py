"""Rule versions: every version a run may be pinned to, kept in the store so that any process can walk it.

A process publishes the versions it loads (with the files they were compiled from) before it
pins a run to one of them. A run pinned to a version the process did not load is walked on
the stored one, compiled again from its files. Versions are ordered by when the store first
saw them: a run only ever moves to a newer version than its own, so two processes with
different files (a rolling deploy) never move a run back and forth, and whether a run moves
depends on the two versions alone — the same after a restart, in a worker, anywhere.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from relance.dsl import graph as g
from relance.dsl.snapshots import digest

from . import runs
from .records import RunRecord
from .store import Store, Transaction

logger = logging.getLogger("relance.engine")
CompileSources = Callable[[Mapping[str, str]], g.Workspace | None]  # a snapshot's files -> its workspace (None: errors)


@dataclass(frozen=True, slots=True)
class Pinned:
    """A rule version and the workspace it was compiled in (whose templates it falls back on)."""

    rule: g.Rule
    workspace: g.Workspace


class Versions:
    """The rule versions of one workspace: loaded ones in memory, stored ones compiled on demand."""

    def __init__(self, workspace: str, compile_sources: CompileSources | None = None) -> None:
        self.workspace = workspace
        self.compile_sources = compile_sources
        self._pinned: dict[tuple[str, str], Pinned] = {}
        self._seq: dict[tuple[str, str], int] = {}
        self._unpublished: g.Workspace | None = None
        self._snapshots: dict[str, g.Workspace | None] = {}  # compiled from the store, by digest
        self.digest: str | None = None  # of the files loaded last

    def load(self, workspace: g.Workspace, publish: bool = True) -> None:
        """Rules just compiled: known here at once; published before a run is pinned to them (unless
        they come from the store: `publish=False`)."""
        for rule in workspace.rules.values():
            self._pinned[(rule.id, rule.version)] = Pinned(rule, workspace)
        self.digest = digest(workspace.sources) if workspace.sources else None
        if workspace.sources and publish:
            self._unpublished = workspace

    def loaded(self) -> list[g.Rule]:
        """Every rule version known here: loaded from files, or compiled from the store for a run."""
        return [pinned.rule for pinned in self._pinned.values()]

    async def publish(self, store: Store, at: datetime) -> None:
        """Keep the loaded versions and their files in the store (once; a no-op when done)."""
        workspace = self._unpublished
        if workspace is None:
            return
        versions = [(rule.id, rule.version) for rule in workspace.rules.values()]
        sources = dict(workspace.sources)
        self._seq.update(await store.publish_versions(self.workspace, digest(sources), sources, versions, at))
        if self._unpublished is workspace:
            self._unpublished = None

    async def pinned(self, tx: Transaction, rule_id: str, version: str) -> Pinned | None:
        """The version a run is pinned to: loaded here, else compiled from the store; None when unknown."""
        key = (rule_id, version)
        if key in self._pinned:
            return self._pinned[key]
        stored = await tx.rule_version(self.workspace, rule_id, version)
        if stored is None or self.compile_sources is None:
            return None
        seq, snapshot = stored
        self._seq[key] = seq
        if snapshot not in self._snapshots:
            sources = await tx.snapshot(self.workspace, snapshot)
            if sources is None:
                return None
            self.compiled(snapshot, sources)
        compiled = self._snapshots[snapshot]
        rule = compiled.rules.get(rule_id) if compiled is not None else None
        if compiled is None or rule is None or rule.version != version:
            return None
        self._pinned[key] = Pinned(rule, compiled)
        return self._pinned[key]

    async def rule_for(self, tx: Transaction, run: RunRecord, loaded: g.Workspace) -> Pinned | None:
        """The version a run walks on: the `loaded` one when it is pinned to it; else the newer loaded
        version when the run may move there (the trace says so), else its own, from the store if
        need be. None when that version is known nowhere."""
        current = loaded.rules.get(run.rule_id)
        if current is not None and current.version == run.rule_version:
            return Pinned(current, loaded)
        pinned = await self.pinned(tx, run.rule_id, run.rule_version)
        if current is None:
            return pinned
        own_seq = await self.seq(tx, run.rule_id, run.rule_version)
        current_seq = await self.seq(tx, current.id, current.version)
        if own_seq is not None and current_seq is not None and current_seq < own_seq:
            return pinned  # the version loaded here is older than the run's (files behind the others)
        blocker = move_blocker(run.node_id, pinned.rule if pinned else None, current)
        if blocker is None:
            runs.move_version(run, current.version)
            return Pinned(current, loaded)
        if pinned is not None:
            runs.stay_on_version(run, current.version, blocker)
        return pinned

    def compiled(self, snapshot: str, sources: Mapping[str, str]) -> g.Workspace | None:
        """A stored snapshot compiled here, once (None, logged once, when it does not compile here)."""
        if snapshot not in self._snapshots:
            compiled = self.compile_sources(sources) if self.compile_sources is not None else None
            if compiled is None:
                logger.error("%s: the stored rules %s do not compile in this process", self.workspace, snapshot[:12])
            self._snapshots[snapshot] = compiled
        return self._snapshots[snapshot]

    async def seq(self, tx: Transaction, rule_id: str, version: str) -> int | None:
        """When the store first saw this version (higher is newer), or None if it never did."""
        key = (rule_id, version)
        if key not in self._seq:
            stored = await tx.rule_version(self.workspace, rule_id, version)
            if stored is None:
                return None
            self._seq[key] = stored[0]
        return self._seq[key]


def move_blocker(node_id: str | None, old: g.Rule | None, new: g.Rule) -> str | None:
    """Why a run about to take `node_id` of `old` must not move to the same id in `new`; None when it may.

    Node ids follow positions (`r/steps/3/if/0`). The run may move when the new version has a
    step of the same kind there and, at every level of the path, the same steps before it:
    those are the steps the run already took, so a step inserted or removed above would
    otherwise make it take a step again (and send a message twice) or skip one. An edited
    step at the same place applies. Without the old version (a run from before versions were
    stored) the id is all there is to go by.
    """
    if node_id is None:
        return None
    if node_id not in new.nodes:
        return f"has no step {node_id}"
    if old is None:
        return None
    parts = node_id.split("/")
    for depth in range(3, len(parts) + 1, 2):  # rule/steps/3, rule/steps/3/if/0, …
        if not parts[depth - 1].isdigit():
            return None  # not an id of ours: nothing to compare
        prefix, index = "/".join(parts[:depth - 1]), int(parts[depth - 1])
        here = f"{prefix}/{index}"
        if type(old.nodes.get(here)) is not type(new.nodes.get(here)):
            return f"has another kind of step at {here}"
        for i in range(index):
            before_old, before_new = old.nodes.get(f"{prefix}/{i}"), new.nodes.get(f"{prefix}/{i}")
            if before_old is None or before_new is None or before_old.origin.text != before_new.origin.text:
                return f"changed the steps before {here} ({prefix}/{i})"
    return None
