"""`baomi ledger verify` on the database: every stored copy of the log is checked, and
a log that grows while it is verified (or proven consistent) is not taken for a
tampered one.

Each tamper here is one a person with write access to the database could make: the
entries' hashed bytes stay intact, a derived copy (leaf hash, tree state, inner nodes,
time column, checkpoint row, a planted row) does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from baomi.audit import selectors
from baomi.audit.models import LedgerEntry
from baomi.audit.services import (
    AuditEvent,
    RequestMeta,
    ledger_append,
    ledger_append_many,
    lookup_catch_up,
)
from baomi.ledger.compact import CompactRange
from baomi.ledger.hashing import LEAF_PREFIX, sha256

pytestmark = pytest.mark.django_db


def _event(i: int) -> AuditEvent:
    return AuditEvent(
        actor=f"user{i % 3}",
        action="client.read",
        object_type="client",
        object_id=str(i),
        client_id=str(i % 5),
        request=RequestMeta(ip="127.0.0.1", user_agent="pytest", request_id=f"r{i}"),
    )


def _fill(n: int, start: int = 0) -> None:
    ledger_append_many([_event(i) for i in range(start, start + n)])


def _raw(sql: str, params: list[Any]) -> None:
    with connection.cursor() as cur:
        cur.execute(sql, params)


def unreadable_time() -> str | None:
    """A time column value that reads as none at all: NULL on PostgreSQL (after dropping
    NOT NULL), text that does not parse on SQLite (where NOT NULL holds)."""
    if connection.vendor == "postgresql":
        _raw("ALTER TABLE audit_ledgerentry ALTER COLUMN time DROP NOT NULL", [])
        return None
    return "not a time"


def _verdict() -> tuple[bool, str, int | None]:
    result = selectors.ledger_verify(record=False)
    return result.ok, result.code, result.first_bad_seq


def test_entries_appended_while_verification_runs_are_left_for_the_next_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fill(10)
    selectors.checkpoint_create()
    lookup_catch_up()
    real_rows = selectors._rows

    def rows_meanwhile(limit: int, batch: int = 20000, **kw: Any) -> Iterator[Any]:
        for i, row in enumerate(real_rows(limit, batch, **kw)):
            yield row
            if i == 0:  # another request's entries arrive, and the index catches up
                ledger_append(_event(99))
                lookup_catch_up()

    monkeypatch.setattr(selectors, "_rows", rows_meanwhile)
    result = selectors.ledger_verify(record=False)
    assert (result.ok, result.size) == (True, 10), result
    monkeypatch.undo()
    assert selectors.ledger_verify(record=False).size == 11


def test_a_consistency_check_is_for_one_head_whatever_is_appended_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fill(10)
    text = selectors.checkpoint_create().text
    _fill(3, start=10)
    real = selectors.consistency_proof

    def proof_then_append(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        ledger_append(_event(99))
        return out

    monkeypatch.setattr(selectors, "consistency_proof", proof_then_append)
    assert selectors.consistency_with(text)["new_size"] == 13


def test_a_row_planted_below_seq_0_is_named() -> None:
    _fill(10)
    lookup_catch_up()
    selectors.checkpoint_create()
    data = bytes(LedgerEntry.objects.get(seq=3).data).replace(b'"user0"', b'"mallory"')
    _raw(
        "INSERT INTO audit_ledgerentry (seq, time, actor, action, object_type, object_id, "
        "client_id, purpose, decision, reason, data, leaf_hash, state, nodes) "
        "SELECT -1, time, 'mallory', action, object_type, object_id, client_id, purpose, "
        "decision, reason, %s, leaf_hash, state, nodes FROM audit_ledgerentry WHERE seq = 3",
        [data],
    )
    ok, code, seq = _verdict()
    assert (ok, seq) == (False, -1), code
    assert code in {"entry_malformed", "sequence_duplicate"}


@pytest.mark.parametrize("column", ["leaf_hash", "state", "nodes"])
def test_an_altered_copy_of_the_tree_is_named(column: str) -> None:
    _fill(16)
    selectors.checkpoint_create()
    assert _verdict() == (True, "", None)
    # Row 15 completed inner nodes up to level 4; row 7's state is a middle row's.
    seq = 15 if column == "nodes" else 7
    stored = bytearray(bytes(getattr(LedgerEntry.objects.get(seq=seq), column)))
    stored[-1] ^= 1
    _raw(f"UPDATE audit_ledgerentry SET {column} = %s WHERE seq = %s", [bytes(stored), seq])  # noqa: S608
    assert _verdict() == (False, "state_mismatch", seq)


@pytest.mark.parametrize("value", ["1999-01-01 00:00:00", None])
def test_an_altered_time_column_is_named(value: str | None) -> None:
    _fill(10)
    if value is None:  # a time that reads as none at all
        value = unreadable_time()
    _raw("UPDATE audit_ledgerentry SET time = %s WHERE seq = %s", [value, 3])
    assert _verdict() == (False, "index_mismatch", 3)


def test_checkpoint_rows_must_say_what_their_signed_text_says() -> None:
    _fill(5)
    first = selectors.checkpoint_create()
    _fill(5, start=5)
    second = selectors.checkpoint_create()
    _raw("UPDATE audit_ledgercheckpoint SET text = %s WHERE id = %s", [second.text, first.pk])
    _raw("UPDATE audit_ledgercheckpoint SET text = %s WHERE id = %s", [first.text, second.pk])
    result = selectors.ledger_verify(record=False)
    assert (result.ok, result.code) == (False, "checkpoint_mismatch"), result


def test_an_undecodable_newest_entry_is_named_not_raised() -> None:
    # Edited, with its leaf hash, state and nodes recomputed (as a careful tamperer
    # would), after the last checkpoint: only the full decode can object.
    _fill(4)
    data = bytes(LedgerEntry.objects.get(seq=3).data).replace(
        b'"action":"client.read"', b'"action":"client.read\xff"'
    )
    before = CompactRange.from_bytes(bytes(LedgerEntry.objects.get(seq=2).state))
    leaf = sha256(LEAF_PREFIX + data)
    _state, made = before.extend([leaf])
    _raw(
        "UPDATE audit_ledgerentry SET data = %s, leaf_hash = %s, state = %s, nodes = %s "
        "WHERE seq = 3",
        [data, leaf, made[0][0], made[0][1]],
    )
    assert _verdict() == (False, "entry_malformed", 3)
    # …and the listing shows the entry as unreadable instead of failing.
    views = [selectors.entry_view(e) for e in selectors.entry_list()[:10]]
    assert [v["unreadable"] for v in views] == [True, False, False, False]


@pytest.mark.parametrize("filters", [{}, {"client_id": "1"}, {"actor": "nobody"}])
def test_an_empty_page_of_a_listing_is_empty(filters: dict[str, str]) -> None:
    _fill(3)
    listing = selectors.entry_list(**filters)
    assert [list(listing[a:b]) for a, b in ((0, 0), (5, 3), (100, 150))] == [[], [], []]


def test_a_row_planted_far_above_the_log_is_named() -> None:
    # A made-up entry at a high seq carrying a copy of the real head's state (which says
    # 10 entries): it is read like every other row, and named (its bytes say seq 9).
    _fill(10)
    lookup_catch_up()
    selectors.checkpoint_create()
    _raw(
        "INSERT INTO audit_ledgerentry (seq, time, actor, action, object_type, object_id, "
        "client_id, purpose, decision, reason, data, leaf_hash, state, nodes) "
        "SELECT 1000000, time, 'mallory', action, object_type, object_id, client_id, "
        "purpose, decision, reason, data, leaf_hash, state, nodes FROM audit_ledgerentry "
        "WHERE seq = 9",
        [],
    )
    assert _verdict() == (False, "entry_malformed", 1000000)


def test_a_last_row_holding_an_earlier_state_is_named() -> None:
    _fill(10)
    earlier = bytes(LedgerEntry.objects.get(seq=8).state)
    _raw("UPDATE audit_ledgerentry SET state = %s WHERE seq = 9", [earlier])
    ok, code, _seq = _verdict()
    assert not ok and code in {"root_mismatch", "truncated", "state_mismatch"}


def test_an_entry_unreadable_in_every_column_is_still_listed() -> None:
    from baomi import cli

    _fill(3)
    _raw("UPDATE audit_ledgerentry SET data = %s, time = %s WHERE seq = 2",
         [b'{"not json', unreadable_time()])
    view = selectors.entry_view(LedgerEntry.objects.get(seq=2))
    assert view["unreadable"] and view["time"] is None
    assert "—" in cli._show_line(view)
