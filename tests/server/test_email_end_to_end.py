"""End to end through the server: a cart abandoned, a day later the email reaches a real SMTP server
with its unsubscribe headers; the contact follows the link; the next step sends nothing and says why."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from relance.engine.clock import VirtualClock
from relance.engine.html_links import hrefs
from relance.server.app import create_app
from relance.server.settings import Settings

from ..plugins.smtp_server import Mailbox, start_server
from .conftest import NOW

RULES = """\
workspace: maison-demo
timezone: Europe/Paris
channels:
  email: {plugin: smtp, host: 127.0.0.1, port: %d, tls: none, from: "Maison Démo <bonjour@maison-demo.test>"}
templates:
  rappel: {email: {subject: "Votre panier", body: "Bonjour {{ contact.first_name }}, votre panier vous attend."}}
  bonus: {email: {subject: "-10%% sur votre panier", body: "Avec le code PANIER10."}}
rules:
  - id: panier
    when: checkout.started
    steps: [wait 1d, send email rappel, wait 2d, send email bonus]
"""


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[TestClient, Mailbox, VirtualClock, str]]:
    box = Mailbox()
    controller, port = start_server(box)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES % port, encoding="utf-8")
    settings = Settings(rules=(str(rules),), database_url=f"sqlite://{tmp_path / 'shop.sqlite3'}",
                        public_url="https://relance.maison-demo.test")
    clock = VirtualClock(NOW)
    app = create_app(settings, clock=clock, run_scheduler=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        key = client.portal.call(app.state.runtime.create_key, "maison-demo")
        yield client, box, clock, key
    controller.stop()


def advance(client: TestClient, clock: VirtualClock, delta: timedelta) -> None:
    clock.set(clock.now() + delta)
    client.portal.call(client.app.state.runtime.scheduler.run_once)  # type: ignore[attr-defined]


def test_cart_email_unsubscribe_and_the_next_step_says_why(shop) -> None:
    client, box, clock, key = shop
    headers = {"Authorization": f"Bearer {key}"}
    cart = {"id": "c1", "type": "checkout.started", "contact": {"email": "alice@example.test", "first_name": "Alice"},
            "properties": {"cart": {"total": 80.5}}}
    assert client.post("/v1/events?wait=true", json=cart, headers=headers).status_code == 202
    assert box.received == []
    advance(client, clock, timedelta(days=1))
    [received] = box.received
    email = received.message
    assert (email["To"], email["Subject"]) == ("alice@example.test", "Votre panier")
    assert email.get_content().strip() == "Bonjour Alice, votre panier vous attend."
    lines = received.header_lines()  # as the bytes arrived: one line each, unencoded (RFC 8058, Gmail, Yahoo)
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    [header] = [line.decode() for line in lines if line.startswith(b"List-Unsubscribe:")]
    link = re.fullmatch(r"List-Unsubscribe: <https://relance\.maison-demo\.test(/u/[^>]+)>", header)
    assert link, header
    assert client.get(link.group(1)).status_code == 200  # opening it (a mail scanner) changes nothing
    advance(client, clock, timedelta(minutes=1))
    assert client.post(link.group(1), content="List-Unsubscribe=One-Click").status_code == 200  # one click
    advance(client, clock, timedelta(days=2))
    assert len(box.received) == 1  # the bonus was not sent
    [run] = client.get("/v1/runs?rule=panier", headers=headers).json()["runs"]
    trace = client.get(f"/v1/runs/{run['id']}", headers=headers).json()["trace"]
    assert trace[-1]["text"] == "send email bonus"
    assert trace[-1]["why"].endswith("skipped: no consent: the contact opted out of email")


HTML_RULES = """\
workspace: maison-demo
timezone: Europe/Paris
locale: fr_FR
channels:
  email: {plugin: smtp, host: 127.0.0.1, port: %d, tls: none, from: "Maison Démo <bonjour@maison-demo.test>"}
rules:
  - id: panier
    when: checkout.started
    steps: [send email panier]
"""
HTML = """Subject: Votre panier, {{ contact.first_name }}

<html><body><p>Bonjour {{ contact.first_name }},</p>
<ul>{% for item in event.cart.items %}<li>{{ item.name }} : {{ item.price | price }}</li>{% endfor %}</ul>
<p><a href="https://maison-demo.test/panier">Reprendre mon panier</a></p>
<p><a href="{{ event.cart.url }}">Votre panier</a> <a href=https://maison-demo.test/aide?sujet=panier&amp;langue=fr>Aide</a></p>
</body></html>
"""


def test_an_html_template_arrives_formatted_with_tracked_links(tmp_path: Path) -> None:
    box = Mailbox()
    controller, port = start_server(box)
    folder = tmp_path / "maison-demo"
    (folder / "templates").mkdir(parents=True)
    (folder / "rules.yaml").write_text(HTML_RULES % port, encoding="utf-8")
    (folder / "templates" / "panier.email.html").write_text(HTML, encoding="utf-8")
    settings = Settings(rules=(str(folder),), database_url=f"sqlite://{tmp_path / 'shop.sqlite3'}",
                        public_url="https://relance.maison-demo.test")
    app = create_app(settings, clock=VirtualClock(NOW), run_scheduler=False)
    try:
        with TestClient(app) as client:
            key = client.portal.call(app.state.runtime.create_key, "maison-demo")
            cart = {"id": "c1", "type": "checkout.started", "contact": {"email": "a@example.test", "first_name": "Léa"},
                    "properties": {"cart": {"items": [{"name": "Sérum <bio>", "price": 80.5}],
                                            "url": "https://maison-demo.test/cart/1?utm_source=relance&utm_medium=email"}}}
            client.post("/v1/events?wait=true", json=cart, headers={"Authorization": f"Bearer {key}"})
            [received] = box.received
            email = received.message
            text, html = email.iter_parts()
            clicks = hrefs(html.get_content())
            assert all(link.startswith("https://relance.maison-demo.test/t/c/") for link in clicks)
            followed = [client.get(link.removeprefix("https://relance.maison-demo.test"), follow_redirects=False)
                        for link in clicks]
    finally:
        controller.stop()
    assert [(r.status_code, r.headers["location"]) for r in followed] == [  # where the shop's links lead, & and all
        (302, "https://maison-demo.test/panier"),
        (302, "https://maison-demo.test/cart/1?utm_source=relance&utm_medium=email"),
        (302, "https://maison-demo.test/aide?sujet=panier&langue=fr")]
    assert email["Subject"] == "Votre panier, Léa"
    assert "Sérum &lt;bio&gt; : 80,50\xa0€" in html.get_content()  # escaped, priced in the shop's locale
    assert 'src="https://relance.maison-demo.test/t/o/' in html.get_content()
    assert "Reprendre mon panier (https://relance.maison-demo.test/t/c/" in text.get_content()


TEXT_RULES = """\
workspace: maison-demo
timezone: Europe/Paris
channels:
  email: {plugin: smtp, host: 127.0.0.1, port: %d, tls: none, from: "Maison Démo <bonjour@maison-demo.test>"}
templates:
  rappel: {email: {subject: "Votre panier", body: "Votre panier vous attend : https://maison-demo.test/cart/1?a=1&b=2."}}
  merci: {email: {subject: "Merci", body: "Merci de votre visite."}}
  relance: {email: {subject: "Toujours là ?", body: "Votre panier est encore là."}}
rules:
  - id: panier
    when: checkout.started
    steps:
      - send email rappel
      - wait until email.opened within 1d
      - if waited:
          - send email merci
        else:
          - send email relance
"""


def test_a_text_email_has_its_links_tracked_and_a_click_is_an_open(tmp_path: Path) -> None:
    """The README's `wait until email.opened` after a text-only email: no pixel there, the click tells."""
    box = Mailbox()
    controller, port = start_server(box)
    (tmp_path / "rules.yaml").write_text(TEXT_RULES % port, encoding="utf-8")
    settings = Settings(rules=(str(tmp_path / "rules.yaml"),), database_url=f"sqlite://{tmp_path / 'shop.sqlite3'}",
                        public_url="https://relance.maison-demo.test")
    clock = VirtualClock(NOW)
    app = create_app(settings, clock=clock, run_scheduler=False)
    try:
        with TestClient(app) as client:
            key = client.portal.call(app.state.runtime.create_key, "maison-demo")
            cart = {"id": "c1", "type": "checkout.started", "contact": {"email": "a@example.test"}}
            client.post("/v1/events?wait=true", json=cart, headers={"Authorization": f"Bearer {key}"})
            [first] = box.received
            text = first.message.get_content()
            link = re.search(r"https://relance\.maison-demo\.test(/t/c/[A-Za-z0-9_.-]+?)\.\s", text)
            assert link and first.message.get_content_type() == "text/plain", text
            clock.set(clock.now() + timedelta(hours=2))
            response = client.get(link.group(1), follow_redirects=False)
            client.portal.call(app.state.runtime.settle)
            advance(client, clock, timedelta(days=1))
    finally:
        controller.stop()
    assert (response.status_code, response.headers["location"]) == (302, "https://maison-demo.test/cart/1?a=1&b=2")
    assert [r.message["Subject"] for r in box.received] == ["Votre panier", "Merci"]  # opened: waited


DRAFT_RULES = """\
workspace: maison-demo
mode: assist
channels:
  email: {plugin: smtp, host: 127.0.0.1, port: %d, tls: none, from: "Maison Démo <bonjour@maison-demo.test>"}
templates:
  panier: {email: {subject: "Votre panier", body: "Texte d'origine : votre panier vous attend."}}
rules:
  - id: panier
    when: checkout.started
    entry: always
    steps: [send email panier]
"""
DRAFT_HTML = "<p>HTML d'origine : votre panier vous attend.</p>\n"


@pytest.fixture
def drafts(tmp_path: Path) -> Iterator[tuple[Callable[..., Any], Mailbox]]:
    """call(method, path, json) on a shop in assist mode whose template has a text and an HTML part."""
    box = Mailbox()
    controller, port = start_server(box)
    (tmp_path / "templates").mkdir()
    (tmp_path / "rules.yaml").write_text(DRAFT_RULES % port, encoding="utf-8")
    (tmp_path / "templates" / "panier.email.html").write_text(DRAFT_HTML, encoding="utf-8")
    settings = Settings(rules=(str(tmp_path / "rules.yaml"),), database_url=f"sqlite://{tmp_path / 'shop.sqlite3'}",
                        public_url="https://relance.maison-demo.test")
    app = create_app(settings, clock=VirtualClock(NOW), run_scheduler=False)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {client.portal.call(app.state.runtime.create_key, 'maison-demo')}"}

        def call(method: str, path: str, json: Any = None) -> Any:
            return client.request(method, path, json=json, headers=headers)

        yield call, box
    controller.stop()


def draft_id(call: Callable[..., Any], n: int = 1) -> int:
    call("POST", "/v1/events?wait=true", {"id": f"c{n}", "type": "checkout.started", "contact": {"email": "a@example.test"}})
    return call("GET", "/v1/messages?status=draft").json()["messages"][0]["id"]


def test_an_edited_html_draft_goes_out_with_the_edited_html_and_its_text(drafts) -> None:
    call, box = drafts
    message = draft_id(call)
    edited = call("PATCH", f"/v1/messages/{message}",
                  {"subject": "Votre panier, Léa", "html": "<p>Bonjour Léa, <b>-10 %</b> avec PANIER10.</p>"})
    assert edited.status_code == 200, edited.text
    assert call("POST", f"/v1/messages/{message}/approve").json()["status"] == "sent"
    [received] = box.received
    raw = received.raw.decode("ascii")
    assert "d'origine" not in raw and "Texte" not in raw
    text, html = received.message.iter_parts()
    assert received.message["Subject"] == "Votre panier, Léa"
    assert "Bonjour Léa, <b>-10 %</b> avec PANIER10.</p>" in html.get_content()
    assert text.get_content().strip() == "Bonjour Léa, -10 % avec PANIER10."  # derived from the edited HTML


def test_a_text_edit_of_an_html_draft_says_what_is_missing_or_drops_the_html(drafts) -> None:
    call, box = drafts
    message = draft_id(call)
    refused = call("PATCH", f"/v1/messages/{message}", {"body": "Nouveau texte"})
    assert (refused.status_code, refused.headers["content-type"], refused.json()["pointer"]) == (
        422, "application/problem+json", "/html")
    assert call("GET", "/v1/messages?status=draft").json()["messages"][0]["body"].startswith("Texte d'origine")
    assert call("PATCH", f"/v1/messages/{message}", {"body": "Nouveau texte", "html": None}).status_code == 200
    call("POST", f"/v1/messages/{message}/approve")
    [received] = box.received
    assert received.message.get_content_type() == "text/plain"
    assert received.message.get_content().strip() == "Nouveau texte" and b"origine" not in received.raw
