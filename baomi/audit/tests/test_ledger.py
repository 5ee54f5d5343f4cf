"""The ledger on a real database: appends, proofs, checkpoints, verification, tampering."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from baomi.audit import selectors, services
from baomi.audit.models import LedgerCheckpoint, LedgerEntry
from baomi.audit.services import AuditEvent, RequestMeta, ledger_append, ledger_append_many
from baomi.audit.signing import signing_public_key
from baomi.ledger.checkpoint import checkpoint_verify
from baomi.ledger.entry import entry_leaf_hash, format_time
from baomi.ledger.errors import ForkDetected
from baomi.ledger.hashing import sha256
from baomi.ledger.proof import verify_inclusion

pytestmark = pytest.mark.django_db


def ev(i: int, **kw) -> AuditEvent:
    base = {
        "actor": f"user{i % 3}",
        "action": "client.read",
        "object_type": "client",
        "object_id": str(i),
        "client_id": str(i % 5),
        "request": RequestMeta(ip="127.0.0.1", user_agent="pytest", request_id=f"r{i}"),
    }
    base.update(kw)
    return AuditEvent(**base)


def fill(n: int) -> None:
    ledger_append_many([ev(i) for i in range(n)])


def test_append_assigns_consecutive_sequence_and_links():
    seqs = [ledger_append(ev(i)) for i in range(5)]
    assert seqs == [0, 1, 2, 3, 4]
    assert selectors.ledger_state().size == 5
    entries = list(LedgerEntry.objects.order_by("seq"))
    for e in entries:
        assert entry_leaf_hash(bytes(e.data), sha256) == bytes(e.leaf_hash)
    assert selectors.ledger_verify().ok


def test_checkpoint_inclusion_and_consistency():
    fill(37)
    cp = selectors.checkpoint_create()
    checkpoint = checkpoint_verify({"baomi-ledger": signing_public_key()}, cp.text)
    assert checkpoint.size == 37
    for seq in (0, 1, 17, 36):
        p = selectors.inclusion(seq)
        verify_inclusion(
            sha256,
            seq,
            37,
            bytes.fromhex(p["leaf_hash"]),
            [bytes.fromhex(h) for h in p["proof"]],
            checkpoint.root,
        )
        assert len(p["proof"]) * 32 < 1024
    old_text = cp.text
    fill(20)
    result = selectors.consistency_with(old_text)
    assert result["old_size"] == 37 and result["new_size"] == 57
    assert selectors.ledger_verify().ok


def test_checkpoint_is_idempotent_for_an_unchanged_head():
    fill(3)
    a = selectors.checkpoint_create()
    b = selectors.checkpoint_create()
    assert a.pk == b.pk


def _raw(sql: str, params: list) -> None:
    with connection.cursor() as cur:
        cur.execute(sql, params)


def _tamper_setup() -> None:
    fill(30)
    selectors.checkpoint_create()
    fill(10)
    selectors.checkpoint_create()
    assert selectors.ledger_verify().ok


def test_edit_entry_bytes_is_caught():
    _tamper_setup()
    e = LedgerEntry.objects.get(seq=12)
    data = bytes(e.data).replace(b'"client.read"', b'"client.list"')
    _raw("UPDATE audit_ledgerentry SET data = %s WHERE seq = %s", [data, 12])
    result = selectors.ledger_verify()
    assert not result.ok and result.first_bad_seq == 12, result


def test_edit_index_column_is_caught():
    _tamper_setup()
    _raw("UPDATE audit_ledgerentry SET actor = %s WHERE seq = %s", ["someone-else", 7])
    result = selectors.ledger_verify()
    assert not result.ok and result.first_bad_seq == 7


def test_delete_entry_is_caught():
    _tamper_setup()
    _raw("DELETE FROM audit_ledgerentry WHERE seq = %s", [20])
    result = selectors.ledger_verify()
    assert not result.ok and result.first_bad_seq == 20 and result.code == "sequence_gap"


def test_insert_entry_is_caught():
    _tamper_setup()
    e = LedgerEntry.objects.get(seq=5)
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_ledgerentry SET seq = seq + 1000 WHERE seq >= 6")
        cur.execute(
            "INSERT INTO audit_ledgerentry (seq, time, actor, action, object_type, object_id, "
            "client_id, purpose, decision, reason, data, leaf_hash, state, nodes) SELECT 6, time, "
            "actor, action, object_type, object_id, client_id, purpose, decision, reason, data, "
            "leaf_hash, state, nodes FROM audit_ledgerentry WHERE seq = 5"
        )
        cur.execute("UPDATE audit_ledgerentry SET seq = seq - 999 WHERE seq >= 1006")
    assert e
    result = selectors.ledger_verify()
    assert not result.ok and result.first_bad_seq is not None and result.first_bad_seq <= 7


def test_reorder_entries_is_caught():
    _tamper_setup()
    a = bytes(LedgerEntry.objects.get(seq=3).data)
    b = bytes(LedgerEntry.objects.get(seq=4).data)
    _raw("UPDATE audit_ledgerentry SET data = %s WHERE seq = %s", [b, 3])
    _raw("UPDATE audit_ledgerentry SET data = %s WHERE seq = %s", [a, 4])
    result = selectors.ledger_verify()
    assert not result.ok and result.first_bad_seq in (3, 4)


def test_truncation_is_caught():
    _tamper_setup()
    _raw("DELETE FROM audit_ledgerentry WHERE seq >= %s", [35])
    result = selectors.ledger_verify()
    assert not result.ok and result.code == "truncated"


def test_truncation_of_the_newest_entries_is_caught_by_the_checkpoint():
    _tamper_setup()
    # Deleting the newest rows also moves the head back: only the signed checkpoint at
    # size 40 still remembers them.
    _raw("DELETE FROM audit_ledgerentry WHERE seq >= %s", [38])
    result = selectors.ledger_verify()
    assert not result.ok and result.code == "truncated"


def test_edited_checkpoint_is_caught():
    _tamper_setup()
    cp = LedgerCheckpoint.objects.order_by("size").first()
    cp.text = cp.text.replace("\n30\n", "\n29\n")
    cp.save()
    result = selectors.ledger_verify()
    assert not result.ok and result.code == "signature_invalid"


def test_forged_checkpoint_signature_is_caught():
    _tamper_setup()
    from baomi.crypto.signing import generate_signing_key
    from baomi.ledger.checkpoint import checkpoint_sign

    state = selectors.ledger_state()
    forged = checkpoint_sign(
        generate_signing_key(),
        origin="baomi.ledger/v1",
        size=state.size,
        root=state.root,
        time=LedgerCheckpoint.objects.first().created_at,
        key_id="baomi-ledger",
    )
    LedgerCheckpoint.objects.create(
        size=state.size,
        root=state.root,
        text=forged.text,
        created_at=LedgerCheckpoint.objects.first().created_at,
    )
    result = selectors.ledger_verify()
    # The forged note names the ledger key but carries another key's signature.
    assert not result.ok and result.code in ("signature_invalid", "unknown_key")


def test_fork_is_reported():
    fill(10)
    text = selectors.checkpoint_create().text
    # Rewrite history: drop everything from entry 4 on and append different entries.
    fill(5)
    _raw("DELETE FROM audit_ledgerentry WHERE seq >= %s", [4])
    ledger_append_many([ev(100 + i, action="client.update") for i in range(8)])
    assert selectors.ledger_state().size == 12
    with pytest.raises(ForkDetected):
        selectors.consistency_with(text)


def test_rollback_below_an_exported_checkpoint_is_reported():
    fill(10)
    text = selectors.checkpoint_create().text
    _raw("DELETE FROM audit_ledgerentry WHERE seq >= %s", [6])
    with pytest.raises(ForkDetected) as exc:
        selectors.consistency_with(text)
    assert exc.value.code == "rollback"


def test_proofs_read_inner_nodes_from_entry_rows():
    fill(300)
    from baomi.ledger.hashing import root_from_leaf_hashes

    leaves = [
        bytes(h) for h in LedgerEntry.objects.order_by("seq").values_list("leaf_hash", flat=True)
    ]
    assert selectors.ledger_state().root == root_from_leaf_hashes(sha256, leaves)
    from baomi.ledger.proof import subtree_root

    for start, end in [(0, 256), (256, 288), (0, 300), (128, 192)]:
        assert subtree_root(selectors.DbNodeReader(), start, end) == root_from_leaf_hashes(
            sha256, leaves[start:end]
        )


def test_failed_append_rolls_back_with_the_action(make_user):
    """Inside a service transaction the entry and the change commit together."""
    from baomi.accounts.models import User

    user = make_user("victim1")
    before = LedgerEntry.objects.count()

    def action_that_fails_after_its_entry() -> None:
        with transaction.atomic():
            User.objects.filter(pk=user.pk).update(post="changed")
            ledger_append(ev(1))
            raise RuntimeError("the action failed after its entry")

    with pytest.raises(RuntimeError):
        action_that_fails_after_its_entry()
    assert LedgerEntry.objects.count() == before
    assert User.objects.get(pk=user.pk).post == ""


@pytest.mark.django_db(transaction=True)
def test_concurrent_threads_never_fork_or_duplicate():
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(25):
                ledger_append(ev(k * 100 + i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    seqs = list(LedgerEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(200))
    selectors.checkpoint_create()
    assert selectors.ledger_verify().ok


def test_no_secret_or_client_value_in_entries():
    ledger_append(ev(1, purpose="记账"))
    row = LedgerEntry.objects.get()
    for field in (bytes(row.data).decode(), row.actor, row.purpose):
        assert "password" not in field.lower()


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(2999, 12, 31), timezones=st.just(UTC)
    )
)
@settings(max_examples=300, deadline=None)
def test_the_time_column_is_what_django_itself_would_store(when: datetime) -> None:
    # The sequencer cuts the time column's text from the entry's time text instead of
    # calling Django's adapter (hot path); both must agree, including a zero fraction.
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL binds the datetime itself")
    assert services._sqlite_time_agrees(connection)
    assert services._sqlite_time(format_time(when)) == (
        connection.ops.adapt_datetimefield_value(when)
    )


def test_time_filters_find_an_entry_stored_at_a_whole_second():
    at = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    with transaction.atomic():
        cur = connection.connection.cursor()
        services._append_locked(connection, cur, [services._prepare(ev(1))], at, own=False)
    assert LedgerEntry.objects.filter(time__gte=at, time__lte=at).count() == 1
    assert LedgerEntry.objects.get().time == at
