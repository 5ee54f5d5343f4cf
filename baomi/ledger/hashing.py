"""RFC 9162 §2.1.1 tree hashing: domain-separated leaf and interior-node hashes.

`leaf = H(0x00 || entry)`, `node = H(0x01 || left || right)`, and the Merkle Tree Hash
(MTH) of n leaves splits at the largest power of two strictly below n. The hash is a
parameter (a one-shot `Callable[[bytes], bytes]`) so that SHA-256 (the default) and SM3
(国密 deployments) share every line of the tree code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Final

from baomi.crypto.digest import HashName, hash_function

HashFn = Callable[[bytes], bytes]

LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"
HASH_SIZE: Final = 32


def sha256(data: bytes) -> bytes:
    """One-shot SHA-256; used directly on hot paths instead of the generic recipe."""
    return hashlib.sha256(data).digest()


def hasher(name: HashName) -> HashFn:
    """The one-shot hash function for `name` ("sha256" or "sm3").

    Raises ValueError for an unknown name. SHA-256 maps to `hashlib` directly, which is
    the same function as `baomi.crypto.digest.hash_function("sha256")` but faster.
    """
    if name == "sha256":
        return sha256
    return hash_function(name)


def leaf_hash(hash_fn: HashFn, data: bytes) -> bytes:
    """RFC 9162 leaf hash `H(0x00 || data)` of one log entry's canonical bytes."""
    return hash_fn(LEAF_PREFIX + data)


def node_hash(hash_fn: HashFn, left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash `H(0x01 || left || right)`."""
    return hash_fn(NODE_PREFIX + left + right)


def empty_root(hash_fn: HashFn) -> bytes:
    """Root of the empty tree: the hash of the empty string (RFC 9162 §2.1.1)."""
    return hash_fn(b"")


def largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly less than `n` (the MTH split point); n >= 2."""
    if n < 2:
        raise ValueError("split point is only defined for n >= 2")
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hash_fn: HashFn, leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves, in O(n) hashes and O(n) memory.

    Pairs up each level and carries an odd last node up unchanged, which builds exactly
    the RFC 9162 left-balanced tree (the largest-power-of-two split) without recursion.
    """
    if not leaf_hashes:
        return empty_root(hash_fn)
    level = list(leaf_hashes)
    while len(level) > 1:
        nxt = [hash_fn(NODE_PREFIX + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]
