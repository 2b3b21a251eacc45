"""The plugin manager: built-ins first, then every package under the `relance` entry point."""
from __future__ import annotations

import click
import pluggy

from relance.dsl.errors import RelanceError
from relance.dsl.functions import FunctionRegistry
from relance.engine.channels import Channel
from relance.engine.scoring import Scorer
from relance.engine.store import Store

from . import PROJECT, hookspecs
from .builtins import (
    functions, log_channel, points, smtp_channel, tortoise_store, twilio_channel, twilio_routes, webhook_channel,
)

BUILTINS = (functions, log_channel, points, smtp_channel, twilio_channel, twilio_routes, webhook_channel,
            tortoise_store)


class PluginError(RelanceError):
    """A plugin that cannot be used as installed."""


def plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A manager with the hookspecs, the built-in plugins and (by default) installed ones."""
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(hookspecs)
    for plugin in BUILTINS:
        manager.register(plugin, name=f"relance.{plugin.__name__.rsplit('.', 1)[-1]}")
    if load_entry_points:
        manager.load_setuptools_entrypoints(PROJECT)
    return manager


CHANNEL_MEMBERS = ("name", "settings_schema", "traits", "check_environment", "send", "close")


def channels(manager: pluggy.PluginManager) -> dict[str, Channel]:
    """Channel implementations by plugin name; a name provided twice, or a member missing, is an error."""
    found: dict[str, Channel] = {}
    for provided in manager.hook.relance_channels():
        for channel in provided:
            missing = [member for member in CHANNEL_MEMBERS if not hasattr(channel, member)]
            if missing:
                raise PluginError(f"the channel {getattr(channel, 'name', type(channel).__name__)!r} has no "
                                  f"{', '.join(missing)} (see docs/channel-plugins.md)")
            if channel.name in found:
                raise PluginError(f"two plugins provide the channel '{channel.name}'")
            found[channel.name] = channel
    return found


def scorers(manager: pluggy.PluginManager) -> list[Scorer]:
    return [scorer for provided in manager.hook.relance_scorers() for scorer in provided]


def store_for(manager: pluggy.PluginManager, url: str) -> Store:
    store = manager.hook.relance_store(url=url)
    if store is None:
        raise PluginError(f"no store plugin handles '{url.split(':', 1)[0]}:' URLs; "
                          "use sqlite://FILE or postgres://USER@HOST/DB")
    return store


def function_registry(manager: pluggy.PluginManager) -> FunctionRegistry:
    """Every function the loaded plugins provide, by name."""
    registry = FunctionRegistry()
    for provided in manager.hook.relance_functions():
        for function in provided:
            registry.register(function)
    return registry


def commands(manager: pluggy.PluginManager) -> list[click.Command]:
    """The command-line commands the loaded plugins add; a name two of them give is an error."""
    found: dict[str, click.Command] = {}
    for provided in manager.hook.relance_commands():
        for command in provided:
            if command.name in found:
                raise PluginError(f"two plugins add the command 'relance {command.name}'")
            found[str(command.name)] = command
    return list(found.values())
