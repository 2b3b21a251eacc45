"""Lead reading on the brief's labelled messages."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from relance.plugins.builtins.intent import read_intent

SAMPLES = [json.loads(line) for line in
           (Path(__file__).resolve().parents[1] / "data" / "lead-messages.sample.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["text"][:30] for s in SAMPLES])
def test_labelled_messages(sample: dict) -> None:
    reading = read_intent(sample["text"])
    assert (reading.intention_achat, reading.conseil, reading.reco, reading.budget) == \
        (sample["intention_achat"], sample["conseil"], sample["reco"], sample["budget"])


@pytest.mark.parametrize("text, heat", [("je veux commander", "chaud"), ("c'est efficace ?", "tiède"), ("merci", "froid")])
def test_heat_follows_intent(text: str, heat: str) -> None:
    assert read_intent(text).lead_chaleur == heat
