"""The store's list reads, paged in the database: a page of `limit` rows by id, never the whole table.

A page is the newest rows (oldest first in the answer), the rows before an id (`before`, paging
back), or the rows after one (`after`, paging forward, as a client following new messages does).
Counts by status come from GROUP BY queries.
"""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from tortoise.functions import Count, Sum
from tortoise.models import Model
from tortoise.queryset import QuerySet

from relance.engine.records import MessageRecord, RunRecord, TaskRecord

from . import tortoise_models as m

R = TypeVar("R")


def _record(cls: type[R], row: Model) -> R:
    return cls(**{f.name: getattr(row, f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


async def _page(query: QuerySet[Any], record: type[R], limit: int, before: int | None, after: int | None) -> list[R]:
    if after is not None:
        rows = await query.filter(id__gt=after).order_by("id").limit(limit)
    else:
        if before is not None:
            query = query.filter(id__lt=before)
        rows = list(reversed(await query.order_by("-id").limit(limit)))
    return [_record(record, row) for row in rows]


class PagedReads:
    """List reads of the Tortoise store (mixed into TortoiseStore)."""

    async def message_page(self, workspace: str, status: str | None = None, limit: int = 100,
                           before: int | None = None, after: int | None = None) -> list[MessageRecord]:
        query = m.Message.filter(workspace=workspace)
        if status is not None:
            query = query.filter(status=status)
        return await _page(query, MessageRecord, limit, before, after)

    async def run_page(self, workspace: str, rule_id: str | None = None, contact_id: int | None = None,
                       limit: int = 100, before: int | None = None, after: int | None = None) -> list[RunRecord]:
        query = m.Run.filter(workspace=workspace)
        if rule_id is not None:
            query = query.filter(rule_id=rule_id)
        if contact_id is not None:
            query = query.filter(contact_id=contact_id)
        return await _page(query, RunRecord, limit, before, after)

    async def task_page(self, workspace: str, limit: int = 100, before: int | None = None,
                        after: int | None = None) -> list[TaskRecord]:
        return await _page(m.Task.filter(workspace=workspace), TaskRecord, limit, before, after)

    async def rule_counts(self, workspace: str) -> dict[str, dict[str, Any]]:
        """Per rule: runs by status, conversions and their revenue, messages by status."""
        rules: dict[str, dict[str, Any]] = {}

        def entry(rule_id: str) -> dict[str, Any]:
            return rules.setdefault(rule_id, {"runs": {}, "conversions": 0, "revenue": 0.0, "messages": {}})

        runs = await m.Run.filter(workspace=workspace).annotate(count=Count("id"), total=Sum("revenue")) \
            .group_by("rule_id", "status").values("rule_id", "status", "count", "total")
        for row in runs:
            found = entry(row["rule_id"])
            found["runs"][row["status"]] = int(row["count"])
            if row["status"] == "goal":
                found["conversions"] = int(row["count"])
                found["revenue"] = round(float(row["total"] or 0), 2)
        messages = await m.Message.filter(workspace=workspace).annotate(count=Count("id")) \
            .group_by("rule_id", "status").values("rule_id", "status", "count")
        for row in messages:
            entry(row["rule_id"])["messages"][row["status"]] = int(row["count"])
        return rules

