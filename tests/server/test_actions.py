"""Drafts in assist mode, tasks, cancelling runs, GDPR export and erasure."""
from __future__ import annotations

import pytest

FORM = {"id": "f1", "type": "form.submitted", "contact": {"email": "lea@example.test", "first_name": "Léa"}}
CART = {"id": "c1", "type": "checkout.started", "contact": {"email": "lea@example.test"}}


def draft(api) -> dict:  # type: ignore[no-untyped-def]
    api.call("POST", "/v1/events", json=FORM)
    [message] = api.call("GET", "/v1/messages?status=draft").json()["messages"]
    return message


def test_a_draft_edited_then_approved_goes_out_as_edited(api) -> None:
    message = draft(api)
    edited = api.call("PATCH", f"/v1/messages/{message['id']}", json={"body": "Bonjour Léa, voici le lien."})
    assert edited.status_code == 200
    approved = api.call("POST", f"/v1/messages/{message['id']}/approve").json()
    assert (approved["status"], approved["body"]) == ("sent", "Bonjour Léa, voici le lien.")
    again = api.call("POST", f"/v1/messages/{message['id']}/approve")
    assert again.status_code == 409 and "not a draft" in again.json()["detail"]


def test_a_rejected_draft_never_goes_out(api) -> None:
    message = draft(api)
    assert api.call("POST", f"/v1/messages/{message['id']}/reject").json()["status"] == "rejected"
    assert api.call("GET", "/v1/messages?status=sent").json()["messages"] == []


def test_editing_with_unknown_fields_names_the_problem(api) -> None:
    message = draft(api)
    response = api.call("PATCH", f"/v1/messages/{message['id']}", json={"body": ""})
    assert (response.status_code, response.json()["pointer"]) == (422, "/body")


def test_drafts_of_another_workspace_are_404(api) -> None:
    message = draft(api)
    assert api.call("POST", f"/v1/messages/{message['id']}/approve", shop="shop-b").status_code == 404


def test_complete_a_task(api) -> None:
    api.call("POST", "/v1/events", json=FORM)
    [task] = api.call("GET", "/v1/tasks").json()["tasks"]
    assert (task["title"], task["status"]) == ("Rappeler", "open")
    assert api.call("POST", f"/v1/tasks/{task['id']}/complete").json()["status"] == "done"


def test_cancel_a_waiting_run(api) -> None:
    api.call("POST", "/v1/events", json=CART)
    [run] = api.call("GET", "/v1/runs?rule=panier").json()["runs"]
    cancelled = api.call("POST", f"/v1/runs/{run['id']}/cancel").json()
    assert (cancelled["status"], cancelled["wake_at"]) == ("cancelled", None)
    assert api.call("POST", f"/v1/runs/{run['id']}/cancel").status_code == 409


def test_gdpr_export_then_erase(api) -> None:
    api.call("POST", "/v1/events", json=CART)
    api.call("POST", "/v1/events", json=FORM)
    [contact] = api.call("GET", "/v1/contacts?email=lea@example.test").json()["contacts"]
    export = api.call("GET", f"/v1/contacts/{contact['id']}/export").json()
    assert export["contact"]["email"] == "lea@example.test"
    assert ([e["event_id"] for e in export["events"]], len(export["runs"]), len(export["messages"])) == \
        (["c1", "f1"], 2, 1)
    assert api.call("DELETE", f"/v1/contacts/{contact['id']}", shop="shop-b").status_code == 404
    assert api.call("DELETE", f"/v1/contacts/{contact['id']}").status_code == 204
    assert api.call("GET", f"/v1/contacts/{contact['id']}").status_code == 404
    assert api.call("GET", "/v1/contacts?email=lea@example.test").json()["contacts"] == []
    assert api.call("GET", "/v1/messages").json()["messages"] == []
    assert api.call("GET", "/v1/runs").json()["runs"] == []


@pytest.mark.parametrize("path, body, pointer", [
    ("/v1/contacts/{contact}/consent", b'{"channel": "email", "status": "opted_in", "source": "a\\u0000b"}', "/source"),
    ("/v1/contacts/{contact}/consent", b'{"channel": "email", "status": "opted_in", "source": "\\ud800"}', "/source"),
    ("/v1/messages/{message}", b'{"body": "x\\u0000"}', "/body"),
])
def test_values_the_store_cannot_keep_are_422_in_actions_too(api, path: str, body: bytes, pointer: str) -> None:
    api.call("POST", "/v1/events", json={"id": "f1", "type": "form.submitted", "contact": {"email": "a@b.test"}})
    [message] = api.call("GET", "/v1/messages").json()["messages"]
    url = path.format(contact=message["contact_id"], message=message["id"])
    response = api.call("PATCH" if "messages" in path else "POST", url, content=body,
                        headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json().get("pointer")) == (422, pointer), response.text
