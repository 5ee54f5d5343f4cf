"""Compact range: roots, emitted nodes, serialisation, recovery from storage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baomi.crypto.digest import HASH_NAMES, HashName, hash_function
from baomi.ledger.compact import CompactRange
from baomi.ledger.errors import NodeConflict, StateFormatError
from baomi.ledger.hashing import root_from_leaf_hashes, sha256
from baomi.ledger.proof import inclusion_proof, verify_inclusion
from baomi.ledger.storage import MemoryNodeStore, StoredNode
from baomi.ledger.tests.reference import Reference


def test_every_size_root_matches_reference_and_nodes_fill_a_store() -> None:
    ref = Reference([f"e{i}".encode() for i in range(300)])
    state = CompactRange.empty()
    store = MemoryNodeStore()
    for i in range(300):
        state, nodes = state.append_nodes(ref.leaf(i))
        store.put_nodes(nodes)
        assert state.size == i + 1
        assert state.root() == ref.mth(0, i + 1)
        assert CompactRange.from_store(store, state.size) == state
    full = MemoryNodeStore.from_leaf_hashes(sha256, [ref.leaf(i) for i in range(300)])
    ids = [(lvl, idx) for lvl in range(9) for idx in range(300 >> lvl)]
    assert store.subtree_hashes(ids) == full.subtree_hashes(ids)
    proof = inclusion_proof(store, 123, 300)
    verify_inclusion(sha256, 123, 300, ref.leaf(123), proof, state.root())


def test_put_nodes_is_idempotent_and_refuses_rewrites() -> None:
    store = MemoryNodeStore()
    _, nodes = CompactRange.empty().append_nodes(sha256(b"a"))
    store.put_nodes(nodes)
    store.put_nodes(nodes)  # a retried batch is harmless
    assert store.leaf_count == 1
    with pytest.raises(NodeConflict):
        store.put_nodes([StoredNode(0, 0, sha256(b"b"))])
    with pytest.raises(ValueError, match="out of order"):
        store.put_nodes([StoredNode(0, 5, sha256(b"b"))])


@settings(max_examples=60, deadline=None)
@given(
    leaves=st.lists(st.binary(min_size=32, max_size=32), max_size=200),
    hash_name=st.sampled_from(HASH_NAMES),
)
def test_serialisation_round_trips(leaves: list[bytes], hash_name: HashName) -> None:
    state = CompactRange.empty(hash_name)
    for leaf in leaves:
        state = state.append(leaf)
    assert state.root() == root_from_leaf_hashes(hash_function(hash_name), leaves)
    assert CompactRange.from_bytes(state.to_bytes()) == state
    assert CompactRange.from_json(state.to_json()) == state
    assert len(state.hashes) == len(leaves).bit_count()


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"XXXX\x01\x00" + bytes(8),
        b"BMCR\x02\x00" + bytes(8),
        b"BMCR\x01\x07" + bytes(8),
        b"BMCR\x01\x00" + (1).to_bytes(8, "big"),
        b"BMCR\x01\x00" + (1).to_bytes(8, "big") + bytes(31),
        b"BMCR\x01\x00" + (3).to_bytes(8, "big") + bytes(32),
    ],
)
def test_malformed_bytes_are_rejected(blob: bytes) -> None:
    with pytest.raises(StateFormatError):
        CompactRange.from_bytes(blob)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"v":2,"hash":"sha256","size":0,"hashes":[]}',
        '{"v":1,"hash":"md5","size":0,"hashes":[]}',
        '{"v":1,"hash":"sha256","size":1,"hashes":[]}',
        '{"v":1,"hash":"sha256","size":"1","hashes":["00"]}',
        '{"v":1,"hash":"sha256","size":1,"hashes":["zz"]}',
        '{"v":1,"hash":"sha256","size":1,"hashes":["00"]}',
        '{"v":1,"hash":"sha256","size":1}',
    ],
)
def test_malformed_json_is_rejected(text: str) -> None:
    with pytest.raises(StateFormatError):
        CompactRange.from_json(text)


def test_wrong_leaf_size_is_rejected() -> None:
    with pytest.raises(StateFormatError):
        CompactRange.empty().append(b"short")


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(0, 300),
    batches=st.lists(st.integers(0, 40), max_size=6),
    hash_name=st.sampled_from(HASH_NAMES),
)
def test_extend_matches_append_nodes_leaf_by_leaf(
    start: int, batches: list[int], hash_name: HashName
) -> None:
    h = hash_function(hash_name)
    one = CompactRange.empty(hash_name)
    for i in range(start):
        one = one.append(h(b"s%d" % i))
    many = one
    n = start
    for count in batches:
        leaves = [h(b"b%d" % (n + i)) for i in range(count)]
        many, rows = many.extend(leaves)
        assert len(rows) == count
        for leaf, (state_bytes, inner) in zip(leaves, rows, strict=True):
            one, completed = one.append_nodes(leaf)
            # The row's state is the state after this leaf; its nodes are the completed
            # inner nodes (the leaf itself is not repeated), lowest level first.
            assert state_bytes == one.to_bytes()
            assert inner == b"".join(node.hash for node in completed[1:])
        n += count
        assert many == one


def test_extend_refuses_a_wrong_size_leaf_and_returns_nothing_for_none() -> None:
    state = CompactRange.empty().append(sha256(b"a"))
    assert state.extend([]) == (state, [])
    with pytest.raises(StateFormatError):
        state.extend([sha256(b"b"), b"short"])
