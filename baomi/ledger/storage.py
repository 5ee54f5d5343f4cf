"""Where proofs read subtree hashes from: a small storage interface and an in-memory store.

Nodes are named by `NodeID = (level, index)`: the perfect subtree of `2**level` leaves
covering leaf indices `[index * 2**level, (index + 1) * 2**level)`. Level 0 nodes are
leaf hashes. Any tree size's proofs only ever need such aligned perfect subtrees (plus
hashing done by the caller), so storage never has to know the tree size and a stored
node never changes once written: the log is append-only. An inclusion or consistency
proof for a tree of n leaves reads O(log n) nodes in one batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from baomi.ledger.errors import MissingNode, NodeConflict
from baomi.ledger.hashing import NODE_PREFIX, HashFn, root_from_leaf_hashes

NodeID = tuple[int, int]


@dataclass(frozen=True, slots=True)
class StoredNode:
    """One perfect-subtree hash as written to storage: node (`level`, `index`)."""

    level: int
    index: int
    hash: bytes


@runtime_checkable
class NodeReader(Protocol):
    """Read access to perfect-subtree hashes (what proof generation needs)."""

    def subtree_hashes(self, ids: Sequence[NodeID]) -> Sequence[bytes]:
        """Return the hash of each node in `ids`, in the same order.

        Contract: `ids` may contain duplicates and come in any order; the answer has one
        hash per requested id. Reads are side-effect free, so a failed call can simply be
        retried. Raises `MissingNode` when any requested node is not (yet) stored, e.g.
        because it lies beyond the stored tree size; never returns a partial answer.
        """
        ...


class NodeWriter(Protocol):
    """Write access used by the sequencer after each append."""

    def put_nodes(self, nodes: Sequence[StoredNode]) -> None:
        """Store `nodes` (as emitted by `CompactRange.append_nodes`).

        Contract: idempotent, so a retried batch is harmless: storing a node that is
        already present with the same hash is a no-op. Storing a *different* hash under an
        existing id raises `NodeConflict` (history would be rewritten). Implementations
        that are not arbitrary maps may require nodes of one level in increasing index
        order, which is the order `append_nodes` emits them in.
        """
        ...


class MemoryNodeStore:
    """In-memory `NodeReader` + `NodeWriter`: one list of hashes per level (a level table).

    Used by tests and benchmarks; the Django layer keeps the same ids in a table.
    """

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = []

    @classmethod
    def from_leaf_hashes(cls, hash_fn: HashFn, leaf_hashes: Iterable[bytes]) -> MemoryNodeStore:
        """Build the full level table for `leaf_hashes` (2n - 1 hashes in all, O(n) time)."""
        store = cls()
        level = list(leaf_hashes)
        while level:
            store._levels.append(level)
            level = [
                hash_fn(NODE_PREFIX + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)
            ]
        return store

    @property
    def leaf_count(self) -> int:
        """Number of leaf hashes stored."""
        return len(self._levels[0]) if self._levels else 0

    def subtree_hashes(self, ids: Sequence[NodeID]) -> list[bytes]:
        """See `NodeReader.subtree_hashes`; raises `MissingNode`."""
        levels = self._levels
        out: list[bytes] = []
        for level, index in ids:
            if level < 0 or index < 0 or level >= len(levels) or index >= len(levels[level]):
                raise MissingNode(f"node (level {level}, index {index}) is not stored")
            out.append(levels[level][index])
        return out

    def put_nodes(self, nodes: Sequence[StoredNode]) -> None:
        """See `NodeWriter.put_nodes`: idempotent; each level must be written in order.

        Raises `NodeConflict` for a different hash under an existing id, and ValueError
        when a node would leave a hole in its level.
        """
        for node in nodes:
            level, index, value = node.level, node.index, node.hash
            while len(self._levels) <= level:
                self._levels.append([])
            row = self._levels[level]
            if index < len(row):
                if row[index] != value:
                    raise NodeConflict(f"node (level {level}, index {index}) already differs")
            elif index == len(row):
                row.append(value)
            else:
                raise ValueError(f"node (level {level}, index {index}) written out of order")


class LeafHashSource:
    """A `NodeReader` over a plain sequence of leaf hashes (O(2**level) per node read).

    Lets the proof functions run against a list in tests and small tools; real logs use
    stored subtree hashes instead.
    """

    def __init__(self, hash_fn: HashFn, leaf_hashes: Sequence[bytes]) -> None:
        self._hash_fn = hash_fn
        self._leaves = leaf_hashes

    def subtree_hashes(self, ids: Sequence[NodeID]) -> list[bytes]:
        """See `NodeReader.subtree_hashes`; raises `MissingNode`."""
        out: list[bytes] = []
        for level, index in ids:
            start, end = index << level, (index + 1) << level
            if level < 0 or index < 0 or end > len(self._leaves):
                raise MissingNode(f"node (level {level}, index {index}) is beyond the leaves")
            out.append(root_from_leaf_hashes(self._hash_fn, self._leaves[start:end]))
        return out
