"""Whole-log verification: each kind of tampering is caught with its reason and seq."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from baomi.crypto.signing import generate_signing_key
from baomi.ledger.checkpoint import checkpoint_sign, checkpoint_verify, key_hash
from baomi.ledger.entry import Entry, encode_entry, entry_leaf_hash
from baomi.ledger.errors import ForkDetected, LedgerVerificationError, VerifyCode
from baomi.ledger.proof import consistency_proof
from baomi.ledger.tests.helpers import KEY_NAME, ORIGIN, T0, Log, build_log, make_entry, relink
from baomi.ledger.verify import fork_check, verify_encoded, verify_log

LOG = build_log(300)


def fails(
    log: Log,
    entries: list[Entry] | None = None,
    checkpoints: list[str] | None = None,
) -> LedgerVerificationError:
    """Run both verifiers; they must fail identically. Returns the error."""
    entries = log.entries if entries is None else entries
    cps = [c.text for c in log.checkpoints] if checkpoints is None else checkpoints
    rows = [(e.seq, encode_entry(e)) for e in entries]
    with pytest.raises(LedgerVerificationError) as from_rows:
        verify_encoded(rows, cps, log.public, log.hash_name)
    with pytest.raises(LedgerVerificationError) as from_entries:
        verify_log(entries, cps, log.public, log.hash_name)
    a, b = from_rows.value, from_entries.value
    assert (a.reason, a.seq, a.checkpoint_size) == (b.reason, b.seq, b.checkpoint_size)
    return a


def test_valid_log_verifies() -> None:
    for report in (
        verify_encoded(LOG.rows, LOG.checkpoints, LOG.public),
        verify_encoded(LOG.rows, LOG.checkpoints, {KEY_NAME: LOG.public}, strict=True),
        verify_log(LOG.entries, LOG.checkpoints, LOG.public, origin=ORIGIN),
    ):
        assert report.size == 300
        assert report.root == LOG.states[300].root()
        assert report.last_leaf_hash == entry_leaf_hash(LOG.entries[-1])
        assert report.checkpoint_sizes == (100, 200, 300)


def test_longer_log_than_checkpoints_and_empty_log_verify() -> None:
    log = build_log(150, (0, 100))
    assert verify_encoded(log.rows, log.checkpoints, log.public).size == 150
    assert verify_encoded([], [log.checkpoints[0]], log.public).size == 0


def test_edited_entry_breaks_the_chain_at_that_entry() -> None:
    entries = list(LOG.entries)
    entries[150] = dataclasses.replace(entries[150], actor="someone-else")
    err = fails(LOG, entries)
    assert (err.reason, err.seq) == (VerifyCode.CHAIN_BROKEN, 150)


def test_edited_last_entry_is_caught_by_the_checkpoint() -> None:
    entries = list(LOG.entries)
    entries[299] = dataclasses.replace(entries[299], actor="someone-else")
    err = fails(LOG, entries)
    assert (err.reason, err.checkpoint_size) == (VerifyCode.ROOT_MISMATCH, 300)


def test_rewritten_and_relinked_history_is_caught_by_the_first_later_checkpoint() -> None:
    entries = list(LOG.entries)
    entries[150] = dataclasses.replace(entries[150], purpose="nothing to see")
    err = fails(LOG, relink(entries, 151))
    assert (err.reason, err.checkpoint_size) == (VerifyCode.ROOT_MISMATCH, 200)


def test_deleted_entry_is_a_gap() -> None:
    entries = LOG.entries[:150] + LOG.entries[151:]
    err = fails(LOG, entries)
    assert (err.reason, err.seq) == (VerifyCode.SEQUENCE_GAP, 150)


def test_inserted_entry_is_a_duplicate() -> None:
    forged = make_entry(150, entry_leaf_hash(LOG.entries[149]), actor="intruder")
    entries = [*LOG.entries[:150], forged, *LOG.entries[150:]]
    err = fails(LOG, entries)
    assert (err.reason, err.seq) == (VerifyCode.SEQUENCE_DUPLICATE, 150)


def test_inserted_and_renumbered_entries_break_the_chain() -> None:
    forged = make_entry(150, entry_leaf_hash(LOG.entries[149]), actor="intruder")
    renumbered = [dataclasses.replace(e, seq=e.seq + 1) for e in LOG.entries[150:]]
    err = fails(LOG, [*LOG.entries[:150], forged, *renumbered])
    assert (err.reason, err.seq) == (VerifyCode.CHAIN_BROKEN, 150)


def test_reordered_entries_are_caught_at_the_first_displaced_seq() -> None:
    entries = list(LOG.entries)
    entries[150], entries[151] = entries[151], entries[150]
    err = fails(LOG, entries)
    assert (err.reason, err.seq) == (VerifyCode.SEQUENCE_GAP, 150)


def test_truncated_log() -> None:
    err = fails(LOG, LOG.entries[:250])
    assert (err.reason, err.seq, err.checkpoint_size) == (VerifyCode.TRUNCATED, 250, 300)


def test_wrong_genesis_link() -> None:
    entries = list(LOG.entries)
    entries[0] = dataclasses.replace(entries[0], prev_hash=b"\x01" * 32)
    err = fails(LOG, entries)
    assert (err.reason, err.seq) == (VerifyCode.CHAIN_BROKEN, 0)


def test_edited_checkpoint() -> None:
    cps = [c.text for c in LOG.checkpoints]
    cps[1] = cps[1].replace("\n200\n", "\n201\n")
    err = fails(LOG, checkpoints=cps)
    # The size reported is the one the (edited, unverifiable) checkpoint claims.
    assert (err.reason, err.checkpoint_size) == (VerifyCode.SIGNATURE_INVALID, 201)


def test_forged_checkpoint_signature() -> None:
    # The forger signs a fake head with their own key and puts our (public) key hash on it.
    forger = generate_signing_key()
    forged = checkpoint_sign(
        forger, origin=ORIGIN, size=300, root=bytes(32), time=T0, key_id=KEY_NAME
    ).text
    blob = base64.b64decode(forged.rsplit(" ", 1)[1])
    graft = base64.b64encode(key_hash(KEY_NAME, LOG.public) + blob[4:]).decode()
    forged = forged.rsplit(" ", 1)[0] + " " + graft + "\n"
    err = fails(LOG, checkpoints=[*[c.text for c in LOG.checkpoints], forged])
    assert (err.reason, err.checkpoint_size) == (VerifyCode.SIGNATURE_INVALID, 300)


def test_checkpoint_by_an_unknown_key() -> None:
    other = checkpoint_sign(
        generate_signing_key(), origin=ORIGIN, size=10, root=bytes(32), time=T0, key_id="x"
    )
    err = fails(LOG, checkpoints=[other.text])
    assert err.reason == VerifyCode.UNKNOWN_KEY


def test_validly_signed_checkpoint_of_another_history_is_a_root_mismatch() -> None:
    # The signing key signed a different tree at size 100: a fork shown to someone else.
    forked_entries = LOG.entries[:100]
    forked_entries[3] = dataclasses.replace(forked_entries[3], reason="other")
    state = LOG.states[0]
    for e in relink(forked_entries, 4):
        state = state.append(entry_leaf_hash(e))
    other = checkpoint_sign(
        LOG.seed, origin=ORIGIN, size=100, root=state.root(), time=T0, key_id=KEY_NAME
    )
    err = fails(LOG, checkpoints=[other.text])
    assert (err.reason, err.checkpoint_size) == (VerifyCode.ROOT_MISMATCH, 100)


def test_malformed_rows() -> None:
    rows = list(LOG.rows)
    rows[42] = (42, rows[42][1].replace(b'"v":1', b'"v":2'))
    with pytest.raises(LedgerVerificationError) as info:
        verify_encoded(rows, LOG.checkpoints, LOG.public)
    assert (info.value.reason, info.value.seq) == (VerifyCode.ENTRY_MALFORMED, 42)
    rows = list(LOG.rows)
    rows[42] = (43, rows[42][1])
    with pytest.raises(LedgerVerificationError) as info:
        verify_encoded(rows, LOG.checkpoints, LOG.public)
    # Named by the row's stored seq: that is where the misplaced bytes are found (a row
    # planted at seq -1 with entry 3's bytes is named -1, not the intact entry 3).
    assert (info.value.reason, info.value.seq) == (VerifyCode.ENTRY_MALFORMED, 43)


def test_strict_mode_refuses_non_canonical_bytes_the_layout_scan_accepts() -> None:
    # A buggy writer spelled "A" as an escape; the hash chain is consistent with those
    # bytes, so only the full decode notices.
    bad = encode_entry(make_entry(0, bytes(32))).replace(b'"user:0"', b'"user:\\u0030"')
    rows = [(0, bad)]
    assert verify_encoded(rows, [], LOG.public).size == 1
    with pytest.raises(LedgerVerificationError) as info:
        verify_encoded(rows, [], LOG.public, strict=True)
    assert (info.value.reason, info.value.seq) == (VerifyCode.ENTRY_MALFORMED, 0)


def test_sm3_log() -> None:
    log = build_log(120, (50, 120), hash_name="sm3")
    report = verify_encoded(log.rows, log.checkpoints, log.public, "sm3")
    assert report.root == log.states[120].root()
    assert verify_log(log.entries, log.checkpoints, log.public, "sm3").size == 120
    # The same rows do not verify as a SHA-256 log, and a mislabelled checkpoint is caught.
    with pytest.raises(LedgerVerificationError) as info:
        verify_encoded(log.rows, log.checkpoints, log.public, "sha256")
    assert info.value.reason == VerifyCode.HASH_MISMATCH
    with pytest.raises(LedgerVerificationError) as info:
        verify_encoded(log.rows, [], log.public, "sha256")
    assert (info.value.reason, info.value.seq) == (VerifyCode.CHAIN_BROKEN, 0)
    entries = list(log.entries)
    entries[60] = dataclasses.replace(entries[60], object_id="doc-x")
    err = fails(log, entries)
    assert (err.reason, err.seq) == (VerifyCode.CHAIN_BROKEN, 60)


def test_origin_is_checked_when_given() -> None:
    with pytest.raises(LedgerVerificationError) as info:
        verify_encoded(LOG.rows, LOG.checkpoints, LOG.public, origin="elsewhere")
    assert info.value.reason == VerifyCode.ORIGIN_MISMATCH


def test_fork_check() -> None:
    exported = checkpoint_verify(LOG.public, LOG.checkpoints[0].text)
    current = LOG.states[300]
    proof = consistency_proof(LOG.store, exported.size, current.size)
    result = fork_check(exported, current, proof)
    assert (result.old_size, result.new_size, result.new_root) == (100, 300, current.root())
    later = checkpoint_verify(LOG.public, LOG.checkpoints[2].text)
    assert fork_check(exported, later, proof).new_size == 300
    assert fork_check(exported, LOG.states[100], []).new_size == 100

    with pytest.raises(ForkDetected) as info:
        fork_check(later, LOG.states[100], [])
    assert info.value.reason == VerifyCode.ROLLBACK

    # Rewrite entry 50 and everything after: the old export no longer connects.
    entries = list(LOG.entries)
    entries[50] = dataclasses.replace(entries[50], actor="rewritten")
    rewritten = build_log(0, ())
    state = rewritten.states[0]
    for e in relink(entries, 51):
        state, nodes = state.append_nodes(entry_leaf_hash(e))
        rewritten.store.put_nodes(nodes)
    with pytest.raises(ForkDetected) as info:
        fork_check(exported, state, consistency_proof(rewritten.store, 100, 300))
    assert info.value.reason == VerifyCode.FORK
    with pytest.raises(ForkDetected) as info:
        fork_check(exported, state, proof)
    assert info.value.reason == VerifyCode.FORK
