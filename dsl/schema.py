"""The shape of a workspace file, described once: pydantic models that check it and give its JSON Schema.

Each model says, beside its keys, how a problem with it reads (`unknown`, `missing`) and
each field's `Shape` says how a value of the wrong type reads; `shape.py` turns
pydantic's errors into those messages at the YAML's line and column. What a value means
(a duration, a timezone, a mode, a step's text) is the passes' to check: the schema
only gives editors the choices (`enum`) and the forms.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictInt, Tag, WithJsonSchema
from pydantic.functional_validators import AfterValidator
from pydantic_core import PydanticCustomError

MODES = ("auto", "assist", "advise")
CONSENT_RULES = ("opt_in", "opt_out", "none")
OVER_CAP = ("defer", "skip")
PRIORITIES = {"high": 10, "normal": 0, "low": -10}  # a rule's priority in words; or a number from -100 to 100


@dataclass(frozen=True, slots=True)
class Shape:
    """How a value of the wrong shape reads, and where: at the `value`, or at the `key` that names it.

    `{name}` in the message is the key that names the value, `{parent}` the one above it.
    """

    message: str
    at: Literal["value", "key"] = "value"


def choice(*choices: str) -> Any:
    """A value the passes check against `choices`; the schema offers them to editors."""
    return Annotated[Any, WithJsonSchema({"enum": list(choices)})]


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, (dict, list)):
        raise PydanticCustomError("scalar", "a single value")
    return value


# A YAML scalar: text, a number, true/false; the passes read it as text.
Scalar = Annotated[Any, AfterValidator(_scalar), WithJsonSchema({"type": ["string", "number", "boolean"]})]
Text = Annotated[Any, WithJsonSchema({"type": ["string", "number", "boolean"]})]
STEP_MARK = {"x-relance": "step"}  # pydantic resolves a $ref itself: json_schema() puts the Step's in its place
Step = Annotated[Any, WithJsonSchema(STEP_MARK)]  # steps are the steps pass's to check
STEP_SCHEMA = {
    "description": "A statement such as 'wait 1d' or 'send email promo', or a block: 'if COND:', 'elif COND:', "
                   "'else:' each followed by a list of steps, or 'split:' with variants such as 'a 50%:'",
    "anyOf": [
        {"type": ["string", "number"]},
        {"type": "object", "additionalProperties": {"anyOf": [
            {"type": "array", "items": {"$ref": "#/$defs/Step"}},
            {"type": "object", "additionalProperties": {"anyOf": [
                {"type": "array", "items": {"$ref": "#/$defs/Step"}}, {"type": "null"}]}},
            {"type": "null"}]}},
    ],
}

MAPPING = Shape("'{name}' is a mapping of names to values")
SINGLE = Shape("'{name}' takes a single value")
FREQUENCY = "frequency is {max: N, per: DURATION} with an optional over: defer|skip, for example {max: 2, per: 24h}"


class Section(BaseModel):
    """A mapping with known keys: an unknown one, or one missing, reads as the class says."""

    model_config = ConfigDict(extra="forbid")
    unknown: ClassVar[str] = "unknown key '{key}'{suggestion}; the keys are: {keys}"
    missing: ClassVar[str] = "'{name}' has no '{key}'"
    at: ClassVar[Literal["value", "key"]] = "value"  # where a problem with the whole mapping is shown
    whole: ClassVar[bool] = False  # one message for the mapping, whatever is wrong inside it

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(field.alias or name for name, field in cls.model_fields.items())

    @classmethod
    def names(cls, data: Any) -> dict[str, str]:
        """More words for the messages, from the mapping itself."""
        return {}


class Channel(Section):
    """`email: {plugin: smtp, …}`: a channel's plugin; its other settings are the plugin's to check."""

    model_config = ConfigDict(extra="allow")
    missing = "channel '{name}' needs settings with a plugin, for example {plugin: smtp, from: …}"
    at = "key"
    plugin: Text = Field(description="The channel plugin that sends its messages, such as smtp or log")


class Frequency(Section):
    """`{max: 2, per: 24h}`: at most `max` messages each `per`."""

    unknown = missing = FREQUENCY
    whole = True
    max: Annotated[StrictInt, Field(ge=1), Shape("frequency max is a whole number of messages, 1 or more")]
    per: Text = Field(description="A duration such as 24h or 7d")
    over: choice(*OVER_CAP) = Field(None, description="Over the cap a message is deferred (the default) or skipped")


def _frequency_form(value: Any) -> str | None:
    if isinstance(value, dict):
        return "all" if "max" in value else "by_channel"
    return None


Frequencies = Annotated[Union[
    Annotated[Frequency, Tag("all")],
    Annotated[dict[Any, Annotated[Frequency, Shape(FREQUENCY)]], Tag("by_channel")],
], Discriminator(_frequency_form)]


class Offers(Section):
    unknown = missing = "offers is {window: DURATION}: an offer is not sent again within it, on any channel"
    whole = True
    window: Text = Field(description="A duration such as 7d")


class Policy(Section):
    """Limits on every message the rules send."""

    unknown = "unknown policy '{key}'{suggestion}; policies are: {keys}"
    quiet_hours: Annotated[dict[Any, Text] | None, MAPPING] = Field(
        None, description='Hours by channel when nothing is sent, such as sms: "21:00-09:00"')
    frequency: Annotated[Frequencies | None, MAPPING] = Field(
        None, description="A cap for all channels {max: N, per: DURATION}, or caps by channel name")
    offers: Annotated[Offers, Shape(Offers.unknown)] = Field(None, description="{window: DURATION}")
    consent: Annotated[dict[Any, choice(*CONSENT_RULES)] | None, MAPPING] = Field(
        None, description="By channel: opt_in, opt_out or none")


class Links(Section):
    unknown = "unknown links setting '{key}'; links takes: {keys}"
    hosts: Annotated[list[Text], Shape('hosts is a list such as [maison-demo.test, "*.maison-demo.test"]')] = Field(
        None, description="The hosts event data may link to, such as maison-demo.test or *.maison-demo.test")


class TemplateMessage(Section):
    unknown = "unknown template key '{key}'{suggestion}; a template has a subject (email) and a body"
    missing = "template '{parent}' for {name} has no body"
    at = "key"
    subject: Text = Field(None, description="The subject line (email); {{ placeholders }} allowed")
    body: Text = Field(description="The message; {{ placeholders }} allowed")


def _message_form(value: Any) -> str | None:
    return "text" if isinstance(value, str) else "message" if isinstance(value, dict) else None


Message = Annotated[Union[Annotated[str, Tag("text")], Annotated[TemplateMessage, Tag("message")]],
                    Discriminator(_message_form), Shape("a template is a body text, or {subject: …, body: …}", "key")]
ByChannel = Annotated[dict[Any, Message], Shape("template '{name}' maps channels to messages, for example "
                                                 "email: {subject: …, body: …}", "key")]


class Rule(Section):
    """One rule: when it starts, for whom, what it does, and what ends it."""

    unknown = "unknown rule key '{key}'{suggestion}; a rule has: {keys}"
    missing = "{rule} has no '{key}'"

    @classmethod
    def names(cls, data: Any) -> dict[str, str]:
        return {"rule": f"rule '{data['id']}'" if isinstance(data, dict) and "id" in data else "this rule"}

    id: Text = Field(description="Letters, digits, '-' and '_'; stable: runs refer to it")
    name: Text = Field(None, description="A name for people")
    description: Text = Field(None, description="What the rule is for")
    when: Text = Field(description="The trigger: an event such as checkout.started where …, "
                                   "a date such as 3d before contact.renewal_at, or every monday at 09:00 …")
    if_: Text = Field(None, alias="if", description="A condition on the contact and the event")
    goal: Text | list[Text] = Field(None, description="What ends a run as a success: 'event TYPE …' or 'if COND'")
    exit: Text | list[Text] = Field(None, description="What ends a run early: 'event TYPE …' or 'if COND'")
    entry: Text = Field(None, description="once, always, after DURATION, or one at a time (the default)")
    mode: choice(*MODES) = Field(None, description="This rule's mode, else the workspace's")
    priority: Annotated[Any, WithJsonSchema({"anyOf": [{"enum": list(PRIORITIES)},
                                                       {"type": "integer", "minimum": -100, "maximum": 100}]})] = Field(
        None, description="high, normal (the default) or low, or a whole number from -100 to 100")
    late: Text = Field(None, description="skip after DURATION: a send taken that late is skipped")
    steps: Annotated[list[Step], Shape("'steps' is a list of steps, each '- …'")] = Field(
        description="What a run does, in order")


class WorkspaceFile(Section):
    """A rules file: every section is optional, and a workspace may spread its sections over files."""

    model_config = ConfigDict(extra="forbid", title="Relance workspace")
    unknown = "unknown section '{key}'{suggestion}; sections are: {keys}"

    workspace: Annotated[Scalar, SINGLE] = Field(None, description="The workspace's name")
    timezone: Annotated[Scalar, SINGLE] = Field(None, description="An IANA name such as Europe/Paris")
    locale: Annotated[Scalar, SINGLE] = Field(None, description="A language such as fr or fr_FR")
    mode: Annotated[Scalar, SINGLE, WithJsonSchema({"enum": list(MODES)})] = Field(
        None, description="auto sends, assist asks before sending, advise only suggests")
    channels: Annotated[dict[Any, Annotated[Channel, Shape(Channel.missing, "key")]] | None, MAPPING] = Field(
        None, description="Channels by name, each with its plugin and the plugin's settings")
    policy: Annotated[Policy | None, MAPPING] = None
    templates: Annotated[dict[Any, ByChannel] | None, MAPPING] = Field(
        None, description="Templates by name, then by channel")
    scoring: Annotated[dict[Any, Annotated[StrictInt, Shape("points for '{name}' must be a whole number "
                                                            "such as +5 or -10")]] | None, MAPPING] = Field(
        None, description="Points a contact gets for each event type")
    segments: Annotated[dict[Any, Text] | None, MAPPING] = Field(
        None, description="Segments by name, each a condition on the contact")
    fields: Annotated[list[Text] | dict[Any, Any], Shape("'fields' lists contact fields: [skin_type, plan] "
                                                         "or {skin_type: what it holds, …}")] = Field(
        None, description="The contact fields the workspace's events bring")
    links: Annotated[Links | None, MAPPING] = None
    rules: Annotated[list[Annotated[Rule, Shape("a rule is a mapping with id, when and steps")]] | None,
                     Shape("'rules' is a list of rules, each starting with '- id: …'")] = None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a workspace file, for editors (VS Code's YAML extension and the like)."""
    schema = _with_step_refs(WorkspaceFile.model_json_schema(by_alias=True))
    schema.setdefault("$defs", {})["Step"] = STEP_SCHEMA
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _with_step_refs(schema: Any) -> Any:
    if schema == STEP_MARK:
        return {"$ref": "#/$defs/Step"}
    if isinstance(schema, dict):
        return {key: _with_step_refs(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_with_step_refs(value) for value in schema]
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False)
