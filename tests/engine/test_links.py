"""Tracked links in HTML: read by a tokenizer, so the URL signed is the one a browser opens."""
from __future__ import annotations

import pytest

from relance.engine.html_links import hrefs
from relance.engine.links import Links

LINKS = Links("https://relance.test", "secret")


def track(html: str) -> str:
    return LINKS.track_html(html, "shop", 7, "1:r/steps/0:1", "email")


def signed_urls(html: str) -> list[str]:
    """The URL each click redirect of `html` leads to, in order."""
    found = []
    for href in hrefs(html):
        assert href.startswith("https://relance.test/t/c/"), href
        found.append(LINKS.verify(href.rsplit("/", 1)[1], "click")["u"])
    return found


@pytest.mark.parametrize("tag, url", [
    ('<a href="https://shop.test/cart/1?utm_source=x&amp;y=1">', "https://shop.test/cart/1?utm_source=x&y=1"),
    ("<a href='https://shop.test/cart/1?a=1&#38;b=2'>", "https://shop.test/cart/1?a=1&b=2"),
    ("<a href=https://shop.test/cart/1?a=1&amp;b=2>", "https://shop.test/cart/1?a=1&b=2"),
    ('<A class="btn" HREF = "HTTPS://shop.test/p?q=cr%C3%A8me&amp;n=&quot;x&quot;" >', 'HTTPS://shop.test/p?q=cr%C3%A8me&n="x"'),
    ('<a\nhref="\n  https://shop.test/x  \n">', "https://shop.test/x"),
    ('<area shape="rect" href="https://shop.test/map?a=1&amp;b=2" />', "https://shop.test/map?a=1&b=2"),
])
def test_every_quoting_is_tracked_with_entities_decoded(tag: str, url: str) -> None:
    html = f"<p>Bonjour &amp; bienvenue</p>{tag}Panier</a>"
    tracked = track(html)
    assert signed_urls(tracked) == [url]
    assert tracked.startswith("<p>Bonjour &amp; bienvenue</p>")


def test_what_is_no_link_stays_byte_for_byte() -> None:
    html = ('<html><head><style>a[href="https://x.test"] {color: red}</style></head><body>\r\n'
            '<script>var s = \'<a href="https://script.test">\';</script><!-- <a href="https://comment.test"> -->\r\n'
            '<a href="mailto:service@shop.test">écrire</a> <a href="tel:+33100000000">appeler</a> '
            '<a href="#haut">haut</a> <a name="ancre">ici</a>\r\n<p title="a &amp; b">texte</p></BODY >\r\n</html>')
    tracked = track(html)
    pixel = tracked[tracked.index("<img "):tracked.index("</BODY >")]
    assert tracked.replace(pixel, "") == html  # only the pixel was added, before </body>
    assert pixel.startswith('<img src="https://relance.test/t/o/')


def test_without_a_body_the_pixel_goes_last() -> None:
    tracked = track('<p><a href="https://shop.test">x</a></p>')
    assert tracked.endswith('" width="1" height="1" alt="">') and signed_urls(tracked[:tracked.index("<img")]) == \
        ["https://shop.test"]
