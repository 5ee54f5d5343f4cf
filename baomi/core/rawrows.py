"""Model instances from hand-written SQL, for the few reads on every request's hot path.

Token authentication and the door-checked document read run on every API request. For
them the ORM's query compilation (and `Model.objects.raw`, which works out its column
mapping and converters anew for every query) cost more than the queries themselves. Here
the SQL is built once per database vendor from the models' meta, and rows become model
instances through the same converters the ORM applies (`from_db`, so instances are
ordinary: saving, refreshing and lazy relations work as usual).

Queries still run on Django's cursor wrapper, so they are counted and logged like any
other (`CaptureQueriesContext`, debug toolbars, query wrappers).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

M = TypeVar("M", bound=Model)

Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


class Rows(Generic[M]):
    """Reads `model`'s concrete fields from a slice of a raw result row.

    `columns(alias, db)` is the select list (every concrete field, in `_meta` order) and
    `load(row, start)` turns `row[start:start + width]` back into an instance.
    """

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self.fields = tuple(model._meta.concrete_fields)
        self.attnames = [f.attname for f in self.fields]
        self.width = len(self.fields)
        self.pk_index = self.attnames.index(model._meta.pk.attname)
        self.table = model._meta.db_table
        names = [f.column for f in self.fields]
        if any(name is None for name in names):  # concrete fields always have a column
            raise TypeError(f"{model.__name__}: a concrete field without a column")
        self.column_names = tuple(str(name) for name in names)
        self.pk_column = self.column_names[self.pk_index]
        self._plans: weakref.WeakKeyDictionary[
            BaseDatabaseWrapper, tuple[tuple[int, Any, tuple[Converter, ...]], ...]
        ] = weakref.WeakKeyDictionary()

    def where_sql(self, column: str) -> Callable[[BaseDatabaseWrapper], str]:
        """A builder (for `cached_sql`) of SELECT every field (alias ``o``) WHERE
        `column` equals the one parameter."""

        def build(db: BaseDatabaseWrapper) -> str:
            q = db.ops.quote_name
            return (
                f"SELECT {self.columns('o', db)} FROM {q(self.table)} o "  # noqa: S608  (names from the model's meta)
                f"WHERE o.{q(column)} = %s"
            )

        return build

    def columns(self, alias: str, db: BaseDatabaseWrapper) -> str:
        """The select list for this model's table under `alias`, quoted for `db`."""
        q = db.ops.quote_name
        return ", ".join(f"{alias}.{q(name)}" for name in self.column_names)

    def _plan(self, db: BaseDatabaseWrapper) -> tuple[tuple[int, Any, tuple[Converter, ...]], ...]:
        """(position, column expression, converters) for each field that has converters;
        worked out once per connection object, exactly as the SQL compiler does."""
        plan = self._plans.get(db)
        if plan is None:
            steps = []
            for i, f in enumerate(self.fields):
                col = f.get_col(self.table)
                converters = tuple(db.ops.get_db_converters(col)) + tuple(
                    col.get_db_converters(db)
                )
                if converters:
                    steps.append((i, col, converters))
            plan = self._plans[db] = tuple(steps)
        return plan

    def load(self, row: Sequence[Any], start: int = 0, using: str = "default") -> M:
        """The instance in `row[start:start + width]`."""
        db = connections[using]
        values = list(row[start : start + self.width])
        for i, col, converters in self._plan(db):
            value = values[i]
            for convert in converters:
                value = convert(value, col, db)
            values[i] = value
        return self.model.from_db(using, self.attnames, values)

    def load_optional(self, row: Sequence[Any], start: int = 0, using: str = "default") -> M | None:
        """As `load`, or None for the all-NULL columns of an unmatched LEFT JOIN."""
        if row[start + self.pk_index] is None:  # a primary key is never NULL
            return None
        return self.load(row, start, using)


_sql_cache: dict[tuple[str, str], str] = {}


def cached_sql(name: str, build: Callable[[BaseDatabaseWrapper], str], using: str = "default"
               ) -> str:
    """`build(connection)` once per (name, vendor): quoting and column lists are fixed."""
    db = connections[using]
    key = (name, db.vendor)
    sql = _sql_cache.get(key)
    if sql is None:
        sql = _sql_cache[key] = build(db)
    return sql


_INT64 = range(-(2**63), 2**63)


def fits_int64(value: int) -> bool:
    """Whether `value` can be a database integer key. The ORM answers "no rows" for one
    that cannot; a raw query would raise (OverflowError on SQLite, DataError on
    PostgreSQL), so callers check first and take their not-found path."""
    return value in _INT64


def fetch_by_id(sql: str, key: int, using: str = "default") -> list[tuple[Any, ...]]:
    """`fetch` with the one integer parameter of a ``WHERE … = %s`` on a key; a key no
    database integer can hold matches nothing (no query is sent)."""
    return fetch(sql, [key], using) if fits_int64(key) else []


def fetch(sql: str, params: Sequence[Any], using: str = "default") -> list[tuple[Any, ...]]:
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
