"""The database's comparison of the index and time columns with the entries' JSON
(`selectors._columns_agree`): it must pass every log the appender writes, whatever the
text, so that verification is fast for real logs, and must flag every difference, so the
row-by-row decode gets to name it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection, transaction

from baomi.audit import selectors, services
from baomi.audit.models import LedgerEntry
from baomi.audit.services import AuditEvent, RequestMeta, ledger_append_many

pytestmark = pytest.mark.django_db

AWKWARD = [
    "月度记账", 'say "hi"', "back\\slash", "line\nbreak\ttab\rcr", "\x01\x1f\x7f", "emoji 🧾",
    "\u2028\u2029", "é", " lead and trail ", "x" * 500, "</script>", "\ufeffbom", "",
]


def _event(i: int, text: str, client: str | None) -> AuditEvent:
    return AuditEvent(
        actor=f"user{i}" if i % 2 else text[:150] or "u",
        action="document.read",
        object_type="document",
        object_id=text[:64] or "1",
        client_id=client,
        purpose=text,
        reason=text,
        decision="refused" if i % 3 == 0 else "allowed",
        request=RequestMeta(ip="127.0.0.1", user_agent=text[:200], request_id=f"r{i}"),
    )


def _append_at(when: datetime, event: AuditEvent) -> None:
    with transaction.atomic():
        cur = connection.connection.cursor()
        services._append_locked(connection, cur, [services._prepare(event)], when, own=False)


def _limit() -> int:
    return selectors.ledger_state().size


def _raw(sql: str, params: list[Any]) -> None:
    with connection.cursor() as cur:
        cur.execute(sql, params)


def test_a_log_of_awkward_text_passes_the_database_check() -> None:
    ledger_append_many(
        [_event(i, text, None if i % 4 == 0 else text[:64]) for i, text in enumerate(AWKWARD)]
    )
    _append_at(datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC), _event(1, "整秒", "7"))
    _append_at(datetime(2026, 5, 6, 7, 8, 9, 1, tzinfo=UTC), _event(3, "微秒", None))
    assert selectors._columns_agree(_limit())
    assert selectors.ledger_verify(record=False).ok


@pytest.mark.parametrize(
    ("column", "value"),
    [("actor", "mallory"), ("action", "client.list"), ("object_type", "client"),
     ("object_id", "2"), ("client_id", None), ("client_id", "other"), ("purpose", "审计 "),
     ("decision", "maybe"), ("reason", "x"), ("time", "2001-01-01 00:00:00")],
)
def test_every_column_that_differs_is_flagged_and_named(column: str, value: str | None) -> None:
    ledger_append_many([_event(i, "报税", "5") for i in range(6)])
    assert selectors._columns_agree(_limit())
    _raw(f"UPDATE audit_ledgerentry SET {column} = %s WHERE seq = 4", [value])  # noqa: S608
    assert not selectors._columns_agree(_limit())
    result = selectors.ledger_verify(record=False)
    assert (result.ok, result.code, result.first_bad_seq) == (False, "index_mismatch", 4)


def test_a_number_is_not_the_text_of_its_digits() -> None:
    # An entry stating object_id 5 (a JSON number) does not agree with the text "5",
    # which is what the row-by-row decode says too.
    ledger_append_many([_event(1, "a", "5")])
    data = bytes(LedgerEntry.objects.get(seq=0).data)
    _raw("UPDATE audit_ledgerentry SET data = %s, object_id = %s WHERE seq = 0",
         [data.replace(b'"object_id":"a"', b'"object_id":5'), "5"])
    assert not selectors._columns_agree(1)
    assert selectors._first_column_mismatch(1) is not None


def test_rows_above_the_limit_are_left_for_the_next_run() -> None:
    ledger_append_many([_event(i, "b", "5") for i in range(4)])
    _raw("UPDATE audit_ledgerentry SET actor = 'mallory' WHERE seq = 3", [])
    assert selectors._columns_agree(3) and not selectors._columns_agree(4)
    # …and a part of the log (`low`) is checked from its first row on.
    assert not selectors._columns_agree(4, 3) and selectors._columns_agree(3, 1)


@pytest.mark.skipif("connection.vendor != 'sqlite'")
@pytest.mark.parametrize("spelling", [
    "2026-05-06 07:08:09+00:00", "2026-05-06T07:08:09", "2026-05-06 07:08:09.000000",
    "2026-05-06 15:08:09+08:00",
])
def test_a_time_spelled_otherwise_is_named(spelling: str) -> None:
    # The same instant, spelled as Django does not write it: time filters compare the
    # text, so the entry would move in or out of a period. Named as a differing column.
    _append_at(datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC), _event(1, "c", "5"))
    _append_at(datetime(2026, 5, 6, 7, 8, 10, 5, tzinfo=UTC), _event(2, "d", "5"))
    assert selectors._columns_agree(2)
    _raw("UPDATE audit_ledgerentry SET time = %s WHERE seq = 0", [spelling])
    assert not selectors._columns_agree(2)
    result = selectors.ledger_verify(record=False)
    assert (result.code, result.first_bad_seq) == ("index_mismatch", 0)


@pytest.mark.skipif("connection.vendor != 'sqlite'")
@pytest.mark.parametrize(("column", "sql"), [
    ("data", "CAST(data AS TEXT)"),  # the same bytes, but no longer an entry's blob
    ("leaf_hash", "X'00' || substr(leaf_hash, 2)"),  # || gives text, not UTF-8
    ("state", "'not a state'"),
    ("actor", "CAST(X'ff' AS TEXT)"),  # a column that is not UTF-8
])
def test_values_stored_as_the_wrong_type_are_named_not_raised(column: str, sql: str) -> None:
    ledger_append_many([_event(i, "e", "5") for i in range(4)])
    selectors.checkpoint_create()
    _raw(f"UPDATE audit_ledgerentry SET {column} = {sql} WHERE seq = 1", [])  # noqa: S608
    result = selectors.ledger_verify(record=False)
    assert (result.ok, result.first_bad_seq) == (False, 1), result
    assert result.code == {"data": "entry_malformed", "actor": "index_mismatch"}.get(
        column, "state_mismatch")


def test_the_first_entry_with_a_differing_copy_is_named_whichever_kind() -> None:
    ledger_append_many([_event(i, "f", "5") for i in range(8)])
    _raw("UPDATE audit_ledgerentry SET actor = 'mallory' WHERE seq = 5", [])
    _raw("UPDATE audit_ledgerentry SET leaf_hash = %s WHERE seq = 2", [b"\0" * 32])
    assert selectors.ledger_verify(record=False).first_bad_seq == 2
    _raw("UPDATE audit_ledgerentry SET actor = 'mallory' WHERE seq = 1", [])
    result = selectors.ledger_verify(record=False)
    assert (result.code, result.first_bad_seq) == ("index_mismatch", 1)


def test_a_head_state_that_does_not_parse_is_a_verdict_not_a_traceback() -> None:
    ledger_append_many([_event(i, "g", "5") for i in range(3)])
    _raw("UPDATE audit_ledgerentry SET state = %s WHERE seq = 2", [b"garbage"])
    result = selectors.ledger_verify(record=False)
    assert not result.ok and result.code


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_check_takes_no_write_lock() -> None:
    # On SQLite atomic() outside a transaction is BEGIN IMMEDIATE: the scan would hold
    # every appender off. Inside one it is a savepoint; outside, nothing is opened.
    ledger_append_many([_event(i, "h", "5") for i in range(3)])
    seen: list[str] = []

    def spy(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    assert not connection.in_atomic_block
    with connection.execute_wrapper(spy):
        assert selectors._columns_agree(3)
    assert seen and not any(
        word in sql.upper() for sql in seen for word in ("BEGIN", "SAVEPOINT"))
