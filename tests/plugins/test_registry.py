"""The plugin manager refuses a channel plugin that lacks a member the engine asks for."""
from __future__ import annotations

import pytest

from relance.plugins import hookimpl
from relance.plugins.registry import PluginError, channels, plugin_manager


class Untyped:
    """A channel written before traits: the engine could only guess what it is."""

    name = "telegram"
    settings_schema: dict = {}

    async def send(self, message):  # type: ignore[no-untyped-def]
        raise AssertionError("never called")

    async def close(self) -> None:
        return None


class Plugin:
    @hookimpl
    def relance_channels(self) -> list[Untyped]:
        return [Untyped()]


def test_a_channel_without_traits_is_refused_by_name() -> None:
    manager = plugin_manager(load_entry_points=False)
    manager.register(Plugin())
    with pytest.raises(PluginError, match=r"the channel 'telegram' has no traits, check_environment \(see docs/channel-plugins.md\)"):
        channels(manager)
