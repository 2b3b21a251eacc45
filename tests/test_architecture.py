"""docs/architecture.md stays true: every module it names exists, and every module is named."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"
FOLDERS = ("engine", "dsl", "plugins", "plugins/builtins", "server")
NAMED = re.compile(r"`((?:engine|dsl|plugins|server)/[\w/]+\.py)`")


def named_modules() -> set[str]:
    return set(NAMED.findall(PAGE.read_text(encoding="utf-8")))


def test_every_module_the_page_names_exists() -> None:
    missing = sorted(path for path in named_modules() if not (ROOT / path).is_file())
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def test_every_module_is_on_the_map() -> None:
    modules = {f"{folder}/{f.name}" for folder in FOLDERS for f in (ROOT / folder).glob("*.py")
               if f.name not in ("__init__.py", "__main__.py")}
    unnamed = sorted(modules - named_modules())
    assert not unnamed, f"modules missing from docs/architecture.md's module map: {unnamed}"


def test_the_functions_on_the_path_of_an_event_exist() -> None:
    """`module.py` `Name.attribute` or `function` pairs in the page: the name is defined in that module."""
    text = PAGE.read_text(encoding="utf-8")
    path_section = text[text.index("## The path of one event"):text.index("## Invariants")]
    pairs = re.findall(r"`((?:engine|dsl|plugins|server)/[\w/]+\.py)`\s+`([A-Za-z_][\w.]*)`", path_section)
    assert len(pairs) >= 10
    for module, name in pairs:
        source = (ROOT / module).read_text(encoding="utf-8")
        for part in name.split("."):
            assert re.search(rf"(?:def|class)\s+{part}\b|^{part}\s*=", source, re.M), f"{name} not in {module}"
