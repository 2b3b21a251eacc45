"""The store's hot queries (a row by id, its update, an insert) as SQL written once per dialect.

Tortoise builds every query anew through pypika; on a worker resuming runs that was most
of its CPU (a run's step reads and writes a handful of rows). These statements are made
once per model and dialect; values go through the Tortoise fields' own conversions, so
rows read here equal the rows Tortoise reads.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import cache
from typing import Any, Generic, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

R = TypeVar("R")


def placeholder(dialect: str, n: int) -> str:
    """The n-th (1-based) bound parameter: `$n` on PostgreSQL, `?` on SQLite."""
    return f"${n}" if dialect == "postgres" else "?"


def placeholders(dialect: str, count: int, first: int = 1) -> str:
    return ", ".join(placeholder(dialect, first + i) for i in range(count))


class Rows(Generic[R]):
    """Read, update and insert one model's rows as `R` records (dataclasses named like its fields)."""

    def __init__(self, model: type[Model], record: type[R], dialect: str) -> None:
        meta = model._meta
        self.record = record
        self.names = [f.name for f in dataclasses.fields(record)]  # type: ignore[arg-type]
        self.fields = [meta.fields_map[name] for name in self.names]
        self.writable = [name for name in self.names if name != "id"]
        self.writable_fields = [meta.fields_map[name] for name in self.writable]
        table = f'"{meta.db_table}"'
        columns = ", ".join(f'"{meta.fields_db_projection[name]}"' for name in self.names)
        written = [f'"{meta.fields_db_projection[name]}"' for name in self.writable]
        p = len(written)
        self.columns = columns
        self.column_names = [meta.fields_db_projection[name] for name in self.names]
        self.select = f"SELECT {columns} FROM {table}"
        self.by_id = f'{self.select} WHERE "id" = {placeholder(dialect, 1)}'
        self.update = (f"UPDATE {table} SET " + ", ".join(f"{c} = {placeholder(dialect, i + 1)}"
                                                          for i, c in enumerate(written))
                       + f' WHERE "id" = {placeholder(dialect, p + 1)}')
        self.insert_into = f"INSERT INTO {table} ({', '.join(written)})"
        self.insert = f'{self.insert_into} VALUES ({placeholders(dialect, p)}) ON CONFLICT DO NOTHING RETURNING "id"'
        self.dialect = dialect

    def values(self, record: R) -> list[Any]:
        """The record's writable values, as the database takes them (JSON as text, …)."""
        return [field.to_db_value(getattr(record, name), None)
                for name, field in zip(self.writable, self.writable_fields)]

    def read(self, row: Any) -> R:
        """A record from a row of `select` (columns in field order; a tuple may hold more after them)."""
        return self.record(**{name: None if value is None else field.to_python_value(value)  # type: ignore[call-arg]
                              for name, field, value in zip(self.names, self.fields, _values(row))})

    def qualified(self, alias: str) -> str:
        """The columns of `select`, each prefixed with a table alias (for joins)."""
        return ", ".join(f'{alias}."{column}"' for column in self.column_names)

    def where_in(self, column: str, count: int) -> str:
        """`select` for rows whose column is among `count` bound values, by id."""
        return f'{self.select} WHERE "{column}" IN ({placeholders(self.dialect, count)}) ORDER BY "id"'

    async def get(self, db: BaseDBAsyncClient, row_id: int) -> R | None:
        _, rows = await db.execute_query(self.by_id, [row_id])
        return self.read(rows[0]) if rows else None

    async def many(self, db: BaseDBAsyncClient, column: str, values: Sequence[Any]) -> list[R]:
        if not values:
            return []
        _, rows = await db.execute_query(self.where_in(column, len(values)), list(values))
        return [self.read(row) for row in rows]

    async def save(self, db: BaseDBAsyncClient, record: R) -> None:
        await db.execute_query(self.update, [*self.values(record), record.id])  # type: ignore[attr-defined]

    async def save_all(self, db: BaseDBAsyncClient, records: Sequence[R]) -> None:
        """Update many rows with one prepared statement (sent together: one round trip on PostgreSQL)."""
        if records:
            await db.execute_many(self.update, [[*self.values(r), r.id] for r in records])  # type: ignore[attr-defined]

    async def add(self, db: BaseDBAsyncClient, record: R) -> int | None:
        """Insert; the new id, or None when a unique key already holds such a row (nothing written)."""
        rows = await db.execute_query_dict(self.insert, self.values(record))
        return int(rows[0]["id"]) if rows else None


    async def add_all(self, db: BaseDBAsyncClient, records: Sequence[R], key: str) -> None:
        """Insert many in one statement; each record gets its id, except those whose unique `key`
        field is taken already (id left None). Ids are matched by `key`: an insert's RETURNING
        rows come in no promised order."""
        if not records:
            return
        column = f'"{self.column_names[self.names.index(key)]}"'
        width = len(self.writable)
        rows_sql = ", ".join(f"({placeholders(self.dialect, width, 1 + n * width)})" for n in range(len(records)))
        found = await db.execute_query_dict(  # execute_query runs an INSERT without reading what it returns
            f'{self.insert_into} VALUES {rows_sql} ON CONFLICT DO NOTHING RETURNING "id", {column}',
            [value for record in records for value in self.values(record)])
        ids = {row[1]: int(row[0]) for row in map(_values, found)}
        for record in records:
            setattr(record, "id", ids.get(getattr(record, key)))


def _values(row: Any) -> Sequence[Any]:
    return tuple(row) if not isinstance(row, dict) else tuple(row.values())


@cache
def rows(model: type[Model], record: type[R], dialect: str) -> Rows[R]:
    """The statements for this model and record on this dialect, made once."""
    return Rows(model, record, dialect)
