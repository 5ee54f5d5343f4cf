"""`baomi.core.rawrows` on SQLite packs each model's columns into one JSON array (one GIL
hand-over per row instead of one per column). What comes back must be exactly what the
ORM gives, for every kind of value: empty and NULL text, NUL and control characters,
CJK and astral characters, quotes and backslashes, empty and NULL blobs, whole-second and
microsecond datetimes, the 64-bit integer range, booleans."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baomi.accounts import services as account_services
from baomi.accounts.models import ApiToken, User
from baomi.clients.models import Client
from baomi.core.rawrows import Rows, _internal_type, cached_sql, fetch
from baomi.vault.models import ClientKey, Document, DocumentVersion

pytestmark = pytest.mark.django_db

_KEY_ROWS = Rows(ClientKey)
_KEY_SQL = _KEY_ROWS.where_sql("scope")

texts = st.text(max_size=40)  # every code point but surrogates, NUL and controls included
whens = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2999, 12, 31), timezones=st.just(UTC)
)


def _storable(text: str) -> str:
    # PostgreSQL text cannot hold NUL; SQLite (the packed path) can, and is tested with it.
    return text if connection.vendor == "sqlite" else text.replace("\x00", "")


def _sqlite_only(why: str = "SQLite only") -> None:
    if connection.vendor != "sqlite":
        pytest.skip(why)


@contextmanager
def _detect_types(value: int) -> Iterator[None]:
    """Build SQL as for a connection whose sqlite3 `detect_types` is `value`."""
    params = connection.get_connection_params
    connection.get_connection_params = lambda: {**params(), "detect_types": value}  # type: ignore[method-assign]
    try:
        yield
    finally:
        connection.get_connection_params = params  # type: ignore[method-assign]


def _store_around_the_orm(user: User, assignments: str) -> None:
    """Write `assignments` (SQL) into the user's row as a raw write would."""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE accounts_user SET {assignments} WHERE id = %s", [user.pk])  # noqa: S608


def _fields(obj: Any) -> dict[str, Any]:
    # With each value's type: 1 == True, so a boolean read back as an int would pass.
    return {
        f.attname: (type(getattr(obj, f.attname)), getattr(obj, f.attname))
        for f in type(obj)._meta.concrete_fields
    }


@given(
    scope=texts.filter(lambda s: len(s) <= 40),
    wrapped=st.none() | st.binary(max_size=64),
    suite=texts.filter(lambda s: len(s) <= 16),
    usage=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    created=whens,
    destroyed=st.none() | whens,
)
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_row_read_raw_is_the_row_the_orm_reads(  # noqa: PLR0917  (hypothesis fills them)
    scope: str, wrapped: bytes | None, suite: str, usage: int, created: datetime,
    destroyed: datetime | None,
) -> None:
    scope, suite = _storable(scope), _storable(suite)
    with transaction.atomic():
        ClientKey.objects.filter(scope=scope).delete()
        ClientKey.objects.create(
            scope=scope, wrapped=wrapped, suite=suite, usage_count=usage, created_at=created,
            destroyed_at=destroyed,
        )
        rows = fetch(cached_sql("test.rawrows.key", _KEY_SQL), [scope])
        assert len(rows) == 1 and len(rows[0]) == _KEY_ROWS.width
        raw = _KEY_ROWS.load(rows[0])
        orm = ClientKey.objects.get(scope=scope)
        assert _fields(raw) == _fields(orm)
        transaction.set_rollback(True)


def test_users_and_clients_with_awkward_text_read_as_the_orm_reads(make_user, make_client):
    awkward = [
        _storable(t) for t in ["", "a\x00b", "引号'\"\\/\b\f\n\r\t", "𠀀😀\u2028\u2029", " "]
    ]
    user = make_user("rr_user")
    # (Written around the services, which refuse control characters in a profile: the
    # read must still give back whatever is stored.)
    User.objects.filter(pk=user.pk).update(display_name=awkward[1], first_name="",
                                           last_name=awkward[2], email=awkward[3],
                                           is_staff=True)
    client = make_client(user)
    Client.objects.filter(pk=client.pk).update(name=awkward[3], legal_representative=awkward[2])
    users = Rows(User)
    clients = Rows(Client)
    sql = (
        f"SELECT {users.columns('u', connection)}, {clients.columns('c', connection)} "  # noqa: S608
        f"FROM {users.table} u, {clients.table} c WHERE u.id = %s AND c.id = %s"
    )
    rows = fetch(sql, [user.pk, client.pk])
    assert len(rows[0]) == users.width + clients.width
    assert _fields(users.load(rows[0])) == _fields(User.objects.get(pk=user.pk))
    assert _fields(clients.load(rows[0], users.width)) == _fields(Client.objects.get(pk=client.pk))


def test_an_unmatched_left_join_is_still_none(make_user):
    user = make_user("rr_lonely")
    tokens = Rows(ApiToken)
    users = Rows(User)
    sql = (
        f"SELECT {users.columns('u', connection)}, {tokens.columns('t', connection)} "  # noqa: S608
        f"FROM {users.table} u LEFT JOIN {tokens.table} t ON t.user_id = u.id "
        "WHERE u.id = %s"
    )
    row = fetch(sql, [user.pk])[0]
    assert users.load(row).username == "rr_lonely"
    assert tokens.load_optional(row, users.width) is None


@pytest.mark.parametrize("model", [ApiToken, User, Client, ClientKey, Document, DocumentVersion])
def test_on_sqlite_a_model_is_one_column(model: Any) -> None:
    # The hot-path models are packed: were they not, the server would hand the GIL over
    # once per column again. (PostgreSQL reads them column by column.)
    rows = Rows(model)
    select = rows.columns("o", connection)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {select} FROM {rows.table} o WHERE 1 = 0")  # noqa: S608
        width = len(cursor.description)
    assert width == (1 if connection.vendor == "sqlite" else rows.width)


def test_without_column_name_converters_rows_are_read_column_by_column(make_user) -> None:
    _sqlite_only()
    user = make_user("rr_plain")
    with _detect_types(0):
        plain = Rows(User)
        sql = plain.where_sql("id")(connection)
    assert "json_array" not in sql
    assert "json_array" in Rows(User).where_sql("id")(connection)
    # The column-by-column read, end to end, gives the same user.
    assert _fields(plain.load(fetch(sql, [user.pk])[0])) == _fields(User.objects.get(pk=user.pk))


def test_odd_values_written_around_the_orm_read_as_sqlite3_reads_them(make_user) -> None:
    # sqlite3's declared-type converters run on the packed values as on columns: a
    # boolean is true only for 1 (a stray 2 must not make a user active), and datetime
    # text that does not parse is None, as the ORM reads them.
    _sqlite_only("SQLite only: PostgreSQL's types refuse such values")
    user = make_user("rr_odd")
    token = account_services.token_create(user=user)
    _store_around_the_orm(
        user, "is_active = 2, is_staff = 'true', is_superuser = '', left_at = ''"
    )
    rows = Rows(User)
    raw = rows.load(fetch(rows.where_sql("id")(connection), [user.pk])[0])
    orm = User.objects.get(pk=user.pk)
    # An empty value never reaches a sqlite3 converter: None, not False.
    assert (raw.is_active, raw.is_staff, raw.is_superuser, raw.left_at) == (
        False, False, None, None
    )
    assert _fields(raw) == _fields(orm)
    assert account_services.token_check(raw=token.plaintext).refusal == "user_inactive"


def test_a_blob_in_a_text_column_fails_the_read_instead_of_passing_as_text(make_user) -> None:
    # Only a write around the ORM can store one; the packed read refuses it (fails
    # closed) rather than hand bytes to a text field.
    _sqlite_only()
    user = make_user("rr_blob")
    _store_around_the_orm(user, "last_name = x'00ff'")
    rows = Rows(User)
    with pytest.raises(OperationalError):
        fetch(rows.where_sql("id")(connection), [user.pk])


def test_the_declared_type_setting_of_each_connection_is_honoured(make_user) -> None:
    # A converter per PARSE_DECLTYPES setting: SQL built first for a connection without
    # declared-type converters must not leave `default` reading is_active=2 as 2.
    _sqlite_only()
    user = make_user("rr_decl")
    _store_around_the_orm(user, "is_active = 2")
    rows = Rows(User)
    with _detect_types(sqlite3.PARSE_COLNAMES):
        without = rows.where_sql("id")(connection)
    with_types = rows.where_sql("id")(connection)
    assert without != with_types
    assert rows.load(fetch(with_types, [user.pk])[0]).is_active is False
    assert rows.load(fetch(without, [user.pk])[0]).is_active == 2  # as sqlite3 gives it


def test_without_json_rows_are_read_column_by_column() -> None:
    _sqlite_only()
    features = connection.features
    had = features.__dict__.get("supports_json_field")
    features.supports_json_field = False
    try:
        assert "json_array" not in Rows(User).columns("o", connection)
    finally:
        if had is None:
            del features.supports_json_field
        else:
            features.supports_json_field = had


def test_a_relation_is_packed_as_the_field_it_points_to() -> None:
    # An FK to a float or decimal key would round through JSON: a relation counts as
    # its target's type.
    field = ApiToken._meta.get_field("user")
    assert _internal_type(field) == User._meta.pk.get_internal_type()


# --- the execute step (SQLite: the query converted to sqlite3's style once per text) ---


def test_a_raw_read_is_logged_and_wrapped_as_any_other_query(make_user) -> None:
    from django.test.utils import CaptureQueriesContext

    user = make_user("rawlog")
    seen: list[tuple[str, Any]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append((sql, params))
        return execute(sql, params, many, context)

    sql = cached_sql("test.user_by_name", Rows(User).where_sql("username"))
    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(wrapper):
        for _ in range(2):  # the second run takes the converted text from the cache
            rows = fetch(sql, ["rawlog"])
            assert Rows(User).load(rows[0]).pk == user.pk
    # Wrappers see the query as Django's cursor would pass it (``%s`` style), and the
    # debug log has it with the parameter filled in.
    assert seen == [(sql, ["rawlog"])] * 2
    assert len(captured.captured_queries) == 2
    assert "'rawlog'" in captured.captured_queries[0]["sql"]


def test_a_raw_read_keeps_django_s_error_and_percent_handling() -> None:
    from django.db import DatabaseError
    from django.db.transaction import TransactionManagementError

    # "%%" is a literal percent sign, as through Django's cursor.
    assert fetch("SELECT '100%%', %s", ["x"]) == [("100%", "x")]
    with pytest.raises(DatabaseError) as failed, transaction.atomic():  # Django's, not the driver's
        fetch("SELECT * FROM no_such_table WHERE id = %s", [1])
    assert type(failed.value).__module__ == "django.db.utils"
    # A transaction that already failed refuses further queries, as Django's cursor does.
    with transaction.atomic():
        transaction.set_rollback(True)
        connection.needs_rollback = True
        with pytest.raises(TransactionManagementError):
            fetch("SELECT %s", [1])
