"""Verifying a log in parts (`start`, `start_leaf`, `complete`): the parts together
establish exactly what verifying the whole does, and each stored copy of the tree is
checked on the way (`verify_stored`)."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from baomi.ledger.compact import CompactRange
from baomi.ledger.entry import encode_entry
from baomi.ledger.errors import LedgerVerificationError, VerifyCode
from baomi.ledger.hashing import LEAF_PREFIX, sha256
from baomi.ledger.tests.helpers import build_log, relink
from baomi.ledger.verify import VerifyReport, verify_encoded, verify_stored

LOG = build_log(300)
CPS = [c.text for c in LOG.checkpoints]  # sizes 100, 200, 300


def _stored(rows: list[tuple[int, bytes]]) -> list[tuple[int, bytes, bytes, bytes, bytes]]:
    """Rows with the copies the database keeps: leaf hash, state after, inner nodes."""
    leaves = [sha256(LEAF_PREFIX + data) for _seq, data in rows]
    _state, made = CompactRange.empty().extend(leaves)
    return [(seq, data, leaf, state, nodes)
            for (seq, data), leaf, (state, nodes) in zip(rows, leaves, made, strict=True)]


STORED = _stored(LOG.rows)


def _in_parts(cuts: list[int], stored: bool = False) -> list[VerifyReport]:
    rows: list[Any] = STORED if stored else LOG.rows
    verify = verify_stored if stored else verify_encoded
    bounds = [0, *cuts, len(rows)]
    reports = []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        leaf = STORED[a - 1][2] if a else b""
        kwargs: dict[str, Any] = {"start": LOG.states[a], "start_leaf": leaf} if a else {}
        reports.append(verify(rows[a:b], CPS, LOG.public, complete=i == len(bounds) - 2,
                              **kwargs))
    return reports


@pytest.mark.parametrize("cuts", [[1], [99], [100], [101], [150], [299], [50, 100, 250],
                                  [300]])
@pytest.mark.parametrize("stored", [False, True])
def test_parts_chain_into_the_whole(cuts: list[int], stored: bool) -> None:
    whole = verify_encoded(LOG.rows, CPS, LOG.public)
    parts = _in_parts(cuts, stored)
    for before, after, cut in zip(parts[:-1], parts[1:], cuts, strict=True):
        # What the caller checks: each part ends where the next one started.
        assert before.state == LOG.states[cut]
        assert before.last_leaf_hash == STORED[cut - 1][2]
        assert before.size == cut
        assert after.size >= cut
    assert (parts[-1].size, parts[-1].root, parts[-1].last_leaf_hash) == (
        whole.size, whole.root, whole.last_leaf_hash)
    assert parts[-1].state == LOG.states[300]
    assert all(p.first_copy_mismatch is None for p in parts)


def test_a_part_short_of_a_later_checkpoint_is_not_truncated_unless_complete() -> None:
    assert verify_encoded(LOG.rows[:150], CPS, LOG.public, complete=False).size == 150
    with pytest.raises(LedgerVerificationError) as err:
        verify_encoded(LOG.rows[:150], CPS, LOG.public)
    assert err.value.reason == VerifyCode.TRUNCATED


def test_a_tampered_entry_in_a_later_part_is_named_as_the_whole_names_it() -> None:
    entries = list(LOG.entries)
    entries[160] = dataclasses.replace(entries[160], purpose="nothing to see")
    rows = [(e.seq, encode_entry(e)) for e in relink(entries, 161)]
    with pytest.raises(LedgerVerificationError) as whole:
        verify_encoded(rows, CPS, LOG.public)
    with pytest.raises(LedgerVerificationError) as part:
        verify_encoded(rows[120:], CPS, LOG.public, start=LOG.states[120],
                       start_leaf=STORED[119][2])
    assert (part.value.reason, part.value.checkpoint_size) == (
        whole.value.reason, whole.value.checkpoint_size) == (VerifyCode.ROOT_MISMATCH, 200)


def test_a_part_started_from_a_wrong_state_fails_or_ends_elsewhere() -> None:
    # From a state that is not the log's: the next checkpoint's root differs.
    bad = CompactRange("sha256", 120, (*LOG.states[120].hashes[:-1], b"\1" * 32))
    with pytest.raises(LedgerVerificationError) as err:
        verify_encoded(LOG.rows[120:], CPS, LOG.public, start=bad, start_leaf=STORED[119][2])
    assert (err.value.reason, err.value.checkpoint_size) == (VerifyCode.ROOT_MISMATCH, 200)
    # From the wrong previous leaf: the first row's link is broken.
    with pytest.raises(LedgerVerificationError) as err:
        verify_encoded(LOG.rows[120:], CPS, LOG.public, start=LOG.states[120],
                       start_leaf=STORED[118][2])
    assert (err.value.reason, err.value.seq) == (VerifyCode.CHAIN_BROKEN, 119)
    # A part whose first row is not the start's size is a gap or a duplicate.
    with pytest.raises(LedgerVerificationError) as err:
        verify_encoded(LOG.rows[121:], CPS, LOG.public, start=LOG.states[120],
                       start_leaf=STORED[119][2])
    assert (err.value.reason, err.value.seq) == (VerifyCode.SEQUENCE_GAP, 120)


def test_a_start_of_another_hash_is_refused() -> None:
    with pytest.raises(ValueError, match="sm3"):
        verify_encoded(LOG.rows[10:], CPS, LOG.public, start=CompactRange.empty("sm3"))


@pytest.mark.parametrize("column", [2, 3, 4])
@pytest.mark.parametrize("seq", [0, 7, 15, 299])
def test_each_altered_copy_is_named_without_stopping_the_pass(column: int, seq: int) -> None:
    rows = [list(r) for r in STORED]
    if column == 4 and not rows[seq][4]:
        seq = 15  # a row that completed inner nodes
    value = bytearray(rows[seq][column])
    value[-1] ^= 1
    rows[seq][column] = bytes(value)
    report = verify_stored([tuple(r) for r in rows], CPS, LOG.public)  # type: ignore[misc]
    assert (report.size, report.first_copy_mismatch) == (300, seq)


def test_missing_or_extra_inner_nodes_are_a_mismatch() -> None:
    rows = [list(r) for r in STORED]
    rows[15][4] = rows[15][4][:-32]
    rows[16][4] = b"\0" * 32  # row 16 completed none
    report = verify_stored([tuple(r) for r in rows], CPS, LOG.public)  # type: ignore[misc]
    assert report.first_copy_mismatch == 15


def test_chain_failures_outrank_copy_mismatches() -> None:
    rows = [list(r) for r in STORED]
    rows[3][3] = b"not a state"
    rows[200][1] = rows[200][1].replace(b'"v":1', b'"v":2')
    with pytest.raises(LedgerVerificationError) as err:
        verify_stored([tuple(r) for r in rows], CPS, LOG.public)  # type: ignore[misc]
    assert err.value.reason in {VerifyCode.CHAIN_BROKEN, VerifyCode.ENTRY_MALFORMED}
