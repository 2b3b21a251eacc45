"""The workspace file's schema: valid JSON Schema, which the example workspace meets, printed by `relance schema`."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from relance.dsl.schema import Links, Policy, Rule, TemplateMessage, WorkspaceFile, json_schema
from relance.server.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "rules.example.yaml"


def plain_yaml(text: str) -> object:
    return YAML(typ="safe").load(text)


@pytest.fixture(scope="module")
def validator() -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(json_schema())


def test_the_schema_is_valid_json_schema() -> None:
    schema = json_schema()
    jsonschema_rs.meta.validate(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]) == set(WorkspaceFile.keys())
    assert schema["additionalProperties"] is False


def test_the_example_workspace_meets_the_schema(validator) -> None:
    assert [error.message for error in validator.iter_errors(plain_yaml(EXAMPLE.read_text()))] == []


@pytest.mark.parametrize("bad, good", [
    ("segmnets: {}\n", "segments: {}\n"),
    ("rules:\n  - {id: x, when: a.b, stpes: [stop]}\n", "rules:\n  - {id: x, when: a.b, steps: [stop]}\n"),
    ("policy: {offers: {window: 7d, every: 1d}}\n", "policy: {offers: {window: 7d}}\n"),
    ("templates: {t: {email: {subject: s}}}\n", "templates: {t: {email: {subject: s, body: b}}}\n"),
    ("rules:\n  - {id: x, when: a.b, steps: [true]}\n", "rules:\n  - {id: x, when: a.b, steps: ['true']}\n"),
    ("rules:\n  - {id: x, when: a.b, steps: [{if a: stop}]}\n", "rules:\n  - {id: x, when: a.b, steps: [{if a: [stop]}]}\n"),
    ("rules:\n  - {id: x, when: a.b, steps: [stop], mode: auto-ish}\n", "rules:\n  - {id: x, when: a.b, steps: [stop], mode: assist}\n"),
])
def test_editors_see_what_relance_check_refuses(validator, bad: str, good: str) -> None:
    assert not validator.is_valid(plain_yaml(bad))
    assert validator.is_valid(plain_yaml(good))


def test_keys_are_listed_as_written_in_yaml() -> None:
    assert Rule.keys() == ("id", "name", "description", "when", "if", "goal", "exit", "entry", "mode",
                           "priority", "late", "steps")
    assert Policy.keys() == ("quiet_hours", "frequency", "offers", "consent")
    assert Links.keys() == ("hosts",)
    assert TemplateMessage.keys() == ("subject", "body")


def test_choices_are_offered_to_editors() -> None:
    defs = json_schema()["$defs"]
    assert defs["Rule"]["properties"]["mode"]["enum"] == ["auto", "assist", "advise"]
    assert {"enum": ["high", "normal", "low"]} in defs["Rule"]["properties"]["priority"]["anyOf"]
    assert defs["Rule"]["required"] == ["id", "when", "steps"]


def test_relance_schema_prints_it() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == json_schema()
