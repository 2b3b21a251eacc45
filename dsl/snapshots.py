"""A workspace's files as data: what a rule version was compiled from, kept so any process can compile it again.

A snapshot maps each file's name, relative to the workspace (`rules.yaml`, `shop/carts.yaml`,
`templates/panier-rappel.email.txt`), to its text. Its digest names it: the same files give
the same digest, whoever read them.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import Problem
from .loader import workspace_files

Check = Callable[[Sequence[str | Path]], tuple[Any, list[Problem]]]  # check_workspace with a process's plugins


def read_sources(paths: Sequence[str | Path]) -> dict[str, str]:
    """The rules and template files that `paths` name, by name relative to their workspace folder."""
    yaml_files, template_files, _ = workspace_files(paths)
    roots = [Path(p) if Path(p).is_dir() else Path(p).parent for p in paths]
    sources: dict[str, str] = {}
    for file in [*yaml_files, *template_files]:
        root = next((r for r in roots if file.is_relative_to(r)), file.parent)
        try:
            sources[file.relative_to(root).as_posix()] = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # the compiler reports it
    return sources


def digest(sources: Mapping[str, str]) -> str:
    """The snapshot's name: a SHA-256 of its files, names included."""
    return hashlib.sha256(json.dumps(dict(sorted(sources.items())), ensure_ascii=False).encode()).hexdigest()


def materialized(sources: Mapping[str, str], folder: Path) -> Path:
    """Write the snapshot's files under `folder` (which must be empty); the folder to compile."""
    for name, text in sources.items():
        path = (folder / name).resolve()
        if not path.is_relative_to(folder.resolve()):
            raise ValueError(f"a snapshot file name leaves its folder: {name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def check_sources(sources: Mapping[str, str], check: Check) -> tuple[Any, list[Problem]]:
    """Compile a snapshot with `check` (check_workspace with the process's plugins), from a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="relance-snapshot-") as folder:
        return check([materialized(sources, Path(folder))])

