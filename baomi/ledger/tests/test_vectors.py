"""Known-answer tests: the classic RFC 6962 test tree used by certificate-transparency-go
and transparency-dev/merkle (8 leaves), its roots, inclusion and consistency proofs."""

from __future__ import annotations

import pytest

from baomi.crypto.digest import hash_function
from baomi.ledger.compact import CompactRange
from baomi.ledger.hashing import empty_root, leaf_hash, root_from_leaf_hashes, sha256
from baomi.ledger.proof import (
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from baomi.ledger.storage import MemoryNodeStore

LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    bytes(range(0x60, 0x70)),
]
ROOTS = {
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

LEAF_HASHES = [leaf_hash(sha256, x) for x in LEAVES]
STORE = MemoryNodeStore.from_leaf_hashes(sha256, LEAF_HASHES)


def test_empty_root_is_hash_of_empty_string() -> None:
    assert empty_root(sha256).hex() == ROOTS[0]
    assert CompactRange.empty().root().hex() == ROOTS[0]


@pytest.mark.parametrize("size", range(9))
def test_roots(size: int) -> None:
    assert root_from_leaf_hashes(sha256, LEAF_HASHES[:size]).hex() == ROOTS[size]
    state = CompactRange.empty()
    for h in LEAF_HASHES[:size]:
        state = state.append(h)
    assert state.root().hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_inclusion_vectors(index: int, size: int, expected: list[str]) -> None:
    for source in (STORE, LEAF_HASHES):
        assert [p.hex() for p in inclusion_proof(source, index, size)] == expected
    proof = [bytes.fromhex(p) for p in expected]
    root = bytes.fromhex(ROOTS[size])
    verify_inclusion(sha256, index, size, LEAF_HASHES[index], proof, root)


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY)
def test_consistency_vectors(old: int, new: int, expected: list[str]) -> None:
    for source in (STORE, LEAF_HASHES):
        assert [p.hex() for p in consistency_proof(source, old, new)] == expected
    proof = [bytes.fromhex(p) for p in expected]
    verify_consistency(
        sha256, old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), proof
    )


def test_sm3_is_the_gbt_32905_function() -> None:
    # GB/T 32905-2016 example 1: SM3("abc").
    assert hash_function("sm3")(b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )


def test_sm3_tree_differs_from_sha256_tree() -> None:
    sm3 = hash_function("sm3")
    sm3_leaves = [leaf_hash(sm3, x) for x in LEAVES]
    assert root_from_leaf_hashes(sm3, sm3_leaves).hex() != ROOTS[8]
    assert empty_root(sm3) == sm3(b"")
