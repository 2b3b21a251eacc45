"""Links in messages: one-click unsubscribe (RFC 8058), open pixel and click redirect, all signed."""
from __future__ import annotations

import re

from .test_api import HOT


def contact(api) -> dict:
    [found] = api.call("GET", "/v1/contacts?email=lea@example.test").json()["contacts"]
    return found


def contact_id(api) -> int:
    return contact(api)["id"]


def links(api):  # type: ignore[no-untyped-def]
    return api.client.app.state.runtime.links


def local(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_opening_the_unsubscribe_link_changes_nothing_the_button_unsubscribes(api) -> None:
    api.call("POST", "/v1/events", json=HOT)
    url = local(links(api).unsubscribe_url("shop-a", contact_id(api), "email"))
    page = api.call("GET", url, shop=None)
    assert page.status_code == 200 and '<form method="post">' in page.text
    assert contact(api)["consent"] == {}  # a scanner opened it
    done = api.call("POST", url, shop=None, content="List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200 and "Désinscription enregistrée" in done.text
    consent = contact(api)["consent"]
    assert (consent["email"]["status"], consent["email"]["source"]) == ("opted_out", "one-click link")
    api.call("POST", "/v1/events", json={**HOT, "id": "m2"})  # the hot-lead rule runs again: no email now
    messages = api.call("GET", "/v1/messages").json()["messages"]
    assert [(m["status"], m["error"]) for m in messages] == [
        ("sent", None), ("skipped", "no consent: the contact opted out of email")]
    [_, run] = api.call("GET", "/v1/runs?rule=chaud").json()["runs"]
    trace = api.call("GET", f"/v1/runs/{run['id']}").json()["trace"]
    assert any("skipped: no consent: the contact opted out of email" in e.get("why", "") for e in trace)


def test_forged_or_altered_links_are_refused(api) -> None:
    api.call("POST", "/v1/events", json=HOT)
    url = local(links(api).unsubscribe_url("shop-a", contact_id(api), "email"))
    data, mac = url.rsplit("/", 1)[1].split(".")
    altered = f"/u/{data[:-2]}{'A' if data[-2] != 'A' else 'B'}{data[-1]}.{mac}"
    for bad in (altered, "/u/forged.token", "/t/c/" + url.rsplit("/", 1)[1]):  # an unsubscribe token is no click
        response = api.call("POST" if bad.startswith("/u/") else "GET", bad, shop=None)
        assert response.status_code == 404, bad
        assert response.headers["content-type"] == "application/problem+json"
    assert contact(api)["consent"] == {}


def test_clicks_redirect_only_to_the_signed_url_and_opens_are_recorded_once(api) -> None:
    api.call("POST", "/v1/events", json=HOT)
    html = links(api).track_html('<p><a href="https://maison-demo.test/panier">Panier</a></p></body>', "shop-a",
                                 contact_id(api), "1:chaud/steps/1:1", "email")
    click = local(re.search(r'href="([^"]+)"', html).group(1))
    pixel = local(re.search(r'src="([^"]+)"', html).group(1))
    response = api.call("GET", click, shop=None, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (302, "https://maison-demo.test/panier")
    for _ in range(2):
        opened = api.call("GET", pixel, shop=None)
        assert (opened.status_code, opened.headers["content-type"]) == (200, "image/gif")
    export = api.call("GET", f"/v1/contacts/{contact_id(api)}/export").json()
    kinds = [e["type"] for e in export["events"]]
    assert (kinds.count("email.clicked"), kinds.count("email.opened")) == (1, 1)


def test_consent_set_through_the_api_opens_the_sms_channel(api) -> None:
    api.call("POST", "/v1/events", json=HOT)
    url = f"/v1/contacts/{contact_id(api)}/consent"
    bad = api.call("POST", url, json={"channel": "telegram", "status": "opted_in"})
    assert (bad.status_code, bad.json()["pointer"]) == (422, "/channel")
    answer = api.call("POST", url, json={"channel": "whatsapp", "status": "opted_in", "source": "shop counter"})
    assert answer.status_code == 200
    assert (answer.json()["consent"]["whatsapp"]["status"], answer.json()["consent"]["whatsapp"]["source"]) == \
        ("opted_in", "shop counter")


def test_twilio_status_callbacks_signed_by_twilio_become_events(tmp_path, write, monkeypatch) -> None:
    import base64
    import hashlib
    import hmac

    from starlette.testclient import TestClient

    from relance.engine.clock import VirtualClock
    from relance.server.app import create_app
    from relance.server.settings import Settings

    from .conftest import NOW

    monkeypatch.setenv("RELANCE_TEST_TWILIO_TOKEN", "tok3n")
    rules = write("workspace: shop\nchannels:\n  sms: {plugin: twilio_sms, account_sid: AC1, "
                  "auth_token_env: RELANCE_TEST_TWILIO_TOKEN, from: '+33700000000'}\n")
    settings = Settings(rules=(str(rules),), database_url=f"sqlite://{tmp_path / 't.sqlite3'}",
                        public_url="https://relance.test")
    app = create_app(settings, clock=VirtualClock(NOW), run_scheduler=False)
    form = {"MessageSid": "SM1", "MessageStatus": "delivered", "To": "+33611111111", "ErrorCode": ""}  # blanks signed
    data = "https://relance.test/v1/providers/twilio/shop" + "".join(f"{k}{form[k]}" for k in sorted(form))
    good = base64.b64encode(hmac.new(b"tok3n", data.encode(), hashlib.sha1).digest()).decode()
    with TestClient(app) as client:
        def post(signature: str):  # type: ignore[no-untyped-def]
            return client.post("/v1/providers/twilio/shop", data=form, headers={"X-Twilio-Signature": signature})

        assert post("forged").status_code == 401
        assert post(good).status_code == 204
        client.portal.call(app.state.runtime.settle)
        key = client.portal.call(app.state.runtime.create_key, "shop")
        [contact] = client.get("/v1/contacts?phone=%2B33611111111", headers={"Authorization": f"Bearer {key}"}) \
            .json()["contacts"]
        export = client.get(f"/v1/contacts/{contact['id']}/export", headers={"Authorization": f"Bearer {key}"}).json()
        assert [e["type"] for e in export["events"]] == ["sms.delivered"]


def every_contact(api) -> list:
    async def scan():  # type: ignore[no-untyped-def]
        async with api.client.app.state.runtime.store.transaction() as tx:
            return await tx.contacts("shop-a", 0, 100)
    return api.client.portal.call(scan)


def test_old_links_of_an_erased_contact_answer_and_create_no_one(api_on) -> None:
    api = api_on
    api.call("POST", "/v1/events", json=HOT)
    erased = contact_id(api)
    unsubscribe = local(links(api).unsubscribe_url("shop-a", erased, "email"))
    html = links(api).track_html('<a href="https://maison-demo.test/p">p</a></body>', "shop-a", erased, "1:x:1", "email")
    click = local(re.search(r'href="([^"]+)"', html).group(1))
    pixel = local(re.search(r'src="([^"]+)"', html).group(1))
    assert api.call("DELETE", f"/v1/contacts/{erased}").status_code == 204
    assert every_contact(api) == []
    done = api.call("POST", unsubscribe, shop=None, content="List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200 and "Désinscription enregistrée" in done.text
    assert api.call("GET", pixel, shop=None).status_code == 200
    assert api.call("GET", click, shop=None, follow_redirects=False).headers["location"] == "https://maison-demo.test/p"
    assert every_contact(api) == []  # no ghost contact, opted out or not


def test_an_erased_address_comes_back_opted_out_until_it_opts_in_again(api_on) -> None:
    api = api_on
    api.call("POST", "/v1/events", json=HOT)
    url = local(links(api).unsubscribe_url("shop-a", contact_id(api), "email"))
    api.call("POST", url, shop=None)  # opted out, then erased
    assert api.call("DELETE", f"/v1/contacts/{contact_id(api)}").status_code == 204
    api.call("POST", "/v1/events", json={**HOT, "id": "m2", "contact": {"email": "LEA@example.test"}})  # an import
    again = contact(api)
    assert (again["consent"]["email"]["status"], again["consent"]["email"]["source"]) == \
        ("opted_out", "suppression list (opted_out)")
    [message] = [m for m in api.call("GET", "/v1/messages").json()["messages"] if m["contact_id"] == again["id"]]
    assert (message["status"], message["error"]) == ("skipped", "no consent: the contact opted out of email")
    answer = api.call("POST", f"/v1/contacts/{again['id']}/consent", json={"channel": "email", "status": "opted_in"})
    assert answer.json()["consent"]["email"]["status"] == "opted_in"


def test_the_suppression_list_keeps_no_address(api_on) -> None:
    api = api_on
    api.call("POST", "/v1/events", json=HOT)
    api.call("DELETE", f"/v1/contacts/{contact_id(api)}")

    async def rows():  # type: ignore[no-untyped-def]
        async with api.client.app.state.runtime.store.transaction() as tx:
            return (await tx.db.execute_query("SELECT * FROM relance_suppressions"))[1]
    [row] = api.client.portal.call(rows)
    assert "lea" not in str(dict(row)).lower() and len(dict(row)["digest"]) == 64
def test_a_click_is_an_open_once_even_without_the_pixel(api) -> None:
    api.call("POST", "/v1/events", json=HOT)
    html = links(api).track_html('<p><a href="https://maison-demo.test/panier">Panier</a></p>', "shop-a",
                                 contact_id(api), "1:chaud/steps/1:1", "email")
    click = local(re.search(r'href="([^"]+)"', html).group(1))
    pixel = local(re.search(r'src="([^"]+)"', html).group(1))
    def counts() -> tuple[int, int]:
        kinds = [e["type"] for e in api.call("GET", f"/v1/contacts/{contact_id(api)}/export").json()["events"]]
        return kinds.count("email.opened"), kinds.count("email.clicked")

    for _ in range(2):  # images blocked: no pixel, two clicks
        assert api.call("GET", click, shop=None, follow_redirects=False).status_code == 302
    assert counts() == (1, 1)
    assert api.call("GET", pixel, shop=None).status_code == 200  # images shown later: still one open
    assert counts() == (1, 1)
