"""The plugin manager: built-ins first, then every package under the `relance` entry point."""
from __future__ import annotations

import pluggy

from relance.dsl.functions import FunctionRegistry

from . import PROJECT, hookspecs
from .builtins import functions as builtin_functions

BUILTINS = (builtin_functions,)


def plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A manager with the hookspecs, the built-in plugins and (by default) installed ones."""
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(hookspecs)
    for plugin in BUILTINS:
        manager.register(plugin, name=f"relance.{plugin.__name__.rsplit('.', 1)[-1]}")
    if load_entry_points:
        manager.load_setuptools_entrypoints(PROJECT)
    return manager


def function_registry(manager: pluggy.PluginManager) -> FunctionRegistry:
    """Every function the loaded plugins provide, by name."""
    registry = FunctionRegistry()
    for functions in manager.hook.relance_functions():
        for function in functions:
            registry.register(function)
    return registry
