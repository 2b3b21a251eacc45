"""Rules through the API: list, validate, reload — a broken file never replaces working rules."""
from __future__ import annotations

from pathlib import Path

from .conftest import SHOP


def rules_file(api) -> Path:  # type: ignore[no-untyped-def]
    return Path(api.client.app.state.runtime.paths["shop-a"])


def test_rules_are_listed_with_their_versions(api) -> None:
    body = api.call("GET", "/v1/rules").json()
    assert body["workspace"] == "shop-a"
    assert [(r["id"], len(r["version"])) for r in body["rules"]] == [("chaud", 12), ("panier", 12), ("brouillon", 12)]


def test_validate_a_body_without_loading_it(api) -> None:
    broken = SHOP.format(name="shop-a").replace("send email lien", "send emial lien", 1)
    response = api.call("POST", "/v1/rules/validate", content=broken.encode())
    assert (response.status_code, response.headers["content-type"]) == (422, "application/problem+json")
    body = response.json()
    assert body["ok"] is False
    [problem] = body["problems"]
    assert (problem["line"], problem["message"]) == (11, "unknown channel 'emial' (did you mean 'email'?); "
                                                        "declared channels: email, whatsapp")
    assert problem["text"].startswith("rules.yaml:11:")
    assert api.call("GET", "/v1/rules").json()["rules"][0]["id"] == "chaud"  # nothing loaded


def test_reload_takes_a_good_file(api) -> None:
    path = rules_file(api)
    path.write_text(path.read_text() + "  - id: nouvelle\n    when: page.viewed\n    steps: [tag vu]\n")
    assert api.call("POST", "/v1/rules/reload").json() == {"reloaded": True, "rules": 4}
    assert "nouvelle" in [r["id"] for r in api.call("GET", "/v1/rules").json()["rules"]]


def test_reload_with_a_broken_file_keeps_the_previous_rules_and_says_why(api) -> None:
    path = rules_file(api)
    path.write_text(path.read_text().replace("wait 1d", "wait 1 jour"))
    response = api.call("POST", "/v1/rules/reload")
    assert (response.status_code, response.headers["content-type"]) == (422, "application/problem+json")
    [problem] = response.json()["problems"]
    assert problem["text"].startswith(f"{path}:14:18: ") and "bad duration '1 jour' (did you mean '1d'?)" in problem["text"]
    accepted = api.call("POST", "/v1/events?wait=true", json={"id": "x", "type": "checkout.started",
                                                              "contact": {"email": "a@b.test"}})
    assert ("panier", "run.started") in [(e["rule"], e["kind"]) for e in accepted.json()["effects"]]
