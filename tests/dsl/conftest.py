"""Fixtures for testing one compiler pass at a time: a fresh compile context and YAML read with positions."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from relance.dsl.compile_context import CompileContext
from relance.dsl.functions import FunctionRegistry
from relance.dsl.loader import load_document
from relance.dsl.source import SourceFile


@pytest.fixture
def context(functions: FunctionRegistry) -> CompileContext:
    return CompileContext(functions)


@pytest.fixture
def yaml(write: Callable[..., Path]) -> Callable[..., tuple[Any, SourceFile]]:
    """yaml(text, name="rules.yaml") → (the top-level mapping, its file), as the compiler reads them."""
    def read(text: str, name: str = "rules.yaml") -> tuple[Any, SourceFile]:
        document, problems = load_document(write(text, name))
        assert problems == []
        return document.data, document.file
    return read


def found(context: CompileContext) -> list[tuple[int, int, str]]:
    """The problems a pass reported, as (line, column, message)."""
    return [(p.line, p.column, p.message) for p in context.problems]
