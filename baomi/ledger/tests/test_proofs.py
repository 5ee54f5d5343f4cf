"""Proof generation against the naive reference, and exhaustive verification: every valid
proof for every (index, size) and (m, n) with n <= 256 is accepted and every corrupted
variant of it is rejected."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from baomi.crypto.digest import hash_function
from baomi.ledger.errors import MissingNode, ProofError
from baomi.ledger.hashing import HashFn, sha256
from baomi.ledger.proof import (
    consistency_proof,
    inclusion_proof,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)
from baomi.ledger.storage import MemoryNodeStore, NodeID
from baomi.ledger.tests.reference import Reference

MAX_N = 256
ENTRIES = [f"entry {i}".encode() for i in range(MAX_N)]
REF = Reference(ENTRIES)
LEAF_HASHES = [REF.leaf(i) for i in range(MAX_N)]
STORE = MemoryNodeStore.from_leaf_hashes(sha256, LEAF_HASHES)
OTHER = sha256(b"not a node in this tree")


def flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


def path_variants(proof: list[bytes]) -> Iterator[list[bytes]]:
    """Every corrupted form of a proof path: truncated, extended, swapped, bit-flipped."""
    if proof:
        yield proof[:-1]
        yield proof[1:]
    yield [*proof, OTHER]
    yield [OTHER, *proof]
    yield [*proof, proof[-1]] if proof else [b""]
    for i in range(len(proof) - 1):
        if proof[i] != proof[i + 1]:
            yield [*proof[:i], proof[i + 1], proof[i], *proof[i + 2 :]]
    for i in range(len(proof)):
        yield [*proof[:i], flip(proof[i]), *proof[i + 1 :]]
        yield [*proof[:i], b"", *proof[i + 1 :]]


def rejects(check: Callable[[], None]) -> bool:
    try:
        check()
    except ProofError:
        return True
    return False


def check_inclusion_exhaustively(ref: Reference, store: MemoryNodeStore, n: int) -> None:
    h: HashFn = ref.h
    root = ref.mth(0, n)
    for index in range(n):
        leaf = ref.leaf(index)
        proof = inclusion_proof(store, index, n, hash_fn=h)
        assert proof == ref.inclusion(index, n), (index, n)
        verify_inclusion(h, index, n, leaf, proof, root)
        bad: list[tuple[int, int, bytes, list[bytes], bytes]] = [
            (index + 1, n, leaf, proof, root),
            (index - 1, n, leaf, proof, root),
            (index, n * 2, leaf, proof, root),
            (index, n // 2, leaf, proof, root),
            (index, n, flip(leaf), proof, root),
            (index, n, OTHER, proof, root),
            (index, n, leaf, proof, flip(root)),
            (index, n, leaf, proof, b""),
            (index, n, leaf, proof, h(b"")),
        ]
        bad.extend((index, n, leaf, p, root) for p in path_variants(proof))
        for i, s, lf, p, r in bad:
            assert rejects(partial(verify_inclusion, h, i, s, lf, p, r)), (index, n, i, s)


def check_consistency_exhaustively(ref: Reference, store: MemoryNodeStore, n: int) -> None:
    h: HashFn = ref.h
    new_root = ref.mth(0, n)
    for m in range(n + 1):
        old_root = ref.mth(0, m)
        proof = consistency_proof(store, m, n, hash_fn=h)
        assert proof == ref.consistency(m, n), (m, n)
        verify_consistency(h, m, n, old_root, new_root, proof)
        bad: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
            (m, n, flip(old_root), new_root, proof),
            (m, n, old_root, flip(new_root), proof),
            (m, n, b"", new_root, proof),
            (m, n, old_root, b"", proof),
            (m, n * 2, old_root, new_root, proof),
            (m, n // 2, old_root, new_root, proof),
        ]
        if m < n:
            # A tree differs from its own prefixes, so a proof that passes for them is bogus.
            bad.append((m, n, old_root, old_root, proof))
        if m > 0:
            bad.append((m - 1, n, old_root, new_root, proof))
        if m < n:
            bad.append((m + 1, n, old_root, new_root, proof))
        bad.extend((m, n, old_root, new_root, p) for p in path_variants(proof))
        if m == 0:
            # From the empty tree every tree is consistent: only the old root and the
            # (necessarily empty) proof can be wrong.
            bad = [x for x in bad if x[0] == 0 and (x[2] != old_root or x[4])]
        for a, b, o, r, p in bad:
            if (a, b, o, r, p) == (m, n, old_root, new_root, proof):
                continue
            if (
                0 <= a <= b <= len(ref.entries)
                and p == ref.consistency(a, b)
                and (o == ref.mth(0, a) and r == ref.mth(0, b))
            ):
                continue  # the "corruption" happens to be another valid proof
            assert rejects(partial(verify_consistency, h, a, b, o, r, p)), (m, n, a, b, len(p))


@pytest.mark.parametrize("n", range(1, MAX_N + 1))
def test_inclusion_all_indices(n: int) -> None:
    check_inclusion_exhaustively(REF, STORE, n)


@pytest.mark.parametrize("n", range(1, MAX_N + 1))
def test_consistency_all_sizes(n: int) -> None:
    check_consistency_exhaustively(REF, STORE, n)


SM3 = hash_function("sm3")
SM3_N = 40
SM3_REF = Reference(ENTRIES[:SM3_N], SM3)
SM3_STORE = MemoryNodeStore.from_leaf_hashes(SM3, [SM3_REF.leaf(i) for i in range(SM3_N)])


@pytest.mark.parametrize("n", range(1, SM3_N + 1))
def test_sm3_proofs(n: int) -> None:
    check_inclusion_exhaustively(SM3_REF, SM3_STORE, n)
    check_consistency_exhaustively(SM3_REF, SM3_STORE, n)


def test_sha256_proof_does_not_verify_under_sm3() -> None:
    proof = inclusion_proof(STORE, 3, 10)
    with pytest.raises(ProofError):
        verify_inclusion(SM3, 3, 10, LEAF_HASHES[3], proof, REF.mth(0, 10))


def test_generation_rejects_bad_arguments() -> None:
    with pytest.raises(ProofError):
        inclusion_proof(STORE, 5, 5)
    with pytest.raises(ProofError):
        inclusion_proof(STORE, -1, 5)
    with pytest.raises(ProofError):
        consistency_proof(STORE, 6, 5)
    with pytest.raises(MissingNode):
        inclusion_proof(STORE, 0, MAX_N + 1)
    with pytest.raises(MissingNode):
        consistency_proof(LEAF_HASHES, 3, MAX_N + 1)


def test_subtree_root_matches_reference() -> None:
    for n in range(MAX_N + 1):
        assert subtree_root(STORE, 0, n) == REF.mth(0, n)
    assert subtree_root(STORE, 64, 100) == REF.mth(64, 100)


BIG_N = 3000
BIG_REF = Reference([i.to_bytes(4, "big") for i in range(BIG_N)])
BIG_STORE = MemoryNodeStore.from_leaf_hashes(sha256, [BIG_REF.leaf(i) for i in range(BIG_N)])


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_random_large_trees_match_reference(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, BIG_N))
    index = data.draw(st.integers(0, n - 1))
    m = data.draw(st.integers(0, n))
    proof = inclusion_proof(BIG_STORE, index, n)
    assert proof == BIG_REF.inclusion(index, n)
    verify_inclusion(sha256, index, n, BIG_REF.leaf(index), proof, BIG_REF.mth(0, n))
    cproof = consistency_proof(BIG_STORE, m, n)
    assert cproof == BIG_REF.consistency(m, n)
    verify_consistency(sha256, m, n, BIG_REF.mth(0, m), BIG_REF.mth(0, n), cproof)


@settings(max_examples=200, deadline=None)
@given(
    index=st.integers(0, 2**40),
    size=st.integers(1, 2**40),
    proof=st.lists(st.binary(min_size=32, max_size=32), max_size=45),
    leaf=st.binary(min_size=32, max_size=32),
    root=st.binary(min_size=0, max_size=33),
)
def test_random_garbage_inclusion_is_rejected(
    index: int, size: int, proof: list[bytes], leaf: bytes, root: bytes
) -> None:
    # A one-leaf tree's root is its leaf hash: that "garbage" is a genuine proof.
    assume(not (size == 1 and index == 0 and not proof and leaf == root))
    with pytest.raises(ProofError):
        verify_inclusion(sha256, index, size, leaf, proof, root)


@settings(max_examples=200, deadline=None)
@given(
    m=st.integers(1, 2**40),
    extra=st.integers(1, 2**40),
    proof=st.lists(st.binary(min_size=32, max_size=32), max_size=45),
    old=st.binary(min_size=32, max_size=32),
    new=st.binary(min_size=32, max_size=32),
)
def test_random_garbage_consistency_is_rejected(
    m: int, extra: int, proof: list[bytes], old: bytes, new: bytes
) -> None:
    with pytest.raises(ProofError):
        verify_consistency(sha256, m, m + extra, old, new, proof)


def test_inclusion_proof_from_a_million_leaf_store_is_small_and_reads_log_n_nodes() -> None:
    # Speed is measured by `baomi bench ledger`, not here; this checks the property that
    # makes it fast: one batched read of O(log n) nodes, and a proof under 1 KiB.
    n = 1_000_000
    leaves = [i.to_bytes(32, "big") for i in range(n)]
    store = MemoryNodeStore.from_leaf_hashes(sha256, leaves)
    root = subtree_root(store, 0, n)
    calls: list[int] = []

    class CountingReader:
        def subtree_hashes(self, ids: Sequence[NodeID]) -> Sequence[bytes]:
            calls.append(len(ids))
            return store.subtree_hashes(ids)

    for index in range(0, n, 9973):
        calls.clear()
        proof = inclusion_proof(CountingReader(), index, n)
        assert len(calls) == 1
        assert calls[0] <= 2 * n.bit_length()
        assert len(proof) * 32 < 1024
        verify_inclusion(sha256, index, n, leaves[index], proof, root)
