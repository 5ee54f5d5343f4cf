"""Model instances from hand-written SQL, for the few reads on every request's hot path.

Token authentication and the door-checked document read run on every API request. For
them the ORM's query compilation (and `Model.objects.raw`, which works out its column
mapping and converters anew for every query) cost more than the queries themselves. Here
the SQL is built once per database vendor from the models' meta, and rows become model
instances through the same converters the ORM applies (`from_db`, so instances are
ordinary: saving, refreshing and lazy relations work as usual).

Queries still run on Django's cursor wrapper, so they are counted and logged like any
other (`CaptureQueriesContext`, debug toolbars, query wrappers). On SQLite the query text
is converted to sqlite3's parameter style once, not on every execution (`_execute`).

On SQLite a model's columns come back packed into one JSON array (`Rows.columns`) and
are unpacked by `fetch`. Python's sqlite3 module releases the GIL around every column it
reads (`sqlite3_column_type`); in a server process whose other threads wait for the GIL,
each release hands it over and back, two thread wake-ups, for a call that takes
nanoseconds. A 30-column row cost 30 such hand-overs; packed it costs one. The values are
those the column-by-column read gets: integers and text exactly (JSON), blobs as hex, the
declared-type converters sqlite3 applies (``bool``, ``datetime``…) applied the same way,
then the same Django converters. Models with float or decimal fields (or relations to
them), whose text form could round, or with more than 100 fields, are read column by
column, as is every model where the connection lacks column-name converters or JSON.

Only data written around the ORM can tell the two reads apart: a BLOB stored in a text
column makes the packed read fail (json_array() refuses it) where the other returned
bytes in a text field, and a value whose JSON form exceeds SQLite's length limit (1e9
bytes: control characters take six) fails where the other still read it. Text that is
not UTF-8 in a boolean column fails (UnicodeDecodeError) where the other read False, and
a REAL in an integer column keeps 15 significant digits.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorDebugWrapper
from django.db.models import Model

M = TypeVar("M", bound=Model)

Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]

# Field types whose SQLite values survive a trip through json_array() exactly: integers,
# text (dates and times are stored as text), blobs (as hex). Floats and decimals are
# left out: SQLite writes a REAL into JSON with 15 significant digits.
_PACKABLE_TYPES = frozenset(
    {
        "AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField",
        "SmallIntegerField", "PositiveIntegerField", "PositiveBigIntegerField",
        "PositiveSmallIntegerField", "BooleanField", "NullBooleanField", "ForeignKey",
        "OneToOneField", "CharField", "TextField", "EmailField", "SlugField", "URLField",
        "GenericIPAddressField", "IPAddressField", "FilePathField", "FileField",
        "ImageField", "UUIDField", "JSONField", "DateTimeField", "DateField",
        "TimeField", "DurationField", "BinaryField",
    }
)
# json_array() takes at most SQLITE_MAX_FUNCTION_ARG (127 by default) arguments.
_PACK_MAX = 100
_layouts = itertools.count()


class _Packed(list[Any]):
    """One model's columns, unpacked from its JSON array by the SQLite converter."""

    __slots__ = ()


def _sqlite_bytes(value: Any) -> bytes:
    # What sqlite3 hands a declared-type converter: the value's text, as bytes.
    return value.encode() if isinstance(value, str) else str(value).encode()


def _unpacker(
    blobs: tuple[int, ...], decoders: tuple[tuple[int, Callable[[bytes], Any]], ...]
) -> Callable[[bytes], _Packed]:
    """The converter for one model's packed row: the JSON array back to the values the
    column-by-column read gives, blobs from hex, and the columns whose declared type has a
    sqlite3 converter (Django's ``bool``, ``date``, ``time``, ``datetime``) through it,
    as sqlite3 itself would have done."""
    loads = json.loads

    def unpack(data: bytes) -> _Packed:
        values = _Packed(loads(data))
        for i in blobs:
            if values[i] is not None:
                values[i] = bytes.fromhex(values[i])
        for i, decode in decoders:
            value = values[i]
            # sqlite3 hands a converter no empty value: it reads as None (NULL) there.
            values[i] = None if value is None or value == "" else decode(_sqlite_bytes(value))
        return values

    return unpack


def _internal_type(field: Any) -> str:
    """A field's internal type; for a relation, that of the field it points to."""
    kind = str(field.get_internal_type())
    if kind in {"ForeignKey", "OneToOneField"}:
        return _internal_type(field.target_field)
    return kind


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
        types = [_internal_type(f) for f in self.fields]
        self._blobs = tuple(i for i, t in enumerate(types) if t == "BinaryField")
        self._packable = self.width <= _PACK_MAX and all(t in _PACKABLE_TYPES for t in types)
        self._converters: dict[bool, str] = {}  # registered on first use (`_packs`)

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
        """The select list for this model's table under `alias`, quoted for `db`: one
        column per field, or on SQLite one JSON array that `fetch` unpacks again (see the
        module's docstring)."""
        q = db.ops.quote_name
        names = [f"{alias}.{q(name)}" for name in self.column_names]
        converter = self._packs(db)
        if not converter:
            return ", ".join(names)
        for i in self._blobs:  # hex(NULL) is '', as is hex of an empty blob: keep NULL
            names[i] = f"CASE WHEN {names[i]} IS NULL THEN NULL ELSE hex({names[i]}) END"
        return f'json_array({", ".join(names)}) AS "{alias} [{converter}]"'

    def _packs(self, db: BaseDatabaseWrapper) -> str:
        """The name of the converter that unpacks this model's rows on `db`, or "" where
        they are read column by column.

        The converter is found by the column's name: only with PARSE_COLNAMES (which
        Django's SQLite backend sets, unless OPTIONS override it), and json_array()
        must exist (built in since SQLite 3.38, optional before)."""
        if db.vendor != "sqlite" or not self._packable:
            return ""
        detect = db.get_connection_params().get("detect_types", 0)
        if not detect & sqlite3.PARSE_COLNAMES or not db.features.supports_json_field:
            return ""
        # A converter of its own per model (only it knows which columns are blobs and
        # which declared types sqlite3 converts: ``bool``, only 1 is true, and so on),
        # and per setting of PARSE_DECLTYPES, which decides whether those convert at all.
        declared_types = bool(detect & sqlite3.PARSE_DECLTYPES)
        name = self._converters.get(declared_types)
        if name is None:
            decoders = []
            for i, f in enumerate(self.fields if declared_types else ()):
                declared = str(f.db_type(db) or "").split("(")[0].split(" ")[0].upper()
                decode = sqlite3.converters.get(declared)
                if decode is not None:
                    decoders.append((i, decode))
            name = f"baomi_rows_{next(_layouts)}"
            # Registered before it is published: SQL naming it never meets it missing.
            sqlite3.register_converter(name, _unpacker(self._blobs, tuple(decoders)))
            self._converters[declared_types] = name
        return name

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
    """`build(connection)` once per (name, database alias): quoting and column lists are
    fixed for a connection's settings."""
    db = connections[using]
    key = (name, using)
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


# SQL text in ``%s`` style → the same in sqlite3's ``?`` style (see `_execute`). The
# texts are the few fixed queries of the hot paths; the bound keeps a caller that builds
# its SQL per call from growing it without end.
_qmark: dict[str, str] = {}
_QMARK_MAX = 256


def _sqlite_execute(sql: str, params: Sequence[Any], many: bool, context: dict[str, Any]) -> Any:
    """Django's own execute step for SQLite (`CursorWrapper._execute`), less the
    conversion of the query to sqlite3's parameter style, which is done once per query
    text: Django rewrites it with a regular expression over the whole text on every
    execution, and for a packed select list that cost as much as running the query."""
    cursor, db = context["cursor"], context["connection"]
    qmark = _qmark.get(sql)
    if qmark is None:
        qmark = cursor.cursor.convert_query(sql)
        if len(_qmark) < _QMARK_MAX:
            _qmark[sql] = qmark
    db.validate_no_broken_transaction()
    with db.wrap_database_errors:
        return sqlite3.Cursor.execute(cursor.cursor, qmark, params)


def _execute(cursor: Any, db: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> None:
    """`cursor.execute(sql, params)`; on SQLite without the per-execution conversion
    (`_sqlite_execute`). Query wrappers and the debug cursor's log see the query exactly
    as they would (in ``%s`` style)."""
    if db.vendor != "sqlite" or isinstance(params, Mapping):  # (named style: Django's way)
        cursor.execute(sql, params)
        return
    params = list(params)
    if isinstance(cursor, CursorDebugWrapper):
        with cursor.debug_sql(sql, params, use_last_executed_query=True):
            cursor._execute_with_wrappers(sql, params, many=False, executor=_sqlite_execute)
    else:
        cursor._execute_with_wrappers(sql, params, many=False, executor=_sqlite_execute)


def fetch(sql: str, params: Sequence[Any], using: str = "default") -> list[tuple[Any, ...]]:
    """The rows of `sql`, with models packed by `Rows.columns` spread out again: a row is
    always one value per field, whichever way it was read."""
    db = connections[using]
    with db.cursor() as cursor:
        _execute(cursor, db, sql, params)
        rows = cursor.fetchall()
    if rows and any(type(v) is _Packed for v in rows[0]):
        return [
            tuple(itertools.chain.from_iterable(
                v if type(v) is _Packed else (v,) for v in row
            ))
            for row in rows
        ]
    return list(rows)
