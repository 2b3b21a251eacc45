"""Amounts and dates in a text email, as the SMTP server receives it: computed as decimals,
printed without binary noise, formatted in the shop's locale and the contact's timezone."""
from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from relance.engine.clock import VirtualClock
from relance.server.app import create_app
from relance.server.settings import Settings

from ..plugins.smtp_server import Mailbox, start_server
from .conftest import NOW

RULES = """\
workspace: maison-demo
timezone: Europe/Paris
locale: fr_FR
channels:
  email: {plugin: smtp, host: 127.0.0.1, port: %d, tls: none, from: "Maison Démo <bonjour@maison-demo.test>"}
templates:
  panier:
    email:
      subject: "Votre panier de {{ price(event.cart.total * 3) }}"
      body: "Trois fois {{ event.cart.total }} font {{ event.cart.total * 3 }}, soit {{ price(event.cart.total * 3) }}, le {{ date(event.at, 'long') }} à {{ datetime(event.at, 'HH:mm') }}."
rules:
  - id: panier
    when: checkout.started
    steps: [send email panier]
"""


def test_a_text_email_prints_amounts_and_dates_as_a_shop_writes_them(tmp_path: Path) -> None:
    box = Mailbox()
    controller, port = start_server(box)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES % port, encoding="utf-8")
    settings = Settings(rules=(str(rules),), database_url=f"sqlite://{tmp_path / 'shop.sqlite3'}",
                        public_url="https://relance.maison-demo.test")
    app = create_app(settings, clock=VirtualClock(NOW), run_scheduler=False)
    try:
        with TestClient(app) as client:
            key = client.portal.call(app.state.runtime.create_key, "maison-demo")
            cart = {"id": "c1", "type": "checkout.started", "at": "2026-03-02T02:30:00Z",
                    "contact": {"email": "a@example.test", "timezone": "America/Martinique"},
                    "properties": {"cart": {"total": 19.9}}}
            answer = client.post("/v1/events?wait=true", json=cart, headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 202, answer.text
    finally:
        controller.stop()
    [received] = box.received
    assert received.message["Subject"] == "Votre panier de 59,70\xa0€"
    assert received.message.get_content().strip() == (
        "Trois fois 19.9 font 59.7, soit 59,70\xa0€, le 1 mars 2026 à 22:30.")  # in Martinique
