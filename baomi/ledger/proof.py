"""Inclusion and consistency proofs (RFC 9162 §2.1.3 and §2.1.4): build and verify.

Building a proof is split in two so that storage is read once per proof: a *plan* says
which perfect subtrees (`NodeID`s) are needed and how to fold them into proof hashes,
then `ProofPlan.assemble` turns the stored hashes into the proof. Every proof hash is the
MTH of a range that starts aligned; at most one of them is not itself a perfect subtree
(the right edge of the tree), so a proof needs O(log n) node reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from baomi.ledger.errors import ProofError
from baomi.ledger.hashing import (
    NODE_PREFIX,
    HashFn,
    empty_root,
    largest_power_of_two_below,
    sha256,
)
from baomi.ledger.storage import LeafHashSource, NodeID, NodeReader

ProofSource = NodeReader | Sequence[bytes]


def perfect_subtrees(start: int, end: int) -> list[NodeID]:
    """Split leaf range [start, end) into aligned perfect subtrees, left to right.

    For the ranges that occur in RFC 9162 trees (start aligned to a power of two at
    least end - start) the pieces come out largest first, and their right-to-left fold
    `node(p1, node(p2, ...))` is the MTH of the range.
    """
    if not 0 <= start <= end:
        raise ValueError(f"bad leaf range [{start}, {end})")
    ids: list[NodeID] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        ids.append((level, start >> level))
        start += 1 << level
    return ids


@dataclass(frozen=True, slots=True)
class ProofPlan:
    """Which stored nodes a proof needs and how they fold into proof hashes.

    `ranges[i]` is the leaf range whose MTH is proof element i; `node_ids` lists the
    perfect subtrees of all ranges concatenated; `group_sizes[i]` is how many of them
    belong to range i.
    """

    ranges: tuple[tuple[int, int], ...]
    node_ids: tuple[NodeID, ...]
    group_sizes: tuple[int, ...]

    @classmethod
    def for_ranges(cls, ranges: Sequence[tuple[int, int]]) -> ProofPlan:
        """Plan the MTH of each leaf range (each must start suitably aligned)."""
        ids: list[NodeID] = []
        sizes: list[int] = []
        for start, end in ranges:
            pieces = perfect_subtrees(start, end)
            ids.extend(pieces)
            sizes.append(len(pieces))
        return cls(tuple(ranges), tuple(ids), tuple(sizes))

    def assemble(self, hashes: Sequence[bytes], hash_fn: HashFn = sha256) -> list[bytes]:
        """Fold the hashes of `node_ids` (same order) into the proof.

        Raises ValueError when the number of hashes does not match the plan.
        """
        if len(hashes) != len(self.node_ids):
            raise ValueError(f"plan needs {len(self.node_ids)} hashes, got {len(hashes)}")
        proof: list[bytes] = []
        pos = 0
        for count in self.group_sizes:
            group = hashes[pos : pos + count]
            pos += count
            acc = group[-1]
            for h in reversed(group[:-1]):
                acc = hash_fn(NODE_PREFIX + h + acc)
            proof.append(acc)
        return proof

    def read(self, source: ProofSource, hash_fn: HashFn = sha256) -> list[bytes]:
        """Read the planned nodes from `source` in one batch and assemble the proof.

        Raises `MissingNode` (from the source) when a node is not stored.
        """
        if not self.node_ids:
            return []
        reader = _as_reader(source, hash_fn)
        return self.assemble(reader.subtree_hashes(self.node_ids), hash_fn)


def _as_reader(source: ProofSource, hash_fn: HashFn) -> NodeReader:
    if isinstance(source, NodeReader):
        return source
    return LeafHashSource(hash_fn, source)


def inclusion_plan(index: int, size: int) -> ProofPlan:
    """Plan the RFC 9162 inclusion proof (audit path) of leaf `index` in a tree of `size`.

    Proof hashes are ordered from the leaf up. Raises `ProofError` unless
    0 <= index < size.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    top_down: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = largest_power_of_two_below(hi - lo)
        if index < lo + k:
            top_down.append((lo + k, hi))
            hi = lo + k
        else:
            top_down.append((lo, lo + k))
            lo += k
    return ProofPlan.for_ranges(top_down[::-1])


def consistency_plan(old_size: int, new_size: int) -> ProofPlan:
    """Plan the RFC 9162 consistency proof PROOF(m, D[n]) from `old_size` to `new_size`.

    Empty for old_size == 0 or old_size == new_size. Raises `ProofError` unless
    0 <= old_size <= new_size.
    """
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return ProofPlan.for_ranges(())
    top_down: list[tuple[int, int]] = []
    lo, hi = 0, new_size
    complete = True  # SUBPROOF's flag b: is the old tree's node here a whole old root?
    while hi != old_size:
        k = largest_power_of_two_below(hi - lo)
        if old_size - lo <= k:
            top_down.append((lo + k, hi))
            hi = lo + k
        else:
            top_down.append((lo, lo + k))
            lo += k
            complete = False
    if not complete:
        top_down.append((lo, hi))
    return ProofPlan.for_ranges(top_down[::-1])


def inclusion_proof(
    source: ProofSource, index: int, size: int, *, hash_fn: HashFn = sha256
) -> list[bytes]:
    """Inclusion proof of leaf `index` in the tree of the first `size` leaves.

    `source` is node storage (a `NodeReader`) or a plain sequence of leaf hashes. The
    tree may have grown past `size`; proofs for any past size stay valid. Raises
    `ProofError` for an index outside the tree and `MissingNode` when storage lacks a node
    (e.g. size is beyond what is stored).
    """
    return inclusion_plan(index, size).read(source, hash_fn)


def consistency_proof(
    source: ProofSource, old_size: int, new_size: int, *, hash_fn: HashFn = sha256
) -> list[bytes]:
    """Consistency proof that the tree of `new_size` leaves extends that of `old_size`.

    Same `source` conventions and errors as `inclusion_proof`.
    """
    return consistency_plan(old_size, new_size).read(source, hash_fn)


def subtree_root(source: ProofSource, start: int, end: int, *, hash_fn: HashFn = sha256) -> bytes:
    """MTH of leaves [start, end) (start aligned as in the tree); root(0, n) is the tree root.

    Raises `MissingNode` when storage lacks a node.
    """
    if start == end:
        return empty_root(hash_fn)
    return ProofPlan.for_ranges(((start, end),)).read(source, hash_fn)[0]


def _check_hash(name: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise ProofError(f"{name} is {len(value)} bytes, expected {size}")


# The positional order mirrors RFC 9162 §2.1.3.2's inputs, which callers know already.
def verify_inclusion(  # noqa: PLR0917
    hash_fn: HashFn,
    index: int,
    size: int,
    leaf_hash: bytes,
    proof: Sequence[bytes],
    root: bytes,
) -> None:
    """Check that `leaf_hash` is leaf `index` of the tree of `size` leaves with `root`.

    RFC 9162 §2.1.3.2. Returns None on success; raises `ProofError` on any mismatch
    (wrong index, size, leaf, path length, path element or root).
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    hash_size = len(hash_fn(b""))
    _check_hash("root", root, hash_size)
    _check_hash("leaf hash", leaf_hash, hash_size)
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        _check_hash("proof element", p, hash_size)
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = hash_fn(NODE_PREFIX + p + r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = hash_fn(NODE_PREFIX + r + p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise ProofError("inclusion proof does not lead to the expected root")


# The positional order mirrors RFC 9162 §2.1.4.2's inputs.
def verify_consistency(  # noqa: PLR0917
    hash_fn: HashFn,
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that the tree (`new_size`, `new_root`) extends (`old_size`, `old_root`).

    RFC 9162 §2.1.4.2, plus the edge cases it leaves open: equal sizes need an empty
    proof and equal roots; old size 0 needs an empty proof and `old_root` equal to the
    empty-tree hash. Returns None on success; raises `ProofError` otherwise.
    """
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency from size {old_size} to {new_size}")
    hash_size = len(hash_fn(b""))
    _check_hash("old root", old_root, hash_size)
    _check_hash("new root", new_root, hash_size)
    for p in proof:
        _check_hash("proof element", p, hash_size)
    if old_size == 0:
        if proof:
            raise ProofError("consistency from the empty tree takes an empty proof")
        if old_root != empty_root(hash_fn):
            raise ProofError("old root is not the empty-tree hash")
        return
    if old_size == new_size:
        if proof:
            raise ProofError("consistency between equal sizes takes an empty proof")
        if old_root != new_root:
            raise ProofError("roots of equal-size trees differ")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = hash_fn(NODE_PREFIX + c + fr)
            sr = hash_fn(NODE_PREFIX + c + sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hash_fn(NODE_PREFIX + sr + c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("consistency proof does not lead to the new root")
