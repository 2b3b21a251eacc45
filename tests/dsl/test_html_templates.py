"""HTML email templates: rendering in a sandbox, locale formatting, and what `relance check` reports."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from relance.dsl import Scope, check_workspace
from relance.dsl.html_templates import RenderError

RULES = """\
locale: {locale}
timezone: {timezone}
channels: {{email: {{plugin: log}}, sms: {{plugin: log}}}}
rules:
  - id: panier
    when: checkout.started
    steps: [send email panier]
"""
NAMES = "; in a template a name starts with contact, event, now, params, or is a function"
CART = {"at": "2026-03-02T09:00:00Z",
        "cart": {"total": 80.5, "items": [{"name": "Sac", "price": 80.5}, {"name": "Ceinture", "price": "12"}]}}


@pytest.fixture
def workspace(write, functions):
    """workspace(html, txt=None, locale=…, timezone=…) → (workspace or None, problems, path of the .html)."""
    def run(html: str, txt: str | None = None, locale: str = "fr_FR", timezone: str = "Europe/Paris"):
        rules = write(RULES.format(locale=locale, timezone=timezone))
        path = write(html, "templates/panier.email.html")
        if txt is not None:
            write(txt, "templates/panier.email.txt")
        found, problems = check_workspace([rules], functions)
        return found, problems, path
    return run


@pytest.fixture
def render(workspace):
    """render(html, contact=…, event=…) → the HTML, in the workspace's locale and timezone."""
    def run(html: str, contact: dict | None = None, event: dict | None = None, params: dict | None = None,
            locale: str = "fr_FR", timezone: str = "Europe/Paris") -> str:
        found, problems, _ = workspace("Subject: Hi\n\n" + html, locale=locale, timezone=timezone)
        assert problems == [], [str(p) for p in problems]
        template = found.templates[("panier", "email")]
        scope = Scope(contact=contact or {}, event=event or {}, params=params or {},
                      now=datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
        return template.html.render(scope, found.locale, found.timezone)
    return run


def only(problems: list) -> tuple[int, int, str]:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0].line, problems[0].column, problems[0].message


# ------------------------------------------------------------------ rendering
def test_cart_loop_with_prices(render) -> None:
    html = ("<p>Bonjour {{ contact.first_name }}</p><ul>{% for item in event.cart.items %}"
            "<li>{{ item.name }} {{ item.price | price }}</li>{% endfor %}</ul>")
    assert render(html, contact={"first_name": "Alice"}, event=CART) == (
        "<p>Bonjour Alice</p><ul><li>Sac 80,50\xa0€</li><li>Ceinture 12,00\xa0€</li></ul>")


@pytest.mark.parametrize("locale, timezone, expected", [
    ("fr_FR", "Europe/Paris", "80,50\xa0€|2 mars 2026|02/03/2026 10:00|1\u202f234,5"),
    ("en_US", "America/New_York", "€80.50|March 2, 2026|3/2/26, 4:00\u202fAM|1,234.5"),
])
def test_formatting_follows_the_workspace_locale_and_timezone(render, locale, timezone, expected) -> None:
    html = ('{{ event.cart.total | price }}|{{ event.at | date("long") }}|{{ event.at | datetime("short") }}'
            "|{{ 1234.5 | number }}")
    assert render(html, event=CART, locale=locale, timezone=timezone) == expected


@pytest.mark.parametrize("html, expected", [
    ("{{ event.cart.total | price }}", "80,50\xa0$US"),               # the cart's currency
    ('{{ event.cart.total | price("GBP") }}', "80,50\xa0£GB"),        # the argument wins
    ('{{ price("1234", "USD") }}', "1\u202f234,00\xa0$US"),           # a numeric string, as a function
    ('{{ "pas un nombre" | price }}{{ none | price }}', ""),
])
def test_price_currency_and_inputs(render, html, expected) -> None:
    assert render(html, event={"cart": {"total": 80.5, "currency": "USD"}}) == expected


def test_dates_are_shown_in_the_contacts_timezone(render) -> None:
    html = '{{ event.at | datetime("short") }}|{{ event.at | date("d MMMM y") }}'
    event = {"at": datetime(2026, 3, 2, 2, 0, tzinfo=UTC)}
    assert render(html, event=event) == "02/03/2026 03:00|2 mars 2026"
    assert render(html, contact={"timezone": "America/New_York"}, event=event) == "01/03/2026 21:00|1 mars 2026"


def test_contact_supplied_html_is_escaped(render) -> None:
    contact = {"first_name": '<script>alert("x")</script>'}
    assert render("<b>{{ contact.first_name }}</b>", contact=contact) == (
        "<b>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</b>")


def test_missing_keys_render_empty_and_compare_like_none(render) -> None:
    html = ("[{{ event.cart.missing.x }}][{{ contact.nothing }}][{{ contact.empty }}][{{ params.coupon }}]"
            "[{{ contact.nothing | price }}{{ contact.nothing | date }}]"
            "[{% if event.cart.missing > 20 or contact.empty > 20 %}big{% else %}small{% endif %}]"
            "[{{ contact.empty is none }}][{{ days_since(contact.nothing) }}]")
    assert render(html, contact={"empty": None}, event={"cart": {}}) == "[][][][][][small][True][]"


def test_params_and_registry_functions(render) -> None:
    html = ("{{ params.coupon }} {{ params.n }} {{ len(contact.tags) }} {{ upper(contact.first_name) }} "
            "{{ days_since(contact.last_order_at) }} {{ coalesce(contact.nickname, 'toi') }}")
    contact = {"tags": ["vip", "fr"], "first_name": "Alice", "last_order_at": "2026-01-01T12:00:00+00:00"}
    assert render(html, contact=contact, params={"coupon": "PANIER10", "n": 8.0}) == "PANIER10 8 2 ALICE 60 toi"


@pytest.mark.parametrize("html", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ contact.first_name.format.__globals__ }}",
    "{{ range.__init__.__globals__ }}",
    "{{ ''|attr('__class__') }}",
])
def test_the_sandbox_refuses_an_escape_with_the_file_and_line(workspace, html) -> None:
    found, problems, path = workspace("Subject: Hi\n\n<p>\n" + html)
    assert problems == []
    template = found.templates[("panier", "email")]
    with pytest.raises(RenderError) as caught:
        template.html.render(Scope(contact={"first_name": "Alice"}), "fr_FR", "Europe/Paris")
    assert isinstance(caught.value.__cause__, SecurityError)
    assert str(caught.value).startswith(f"{path}:4: refused by the sandbox: access to attribute")


def test_the_template_is_compiled_at_check_time_not_at_render(workspace, monkeypatch) -> None:
    found, _, _ = workspace("Subject: Hi\n\n{% for item in event.cart.items %}{{ item.name }} {% endfor %}")
    for method in ("parse", "compile", "from_string"):
        monkeypatch.setattr(SandboxedEnvironment, method, lambda *a, **k: pytest.fail("compiled at render"))
    html = found.templates[("panier", "email")].html
    assert [html.render(Scope(contact={}, event=CART), "fr_FR", "UTC") for _ in range(2)] == ["Sac Ceinture "] * 2


# ----------------------------------------------------------- html and txt parts
def test_a_template_with_only_html_is_complete(workspace) -> None:
    found, problems, path = workspace("Subject: Bonjour {{ contact.first_name }}\n\n<p>{{ contact.first_name }}</p>\n")
    assert problems == []
    template = found.templates[("panier", "email")]
    scope = Scope(contact={"first_name": "Alice"})
    assert (template.subject.render(scope), template.body.parts, template.body.render(scope)) == ("Bonjour Alice", (), "")
    assert template.html.render(scope, "fr_FR", "UTC") == "<p>Alice</p>"
    assert (template.path, template.line) == (str(path), 1)


def test_txt_and_html_make_one_template(workspace) -> None:
    found, problems, _ = workspace("<p>Code <b>{{ params.coupon }}</b></p>",
                                   txt="Subject: Votre code\n\nCode {{ params.coupon }}\n")
    assert problems == []
    template = found.templates[("panier", "email")]
    scope = Scope(contact={}, params={"coupon": "X1"})
    assert template.subject.render(scope) == "Votre code"
    assert template.body.render(scope) == "Code X1"
    assert template.html.render(scope, "fr_FR", "UTC") == "<p>Code <b>X1</b></p>"


def test_a_text_template_has_no_html(compile_text) -> None:
    found, _ = compile_text("templates: {t: {email: {subject: s, body: b}}}\n")
    assert found.templates[("t", "email")].html is None


def test_email_needs_a_subject_in_the_txt_or_the_html(workspace) -> None:
    _, problems, _ = workspace("<p>hi</p>", txt="hi\n")
    assert only(problems) == (1, 1, "email template 'panier' needs a subject")
    assert problems[0].path.endswith("panier.email.txt")


def test_one_subject_only(workspace) -> None:
    _, problems, path = workspace("Subject: B\n<p>hi</p>", txt="Subject: A\nhi\n")
    line, column, message = only(problems)
    assert (problems[0].path, line, column) == (str(path), 1, 10)
    assert message.startswith("template 'panier' for email already has a subject in ")
    assert message.endswith("panier.email.txt:1; keep one")


def test_html_is_for_email_only(write, functions) -> None:
    rules = write(RULES.format(locale="fr", timezone="UTC").replace("send email panier", "send sms panier"))
    write("<p>hi</p>", "templates/panier.sms.html")
    _, problems = check_workspace([rules], functions)
    assert sorted(p.message for p in problems) == ["HTML templates are for email; name this file panier.sms.txt",
                                                   "unknown template 'panier'"]


def test_an_unknown_locale_is_a_problem(workspace) -> None:
    _, problems, _ = workspace("Subject: Hi\n<p>{{ 2 | number }}</p>", locale="zz")
    assert only(problems) == (1, 9, "unknown locale 'zz'; write a language such as fr or fr_FR")


# --------------------------------------------------------------------- checks
@pytest.mark.parametrize("head, txt, line", [
    ("", "Subject: Hi\n", 2),
    ("Subject: Hi\n\n", None, 4),
    ("Subject: Hi\n", None, 3),
])
def test_syntax_error_points_at_the_line_in_the_html_file(workspace, head, txt, line) -> None:
    _, problems, path = workspace(head + "<p>Bonjour</p>\n{% if %}oui{% endif %}\n", txt=txt)
    message = "HTML template does not parse: Expected an expression, got 'end of statement block'"
    assert only(problems) == (line, 1, message)
    assert problems[0].path == str(path)


@pytest.mark.parametrize("html, column, message", [
    ("<p>{{ contcat.first_name }}</p>", 7, "unknown name 'contcat' (did you mean 'contact'?)" + NAMES),
    ("<p>{{ cart.total }} {{ cart.url }}</p>", 7, "unknown name 'cart'" + NAMES),
    ("{% for i in event.cart.items %}{{ i.price | prix }}{% endfor %}", 45,
     "unknown filter 'prix' (did you mean 'price'?)"),
    ("{% if contact.score is nmber %}x{% endif %}", 24, "unknown test 'nmber' (did you mean 'number'?)"),
    ("<p>{{ lenn(contact.tags) }}</p>", 7, "unknown name 'lenn' (did you mean 'len'?)" + NAMES),
    ("<p>{{ len(contact.tags, 2) }}</p>", 7, "len() takes 1 argument, not 2"),
    ('<p>{{ event.at | date("longg") }}</p>', 24,
     "bad date format 'longg'; use short, medium, long, full or a pattern such as 'd MMMM y'"),
    ('{% include "footer.html" %}', 4, "'include' is not available in an HTML template: a template is one file"),
])
def test_check_problems_in_the_html_file(workspace, html, column, message) -> None:
    _, problems, path = workspace("Subject: Hi\n\n<div>\n" + html + "\n</div>\n")
    assert only(problems) == (4, column, message)
    assert problems[0].path == str(path)


def test_names_the_template_defines_are_known(workspace) -> None:
    html = ("{% set total = event.cart.total %}{% for item in event.cart.items %}{{ loop.index }}{% endfor %}"
            "{% macro line(label) %}{{ label }}{% endmacro %}{{ line(total) }}{{ now | date }}")
    _, problems, _ = workspace("Subject: Hi\n\n" + html)
    assert problems == []


def test_a_channel_whose_plugin_sends_email_takes_html(write, functions) -> None:
    """Which channel is email is the plugin's word, not the channel's name (issue 13 item 2's class):
    `newsletter: {plugin: smtp}` takes HTML templates; a log channel that stands for SMS does not."""
    from relance.plugins.registry import channels, plugin_manager
    rules = write("""\
workspace: w
channels: {newsletter: {plugin: smtp, host: 127.0.0.1, from: "a@b.test", tls: none}, sms: {plugin: log, address: phone}}
rules:
  - id: r
    when: a.b
    steps: [send newsletter news, send sms news]
""")
    write("Subject: Bonjour\n<p>hi</p>", "templates/news.newsletter.html")
    write("<p>hi</p>", "templates/news.sms.html")
    workspace, problems = check_workspace([rules], functions, channels(plugin_manager(load_entry_points=False)))
    assert sorted(p.message for p in problems) == ["HTML templates are for email; name this file news.sms.txt",
                                                   "template 'news' has no sms version (it has: newsletter)"]
