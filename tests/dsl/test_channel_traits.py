"""What a channel plugin tells the compiler (dsl/channel_traits.py): neutral traits by default, the
plugin's own for the settings written."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from relance.dsl import check_workspace
from relance.dsl.channel_traits import CAPABILITIES, ChannelTraits
from relance.dsl.settings import Setting

RULES = "channels: {mail: {plugin: fake, sender: shop}}\ntemplates: {t: {mail: hi}}\n" \
        "rules:\n  - id: r\n    when: a.b\n    steps: [send mail t]\n"


class FakeMail:
    settings_schema: Mapping[str, Setting] = {"sender": Setting(str, required=True)}

    def traits(self, settings: Mapping[str, Any]) -> ChannelTraits:
        return ChannelTraits("email", "opt_in", frozenset({"subject", "unsubscribe"}) if settings["sender"] else frozenset())


def test_neutral_traits_have_no_address_need_no_consent_and_carry_nothing() -> None:
    traits = ChannelTraits()
    assert (traits.address, traits.consent, traits.capabilities) == (None, "none", frozenset())
    with pytest.raises(dataclasses.FrozenInstanceError):
        traits.consent = "opt_in"  # type: ignore[misc]


def test_the_capabilities_a_channel_may_name() -> None:
    assert CAPABILITIES == {"subject", "html", "unsubscribe", "tracking", "attachments", "status_callbacks"}


def test_a_plugin_gives_its_traits_for_the_settings_written(write, functions) -> None:
    workspace, problems = check_workspace([write(RULES)], functions, {"fake": FakeMail()})
    assert problems == []
    assert workspace.channels["mail"].traits == ChannelTraits("email", "opt_in", frozenset({"subject", "unsubscribe"}))


def test_without_plugins_every_channel_has_neutral_traits(write, functions) -> None:
    workspace, problems = check_workspace([write(RULES)], functions)
    assert problems == [] and workspace.channels["mail"].traits == ChannelTraits()


def test_settings_are_checked_against_the_plugin_schema_before_asking_its_traits(write, functions) -> None:
    text = RULES.replace("sender: shop", "sendr: shop")
    workspace, problems = check_workspace([write(text)], functions, {"fake": FakeMail()})
    assert workspace is None
    assert sorted(p.message for p in problems) == [
        "channel 'mail' (fake): missing setting 'sender' (a string)",
        "channel 'mail' (fake): unknown setting 'sendr' (did you mean 'sender'?); this plugin takes: sender"]
