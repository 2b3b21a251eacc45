"""Plugins: the hookspecs every extension implements, and the built-ins that prove them.

A plugin author writes::

    from relance.plugins import hookimpl

    @hookimpl
    def relance_functions():
        return [Function("double", lambda x: None if x is None else 2 * x, 1, 1)]

and declares it under the `relance` entry-point group of its package.
"""
from __future__ import annotations

import pluggy

PROJECT = "relance"
hookimpl = pluggy.HookimplMarker(PROJECT)
