"""The store's hot statements, built with pypika (Tortoise's query builder) once per dialect.

Tortoise builds every queryset's SQL anew; on a worker resuming runs that was most of its
CPU (a run's step reads and writes a handful of rows). Here each statement is built once
per model, dialect and shape (how many values an IN holds) with the dialect's pypika query
class, and run through Tortoise's connection with bound parameters: `Parameter(idx=n)`
writes `$n` on PostgreSQL and `?` on SQLite, so every statement numbers its parameters in
the order they are written and takes the same values on both. Values go through the
Tortoise fields' own conversions, so rows read here equal the rows Tortoise reads.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from copy import copy
from functools import cache
from typing import Any, Generic, TypeVar

from pypika_tortoise import Field, Parameter, Table
from pypika_tortoise.dialects import PostgreSQLQuery, SQLLiteQuery
from pypika_tortoise.queries import QueryBuilder, _SetOperation
from pypika_tortoise.terms import Term
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

R = TypeVar("R")
QUERIES: dict[str, type[PostgreSQLQuery] | type[SQLLiteQuery]] = {"postgres": PostgreSQLQuery, "sqlite": SQLLiteQuery}


def query(dialect: str) -> type[PostgreSQLQuery] | type[SQLLiteQuery]:
    """The pypika query class of a Tortoise dialect (`db.capabilities.dialect`)."""
    return QUERIES[dialect]


def params(first: int, count: int) -> list[Parameter]:
    """`count` bound parameters numbered from `first` (1-based)."""
    return [Parameter(idx=first + n) for n in range(count)]


def sql(statement: Any) -> str:
    """A built statement's text in its own dialect (a set operation needs its query's context)."""
    if isinstance(statement, _SetOperation):
        return str(statement.get_sql(statement.base_query.QUERY_CLS.SQL_CONTEXT))
    return str(statement.get_sql())


def union(first: QueryBuilder, *others: QueryBuilder) -> _SetOperation:
    """`first UNION others`, each query unparenthesized (SQLite takes none around them).

    pypika-tortoise 0.6 reads a set operation's dialect from `base_query.dialect`, which its
    builders lack (the parameters of PostgreSQL came out as `?`): given here."""
    first = copy(first)
    first.dialect = first.QUERY_CLS.SQL_CONTEXT.dialect  # type: ignore[attr-defined]
    first.wrap_set_operation_queries = False
    found = first
    for other in others:
        found = found + other
    return found  # type: ignore[return-value]


def table(model: type[Model]) -> Table:
    return Table(model._meta.db_table)


def field(name: str, source: Any = None) -> Field:
    """A column by name, of a table or an aliased subquery (or unqualified)."""
    return Field(name, table=source)


class Rows(Generic[R]):
    """Read, update and insert one model's rows as `R` records (dataclasses named like its fields)."""

    def __init__(self, model: type[Model], record: type[R], dialect: str) -> None:
        meta = model._meta
        self.record = record
        self.dialect = dialect
        self.query = query(dialect)
        self.table = table(model)
        self.names = [f.name for f in dataclasses.fields(record)]  # type: ignore[arg-type]
        self.fields = [meta.fields_map[name] for name in self.names]
        self.writable = [name for name in self.names if name != "id"]
        self.writable_fields = [meta.fields_map[name] for name in self.writable]
        self.column_names = [meta.fields_db_projection[name] for name in self.names]
        self.columns: list[Term] = [self.table.field(column) for column in self.column_names]
        self.written = [self.table.field(meta.fields_db_projection[name]) for name in self.writable]
        width = len(self.written)
        self.by_id = sql(self.select().where(self.table.id == Parameter(idx=1)))
        update = self.query.update(self.table)
        for column, parameter in zip(self.written, params(1, width)):
            update = update.set(column, parameter)
        self.update = sql(update.where(self.table.id == Parameter(idx=width + 1)))
        self.insert = sql(self.inserting(1).returning(self.table.id))
        self._statements: dict[tuple[str, str, int], str] = {}

    def select(self) -> QueryBuilder:
        """A new SELECT of the record's columns, to add conditions to."""
        return self.query.from_(self.table).select(*self.columns)

    def inserting(self, count: int) -> QueryBuilder:
        """INSERT of `count` rows of writable values, keeping what a unique key already holds."""
        insert = self.query.into(self.table).columns(*self.written)
        width = len(self.written)
        for n in range(count):
            insert = insert.insert(*params(1 + n * width, width))
        return insert.on_conflict().do_nothing()

    def values(self, record: R) -> list[Any]:
        """The record's writable values, as the database takes them (JSON as text, …)."""
        return [field.to_db_value(getattr(record, name), None)
                for name, field in zip(self.writable, self.writable_fields)]

    def read(self, row: Any) -> R:
        """A record from a row of `select` (columns in field order; a tuple may hold more after them)."""
        return self.record(**{name: None if value is None else field.to_python_value(value)  # type: ignore[call-arg]
                              for name, field, value in zip(self.names, self.fields, _values(row))})

    def where_in(self, column: str, count: int) -> str:
        """`select` for rows whose column is among `count` bound values, by id."""
        key = ("in", column, count)
        if key not in self._statements:
            self._statements[key] = sql(self.select().where(self.table.field(column).isin(params(1, count)))
                                        .orderby(self.table.id))
        return self._statements[key]

    def insert_returning(self, key: str, count: int) -> str:
        """INSERT of `count` rows returning each new row's id and its `key` column."""
        statement = ("insert", key, count)
        if statement not in self._statements:
            column = self.table.field(self.column_names[self.names.index(key)])
            self._statements[statement] = sql(self.inserting(count).returning(self.table.id, column))
        return self._statements[statement]

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
        return int(_values(rows[0])[0]) if rows else None

    async def add_all(self, db: BaseDBAsyncClient, records: Sequence[R], key: str) -> None:
        """Insert many in one statement; each record gets its id, except those whose unique `key`
        field is taken already (id left None). Ids are matched by `key`: an insert's RETURNING
        rows come in no promised order."""
        if not records:
            return
        found = await db.execute_query_dict(  # execute_query runs an INSERT without reading what it returns
            self.insert_returning(key, len(records)), [value for record in records for value in self.values(record)])
        ids = {row[1]: int(row[0]) for row in map(_values, found)}
        for record in records:
            setattr(record, "id", ids.get(getattr(record, key)))


def _values(row: Any) -> Sequence[Any]:
    return tuple(row) if not isinstance(row, dict) else tuple(row.values())


@cache
def rows(model: type[Model], record: type[R], dialect: str) -> Rows[R]:
    """The statements for this model and record on this dialect, made once."""
    return Rows(model, record, dialect)
