"""Links from event data lead only to the workspace's hosts; javascript: and the like never render as links."""
from __future__ import annotations

import pytest

from relance.engine.html_links import hrefs

RULES = """\
workspace: shop
channels: {email: {plugin: log, address: email}, sms: {plugin: log, address: phone}}
links: {hosts: [maison-demo.test, "*.cdn.maison-demo.test"]}
policy: {consent: {sms: none}}
templates:
  relance: {sms: "Votre panier : {{ event.cart.url }}"}
rules:
  - id: r
    when: checkout.started
    entry: always
    steps: [send email panier, send sms relance]
"""
HTML = """Subject: Votre panier

<p><a href="https://aide.maison-demo.example/faq">Aide</a> <a href="{{ event.cart.url }}">Mon panier</a></p>
"""


async def shop_with_cart(open_shop, write, url: str):  # type: ignore[no-untyped-def]
    write(HTML, "templates/panier.email.html")
    shop = await open_shop(RULES)
    await shop.event("checkout.started", {"email": "ana@example.test", "phone": "+33611111111"},
                     cart={"url": url})
    return shop


@pytest.mark.parametrize("url", [
    "https://maison-demo.test/cart/1?a=1&b=2",       # listed under links: hosts
    "https://img.cdn.maison-demo.test/p.png",       # under a *. entry
    "https://AIDE.maison-demo.example/panier",       # written literally in the template
])
async def test_links_to_the_workspace_hosts_go_out(open_shop, write, url) -> None:
    shop = await shop_with_cart(open_shop, write, url)
    messages = await shop.engine.store.messages("shop")
    assert [(m.channel, m.status) for m in messages] == [("email", "sent"), ("sms", "sent")]
    assert hrefs(messages[0].html)[1] == url and messages[1].body == f"Votre panier : {url}"


@pytest.mark.parametrize("url, host, a_link_in_text", [
    ("https://evil.example/phish", "evil.example", True),
    ("https://maison-demo.test@evil.example/cart", "evil.example", True),       # a user name is no host
    ("https://evil.example\\@maison-demo.test/", "evil.example", True),         # a browser reads \\ as /
    ("https:evil.example/cart", "evil.example", True),                          # no slashes: still that host
    ("https://maison-demo.test.evil.example/", "maison-demo.test.evil.example", True),
    ("https://cdn.maison-demo.test/x", "cdn.maison-demo.test", True),          # *.cdn… covers subdomains only
    ("//evil.example/cart", "evil.example", False),                             # scheme-relative: a link in HTML only
])
async def test_a_link_from_event_data_to_another_host_is_refused_by_the_step(open_shop, write, url, host,
                                                                             a_link_in_text) -> None:
    shop = await shop_with_cart(open_shop, write, url)
    messages = await shop.engine.store.messages("shop")
    reason = f"a link leads to {host}, which is not one of the workspace's hosts (list it under links: hosts)"
    assert [(m.channel, m.status, m.error) for m in messages] == [
        ("email", "skipped", reason), ("sms", "skipped", reason) if a_link_in_text else ("sms", "sent", None)]
    assert [m.channel for m in shop.channel.sent] == ([] if a_link_in_text else ["sms"])
    [run] = await shop.engine.store.runs("shop")
    assert run.trace[1]["why"] == f"message {messages[0].key} skipped: {reason}"
    assert shop.kinds("message.skipped")[0].details["reason"] == reason


@pytest.mark.parametrize("url", ["javascript:alert(document.cookie)", " JavaScript:alert(1)", "java\tscript:x",
                                 "data:text/html;base64,PHNjcmlwdD4=", "vbscript:msgbox"])
async def test_a_link_that_is_not_http_is_not_rendered_as_a_link(open_shop, write, url) -> None:
    shop = await shop_with_cart(open_shop, write, url)
    [email, _] = await shop.engine.store.messages("shop")
    assert email.status == "sent"
    assert hrefs(email.html) == ["https://aide.maison-demo.example/faq"]  # the text "Mon panier" stays, unlinked
    assert "Mon panier</a>" in email.html and "script:" not in email.html.lower().replace("\t", "")
