"""The channel passes Relance's channel contract: what the engine counts on from any channel plugin."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from relance.plugins.testing import ChannelContract, Delivery
from relance_jsonl_channel import JsonlChannel


class TestJsonlChannel(ChannelContract):
    @pytest.fixture
    def channel(self) -> JsonlChannel:
        return JsonlChannel()

    @pytest.fixture
    def settings(self, tmp_path: Path) -> dict[str, Any]:
        return {"path": str(tmp_path / "outbox.jsonl")}

    @pytest.fixture
    def delivered(self, settings: dict[str, Any]) -> Callable[[], list[Delivery]]:
        """The lines of the file, each with the key it was written for."""
        def lines() -> list[Delivery]:
            path = Path(settings["path"])
            lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
            return [Delivery(json.loads(line)["body"], json.loads(line)["key"]) for line in lines]
        return lines
