"""The sections pass: settings, channels, policy, links, scoring, fields and segments read into the workspace."""
from __future__ import annotations

from datetime import time, timedelta

import pytest

from relance.dsl import Scope
from relance.dsl import graph as g
from relance.dsl.channel_traits import ChannelTraits
from relance.dsl.sections import Sections, known_mode
from relance.dsl.settings import Setting
from relance.dsl.source import Located, SourceFile

from .conftest import found


@pytest.fixture
def read(context, yaml):
    """read(text, plugins=None) → the Sections after reading every section of `text`."""
    def run(text: str, plugins=None, sections: Sections | None = None, name: str = "rules.yaml") -> Sections:
        sections = sections or Sections(context, plugins)
        data, file = yaml(text, name)
        for key in data:
            sections.read(data, key, file)
        return sections
    return run


def test_settings_have_defaults(context) -> None:
    assert Sections(context, None).settings == {"workspace": "default", "timezone": "UTC", "locale": "en", "mode": "auto"}


def test_settings_are_read(read) -> None:
    sections = read("workspace: demo\ntimezone: Europe/Paris\nlocale: fr_FR\nmode: assist\n")
    assert sections.settings == {"workspace": "demo", "timezone": "Europe/Paris", "locale": "fr_FR", "mode": "assist"}


@pytest.mark.parametrize("text, message", [
    ("timezone: Europe/Pariss\n", "unknown timezone 'Europe/Pariss'; use an IANA name such as Europe/Paris"),
    ("locale: French\n", "bad locale 'French'; write a language such as fr or fr_FR"),
    ("locale: zz\n", "unknown locale 'zz'; write a language such as fr or fr_FR"),
    ("mode: asist\n", "unknown mode 'asist' (did you mean 'assist'?); modes are: auto, assist, advise"),
])
def test_a_bad_setting_keeps_the_default(read, context, text: str, message: str) -> None:
    sections = read(text)
    assert found(context) == [(1, len(text.split(":")[0]) + 3, message)]
    assert sections.settings == Sections(context, None).settings


def test_a_setting_is_set_in_one_file_only(read, context) -> None:
    sections = read("timezone: Europe/Paris\n", name="a.yaml")
    read("workspace: x\ntimezone: Europe/Berlin\n", sections=sections, name="b.yaml")
    [(line, column, message)] = found(context)
    assert (line, column) == (2, 11)
    assert message.startswith("'timezone' is already set in ") and message.endswith("a.yaml:1")
    assert sections.settings["timezone"] == "Europe/Paris"


def test_a_value_of_the_wrong_shape_is_skipped_without_a_word(read, context) -> None:
    sections = read("workspace: [a]\nchannels: [email]\npolicy: 3\nscoring: {a.b: x}\nfields: 3\n")
    assert context.problems == []
    assert sections.settings["workspace"] == "default" and sections.channels == {} and sections.scoring == {}


class Smtp:
    settings_schema = {"host": Setting(str, required=True, help="the server")}

    def traits(self, settings):
        return ChannelTraits(consent="opt_in")


def test_channels_with_their_plugins_settings_and_traits(read, context) -> None:
    sections = read("channels:\n  email: {plugin: smtp, host: mail.test}\n  sms: {plugin: log}\n",
                    plugins={"smtp": Smtp(), "log": Smtp()})
    assert sections.channels["email"] == g.ChannelConfig("email", "smtp", {"host": "mail.test"},
                                                         ChannelTraits(consent="opt_in"))
    assert found(context) == [(3, 17, "channel 'sms' (log): missing setting 'host' (a string: the server)")]
    assert sections.channels["sms"].traits == ChannelTraits()


def test_an_unknown_plugin_is_named_with_the_installed_ones(read, context) -> None:
    read("channels:\n  email: {plugin: smpt}\n", plugins={"smtp": Smtp()})
    assert found(context) == [(2, 19, "unknown channel plugin 'smpt' (did you mean 'smtp'?); installed: smtp")]


def test_policy(read, context) -> None:
    sections = read("""
        policy:
          quiet_hours: {sms: "21:00-09:00"}
          frequency: {email: {max: 2, per: 1d, over: skip}, all: {max: 5, per: 7d}}
          offers: {window: 14d}
          consent: {sms: opt_in}
        """)
    assert context.problems == []
    assert sections.policy == g.Policy(
        {"sms": (time(21), time(9))},
        {"email": g.Frequency(2, timedelta(days=1), "skip"), "all": g.Frequency(5, timedelta(days=7))},
        timedelta(days=14), {"sms": "opt_in"})


def test_one_frequency_caps_every_channel_together(read) -> None:
    assert read("policy: {frequency: {max: 3, per: 24h}}\n").policy.frequency == {"all": g.Frequency(3, timedelta(hours=24))}


@pytest.mark.parametrize("policy, message", [
    ('quiet_hours: {sms: "25:00-09:00"}', "bad quiet hours '25:00-09:00'; write a range such as \"21:00-09:00\""),
    ("frequency: {max: 2, per: 1d, over: drop}", "over the cap a message is deferred or skipped: write over: defer "
                                                 "or over: skip, not 'drop'"),
    ("frequency: {max: 2, per: 1 day}", "bad duration '1 day' (did you mean '1d'?)"),
    ("consent: {sms: maybe}", "consent for sms is opt_in (needs the contact's yes), opt_out (goes out unless the "
                              "contact said no) or none, not 'maybe'"),
])
def test_policy_values(read, context, policy: str, message: str) -> None:
    read(f"policy: {{{policy}}}\n")
    assert [m for _, _, m in found(context)] == [message]


def test_links_hosts_are_kept_in_lower_case(read, context) -> None:
    sections = read('links: {hosts: [Maison-Demo.test, "*.cdn.test", "https://x.test/"]}\n')
    assert sections.link_hosts == {"maison-demo.test", "*.cdn.test"}
    assert [m for _, _, m in found(context)] == ["bad host 'https://x.test/'; write a host name such as "
                                                 "maison-demo.test or *.maison-demo.test (no scheme, no path)"]


def test_scoring_adds_up_by_event_type(read, context) -> None:
    sections = read("scoring: {Order Completed: 50, order.completed: -10, email.opened: 1}\n")
    assert sections.scoring == {"order.completed": 40, "email.opened": 1}


def test_fields_declared_as_a_list_or_a_mapping_and_only_once(read, context) -> None:
    sections = read("fields: [skin_type, 2x]\n", name="a.yaml")
    read("fields: {skin_type: twice, plan: the plan}\n", sections=sections, name="b.yaml")
    assert set(sections.declared_fields) == {"skin_type", "plan"}
    messages = [m for _, _, m in found(context)]
    assert messages[0] == "bad field name '2x'; use letters, digits and '_'"
    assert messages[1].startswith("field 'skin_type' is declared twice (first at ") and messages[1].endswith("a.yaml:1)")


def test_segments_are_compiled_after_every_file_is_read(read, context) -> None:
    sections = read("segments: {vip: contact.score >= 500, bad: contact.score >=}\n", name="a.yaml")
    read("segments:\n  vip: contact.vip\n", sections=sections, name="b.yaml")
    assert sections.segment_names() == ["vip", "bad"]
    assert found(context) == [(2, 3, "segment 'vip' is defined twice")]
    segments = sections.segments()
    assert list(segments) == ["vip"]
    assert segments["vip"].condition(Scope(contact={"score": 900})) is True
    assert len(context.problems) == 2  # and the condition that does not parse


def test_known_mode(context) -> None:
    file = SourceFile("rules.yaml", ("mode: advice",))
    assert known_mode(context, Located("assist", file, 1, 7))
    assert not known_mode(context, Located("advice", file, 1, 7))
    assert found(context) == [(1, 7, "unknown mode 'advice' (did you mean 'advise'?); modes are: auto, assist, advise")]


def test_rules_and_templates_are_not_this_pass_s(context, yaml) -> None:
    data, file = yaml("rules: []\n")
    with pytest.raises(ValueError):
        Sections(context, None).read(data, "rules", file)
