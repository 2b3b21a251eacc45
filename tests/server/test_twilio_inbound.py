"""Texts to the shop's Twilio numbers, posted and signed as Twilio does: STOP opts out at once, the rest are leads."""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from starlette.testclient import TestClient

from relance.engine.clock import VirtualClock
from relance.server.app import create_app
from relance.server.settings import Settings

from .conftest import NOW

TOKEN = "tok3n"
URL = "https://relance.test/v1/providers/twilio/shop/inbound"
RULES = """\
workspace: shop
channels:
  sms: {plugin: twilio_sms, account_sid: AC1, auth_token_env: RELANCE_TEST_TWILIO_TOKEN, from: "+33700000000",
        base_url: "http://127.0.0.1:9"}
  whatsapp: {plugin: twilio_whatsapp, account_sid: AC1, auth_token_env: RELANCE_TEST_TWILIO_TOKEN,
             from: "+33700000001", base_url: "http://127.0.0.1:9", stop_reply: "C'est noté : plus de messages WhatsApp."}
policy: {consent: {whatsapp: opt_out, sms: opt_out}}
templates:
  lien: {whatsapp: "Voici le lien pour commander", sms: "Voici le lien"}
rules:
  - id: chaud
    when: message.received where intent(event.text) == "forte"
    steps: [set canal = event.channel, send whatsapp lien]
"""


def signed(form: dict[str, str], token: str = TOKEN) -> str:
    """X-Twilio-Signature as Twilio computes it: HMAC-SHA1 of the URL and the sorted fields, base64."""
    data = URL + "".join(f"{key}{form[key]}" for key in sorted(form))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def inbound(body: str, sender: str = "+33611111111", to: str = "+33700000000", sid: str = "SM1") -> dict[str, str]:
    """The fields Twilio posts for an inbound message (WhatsApp ones carry whatsapp: prefixes)."""
    return {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": "AC1", "From": sender, "To": to, "Body": body,
            "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01"}


class Shop:
    def __init__(self, client: TestClient, key: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {key}"}

    def text(self, form: dict[str, str], signature: str | None = None) -> Any:
        return self.client.post("/v1/providers/twilio/shop/inbound", data=form,
                                headers={"X-Twilio-Signature": signature or signed(form)})

    def contact(self, phone: str = "+33611111111") -> dict[str, Any]:
        found = self.client.get("/v1/contacts", params={"phone": phone}, headers=self.headers).json()["contacts"]
        return found[0] if found else {}

    def events(self, phone: str = "+33611111111") -> list[dict[str, Any]]:
        contact = self.contact(phone)
        return self.client.get(f"/v1/contacts/{contact['id']}/export", headers=self.headers).json()["events"] \
            if contact else []


@pytest.fixture
def shop(tmp_path: Path, write, monkeypatch) -> Iterator[Shop]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RELANCE_TEST_TWILIO_TOKEN", TOKEN)
    settings = Settings(rules=(str(write(RULES)),), database_url=f"sqlite://{tmp_path / 't.sqlite3'}",
                        public_url="https://relance.test")
    app = create_app(settings, clock=VirtualClock(NOW), run_scheduler=False)
    with TestClient(app) as client:
        yield Shop(client, client.portal.call(app.state.runtime.create_key, "shop"))


def reply(response: Any) -> str | None:
    """The text of the TwiML answer's <Message>, or None for an empty <Response/>."""
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Response"
    message = root.find("Message")
    return None if message is None else message.text


@pytest.mark.parametrize("body", ["STOP", "stop", " Stop. ", "ARRET", "Arrêt !", "arrêt", "UNSUBSCRIBE", "stopall",
                                  "STOP SMS", "Cancel", "END", "quit", "désinscrire"])
def test_a_stop_by_sms_opts_out_of_sms_at_once_and_is_answered(shop, body: str) -> None:
    answer = shop.text(inbound(body))
    assert reply(answer) == "Vous ne recevrez plus nos messages ici. You will receive no more messages here."
    consent = shop.contact()["consent"]  # before any other request: done when Twilio got its answer
    assert consent["sms"]["status"] == "opted_out" and "whatsapp" not in consent
    assert consent["sms"]["source"] == f"sms {body.strip()}"


def test_a_stop_by_whatsapp_opts_out_of_that_channel_and_its_reply(shop) -> None:
    answer = shop.text(inbound("ARRÊT", sender="whatsapp:+33611111111", to="whatsapp:+33700000001"))
    assert reply(answer) == "C'est noté : plus de messages WhatsApp."
    assert shop.contact()["consent"]["whatsapp"]["status"] == "opted_out"
    lead = shop.text(inbound("Je veux commander, où je paie ?", sender="whatsapp:+33611111111",
                             to="whatsapp:+33700000001", sid="SM2"))
    assert reply(lead) is None
    shop.client.portal.call(shop.client.app.state.runtime.settle)
    [message] = shop.client.get("/v1/messages", headers=shop.headers).json()["messages"]
    assert (message["status"], message["error"]) == ("skipped", "no consent: the contact opted out of whatsapp")


@pytest.mark.parametrize("body", ["Stop sending me promos", "stop?? why", "STOP 2", "Je veux commander, où je paie ?"])
def test_other_texts_are_message_received_events_and_opt_out_no_one(shop, body: str) -> None:
    assert reply(shop.text(inbound(body))) is None
    shop.client.portal.call(shop.client.app.state.runtime.settle)
    [event] = shop.events()
    assert (event["type"], event["payload"]["properties"]["text"], event["payload"]["properties"]["channel"]) == (
        "message.received", body, "sms")
    assert shop.contact()["consent"] == {}


def test_a_lead_writing_on_whatsapp_gets_ecom_01s_answer_there(shop) -> None:
    form = inbound("Je veux commander, où je paie ?", sender="whatsapp:+33622222222", to="whatsapp:+33700000001")
    form["ProfileName"] = "Léa"
    for _ in range(2):  # Twilio retries when it thinks it was not heard: once is enough
        assert reply(shop.text(form)) is None
    shop.client.portal.call(shop.client.app.state.runtime.settle)
    [event] = shop.events("+33622222222")
    assert (event["payload"]["properties"]["channel"], event["payload"]["properties"]["profile_name"]) == ("whatsapp", "Léa")
    assert shop.contact("+33622222222")["attributes"]["canal"] == "whatsapp"
    [message] = shop.client.get("/v1/messages", headers=shop.headers).json()["messages"]
    assert (message["channel"], message["template"]) == ("whatsapp", "lien")


@pytest.mark.parametrize("signature", ["forged", signed(inbound("STOP"), token="another")])
def test_an_inbound_text_not_signed_by_twilio_changes_nothing(shop, signature: str) -> None:
    answer = shop.text(inbound("STOP"), signature=signature)
    assert (answer.status_code, answer.headers["content-type"]) == (401, "application/problem+json")
    assert shop.contact() == {}


def test_an_inbound_text_without_a_sender_is_a_422_naming_it(shop) -> None:
    form = inbound("STOP")
    del form["From"]
    answer = shop.text(form)
    assert (answer.status_code, answer.json()["pointer"]) == (422, "/From")
