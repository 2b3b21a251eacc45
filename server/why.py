"""Why a contact is where it is: `GET /v1/contacts/{id}/why` and `relance why CONTACT`, which reads it."""
from __future__ import annotations

import json
import os
import sys

import click
import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

from relance.engine.explain import explain

from .problems import HttpProblem
from .requests import key_engine
from .resources import as_json, contact_in, identifier

DEFAULT_SERVER = "http://127.0.0.1:8000"


async def why(request: Request) -> JSONResponse:
    """A contact's runs with their traces, the recent decisions of its events (`?rule=` for one rule),
    and `story`: the same in plain words."""
    engine = await key_engine(request)
    contact_id = identifier(request, "contact_id")
    rule = request.query_params.get("rule")
    if rule is not None and rule not in engine.workspace.rules:
        known = ", ".join(sorted(engine.workspace.rules))
        raise HttpProblem(404, f"no rule '{rule}' in this workspace; its rules: {known}", pointer="/query/rule")
    async with engine.store.transaction() as tx:
        contact = await contact_in(engine, tx, contact_id)
        runs = await tx.contact_runs(contact_id, rule)
        decisions = await tx.contact_decisions(contact_id, rule)
    zone = contact.timezone or engine.workspace.timezone
    return JSONResponse({"contact": as_json(contact), "runs": [as_json(r) for r in runs],
                         "decisions": [as_json(d) for d in decisions],
                         "story": explain(contact.label(), runs, decisions, zone)})


def _contact_query(contact: str) -> dict[str, str] | None:
    """How `relance why` finds a contact it was not given the id of."""
    if "@" in contact:
        return {"email": contact}
    if contact.startswith("+"):
        return {"phone": contact}
    if ":" in contact:
        return {"external_id": contact}
    return None


@click.command(name="why")
@click.argument("contact")
@click.option("--rule", "rule", help="Only this rule's runs and decisions.")
@click.option("--server", default=lambda: os.environ.get("RELANCE_SERVER", DEFAULT_SERVER), show_default=DEFAULT_SERVER,
              help="The server's URL (RELANCE_SERVER).")
@click.option("--key", default=lambda: os.environ.get("RELANCE_KEY"), help="The workspace's API key (RELANCE_KEY).")
@click.option("--json", "as_json_output", is_flag=True, help="The server's answer as JSON.")
def why_command(contact: str, rule: str | None, server: str, key: str | None, as_json_output: bool) -> None:
    """Why CONTACT (an id, an email, a +phone or SOURCE:ID) is where it is: its runs, their traces, and
    the rules its recent events did not start, and why."""
    if not key:
        raise click.UsageError("give the workspace's API key with --key or RELANCE_KEY")
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=server, headers=headers, timeout=30) as client:
            contact_id = contact
            query = _contact_query(contact)
            if query is not None:
                found = _answer(client.get("/v1/contacts", params=query))["contacts"]
                if not found:
                    click.echo(f"no contact {contact} in this workspace", err=True)
                    sys.exit(1)
                contact_id = str(found[0]["id"])
            answer = _answer(client.get(f"/v1/contacts/{contact_id}/why", params={"rule": rule} if rule else None))
    except httpx.HTTPError as error:
        click.echo(f"cannot reach {server}: {error}", err=True)
        sys.exit(2)
    click.echo(json.dumps(answer, ensure_ascii=False, indent=2) if as_json_output else "\n".join(answer["story"]))


def _answer(response: httpx.Response) -> dict:  # type: ignore[type-arg]
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        click.echo(f"{response.status_code}: {detail}", err=True)
        sys.exit(1)
    return response.json()
