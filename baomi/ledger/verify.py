"""Whole-log verification and fork checks.

`verify_encoded` is the primary check: it reads stored canonical entry bytes in seq
order and recomputes every leaf hash, the hash chain, sequence continuity and the Merkle
root at each checkpoint size, and checks every checkpoint's signature. `verify_log` does
the same from `Entry` objects. Both stop at the FIRST problem and raise
`LedgerVerificationError` naming it; they never return a failure as a value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from baomi.crypto.digest import HASH_NAMES, HashName
from baomi.ledger.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    checkpoint_parse,
    checkpoint_verify,
)
from baomi.ledger.compact import CompactRange, state_header
from baomi.ledger.entry import (
    GENESIS_PREV_HASH,
    Entry,
    decode_entry,
    encode_entry,
    scan_fields,
)
from baomi.ledger.errors import (
    CheckpointError,
    EntryFormatError,
    ForkDetected,
    LedgerVerificationError,
    ProofError,
    VerifyCode,
)
from baomi.ledger.hashing import HashFn, empty_root, hasher
from baomi.ledger.proof import verify_consistency


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What a successful verification established.

    `size` entries verified, ending in Merkle `root` (and `last_leaf_hash`, the next
    entry's expected `prev_hash`); every checkpoint in `checkpoint_sizes` verified.
    """

    hash_name: HashName
    size: int
    root: bytes
    last_leaf_hash: bytes
    checkpoints_verified: int
    checkpoint_sizes: tuple[int, ...]
    # `verify_stored` only: the first seq whose stored leaf hash, state or inner nodes
    # differ from the recomputed ones (None: all agree, or not checked).
    first_copy_mismatch: int | None = None
    # The tree state after the last entry verified (its `root()` is `root`).
    state: CompactRange | None = None


def _hash_fn(hash_name: HashName) -> HashFn:
    if hash_name not in HASH_NAMES:
        raise ValueError(f"unknown hash {hash_name!r}")
    return hasher(hash_name)


def _verified_checkpoints(
    checkpoints: Iterable[SignedCheckpoint | str],
    public_keys: bytes | Mapping[str, bytes],
    hash_name: HashName,
    origin: str | None,
) -> list[Checkpoint]:
    """Verify every checkpoint signature; return them sorted by size (stable)."""
    verified: list[Checkpoint] = []
    for item in checkpoints:
        text = item.text if isinstance(item, SignedCheckpoint) else item
        try:
            cp = checkpoint_verify(public_keys, text)
        except CheckpointError as exc:
            raise LedgerVerificationError(
                VerifyCode(exc.code), str(exc), checkpoint_size=_claimed_size(item)
            ) from exc
        if cp.hash_name != hash_name:
            raise LedgerVerificationError(
                VerifyCode.HASH_MISMATCH,
                f"checkpoint uses {cp.hash_name}, the log {hash_name}",
                checkpoint_size=cp.size,
            )
        if origin is not None and cp.origin != origin:
            raise LedgerVerificationError(
                VerifyCode.ORIGIN_MISMATCH,
                f"checkpoint is for log {cp.origin!r}, not {origin!r}",
                checkpoint_size=cp.size,
            )
        verified.append(cp)
    verified.sort(key=lambda c: c.size)
    return verified


def _claimed_size(item: SignedCheckpoint | str) -> int | None:
    """The size a checkpoint claims, unverified, so an error can say which one failed."""
    if isinstance(item, SignedCheckpoint):
        return item.checkpoint.size
    try:
        return checkpoint_parse(item).checkpoint.size
    except CheckpointError:
        return None


def verify_encoded(
    rows: Iterable[tuple[int, bytes]],
    checkpoints: Iterable[SignedCheckpoint | str],
    public_keys: bytes | Mapping[str, bytes],
    hash_name: HashName = "sha256",
    *,
    origin: str | None = None,
    strict: bool = False,
    start: CompactRange | None = None,
    start_leaf: bytes = GENESIS_PREV_HASH,
    complete: bool = True,
) -> VerifyReport:
    """Verify a whole log from its stored rows `(seq column, canonical entry bytes)`.

    Rows must come in storage order, which must be seq order starting at 0. Checks, in
    this order: every checkpoint's signature (before any entry is read; `public_keys` as
    for `checkpoint_verify`, `origin` if given); then per row: the bytes have the
    canonical entry anchors (`strict=True` also fully decodes each entry, slower), the
    encoded seq matches the seq column and continues the sequence, `prev_hash` equals
    the previous entry's leaf hash (genesis: 32 zero bytes), and the Merkle root after
    each checkpoint's size equals that checkpoint's root; finally that the log is not
    shorter than any checkpoint.

    A part of a log can be verified on its own (several parts at once, in parallel):
    `start`, the tree state before the first row (its size the first row's seq), and
    `start_leaf`, the leaf hash of the entry before it (the first row's expected
    `prev_hash`), both as the caller has them stored; checkpoints up to `start.size`
    are then left to the part before, and with `complete=False` those past the last row
    to the part after. The parts verify the whole log only if each part's resulting
    `state` and `last_leaf_hash` are exactly what the next part started from.

    Raises `LedgerVerificationError` for the first failure, with `reason` one of
    `VerifyCode` and `seq` naming the first implicated entry: `entry_malformed`,
    `sequence_gap` (seq = the missing number), `sequence_duplicate` (seq repeated or
    going back), `chain_broken` (seq = the entry whose leaf hash its successor does not
    link to: that entry or its successor's link was altered), `root_mismatch` and
    `truncated` (with `checkpoint_size`), `signature_invalid`, `unknown_key`,
    `checkpoint_malformed`, `hash_mismatch`, `origin_mismatch`.
    """
    hash_fn = _hash_fn(hash_name)
    cps = _verified_checkpoints(checkpoints, public_keys, hash_name, origin)
    return _verify_rows(
        rows, cps, hash_name, hash_fn, strict, start=start, start_leaf=start_leaf,
        complete=complete,
    )


def verify_stored(
    rows: Iterable[tuple[int, bytes, bytes, bytes, bytes]],
    checkpoints: Iterable[SignedCheckpoint | str],
    public_keys: bytes | Mapping[str, bytes],
    hash_name: HashName = "sha256",
    *,
    origin: str | None = None,
    start: CompactRange | None = None,
    start_leaf: bytes = GENESIS_PREV_HASH,
    complete: bool = True,
) -> VerifyReport:
    """`verify_encoded` over rows that also carry the tree's stored copies:
    `(seq, entry bytes, leaf hash, state after the entry, inner nodes it completed)`.

    The same checks, in one pass; besides, each row's leaf hash, serialized state
    (`CompactRange.to_bytes` after the entry) and inner nodes (levels 1, 2, …
    concatenated, as `CompactRange.extend` gives them) are compared with the recomputed
    ones. Proofs are served from these copies and the next append starts from the last
    state, so a copy that differs misleads without breaking the entries' hashes. A
    differing copy does not stop the pass: the log's own failures (which `verify_encoded`
    raises) take precedence, and the first such seq is returned as
    `VerifyReport.first_copy_mismatch` for the caller to report after its other checks.
    `start`, `start_leaf`, `complete`: a part of the log, as for `verify_encoded`.
    """
    hash_fn = _hash_fn(hash_name)
    cps = _verified_checkpoints(checkpoints, public_keys, hash_name, origin)
    return _verify_rows(
        rows, cps, hash_name, hash_fn, False, copies=True, start=start,
        start_leaf=start_leaf, complete=complete,
    )


def verify_log(
    entries: Iterable[Entry],
    checkpoints: Iterable[SignedCheckpoint | str],
    public_keys: bytes | Mapping[str, bytes],
    hash_name: HashName = "sha256",
    *,
    origin: str | None = None,
) -> VerifyReport:
    """Verify a whole log given as `Entry` objects in seq order; see `verify_encoded`.

    Each entry is re-encoded canonically, so this is slower than `verify_encoded` on the
    stored bytes. Raises `LedgerVerificationError` for the first failure.
    """
    hash_fn = _hash_fn(hash_name)
    cps = _verified_checkpoints(checkpoints, public_keys, hash_name, origin)
    rows = ((e.seq, encode_entry(e)) for e in entries)
    return _verify_rows(rows, cps, hash_name, hash_fn, False)


def _verify_rows(
    rows: Iterable[Sequence[Any]],
    cps: Sequence[Checkpoint],
    hash_name: HashName,
    hash_fn: HashFn,
    strict: bool,
    *,
    copies: bool = False,
    start: CompactRange | None = None,
    start_leaf: bytes = GENESIS_PREV_HASH,
    complete: bool = True,
) -> VerifyReport:
    """The verification loop: layout, sequence, chain, frontier and checkpoint roots;
    with `copies`, also each row's stored leaf hash, state and inner nodes (rows as
    `verify_stored` takes them)."""
    # Locals and an inline frontier (perfect-subtree roots, largest first) keep the
    # per-entry cost at a leaf hash plus, amortised, one node hash.
    sha = hashlib.sha256 if hash_name == "sha256" else None
    if start is not None and start.hash_name != hash_name:
        raise ValueError(f"start state uses {start.hash_name}, the log {hash_name}")
    stack: list[bytes] = list(start.hashes) if start is not None else []
    pop, push = stack.pop, stack.append
    count = start.size if start is not None else 0
    prev = start_leaf if count else GENESIS_PREV_HASH
    cp_index = 0
    if count:  # checkpoints within the part before are that part's
        while cp_index < len(cps) and cps[cp_index].size <= count:
            cp_index += 1
    # A checkpoint of size 0 can only match the empty-tree hash.
    while cp_index < len(cps) and cps[cp_index].size == 0:
        _check_root(cps[cp_index], empty_root(hash_fn))
        cp_index += 1
    next_size = cps[cp_index].size if cp_index < len(cps) else -1

    prev_hex = prev.hex().encode("ascii")
    header = state_header(hash_name)
    join = b"".join
    inner: list[bytes] = []
    mismatch: int | None = None
    for row in rows:
        column_seq: int = row[0]
        data: bytes = row[1]
        fields = scan_fields(data)
        if fields is None:
            raise LedgerVerificationError(
                VerifyCode.ENTRY_MALFORMED,
                "bytes do not have the canonical entry layout",
                seq=column_seq,
            )
        seq, link = fields
        if strict:
            try:
                decode_entry(data)
            except EntryFormatError as exc:
                raise LedgerVerificationError(
                    VerifyCode.ENTRY_MALFORMED, str(exc), seq=column_seq
                ) from exc
        if seq != column_seq:
            # Named by the row it is stored at: that row is the one out of place.
            raise LedgerVerificationError(
                VerifyCode.ENTRY_MALFORMED,
                f"stored seq column {column_seq} disagrees with the encoded seq {seq}",
                seq=column_seq,
            )
        if seq != count:
            if seq > count:
                raise LedgerVerificationError(
                    VerifyCode.SEQUENCE_GAP,
                    f"expected seq {count}, found {seq}: entries are missing or reordered",
                    seq=count,
                )
            raise LedgerVerificationError(
                VerifyCode.SEQUENCE_DUPLICATE,
                f"expected seq {count}, found {seq} again: entries duplicated or reordered",
                seq=seq,
            )
        # Compared as hex text: any other spelling of the right hash is not canonical.
        if link != prev_hex:
            if count == 0:
                raise LedgerVerificationError(
                    VerifyCode.CHAIN_BROKEN,
                    "the first entry's prev_hash is not the genesis value",
                    seq=0,
                )
            raise LedgerVerificationError(
                VerifyCode.CHAIN_BROKEN,
                f"entry {seq}'s prev_hash is not the leaf hash of entry {seq - 1}: "
                f"entry {seq - 1} (or entry {seq}'s link) was altered",
                seq=seq - 1,
            )
        leaf = sha(b"\x00" + data).digest() if sha else hash_fn(b"\x00" + data)
        prev = node = leaf
        prev_hex = leaf.hex().encode("ascii")
        bits = count
        while bits & 1:
            node = sha(b"\x01" + pop() + node).digest() if sha else hash_fn(b"\x01" + pop() + node)
            if copies:
                inner.append(node)
            bits >>= 1
        push(node)
        count += 1
        if copies:
            if mismatch is None and (
                row[2] != leaf
                or row[4] != join(inner)
                or row[3] != header + count.to_bytes(8, "big") + join(stack)
            ):
                mismatch = seq
            inner.clear()
        if count == next_size:
            root = _fold(stack, hash_fn)
            while cp_index < len(cps) and cps[cp_index].size == count:
                _check_root(cps[cp_index], root)
                cp_index += 1
            next_size = cps[cp_index].size if cp_index < len(cps) else -1

    if complete and cp_index < len(cps):
        cp = cps[cp_index]
        raise LedgerVerificationError(
            VerifyCode.TRUNCATED,
            f"the log has {count} entries but a checkpoint commits to {cp.size}",
            seq=count,
            checkpoint_size=cp.size,
        )
    return VerifyReport(
        hash_name=hash_name,
        size=count,
        root=_fold(stack, hash_fn),
        last_leaf_hash=prev,
        checkpoints_verified=len(cps),
        checkpoint_sizes=tuple(c.size for c in cps),
        first_copy_mismatch=mismatch,
        state=CompactRange(hash_name, count, tuple(stack)),
    )


def _fold(stack: Sequence[bytes], hash_fn: HashFn) -> bytes:
    if not stack:
        return empty_root(hash_fn)
    acc = stack[-1]
    for h in reversed(stack[:-1]):
        acc = hash_fn(b"\x01" + h + acc)
    return acc


def _check_root(cp: Checkpoint, root: bytes) -> None:
    if cp.root != root:
        raise LedgerVerificationError(
            VerifyCode.ROOT_MISMATCH,
            f"Merkle root of the first {cp.size} entries is {root.hex()}, "
            f"the signed checkpoint says {cp.root.hex()}: history was rewritten or forked",
            checkpoint_size=cp.size,
        )


@dataclass(frozen=True, slots=True)
class ForkCheck:
    """Result of a successful `fork_check`: the log at `new_size` extends `old_size`."""

    old_size: int
    new_size: int
    new_root: bytes


def fork_check(
    exported: Checkpoint,
    current: Checkpoint | CompactRange,
    proof: Sequence[bytes],
) -> ForkCheck:
    """Check that the current log extends a previously exported (already verified) checkpoint.

    `current` is the current signed checkpoint or the sequencer's tree state; `proof` is
    `consistency_proof(store, exported.size, current size)`. Returns `ForkCheck` when the
    current log is an append-only extension (or the same tree). Raises `ForkDetected`
    with reason `rollback` (the log is now smaller than the export), `hash_mismatch`,
    `origin_mismatch` (two Checkpoints from different logs) or `fork` (the proof does not
    connect the two roots: history was rewritten, or the proof is wrong).
    """
    if isinstance(current, CompactRange):
        new_size, new_root, new_hash = current.size, current.root(), current.hash_name
    else:
        if current.origin != exported.origin:
            raise ForkDetected(
                VerifyCode.ORIGIN_MISMATCH,
                f"checkpoints are from {exported.origin!r} and {current.origin!r}",
            )
        new_size, new_root, new_hash = current.size, current.root, current.hash_name
    if new_hash != exported.hash_name:
        raise ForkDetected(
            VerifyCode.HASH_MISMATCH, f"export uses {exported.hash_name}, the log {new_hash}"
        )
    if new_size < exported.size:
        raise ForkDetected(
            VerifyCode.ROLLBACK,
            f"the log has {new_size} entries, fewer than the exported {exported.size}",
        )
    try:
        verify_consistency(
            hasher(new_hash), exported.size, new_size, exported.root, new_root, proof
        )
    except ProofError as exc:
        raise ForkDetected(
            VerifyCode.FORK,
            f"the log at size {new_size} does not extend the exported checkpoint at size "
            f"{exported.size}: {exc}",
        ) from exc
    return ForkCheck(exported.size, new_size, new_root)
