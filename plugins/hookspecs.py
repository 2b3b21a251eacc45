"""Every hook a Relance plugin can implement, with what it receives, returns and when it runs."""
from __future__ import annotations

import click
import pluggy
from starlette.routing import BaseRoute

from relance.dsl.functions import Function
from relance.engine.channels import Channel
from relance.engine.scoring import Scorer
from relance.engine.store import Store

from . import PROJECT
from .routes import RouteHost

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


@hookspec
def relance_channels() -> list[Channel]:
    """Channels this plugin provides, each named by the ``plugin:`` rules use to pick it.

    Receives nothing; returns objects with (see `relance.engine.channels.Channel`):

    - ``name``: what rules write after ``plugin:``;
    - ``settings_schema``: ``{setting: relance.dsl.settings.Setting}``; ``relance check``
      reports unknown, missing or mistyped settings with file:line:column. Secrets are not
      settings: take the name of an environment variable (``password_env``);
    - ``traits(settings) -> ChannelTraits``: what a channel with these settings is, so the
      engine never guesses from names: ``address`` ("email", "phone" or None: the contact
      field a message needs), ``consent`` (what a marketing send needs by default: "opt_out",
      "opt_in" or "none"; ``policy: consent:`` overrides it) and ``capabilities``, a subset of
      ``{"subject", "html", "unsubscribe", "tracking", "attachments", "status_callbacks"}``
      (``unsubscribe``: marketing messages get RFC 8058 List-Unsubscribe headers in
      ``message.headers``; ``tracking``: links go through the click redirect, HTML gets an
      open pixel);
    - ``check_environment(settings) -> list[str]``: what stops a channel with these settings
      from sending in this process (a secret's variable not set); ``relance serve`` and
      ``relance worker`` refuse to start while it lists anything;
    - ``async send(message) -> DeliveryResult``: called with a rendered `OutboundMessage`
      after its step committed and the policies (consent, quiet hours, caps, offers) let it
      go; answers delivered (with ``provider_id``), deferred (retried with backoff, or after
      ``retry_after``) or failed (``bounced=True`` when the address is bad). It may be called
      again with the same ``message.key`` after a crash: pass the key on as an idempotency key;
    - ``async close()``: called once at shutdown (close connections).

    Called once when the engine starts. See docs/channel-plugins.md.

    Example::

        @hookimpl
        def relance_channels():
            return [TelegramChannel()]   # channels: {tg: {plugin: telegram, token_env: TG_TOKEN}}
    """


@hookspec(firstresult=True)
def relance_store(url: str) -> Store | None:
    """A store for a database URL, or None if this plugin does not handle its scheme.

    Receives the URL (``sqlite://relance.sqlite3``, ``postgres://…``); returns an unopened
    `relance.engine.store.Store`. Called once at start-up; the first plugin that answers wins.

    Example::

        @hookimpl
        def relance_store(url):
            return MyStore(url) if url.startswith("mydb://") else None
    """


@hookspec
def relance_scorers() -> list[Scorer]:
    """Scorers that turn an event into points added to ``contact.score``.

    Receives nothing; returns objects with a ``name`` and ``score(event, contact,
    workspace) -> int``. Called once when the engine starts; each scorer is then called
    for every event, inside the event's transaction, and must not do I/O.

    Example::

        @hookimpl
        def relance_scorers():
            return [BigSpenderScorer()]   # +100 for an order over 500 €
    """


@hookspec
def relance_routes(host: RouteHost) -> list[BaseRoute]:
    """HTTP routes this plugin adds to the server, such as a provider's signed callbacks.

    Receives the server as a `relance.plugins.routes.RouteHost`: a workspace's engine by
    name (``host.engine(name)``, 404 when there is none), its channel configs, the installed
    channel plugins, the public ``base_url``, ``accept(engine, event)`` (an event into the
    engine, checked as POST /v1/events checks it), ``problem(status, detail)`` (an error to
    raise, answered as problem+json) and ``body(request)`` (read under the size limit).
    Returns starlette routes, mounted beside the server's own; a path and method the server
    or another plugin already serves is an error. No API key is asked: a route checks its
    caller itself (a provider's signature). Called once when the app is built.
    ``relance.plugins.routes.documented`` gives an endpoint its place in /openapi.json.

    Example::

        @hookimpl
        def relance_routes(host):
            return [Route("/v1/providers/acme/{workspace}", acme_callback(host), methods=["POST"])]
    """


@hookspec
def relance_commands() -> list[click.Command]:
    """Commands this plugin adds to the ``relance`` command line.

    Receives nothing; returns `click` commands (or groups), each reached as ``relance NAME``
    and listed by ``relance --help``. Called the first time ``relance`` is asked for a command
    it does not have itself (and for ``--help``); a name ``relance`` or another plugin has
    already is an error. A command that needs the rules or the database opens them itself.

    Example::

        @hookimpl
        def relance_commands():
            return [click.Command("hello", callback=lambda: click.echo("hello"))]   # relance hello
    """
