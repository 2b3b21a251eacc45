"""Fixtures of the fault tests: private PostgreSQL and Redis servers (clusters.py), a webhook receiver."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .clusters import postgres_cluster, redis_server
from .traffic import Receiver

__all__ = ["postgres_cluster", "receiver", "redis_server"]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    """A webhook receiver process counting what it is sent."""
    started = Receiver(tmp_path)
    try:
        yield started
    finally:
        started.stop()
