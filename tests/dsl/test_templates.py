"""Text templates: a placeholder prints as in HTML templates, and price(), number(), date() and
datetime() format in the workspace's locale and the contact's timezone, as the HTML filters do."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from relance.dsl import Scope
from relance.dsl.formats import plain
from relance.dsl.html_templates import HtmlTemplate

AT = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
WORKSPACE = """\
workspace: shop
timezone: Europe/Paris
locale: {locale}
channels: {{sms: {{plugin: log}}}}
templates:
  t:
    sms: |-
      {body}
"""


@pytest.fixture
def render(compile_text):
    def run(body: str, locale: str = "fr_FR", event: dict | None = None, contact: dict | None = None) -> str:
        workspace, problems = compile_text(WORKSPACE.format(locale=locale, body=body))
        assert problems == [], [str(p) for p in problems]
        scope = Scope(contact=contact or {}, event={"at": AT, **(event or {})}, now=AT,
                      zone=workspace.timezone, locale=workspace.locale)
        return workspace.templates[("t", "sms")].body.render(scope)
    return run


@pytest.mark.parametrize("body, locale, event, expected", [
    ("{{ event.cart.total * 3 }}", "fr_FR", {"cart": {"total": 19.9}}, "59.7"),
    ("{{ event.ratio }}", "fr_FR", {"ratio": 0.1 + 0.2}, "0.3"),                  # binary noise from elsewhere
    ("{{ event.cart.total }}", "fr_FR", {"cart": {"total": 80.0}}, "80"),
    ("{{ price(event.cart.total * 3) }}", "fr_FR", {"cart": {"total": 19.9}}, "59,70\xa0€"),
    ('{{ price(event.cart.total, "USD") }}', "en", {"cart": {"total": 19.9}}, "$19.90"),
    ("{{ price(event.cart.total) }}", "fr_FR", {"cart": {"total": 19.9, "currency": "CHF"}}, "19,90\xa0CHF"),
    ("{{ price(event.cart.total) }}", "de_DE", {"cart": {"total": "1234.5"}}, "1.234,50\xa0€"),
    ("{{ price(event.missing) }}", "fr_FR", {}, ""),
    ("{{ number(event.points) }}", "fr_FR", {"points": 1234.5}, "1\u202f234,5"),
    ('{{ number(event.points, "#,##0.00") }}', "en", {"points": 1234.5}, "1,234.50"),
    ('{{ date(event.at, "long") }}', "fr_FR", {}, "2 mars 2026"),
    ('{{ date(event.day, "full") }}', "en", {"day": "2026-03-02"}, "Monday, March 2, 2026"),
    ('{{ datetime(event.at, "short") }}', "fr_FR", {}, "02/03/2026 11:00"),         # in Paris
    ("{{ date(event.nothing) }}", "fr_FR", {"nothing": "soon"}, ""),
])
def test_text_templates_format_in_the_workspaces_locale(render, body: str, locale: str, event: dict,
                                                         expected: str) -> None:
    assert render(body, locale, event) == expected


def test_dates_are_shown_in_the_contacts_timezone(render) -> None:
    evening = {"at": datetime(2026, 3, 2, 3, 0, tzinfo=timezone.utc)}  # 1 March, 22:00 in New York
    body = '{{ date(event.at, "long") }} {{ datetime(event.at, "short") }}'
    assert render(body, event=evening, contact={"timezone": "America/New_York"}) == "1 mars 2026 01/03/2026 22:00"
    assert render(body, event=evening) == "2 mars 2026 02/03/2026 04:00"


@pytest.mark.parametrize("body, message", [
    ('{{ date(event.at, "longg") }}', "bad date format 'longg'"),
    ('{{ datetime(event.at, "shortt") }}', "bad datetime format 'shortt'"),
    ("{{ price() }}", "price() takes 1 to 2 arguments, not 0"),
])
def test_check_refuses_bad_formats_in_text_templates(compile_text, body: str, message: str) -> None:
    _, problems = compile_text(WORKSPACE.format(locale="fr", body=f"Bonjour {body}"))
    [problem] = problems
    assert message in problem.message and (problem.line, problem.column) == (8, 18)


@pytest.mark.parametrize("value, shown", [
    (None, ""), (80.0, "80"), (59.699999999999996, "59.7"), (0.30000000000000004, "0.3"), (1e20, "100000000000000000000"),
    (1e-7, "0.0000001"), (-2.5, "-2.5"), (3, "3"), (True, "True"), ("texte", "texte"),
    (datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc), "2026-03-02T10:00:00+00:00"), (date(1990, 2, 15), "1990-02-15"),
    (timedelta(hours=36), "P1DT12H"),
])
def test_a_value_prints_without_binary_noise(value: Any, shown: str) -> None:
    assert plain(value) == shown


def test_html_templates_print_numbers_the_same_way(functions) -> None:
    """Jinja computes in binary floats: what it prints is rounded like a text placeholder."""
    template = HtmlTemplate("<p>{{ event.item.price * event.item.qty }} {{ (event.item.price * 3) | price }}</p>",
                            "t.email.html", 1, functions)
    html = template.render(Scope(contact={}, event={"item": {"price": 19.9, "qty": 3}}), "fr_FR", "Europe/Paris")
    assert html == "<p>59.7 59,70\xa0€</p>"
