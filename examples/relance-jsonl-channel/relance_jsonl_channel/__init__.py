"""An example channel plugin for Relance: each message becomes one line of a JSON Lines file.

Rules use it as ``channels: {archive: {plugin: jsonl, path: "outbox.jsonl"}}``; ``relance
jsonl-show outbox.jsonl`` prints the latest lines.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from relance.dsl.settings import Setting
from relance.engine.channels import ChannelTraits, DeliveryResult, OutboundMessage
from relance.plugins import hookimpl


class JsonlChannel:
    name = "jsonl"
    settings_schema = {"path": Setting(str, required=True, help="the file the messages are appended to")}

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    def traits(self, settings: Mapping[str, Any]) -> ChannelTraits:
        # An archive: it needs no address and no consent; it keeps subjects and HTML.
        return ChannelTraits(address=None, consent="none", capabilities=frozenset({"subject", "html"}))

    def check_environment(self, settings: Mapping[str, Any]) -> list[str]:
        return []  # no secret; a folder it cannot write to shows as deferred deliveries

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        path = Path(str(message.settings["path"]))
        record = {"key": message.key, "channel": message.channel, "to": message.email or message.phone,
                  "subject": message.subject, "body": message.body, "rule": message.rule_id}
        async with self._lock:
            try:
                if path.exists() and any(json.loads(line).get("key") == message.key
                                         for line in path.read_text(encoding="utf-8").splitlines() if line):
                    return DeliveryResult("delivered", "already written")  # the same key after a crash: once
                with path.open("a", encoding="utf-8") as file:
                    file.write(json.dumps(record, ensure_ascii=False) + "\n")
            except OSError as error:
                return DeliveryResult("deferred", f"cannot write {path}: {error.strerror}")
        return DeliveryResult("delivered")

    async def close(self) -> None:
        return None


@hookimpl
def relance_channels() -> list[JsonlChannel]:
    return [JsonlChannel()]


@click.command(name="jsonl-show")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--last", type=click.IntRange(min=1), default=10, help="How many of the latest messages (default 10).")
def show_command(path: str, last: int) -> None:
    """Print the latest messages a jsonl channel wrote to PATH: key, recipient, subject or body."""
    records = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
    for record in records[-last:]:
        click.echo(f"{record['key']}  {record['to'] or '-'}  {record['subject'] or record['body']}")


@hookimpl
def relance_commands() -> list[click.Command]:
    return [show_command]
