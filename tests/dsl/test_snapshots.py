"""A workspace's files as data (dsl/snapshots.py): read, named by a digest, written back and compiled."""
from __future__ import annotations

from pathlib import Path

import pytest

from relance.dsl import check_workspace
from relance.dsl.snapshots import check_sources, digest, materialized, read_sources

RULES = "templates: {t: {chat: 'hi'}}\nchannels: {chat: {plugin: log}}\n" \
        "rules:\n  - id: r\n    when: a.b\n    steps: [send chat t]\n"


def test_read_sources_names_files_relative_to_their_workspace(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hello.email.txt").write_text("Bonjour", encoding="utf-8")
    (tmp_path / "notes.md").write_text("not a rules file", encoding="utf-8")
    assert read_sources([tmp_path]) == {"rules.yaml": RULES, "templates/hello.email.txt": "Bonjour"}
    assert read_sources([tmp_path / "rules.yaml"]) == {"rules.yaml": RULES, "templates/hello.email.txt": "Bonjour"}


def test_the_digest_names_the_files_whatever_their_order() -> None:
    one = digest({"a.yaml": "x", "b.yaml": "y"})
    assert one == digest({"b.yaml": "y", "a.yaml": "x"})
    assert len(one) == 64
    assert one != digest({"a.yaml": "y", "b.yaml": "x"})
    assert digest({"a.yaml": "x"}) != digest({"c.yaml": "x"})


def test_materialized_writes_the_files_under_the_folder(tmp_path: Path) -> None:
    folder = materialized({"rules.yaml": RULES, "templates/t.sms.txt": "hi"}, tmp_path)
    assert (folder / "rules.yaml").read_text(encoding="utf-8") == RULES
    assert (folder / "templates" / "t.sms.txt").read_text(encoding="utf-8") == "hi"


@pytest.mark.parametrize("name", ["../escape.yaml", "templates/../../escape.yaml", "/tmp/escape.yaml"])
def test_a_file_name_that_leaves_the_folder_is_refused(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "snapshot"
    folder.mkdir()
    with pytest.raises(ValueError, match="leaves its folder"):
        materialized({name: "x"}, folder)
    assert not (tmp_path / "escape.yaml").exists()


def test_a_snapshot_compiles_as_its_files_did(tmp_path: Path, functions) -> None:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    sources = read_sources([tmp_path])
    workspace, problems = check_sources(sources, lambda paths: check_workspace(paths, functions))
    assert problems == [] and list(workspace.rules) == ["r"]
    _, problems = check_sources({"rules.yaml": RULES.replace("send chat t", "send chat nope")},
                                lambda paths: check_workspace(paths, functions))
    assert [p.path.endswith("rules.yaml") for p in problems] == [True]
