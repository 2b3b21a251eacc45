"""The workspace's sections other than rules and templates: settings, channels, policy, links, scoring, fields, segments."""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from . import graph as g
from .channel_traits import ChannelPlugin, ChannelTraits
from .checks import CONTACT_ROOTS
from .compile_context import CompileContext, plain
from .errors import did_you_mean
from .fields import FIELD_NAME
from .html_templates import known_locale
from .link_hosts import HOST
from .loader import located_item, located_key, located_value
from .schema import CONSENT_RULES, MODES, OVER_CAP
from .settings import check_settings
from .source import Located, SourceFile

QUIET_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
LOCALE = re.compile(r"^[a-z]{2,3}(?:[_-][A-Z]{2})?$")

ChannelPlugins = Mapping[str, ChannelPlugin]


def known_mode(context: CompileContext, text: Located) -> bool:
    """True when `text` names a mode; a problem otherwise."""
    if text.text in MODES:
        return True
    context.problem(text, f"unknown mode '{text.text}'{did_you_mean(text.text, MODES)}; "
                          f"modes are: {', '.join(MODES)}")
    return False


class Sections:
    """What the sections declare, gathered from every file; one method per section.

    A value of the wrong shape is skipped here: `shape.py` reports it from the schema.
    """

    def __init__(self, context: CompileContext, channel_plugins: ChannelPlugins | None) -> None:
        self.context = context
        self.channel_plugins = channel_plugins
        self.settings: dict[str, Any] = {"workspace": "default", "timezone": "UTC", "locale": "en", "mode": "auto"}
        self.channels: dict[str, g.ChannelConfig] = {}
        self.policy = g.Policy()
        self.link_hosts: set[str] = set()
        self.scoring: dict[str, int] = {}
        self.segment_sources: list[tuple[str, Located]] = []
        self.declared_fields: dict[str, Located] = {}
        self._seen: dict[str, Located] = {}

    def read(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        """The section `key` of one file's top-level mapping `data`."""
        match key:
            case "workspace":
                self.workspace(data, key, file)
            case "timezone":
                self.timezone(data, key, file)
            case "locale":
                self.locale(data, key, file)
            case "mode":
                self.mode(data, key, file)
            case "channels":
                self.channels_section(data, key, file)
            case "policy":
                self.policy_section(data, key, file)
            case "links":
                self.links(data, key, file)
            case "scoring":
                self.scoring_section(data, key, file)
            case "fields":
                self.fields(data, key, file)
            case "segments":
                self.segments_section(data, key, file)
            case _:
                raise ValueError(f"not a settings section: {key}")

    def segments(self) -> dict[str, g.Segment]:
        """The segments declared, their conditions compiled (after every file is read)."""
        segments = {}
        for name, text in self.segment_sources:
            _, condition = self.context.expression(text, CONTACT_ROOTS, "a segment condition")
            if condition is not None:
                segments[name] = g.Segment(name, condition, text.text)
        return segments

    def segment_names(self) -> list[str]:
        return [name for name, _ in self.segment_sources]

    # ---------------------------------------------------------------- settings
    def _unique_setting(self, key: str, text: Located) -> bool:
        if key in self._seen:
            first = self._seen[key]
            self.context.problem(text, f"'{key}' is already set in {first.file.path}:{first.line}")
            return False
        self._seen[key] = text
        return True

    def _scalar_setting(self, data: CommentedMap, key: str, file: SourceFile) -> Located | None:
        text = located_value(data, key, file)
        if isinstance(data[key], (CommentedMap, CommentedSeq)) or data[key] is None:
            return None
        return text if self._unique_setting(key, text) else None

    def mapping(self, data: CommentedMap, key: str) -> CommentedMap | None:
        """`data[key]` when it is a mapping, else None."""
        value = data[key]
        return value if isinstance(value, CommentedMap) else None

    def workspace(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        text = self._scalar_setting(data, key, file)
        if text:
            self.settings["workspace"] = text.text

    def timezone(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        text = self._scalar_setting(data, key, file)
        if text is None:
            return
        try:
            ZoneInfo(text.text)
        except (ZoneInfoNotFoundError, ValueError):
            self.context.problem(text, f"unknown timezone '{text.text}'; use an IANA name such as Europe/Paris")
            return
        self.settings["timezone"] = text.text

    def locale(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        text = self._scalar_setting(data, key, file)
        if text is None:
            return
        if not LOCALE.match(text.text):
            self.context.problem(text, f"bad locale '{text.text}'; write a language such as fr or fr_FR")
            return
        if not known_locale(text.text):
            self.context.problem(text, f"unknown locale '{text.text}'; write a language such as fr or fr_FR")
            return
        self.settings["locale"] = text.text

    def mode(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        text = self._scalar_setting(data, key, file)
        if text and known_mode(self.context, text):
            self.settings["mode"] = text.text

    # ---------------------------------------------------------------- channels
    def channels_section(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        channels = self.mapping(data, key)
        for name in channels or ():
            name_text = located_key(channels, name, file)
            settings = channels[name]
            if name in self.channels:
                self.context.problem(name_text, f"channel '{name}' is declared twice")
                continue
            if not isinstance(settings, CommentedMap) or "plugin" not in settings:
                continue
            self._channel(str(name), settings, file)

    def _channel(self, name: str, settings: CommentedMap, file: SourceFile) -> None:
        plugin = located_value(settings, "plugin", file)
        if self.channel_plugins is not None and plugin.text not in self.channel_plugins:
            self.context.problem(plugin, f"unknown channel plugin '{plugin.text}'"
                                         f"{did_you_mean(plugin.text, self.channel_plugins)}; "
                                         f"installed: {', '.join(sorted(self.channel_plugins))}")
        options = {str(k): plain(v) for k, v in settings.items() if k != "plugin"}
        found = (self.channel_plugins or {}).get(plugin.text)
        schema = found.settings_schema if found is not None else None
        problems = check_settings(schema, options) if schema is not None else []
        for key, message in problems:
            where = plugin if key is None else (located_key(settings, key, file) if key not in schema
                                                else located_value(settings, key, file))
            self.context.problem(where, f"channel '{name}' ({plugin.text}): {message}")
        traits = found.traits(options) if found is not None and not problems else ChannelTraits()
        self.channels[name] = g.ChannelConfig(name, plugin.text, options, traits)

    # ------------------------------------------------------------------ policy
    def policy_section(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        policy = self.mapping(data, key)
        if policy is None or not self._unique_setting("policy", located_value(data, key, file)):
            return
        quiet = self._quiet_hours(policy, file) if "quiet_hours" in policy else {}
        frequency = self._frequencies(policy, file) if "frequency" in policy else {}
        window = self._offer_window(policy, file) if "offers" in policy else g.Policy.offer_window
        consent = self._consent(policy, file) if "consent" in policy else {}
        self.policy = g.Policy(quiet, frequency, window, consent)

    def _quiet_hours(self, policy: CommentedMap, file: SourceFile) -> dict[str, tuple[time, time]]:
        hours = self.mapping(policy, "quiet_hours") or {}
        quiet = {}
        for channel in hours:
            text = located_value(hours, channel, file)
            found = QUIET_HOURS.match(text.text)
            if not found or int(found[1]) > 23 or int(found[3]) > 23 or int(found[2]) > 59 or int(found[4]) > 59:
                self.context.problem(text, f"bad quiet hours '{text.text}'; write a range such as \"21:00-09:00\"")
                continue
            quiet[str(channel)] = (time(int(found[1]), int(found[2])), time(int(found[3]), int(found[4])))
        return quiet

    def _frequencies(self, policy: CommentedMap, file: SourceFile) -> dict[str, g.Frequency]:
        """`{max: N, per: D}` caps all channels together; or caps by channel name, `all` for all of them."""
        value = policy["frequency"]
        if isinstance(value, CommentedMap) and "max" in value:
            found = self._frequency(policy, "frequency", file)
            return {"all": found} if found else {}
        caps = self.mapping(policy, "frequency") or {}
        found_caps = {}
        for channel in caps:
            cap = self._frequency(caps, channel, file)
            if cap is not None:
                found_caps[str(channel)] = cap
        return found_caps

    def _frequency(self, mapping: CommentedMap, key: str, file: SourceFile) -> g.Frequency | None:
        value = mapping[key]
        if not isinstance(value, CommentedMap) or not {"max", "per"} <= set(value) or set(value) - {"max", "per", "over"}:
            return None
        if not isinstance(value["max"], int) or isinstance(value["max"], bool) or value["max"] < 1:
            return None
        over = str(value.get("over", "defer"))
        if over not in OVER_CAP:
            self.context.problem(located_value(value, "over", file), "over the cap a message is deferred or "
                                                                     f"skipped: write over: defer or over: skip, not '{over}'")
            return None
        per = self.context.duration(located_value(value, "per", file))
        return g.Frequency(value["max"], per, over) if per else None

    def _offer_window(self, policy: CommentedMap, file: SourceFile) -> timedelta:
        value = policy["offers"]
        if not isinstance(value, CommentedMap) or set(value) != {"window"}:
            return g.Policy.offer_window
        return self.context.duration(located_value(value, "window", file)) or g.Policy.offer_window

    def _consent(self, policy: CommentedMap, file: SourceFile) -> dict[str, str]:
        rules = self.mapping(policy, "consent") or {}
        found = {}
        for channel in rules:
            text = located_value(rules, channel, file)
            if text.text not in CONSENT_RULES:
                self.context.problem(text, f"consent for {channel} is opt_in (needs the contact's yes), opt_out "
                                           f"(goes out unless the contact said no) or none, not '{text.text}'")
                continue
            found[str(channel)] = text.text
        return found

    # ------------------------------------------------ links, scoring, fields, segments
    def links(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        """`links: {hosts: [maison-demo.test, "*.maison-demo.test"]}`: the hosts event data may link to."""
        links = self.mapping(data, key)
        if links is None or not self._unique_setting("links", located_value(data, key, file)):
            return
        hosts = links.get("hosts")
        if "hosts" in links and not isinstance(hosts, CommentedSeq):
            return
        for index in range(len(hosts or ())):
            text = located_item(hosts, index, file)
            if not HOST.match(text.text.lower()):
                self.context.problem(text, f"bad host '{text.text}'; write a host name such as maison-demo.test or "
                                           "*.maison-demo.test (no scheme, no path)")
                continue
            self.link_hosts.add(text.text.lower())

    def scoring_section(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        scoring = self.mapping(data, key)
        for event in scoring or ():
            points = scoring[event]
            if not isinstance(points, int) or isinstance(points, bool):
                continue
            event_spec = self.context.parse(located_key(scoring, event, file), "event_spec")
            if event_spec is not None:
                self.scoring[event_spec.event_type] = self.scoring.get(event_spec.event_type, 0) + points

    def fields(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        """`fields:` the contact fields the workspace's events bring: a list of names, or names and what they hold."""
        fields = data[key]
        if isinstance(fields, CommentedSeq):
            names = [located_item(fields, i, file) for i in range(len(fields))]
        elif isinstance(fields, CommentedMap):
            names = [located_key(fields, name, file) for name in fields]
        else:
            return
        for name in names:
            if not FIELD_NAME.match(name.text):
                self.context.problem(name, f"bad field name '{name.text}'; use letters, digits and '_'")
            elif name.text in self.declared_fields:
                first = self.declared_fields[name.text]
                self.context.problem(name, f"field '{name.text}' is declared twice "
                                           f"(first at {first.file.path}:{first.line})")
            else:
                self.declared_fields[name.text] = name

    def segments_section(self, data: CommentedMap, key: str, file: SourceFile) -> None:
        segments = self.mapping(data, key)
        for name in segments or ():
            if any(name == known for known, _ in self.segment_sources):
                self.context.problem(located_key(segments, name, file), f"segment '{name}' is defined twice")
                continue
            self.segment_sources.append((str(name), located_value(segments, name, file)))
