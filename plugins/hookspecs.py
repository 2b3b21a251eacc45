"""Every hook a Relance plugin can implement, with what it receives, returns and when it runs."""
from __future__ import annotations

import pluggy

from relance.dsl.functions import Function

from . import PROJECT

hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def relance_functions() -> list[Function]:
    """Functions rule expressions may call, such as ``days_since(contact.last_order_at)``.

    Receives nothing; returns a list of `relance.dsl.functions.Function`. Called once when
    rules are compiled (``relance check``, server start-up and every reload). Each function
    must accept ``None`` for any argument (a missing field) and answer ``None`` rather than
    raise. Two plugins registering the same name is an error.

    Example::

        @hookimpl
        def relance_functions():
            return [Function("double", lambda x: None if x is None else 2 * x, 1, 1)]
    """
