"""The templates pass: parts gathered by name and channel from inline templates and files, then compiled."""
from __future__ import annotations

import pytest

from relance.dsl import Scope
from relance.dsl.loader import TemplateFile
from relance.dsl.source import Located, SourceFile
from relance.dsl.template_parts import TemplateSources

from .conftest import found


@pytest.fixture
def sources(context) -> TemplateSources:
    return TemplateSources(context)


@pytest.fixture
def add(sources, yaml):
    def run(text: str) -> TemplateSources:
        data, file = yaml(text)
        sources.add_section(data["templates"], file)
        return sources
    return run


def html_file(name: str, channel: str, body: str, subject: str | None = None) -> TemplateFile:
    file = SourceFile(f"templates/{name}.{channel}.html", tuple(body.splitlines()))
    return TemplateFile(name, channel, Located(subject, file, 1, 10) if subject else None,
                        Located(body, file, 1, 1), html=True)


def test_inline_templates_by_name_and_channel(add, context) -> None:
    sources = add("""
        templates:
          promo:
            email: {subject: "Bonjour {{ contact.first_name }}", body: "Votre code : {{ params.code }}"}
            sms: "Code {{ params.code }}"
          rappel: {whatsapp: "À bientôt"}
        """)
    assert sources.names() == ["promo", "rappel"]
    assert sources.channels_of("promo") == ["email", "sms"]
    assert sources.has("promo", "sms") and not sources.has("rappel", "email")
    templates = sources.compile()
    assert context.problems == []
    email = templates[("promo", "email")]
    scope = Scope(contact={"first_name": "Léa"}, params={"code": "X1"})
    assert (email.subject.render(scope), email.body.render(scope)) == ("Bonjour Léa", "Votre code : X1")
    assert templates[("promo", "email")].line == 3


def test_an_email_template_needs_a_subject(add, context) -> None:
    add("templates:\n  t:\n    email: {body: x}\n").compile()
    assert found(context) == [(3, 5, "email template 't' needs a subject")]


def test_a_template_defined_twice(add, context) -> None:
    add("templates:\n  t: {sms: a}\n")
    add("templates:\n  t: {sms: b}\n")
    assert found(context) == [(2, 7, "template 't' for sms is defined twice")]


def test_a_text_part_and_an_html_file_make_one_template(add, sources, context) -> None:
    add("templates:\n  t:\n    email: {subject: Hi, body: plain text}\n")
    sources.add_file(html_file("t", "email", "<p>{{ contact.first_name }}</p>"))
    [template] = sources.compile().values()
    assert template.html is not None and context.problems == []


def test_two_subjects_are_one_too_many(add, sources, context) -> None:
    add("templates:\n  t:\n    email: {subject: Hi, body: text}\n")
    sources.add_file(html_file("t", "email", "<p>x</p>", subject="Hello"))
    sources.compile()
    [(line, column, message)] = found(context)
    assert (line, column) == (1, 10)
    assert message.startswith("template 't' for email already has a subject in ")


def test_html_is_for_email(sources, context) -> None:
    sources.add_file(html_file("t", "sms", "<p>x</p>"))
    assert found(context) == [(1, 1, "HTML templates are for email; name this file t.sms.txt")]
    assert not sources.has("t", "sms")


def test_a_placeholder_that_does_not_parse_is_shown_inside_the_text(add, context) -> None:
    add('templates:\n  t: {sms: "Hi {{ contact.first_name + }}"}\n').compile()
    [(line, column, message)] = found(context)
    assert line == 2 and column > len('  t: {sms: "Hi {{ ')
    assert message.startswith("template placeholder '{{ contact.first_name + }}' does not parse: unexpected '}}'")


def test_hosts_the_templates_write(add) -> None:
    sources = add('templates:\n  t: {sms: "Voir https://maison-demo.test/p et {{ event.url }}"}\n')
    assert sources.hosts() == {"maison-demo.test"}
