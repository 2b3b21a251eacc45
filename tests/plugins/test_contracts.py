"""The built-in store and channels pass the contract suites a third-party plugin runs (relance.plugins.testing)."""
from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from relance.engine.store import Store
from relance.plugins.builtins.log_channel import LogChannel
from relance.plugins.builtins.smtp_channel import SmtpChannel
from relance.plugins.builtins.twilio_channel import TwilioChannel
from relance.plugins.builtins.webhook_channel import WebhookChannel
from relance.plugins.registry import plugin_manager, store_for
from relance.plugins.testing import ChannelContract, Delivery, StoreContract

from ..engine.conftest import database  # noqa: F401 (a fixture: SQLite, then PostgreSQL)
from .fake_providers import Recorded, receiver_app, serving, twilio_app
from .smtp_server import Mailbox, start_server

SECRET_ENV, TOKEN_ENV = "RELANCE_TEST_CONTRACT_SECRET", "RELANCE_TEST_CONTRACT_TOKEN"


class TestTortoiseStore(StoreContract):
    """On a SQLite file and on the local PostgreSQL."""

    @pytest.fixture
    async def store(self, database: str) -> AsyncIterator[Store]:  # noqa: F811
        opened = store_for(plugin_manager(load_entry_points=False), database)
        await opened.open()
        yield opened
        await opened.close()


class TestSmtpChannel(ChannelContract):
    """Against a real SMTP server on 127.0.0.1: what it received, parsed; Message-ID carries the key."""

    @pytest.fixture
    def mailbox(self) -> Iterator[tuple[Mailbox, int]]:
        box = Mailbox()
        controller, port = start_server(box)
        yield box, port
        controller.stop()

    @pytest.fixture
    async def channel(self) -> AsyncIterator[SmtpChannel]:
        channel = SmtpChannel()
        yield channel
        await channel.close()

    @pytest.fixture
    def settings(self, mailbox: tuple[Mailbox, int]) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": mailbox[1], "tls": "none",
                "from": "Maison Démo <bonjour@maison-demo.test>"}

    @pytest.fixture
    def delivered(self, mailbox: tuple[Mailbox, int]) -> Callable[[], list[Delivery]]:
        def received() -> list[Delivery]:
            bodies = [r.message.get_body(("plain",)) for r in mailbox[0].received]
            return [Delivery(body.get_content() if body else "", r.message["Message-ID"])
                    for body, r in zip(bodies, mailbox[0].received)]
        return received


class TestWebhookChannel(ChannelContract):
    """Against a receiver checking the signature; the key is the Idempotency-Key header."""

    @pytest.fixture
    def recorded(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Recorded]]:
        monkeypatch.setenv(SECRET_ENV, "s3cret")
        recorded = Recorded()
        with serving(receiver_app(recorded, secret="s3cret")) as base:
            yield f"{base}/hook", recorded

    @pytest.fixture
    async def channel(self) -> AsyncIterator[WebhookChannel]:
        channel = WebhookChannel()
        yield channel
        await channel.close()

    @pytest.fixture
    def settings(self, recorded: tuple[str, Recorded]) -> dict[str, Any]:
        return {"url": recorded[0], "secret_env": SECRET_ENV}

    @pytest.fixture
    def delivered(self, recorded: tuple[str, Recorded]) -> Callable[[], list[Delivery]]:
        def received() -> list[Delivery]:
            assert all(r["verified"] for r in recorded[1].requests)
            return [Delivery(json.loads(r["body"])["body"], r["headers"].get("idempotency-key"))
                    for r in recorded[1].requests]
        return received


class TestLogChannel(ChannelContract):
    """Its log lines are what it delivers; each names the key."""

    @pytest.fixture
    def channel(self) -> LogChannel:
        return LogChannel()

    @pytest.fixture
    def settings(self) -> dict[str, Any]:
        return {"address": "email"}

    @pytest.fixture
    def delivered(self, caplog: pytest.LogCaptureFixture) -> Callable[[], list[Delivery]]:
        caplog.set_level(logging.INFO, logger="relance.channels.log")

        def lines() -> list[Delivery]:
            found = [r.getMessage() for r in caplog.records if r.name == "relance.channels.log"]
            keys = [re.search(r" key=(\S+)$", line) for line in found]
            return [Delivery(line, key.group(1) if key else None) for line, key in zip(found, keys)]
        return lines


class TestTwilioChannels(ChannelContract):
    """twilio_sms and twilio_whatsapp against a local server speaking Twilio's Messages API."""

    @pytest.fixture
    def recorded(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Recorded]]:
        monkeypatch.setenv(TOKEN_ENV, "tok3n")
        recorded = Recorded()
        with serving(twilio_app(recorded)) as base:
            yield base, recorded

    @pytest.fixture(params=["sms", "whatsapp"])
    async def channel(self, request: pytest.FixtureRequest) -> AsyncIterator[TwilioChannel]:
        channel = TwilioChannel(request.param)
        yield channel
        await channel.close()

    @pytest.fixture
    def settings(self, recorded: tuple[str, Recorded]) -> dict[str, Any]:
        return {"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token_env": TOKEN_ENV,
                "from": "+33700000000", "base_url": recorded[0]}

    @pytest.fixture
    def delivered(self, recorded: tuple[str, Recorded]) -> Callable[[], list[Delivery]]:
        return lambda: [Delivery(r["form"]["Body"], r["headers"].get("idempotency-key")) for r in recorded[1].requests]

