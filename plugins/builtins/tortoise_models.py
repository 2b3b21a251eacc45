"""Tables of the built-in store (Tortoise ORM), the same on SQLite and PostgreSQL."""
from __future__ import annotations

from tortoise import fields
from tortoise.indexes import PartialIndex
from tortoise.models import Model


class Contact(Model):
    id = fields.BigIntField(primary_key=True)
    workspace = fields.CharField(max_length=100, db_index=True)
    email = fields.CharField(max_length=320, null=True)
    phone = fields.CharField(max_length=50, null=True)
    external_ids = fields.JSONField(default=dict)
    attributes = fields.JSONField(default=dict)
    tags = fields.JSONField(default=list)
    score = fields.IntField(default=0)
    segments = fields.JSONField(default=list)
    consent = fields.JSONField(default=dict)
    timezone = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField()
    merged_into = fields.BigIntField(null=True)

    class Meta:
        table = "relance_contacts"


class Identity(Model):
    """One way to find a contact: (kind, value) such as ("email", "a@b.test") or ("ext:shopify", "7301")."""

    id = fields.BigIntField(primary_key=True)
    workspace = fields.CharField(max_length=100)
    kind = fields.CharField(max_length=100)
    value = fields.CharField(max_length=320)
    contact_id = fields.BigIntField(db_index=True)

    class Meta:
        table = "relance_identities"
        unique_together = (("workspace", "kind", "value"),)


class Event(Model):
    id = fields.BigIntField(primary_key=True)
    workspace = fields.CharField(max_length=100)
    event_id = fields.CharField(max_length=200)
    type = fields.CharField(max_length=200)
    at = fields.DatetimeField()
    received_at = fields.DatetimeField()
    payload = fields.JSONField()
    contact_id = fields.BigIntField(null=True)
    processed = fields.BooleanField(default=True)  # False while in the inbox, waiting to be processed

    class Meta:
        table = "relance_events"
        unique_together = (("workspace", "event_id"),)
        indexes = (("contact_id", "type", "at"), ("workspace", "processed", "id"))


class Run(Model):
    id = fields.BigIntField(primary_key=True)
    workspace = fields.CharField(max_length=100)
    contact_id = fields.BigIntField()
    rule_id = fields.CharField(max_length=200)
    rule_version = fields.CharField(max_length=64)
    status = fields.CharField(max_length=20)
    node_id = fields.CharField(max_length=500, null=True)
    version = fields.IntField(default=1)
    wake_at = fields.DatetimeField(null=True, db_index=True)
    waiting_for = fields.CharField(max_length=200, null=True)
    waited = fields.BooleanField(null=True)
    started_at = fields.DatetimeField()
    step_at = fields.DatetimeField()
    trigger_event = fields.JSONField()
    variants = fields.JSONField(default=dict)
    visits = fields.JSONField(default=dict)
    trace = fields.JSONField(default=list)
    occurrence = fields.CharField(max_length=300, null=True)
    ended_at = fields.DatetimeField(null=True)
    end_reason = fields.CharField(max_length=200, null=True)
    revenue = fields.FloatField(null=True)

    class Meta:
        table = "relance_runs"
        indexes = (("contact_id", "rule_id"), ("workspace", "rule_id"), ("contact_id", "waiting_for"))
        unique_together = (("workspace", "occurrence"),)


class Message(Model):
    id = fields.BigIntField(primary_key=True)
    workspace = fields.CharField(max_length=100)
    key = fields.CharField(max_length=600, unique=True)
    contact_id = fields.BigIntField(db_index=True)
    run_id = fields.BigIntField(null=True)
    rule_id = fields.CharField(max_length=200)
    node_id = fields.CharField(max_length=500)
    channel = fields.CharField(max_length=100)
    template = fields.CharField(max_length=200)
    subject = fields.TextField(null=True)
    body = fields.TextField()
    status = fields.CharField(max_length=20, db_index=True)
    transactional = fields.BooleanField(default=False)
    offer = fields.CharField(max_length=200, null=True)
    params = fields.JSONField(default=dict)
    attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    error = fields.TextField(null=True)
    html = fields.TextField(null=True)
    send_at = fields.DatetimeField(null=True)
    provider_id = fields.CharField(max_length=200, null=True)
    claimed_at = fields.DatetimeField(null=True)  # when a dispatcher took it (pending -> sending)
    priority = fields.IntField(default=0)  # its rule's priority: who goes first when caps allow only some

    class Meta:
        table = "relance_messages"
        indexes = (("workspace", "status", "send_at"),  # the dispatchers' claim reads pending ones oldest first:
                   PartialIndex(fields=("workspace", "id"), name="idx_relance_messages_pending",
                                condition={"status": "pending"}))


class Task(Model):
    id = fields.BigIntField(primary_key=True)
    workspace = fields.CharField(max_length=100)
    contact_id = fields.BigIntField(db_index=True)
    run_id = fields.BigIntField(null=True)
    rule_id = fields.CharField(max_length=200, null=True)
    title = fields.CharField(max_length=500)
    due_at = fields.DatetimeField(null=True)
    status = fields.CharField(max_length=20)
    created_at = fields.DatetimeField()

    class Meta:
        table = "relance_tasks"


class Order(Model):
    """An order counted in its contact's traits, once per (workspace, order_id)."""

    id = fields.BigIntField(primary_key=True)
    workspace = fields.CharField(max_length=100)
    order_id = fields.CharField(max_length=200)
    contact_id = fields.BigIntField(db_index=True)
    at = fields.DatetimeField()
    revenue = fields.FloatField()
    refunded = fields.FloatField(default=0)
    status = fields.CharField(max_length=20)

    class Meta:
        table = "relance_orders"
        unique_together = (("workspace", "order_id"),)


class Suppression(Model):
    """An address that must not be written to again (erased, opted out), as its keyed hash only."""

    id = fields.BigIntField(primary_key=True)
    workspace = fields.CharField(max_length=100)
    digest = fields.CharField(max_length=64)
    reason = fields.CharField(max_length=20)
    at = fields.DatetimeField()

    class Meta:
        table = "relance_suppressions"
        unique_together = (("workspace", "digest"),)


class ApiKey(Model):
    """An API key, kept as its SHA-256: a key reaches its own workspace only."""

    id = fields.BigIntField(primary_key=True)
    workspace = fields.CharField(max_length=100, db_index=True)
    digest = fields.CharField(max_length=64, unique=True)
    prefix = fields.CharField(max_length=12)
    created_at = fields.DatetimeField()
    name = fields.CharField(max_length=100, null=True)  # what the key is for, as `relance keys create --name` says
    last_used_at = fields.DatetimeField(null=True)  # noted at most once a minute

    class Meta:
        table = "relance_api_keys"


class WorkspaceSnapshot(Model):
    """The files a workspace was compiled from, kept so that any process can compile a rule version again."""

    id = fields.BigIntField(primary_key=True)
    workspace = fields.CharField(max_length=100)
    digest = fields.CharField(max_length=64)
    sources = fields.JSONField()  # file name (relative to the workspace) -> text
    created_at = fields.DatetimeField()

    class Meta:
        table = "relance_workspace_snapshots"
        unique_together = (("workspace", "digest"),)


class RuleVersion(Model):
    """A rule version any run may be pinned to; `id` orders versions by when they were first seen."""

    id = fields.BigIntField(primary_key=True)
    workspace = fields.CharField(max_length=100)
    rule_id = fields.CharField(max_length=200)
    version = fields.CharField(max_length=64)
    snapshot = fields.CharField(max_length=64)  # the digest of a snapshot that holds it
    created_at = fields.DatetimeField()

    class Meta:
        table = "relance_rule_versions"
        unique_together = (("workspace", "rule_id", "version"),)


class Decision(Model):
    """Why a rule did or did not start for an event: a recent log that `relance why` reads."""

    id = fields.BigIntField(primary_key=True)
    workspace = fields.CharField(max_length=100)
    contact_id = fields.BigIntField()
    rule_id = fields.CharField(max_length=200)
    event_id = fields.CharField(max_length=200)
    event_type = fields.CharField(max_length=200)
    at = fields.DatetimeField()
    started = fields.BooleanField()
    reason = fields.TextField()

    class Meta:
        table = "relance_decisions"
        indexes = (("contact_id", "id"), ("workspace", "at"))


class ServerSetting(Model):
    """A value the server keeps for itself, such as the secret that signs links when none is configured."""

    key = fields.CharField(max_length=100, primary_key=True)
    value = fields.TextField()

    class Meta:
        table = "relance_server_settings"
