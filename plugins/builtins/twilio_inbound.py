"""Texts contacts send to a shop's Twilio numbers, SMS or WhatsApp: STOP opts out, the rest are leads.

Twilio posts each inbound message (form-encoded, signed like its status callbacks) and
reads TwiML in the answer. A whole message that is a stop word (STOP, ARRET, UNSUBSCRIBE…,
case and accents aside) opts the contact out of that channel at once and is answered with
the channel's `stop_reply`; any other text becomes a `message.received` event, so lead
reading (ECOM-01, ECOM-02) works from WhatsApp as from a site's chat.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from html import escape
from typing import Any

from .twilio_channel import WHATSAPP

STOP_WORDS = frozenset({"STOP", "STOPALL", "STOP ALL", "STOP SMS", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                        "ARRET", "ARRETER", "DESABONNER", "DESINSCRIRE", "DESINSCRIPTION"})


def is_stop(text: str) -> bool:
    """Whether the whole message asks to stop: "Stop", " ARRÊT ! ", "stop sms" do; "stop the promos" does not."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    words = re.sub(r"[^\w]+", " ", plain).strip().upper()
    return words in STOP_WORDS


def kind(form: Mapping[str, str]) -> str:
    """sms or whatsapp, from the sender's address."""
    return "whatsapp" if form.get("From", "").startswith(WHATSAPP) else "sms"


def inbound_event(form: Mapping[str, str], channel: str) -> dict[str, Any]:
    """The event for one inbound message on `channel`: contact.unsubscribed for a stop word, else
    message.received. Its id is Twilio's message id, so a message Twilio posts again counts once."""
    text = form.get("Body", "")
    contact: dict[str, Any] = {"phone": form["From"].removeprefix(WHATSAPP)}
    base = {"id": f"twilio:{form['MessageSid']}", "contact": contact}
    if is_stop(text):
        return {**base, "type": "contact.unsubscribed",
                "properties": {"channel": channel, "source": f"{kind(form)} {text.strip()[:40]}"}}
    properties: dict[str, Any] = {"text": text, "channel": channel, "provider_id": form["MessageSid"]}
    if form.get("ProfileName"):
        properties["profile_name"] = form["ProfileName"]
    return {**base, "type": "message.received", "properties": properties}


def twiml(reply: str | None) -> str:
    """The TwiML answer: a reply message, or nothing to say."""
    message = f"<Message>{escape(reply)}</Message>" if reply else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{message}</Response>'
