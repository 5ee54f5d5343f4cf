"""The ledger's filter index (`LedgerLookup`): kept behind the append path, caught up
before every filtered listing, a prefix of the log, verified against the hashed entries."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor

from baomi.audit import selectors
from baomi.audit.models import LedgerEntry, LedgerLookup
from baomi.audit.services import (
    AuditEvent,
    LedgerUnavailable,
    ledger_append,
    ledger_append_many,
    lookup_catch_up,
    lookup_rebuild,
)
from baomi.testing.ledger_faults import clear_ledger_faults, inject_ledger_faults

pytestmark = pytest.mark.django_db


def ev(i: int, *, client: str | None = None, actor: str | None = None) -> AuditEvent:
    return AuditEvent(
        actor=actor or f"user{i % 3}",
        action="client.read",
        object_type="client",
        object_id=str(i),
        client_id=client if client is not None else str(i % 4),
        purpose="记账",
    )


def indexed() -> list[tuple[int, str, str | None]]:
    return list(LedgerLookup.objects.order_by("entry_id").values_list("entry_id", "actor",
                                                                       "client_id"))


def entries() -> list[tuple[int, str, str | None]]:
    return list(LedgerEntry.objects.order_by("seq").values_list("seq", "actor", "client_id"))


def test_a_durable_append_writes_no_index_row_and_listings_read_the_tail():
    for i in range(6):
        ledger_append(ev(i))
    assert indexed() == []  # off the append path
    assert [e.seq for e in selectors.entry_list(client_id="1")] == [5, 1]  # all tail
    assert indexed() == []  # a listing writes nothing
    assert lookup_catch_up() == 6
    assert indexed() == entries()
    ledger_append(ev(6))
    ledger_append(ev(9))  # seq 7, client "1": after the index, in the tail
    # Indexed and tail entries together, newest first, each once.
    assert [e.seq for e in selectors.entry_list(client_id="1")] == [7, 5, 1]
    assert [e.seq for e in selectors.entry_list(actor="user0")] == [7, 6, 3, 0]
    assert [e.seq for e in selectors.entry_list(actor="user0", client_id="1")] == [7]
    assert selectors.entry_list(actor="user0").count() == 4
    assert lookup_catch_up() == 2
    assert lookup_catch_up() == 0  # idempotent
    assert [e.seq for e in selectors.entry_list(client_id="1")] == [7, 5, 1]


def test_a_catch_up_between_the_mark_and_the_listing_lists_nothing_twice():
    ledger_append_many([ev(i) for i in range(4)])
    ledger_append(ev(5))  # seq 4, client "1", in the tail
    qs = selectors.entry_list(client_id="1")  # the mark is read now: 3
    lookup_catch_up()  # seq 4 is indexed before the listing runs
    assert [e.seq for e in qs] == [4, 1]


def failing_action() -> None:
    with transaction.atomic():
        ledger_append(ev(7))
        raise RuntimeError("the action failed: its entry goes with it")


def test_the_index_stays_a_prefix_whatever_the_append_path():
    ledger_append(ev(0))
    ledger_append_many([ev(i) for i in range(1, 5)])  # catches up in its own transaction
    assert indexed() == entries()
    ledger_append(ev(5))
    with transaction.atomic():  # an append inside a service's transaction
        ledger_append(ev(6))
    with pytest.raises(RuntimeError):
        failing_action()
    ledger_append(ev(8, client=""))
    ledger_append(AuditEvent(actor="system", action="login"))  # no client
    assert [s for s, _, _ in indexed()] == [0, 1, 2, 3, 4]
    assert lookup_catch_up() == 4  # seq 7 was rolled back, and then taken by ev(8)
    assert indexed() == entries()
    assert entries()[-2:] == [(7, "user2", ""), (8, "system", None)]
    assert selectors.ledger_verify().ok


def test_listing_filters_combine_with_the_other_filters_and_pages():
    ledger_append_many([ev(i, client="c1") for i in range(30)])
    ledger_append(AuditEvent(actor="user0", action="document.read", client_id="c1",
                             decision="refused", reason="not_assigned"))
    qs = selectors.entry_list(client_id="c1", action="document.", decision="refused")
    assert [e.seq for e in qs] == [30]
    page = selectors.entry_list(client_id="c1")
    assert page.count() == 31
    assert [e.seq for e in page[:3]] == [30, 29, 28]
    assert [e.seq for e in page[28:]] == [2, 1, 0]
    assert list(selectors.entry_list(client_id="nobody")) == []


def test_a_client_s_newest_entries_are_read_from_the_index_without_sorting_them_all():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's EXPLAIN QUERY PLAN")
    listing = selectors.entry_list(client_id="c1")
    assert isinstance(listing, selectors.EntryListing)
    sql, params = listing._merged(20)[:20].query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = " | ".join(str(row[-1]) for row in cur.fetchall())
    assert "audit_lookup_client_seq" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_a_failing_catch_up_leaves_appends_and_listings_working():
    ledger_append(ev(0, client="c1"))
    inject_ledger_faults(100, table="audit_ledgerlookup")
    try:
        with pytest.raises(LedgerUnavailable):
            lookup_catch_up()
        assert ledger_append(ev(1, client="c1")) == 1  # appends never wait on the index
        assert [e.seq for e in selectors.entry_list(client_id="c1")] == [1, 0]
    finally:
        clear_ledger_faults()
    assert lookup_catch_up() == 2


def test_reindex_rebuilds_a_damaged_index():
    ledger_append_many([ev(i) for i in range(8)])
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_ledgerlookup SET client_id = 'other' WHERE seq = 2")
        cur.execute("DELETE FROM audit_ledgerlookup WHERE seq = 5")
    assert selectors.ledger_verify(record=False).code == "index_mismatch"
    assert lookup_rebuild() == 8
    assert indexed() == entries()
    assert selectors.ledger_verify(record=False).ok


@pytest.mark.parametrize(
    ("tamper", "bad_seq"),
    [
        ("UPDATE audit_ledgerlookup SET client_id = 'other' WHERE seq = 4", 4),
        ("UPDATE audit_ledgerlookup SET client_id = NULL WHERE seq = 5", 5),
        ("UPDATE audit_ledgerlookup SET actor = 'someone' WHERE seq = 6", 6),
        ("DELETE FROM audit_ledgerlookup WHERE seq = 3", 3),
        ("INSERT INTO audit_ledgerlookup (seq, actor, client_id) VALUES (99, 'x', '1')", 99),
    ],
)
def test_verification_catches_a_tampered_index(tamper: str, bad_seq: int):
    ledger_append_many([ev(i) for i in range(10)])
    for i in range(10, 13):
        ledger_append(ev(i))  # an unindexed tail is not an error
    assert selectors.ledger_verify().ok
    with connection.cursor() as cur:
        cur.execute(tamper)
    result = selectors.ledger_verify()
    assert not result.ok
    assert (result.code, result.first_bad_seq) == ("index_mismatch", bad_seq), result


@pytest.mark.django_db(transaction=True)
def test_concurrent_catch_ups_and_appends_keep_the_index_exact():
    errors: list[BaseException] = []

    def appender(k: int) -> None:
        try:
            for i in range(30):
                ledger_append(ev(i, actor=f"t{k}"))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    # (SQLite's shared-cache test database locks whole tables against readers while a
    # writer is in a transaction, unlike a WAL file: there the listings run at the end.)
    listing = connection.vendor == "postgresql"

    def reader() -> None:
        try:
            for _ in range(20):
                if listing:
                    list(selectors.entry_list(client_id="1")[:5])
                lookup_catch_up()  # as the scheduler does, meanwhile
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=appender, args=(k,)) for k in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, [repr(e.__cause__) for e in errors]
    lookup_catch_up()
    assert indexed() == entries()
    assert len(entries()) == 90
    assert selectors.entry_list(actor="t1").count() == 30


@pytest.mark.django_db(transaction=True)
def test_the_migration_indexes_the_entries_already_stored():
    ledger_append_many([ev(i) for i in range(5)])
    executor = MigrationExecutor(connection)
    executor.migrate([("audit", "0001_initial")])
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM audit_ledgerentry")
            assert cur.fetchone()[0] == 5
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert indexed() == entries()
    assert selectors.ledger_verify().ok


@pytest.mark.parametrize(
    "filters",
    [
        {"client_id": "1"},
        {"actor": "user2"},
        {"client_id": "1", "actor": "user1"},
        {"client_id": "1", "decision": "refused"},
        {"actor": "user0", "action": "document."},
        {"client_id": "2", "since": datetime(2000, 1, 1, tzinfo=UTC)},
    ],
)
def test_a_listing_counts_what_it_lists(filters: dict[str, object]):
    ledger_append_many([ev(i) for i in range(20)])  # indexed
    for i in range(20, 33):  # the tail
        ledger_append(ev(i))
    ledger_append(AuditEvent(actor="user0", action="document.read", client_id="1",
                             decision="refused", reason="not_assigned"))
    qs = selectors.entry_list(**filters)  # type: ignore[arg-type]
    listed = [e.seq for e in qs]
    assert listed == sorted(listed, reverse=True) and len(set(listed)) == len(listed)
    assert qs.count() == len(listed) > 0
    assert [e.seq for e in qs[2:5]] == listed[2:5]


def test_a_listing_is_indexed_like_a_sequence():
    ledger_append_many([ev(i, client="c1") for i in range(6)])
    ledger_append(ev(6, client="c1"))
    listing = selectors.entry_list(client_id="c1")
    assert listing[0].seq == 6 and listing[6].seq == 0
    with pytest.raises(IndexError):
        listing[7]
    assert [e.seq for e in listing[5:]] == [1, 0]
    assert listing[3:2] == []
    with pytest.raises(ValueError):
        listing[-2:]
