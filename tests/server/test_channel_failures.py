"""A channel that cannot send says so: at start, in the log for each message, and in ?wait=true's answer."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from relance.dsl.errors import RuleError
from relance.engine.clock import VirtualClock
from relance.server.app import create_app
from relance.server.settings import Settings

from ..plugins.fake_providers import Recorded, serving, twilio_app
from .conftest import NOW, free_port

TOKEN = "RELANCE_TEST_TWILIO_TOKEN"
RULES = """\
workspace: shop
channels:
  sms: {plugin: twilio_sms, account_sid: AC1, auth_token_env: %s, from: "+33700000000", base_url: "%s"}
  email: {plugin: smtp, host: 127.0.0.1, from: shop@shop.test, password_env: RELANCE_TEST_SMTP_PASSWORD,
          dkim_selector: s1, dkim_key_env: RELANCE_TEST_DKIM_KEY}
  hook: {plugin: webhook, url: "https://crm.test/hook", secret_env: RELANCE_TEST_HOOK_SECRET}
policy: {consent: {sms: none}}
templates:
  ping: {sms: "Votre panier vous attend"}
rules:
  - id: r
    when: checkout.started
    steps: [send sms ping]
"""
SECRETS = (TOKEN, "RELANCE_TEST_SMTP_PASSWORD", "RELANCE_TEST_DKIM_KEY", "RELANCE_TEST_HOOK_SECRET")


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)


def test_serve_refuses_to_start_and_names_every_missing_secret(write, tmp_path: Path) -> None:
    rules = write(RULES % (TOKEN, "https://api.twilio.com"))
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    try:  # a server that starts anyway would run until killed: that is the failure
        result = subprocess.run([sys.executable, "-m", "relance.server", "serve", str(rules), "--port", str(free_port()),
                                 "--database-url", f"sqlite://{tmp_path / 's.sqlite3'}"],
                                env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"the server started without its secrets:\n{error.stdout}")
    assert result.returncode == 1, result.stderr
    for line in (f"channel 'sms' (twilio_sms) cannot send: environment variable {TOKEN} (the Twilio auth token) "
                 "is not set",
                 "channel 'email' (smtp) cannot send: environment variable RELANCE_TEST_SMTP_PASSWORD "
                 "(the SMTP password) is not set",
                 "channel 'email' (smtp) cannot send: environment variable RELANCE_TEST_DKIM_KEY (the DKIM "
                 "private key, or its file) is not set",
                 "channel 'hook' (webhook) cannot send: environment variable RELANCE_TEST_HOOK_SECRET (the webhook "
                 "signing secret) is not set"):
        assert f"{rules}:1:1: {line}" in result.stderr, result.stderr
    assert "Uvicorn running" not in result.stdout + result.stderr


def test_a_reload_that_needs_a_missing_secret_keeps_the_running_rules(write, unset, tmp_path: Path) -> None:
    rules = write("workspace: shop\nchannels: {sms: {plugin: log, address: phone}}\n")
    settings = Settings(rules=(str(rules),), database_url=f"sqlite://{tmp_path / 's.sqlite3'}")
    app = create_app(settings, clock=VirtualClock(NOW), run_scheduler=False)
    with TestClient(app) as client:
        runtime = app.state.runtime
        rules.write_text(RULES % (TOKEN, "https://api.twilio.com"), encoding="utf-8")
        problems = client.portal.call(runtime.reload, "shop")
        assert any(f"environment variable {TOKEN}" in p.message for p in problems)
        assert runtime.engines["shop"].workspace.channels["sms"].plugin == "log"
    with pytest.raises(RuleError, match="cannot send"):
        create_app(settings)


def test_each_failed_delivery_is_logged_and_wait_true_says_queued_not_sent(write, monkeypatch, caplog,
                                                                          tmp_path: Path) -> None:
    monkeypatch.setenv(TOKEN, "tok3n")
    monkeypatch.setenv("RELANCE_TEST_SMTP_PASSWORD", "x")
    monkeypatch.setenv("RELANCE_TEST_HOOK_SECRET", "x")
    recorded = Recorded()
    with serving(twilio_app(recorded)) as base:
        text = (RULES % (TOKEN, base)).replace(",\n          dkim_selector: s1, dkim_key_env: RELANCE_TEST_DKIM_KEY", "")
        settings = Settings(rules=(str(write(text)),), database_url=f"sqlite://{tmp_path / 's.sqlite3'}")
        app = create_app(settings, clock=VirtualClock(NOW), run_scheduler=False)
        with TestClient(app) as client, caplog.at_level(logging.WARNING, logger="relance.dispatcher"):
            key = client.portal.call(app.state.runtime.create_key, "shop")
            headers = {"Authorization": f"Bearer {key}"}
            answers = [client.post("/v1/events?wait=true", headers=headers, json={
                "id": f"c{n}", "type": "checkout.started", "contact": {"phone": phone}}).json()
                for n, phone in enumerate(["+33600000401", "+33600000503", "+33611111111"])]
            messages = client.get("/v1/messages", headers=headers).json()["messages"]
    kinds = [[e["kind"] for e in answer["effects"] if e["kind"].startswith("message.")] for answer in answers]
    assert kinds == [["message.queued"]] * 3  # queued for the dispatcher; none claims it was sent
    assert [(m["status"], m["error"]) for m in messages] == [
        ("failed", "Twilio answered 401, error 20003: Authenticate"),
        ("pending", "deferred: Twilio answered 503, error 20503: Service Unavailable"), ("sent", None)]
    logged = [r.getMessage() for r in caplog.records if r.name == "relance.dispatcher"]
    assert len(logged) == 2
    assert logged[0].startswith(f"message {messages[0]['key']} (r, ping on sms) failed, attempt 1: "
                                "Twilio answered 401, error 20003: Authenticate")
    assert logged[1].startswith(f"message {messages[1]['key']} (r, ping on sms) deferred, attempt 1: "
                                "Twilio answered 503, error 20503: Service Unavailable")
