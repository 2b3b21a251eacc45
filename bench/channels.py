"""Dispatcher speed: messages per second from the outbox to a local SMTP server, vs aiosmtplib alone.

    python bench/channels.py [--messages 2000]

Both send the same messages to one aiosmtpd server on 127.0.0.1, over one connection. The
baseline builds each email and hands it to aiosmtplib; Relance claims each message in the
database, judges the policies (consent, caps, offers, quiet hours), hands it to the smtp
channel and records the outcome, on a SQLite file.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import aiosmtplib

from relance.dsl import compile_workspace
from relance.engine.clock import VirtualClock
from relance.engine.engine import Engine
from relance.engine.records import ContactRecord, MessageRecord
from relance.plugins.builtins.email_message import envelope
from relance.plugins.builtins.smtp_channel import SmtpChannel
from relance.engine.channels import OutboundMessage
from relance.plugins.registry import function_registry, plugin_manager, store_for

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.plugins.smtp_server import Mailbox, start_server  # noqa: E402  (the test suite's SMTP server)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
RULES = """\
workspace: bench
channels:
  email: {plugin: smtp, host: 127.0.0.1, port: %d, tls: none, from: "Bench <bench@relance.test>"}
policy:
  frequency: {max: 3, per: 24h}
"""


async def baseline(port: int, count: int) -> float:
    settings = {"from": "Bench <bench@relance.test>"}
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await client.connect()
    started = time.perf_counter()
    for n in range(count):
        message = OutboundMessage(f"base:{n}", "email", "t", "Votre panier", "Bonjour", f"c{n}@example.test", None, n,
                                  "r", settings=settings, at=NOW)
        mail = envelope(message, settings)
        await client.sendmail(mail.sender, [mail.recipient], mail.data)
    seconds = time.perf_counter() - started
    await client.quit()
    return seconds


async def relance(port: int, count: int, folder: Path) -> float:
    path = folder / "rules.yaml"
    path.write_text(RULES % port, encoding="utf-8")
    workspace = compile_workspace([path], function_registry(plugin_manager(False)))
    store = store_for(plugin_manager(False), f"sqlite://{folder / 'bench.sqlite3'}")
    await store.open()
    async with store.transaction() as tx:
        for n in range(count):
            contact = await tx.create_contact(ContactRecord(0, "bench", NOW, email=f"c{n}@example.test"))
            await tx.insert_message(MessageRecord("bench", f"m:{n}", contact.id, None, "r", "n", "email", "t",
                                                  "Votre panier", "Bonjour", NOW))
    channel = SmtpChannel()
    engine = Engine(workspace, store, VirtualClock(NOW), {"smtp": channel})
    started = time.perf_counter()
    sent = 0
    while sent < count:
        sent += await engine.dispatch()
    seconds = time.perf_counter() - started
    await channel.close()
    await store.close()
    return seconds


async def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--messages", type=int, default=2000)
    count = arguments.parse_args().messages
    box = Mailbox()
    controller, port = start_server(box)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = await baseline(port, count)
            ours = await relance(port, count, Path(tmp))
    finally:
        controller.stop()
    assert len(box.received) == 2 * count, len(box.received)
    print(f"{count} messages to aiosmtpd on 127.0.0.1, one connection:")
    print(f"  aiosmtplib directly          {count / base:8,.0f} messages/s")
    print(f"  Relance dispatcher (SQLite)  {count / ours:8,.0f} messages/s")
    print(f"ratio to aiosmtplib alone: {base / ours:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
