"""Compact range (a.k.a. frontier): the incremental tree state, like transparency-dev's
`compact.Range` for the range [0, size).

The state is the list of perfect-subtree roots that tile [0, size), largest first: one
per set bit of `size`. Appending a leaf merges equal-sized neighbours (O(log n) hashes,
amortised one), and folding the list right to left gives the root. It is small (at most
64 hashes) so the sequencer persists it in one row next to the log head.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from baomi.crypto.digest import HASH_NAMES, HashName
from baomi.ledger.errors import StateFormatError
from baomi.ledger.hashing import HASH_SIZE, NODE_PREFIX, HashFn, empty_root, hasher
from baomi.ledger.proof import perfect_subtrees
from baomi.ledger.storage import NodeID, NodeReader, StoredNode

_STATE_MAGIC = b"BMCR"
_STATE_VERSION = 1
_HASH_CODES: dict[HashName, int] = {"sha256": 0, "sm3": 1}


def state_header(hash_name: HashName) -> bytes:
    """What the binary form of every `hash_name` state starts with, before its size (u64
    big-endian) and its hashes: the serialized state after n leaves is this, n, and the
    subtree roots, however they were computed (`to_bytes`, `extend`, verification)."""
    return _STATE_MAGIC + bytes((_STATE_VERSION, _HASH_CODES[hash_name]))


@dataclass(frozen=True, slots=True)
class CompactRange:
    """Immutable tree state: `size` leaves summarised by `hashes` (one per set bit of size).

    Construct with `CompactRange.empty()`, `from_bytes`, `from_json` or `from_store`;
    the constructor checks the invariant and raises `StateFormatError` if broken.
    """

    hash_name: HashName
    size: int
    hashes: tuple[bytes, ...]
    _hash_fn: HashFn = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.hash_name not in HASH_NAMES:
            raise StateFormatError(f"unknown hash {self.hash_name!r}")
        if self.size < 0 or self.size.bit_count() != len(self.hashes):
            raise StateFormatError(
                f"size {self.size} needs {max(self.size, 0).bit_count()} hashes, "
                f"got {len(self.hashes)}"
            )
        if any(len(h) != HASH_SIZE for h in self.hashes):
            raise StateFormatError("every subtree hash must be 32 bytes")
        object.__setattr__(self, "_hash_fn", hasher(self.hash_name))

    @classmethod
    def empty(cls, hash_name: HashName = "sha256") -> CompactRange:
        """The state of an empty log."""
        return cls(hash_name, 0, ())

    def node_ids(self) -> list[NodeID]:
        """The `NodeID` of each hash in `hashes`, same order."""
        return perfect_subtrees(0, self.size)

    def append(self, leaf_hash: bytes) -> CompactRange:
        """State after appending one leaf hash (the caller hashes the entry first)."""
        return self.append_nodes(leaf_hash)[0]

    def append_nodes(self, leaf_hash: bytes) -> tuple[CompactRange, tuple[StoredNode, ...]]:
        """Append one leaf; also return every perfect subtree this append completed.

        The completed nodes start with the leaf itself at (0, size) and go up one level
        per merge; handing them to `NodeWriter.put_nodes` keeps storage able to answer
        any proof in O(log n) reads. Raises `StateFormatError` for a wrong-size hash.
        """
        if len(leaf_hash) != HASH_SIZE:
            raise StateFormatError("leaf hash must be 32 bytes")
        hash_fn = self._hash_fn
        size = self.size
        stack = list(self.hashes)
        current = leaf_hash
        completed = [StoredNode(0, size, current)]
        level = 0
        # Each trailing 1 bit of the old size is a same-sized left neighbour to merge with.
        bits = size
        while bits & 1:
            current = hash_fn(NODE_PREFIX + stack.pop() + current)
            level += 1
            bits >>= 1
            completed.append(StoredNode(level, size >> level, current))
        stack.append(current)
        return CompactRange(self.hash_name, size + 1, tuple(stack)), tuple(completed)

    def extend(
        self, leaf_hashes: Sequence[bytes]
    ) -> tuple[CompactRange, list[tuple[bytes, bytes]]]:
        """Append several leaves; per leaf, the state after it and the inner nodes it made.

        For leaf i the pair is (`to_bytes()` of the state after it, the hashes of the
        inner nodes its append completed, levels 1, 2, … concatenated) — what
        `append_nodes` gives one leaf at a time, without building a `CompactRange` per
        leaf (the sequencer's hot path). Raises `StateFormatError` for a wrong-size hash.
        """
        hash_fn = self._hash_fn
        size = self.size
        stack = list(self.hashes)
        header = state_header(self.hash_name)
        out: list[tuple[bytes, bytes]] = []
        for leaf in leaf_hashes:
            if len(leaf) != HASH_SIZE:
                raise StateFormatError("leaf hash must be 32 bytes")
            current = leaf
            inner: list[bytes] = []
            bits = size
            while bits & 1:
                current = hash_fn(NODE_PREFIX + stack.pop() + current)
                inner.append(current)
                bits >>= 1
            stack.append(current)
            size += 1
            out.append((header + size.to_bytes(8, "big") + b"".join(stack), b"".join(inner)))
        return self._grown(size, tuple(stack)), out

    def _grown(self, size: int, hashes: tuple[bytes, ...]) -> CompactRange:
        """A state of the same hash built by `extend`, which keeps the invariant itself:
        the checks of `__post_init__` are skipped on this hot path."""
        new = object.__new__(CompactRange)
        object.__setattr__(new, "hash_name", self.hash_name)
        object.__setattr__(new, "size", size)
        object.__setattr__(new, "hashes", hashes)
        object.__setattr__(new, "_hash_fn", self._hash_fn)
        return new

    def root(self) -> bytes:
        """The RFC 9162 Merkle tree hash of the `size` leaves (H("") when empty)."""
        if not self.hashes:
            return empty_root(self._hash_fn)
        acc = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            acc = self._hash_fn(NODE_PREFIX + h + acc)
        return acc

    def to_bytes(self) -> bytes:
        """Binary form: b"BMCR", version, hash code, size as u64 big-endian, the hashes."""
        return state_header(self.hash_name) + self.size.to_bytes(8, "big") + b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, data: bytes) -> CompactRange:
        """Parse `to_bytes` output; raises `StateFormatError` on any malformation."""
        if len(data) < 14 or data[:4] != _STATE_MAGIC or data[4] != _STATE_VERSION:
            raise StateFormatError("not a version-1 compact range")
        names = [name for name, code in _HASH_CODES.items() if code == data[5]]
        if not names:
            raise StateFormatError(f"unknown hash code {data[5]}")
        size = int.from_bytes(data[6:14], "big")
        body = data[14:]
        if len(body) != HASH_SIZE * size.bit_count():
            raise StateFormatError("compact range length does not match its size")
        hashes = tuple(body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE))
        return cls(names[0], size, hashes)

    def to_json(self) -> str:
        """JSON form: {"v": 1, "hash": name, "size": n, "hashes": [hex, ...]}."""
        return json.dumps(
            {
                "v": _STATE_VERSION,
                "hash": self.hash_name,
                "size": self.size,
                "hashes": [h.hex() for h in self.hashes],
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> CompactRange:
        """Parse `to_json` output; raises `StateFormatError` on any malformation."""
        try:
            obj = json.loads(text)
            if not isinstance(obj, dict) or obj.get("v") != _STATE_VERSION:
                raise StateFormatError("not a version-1 compact range")
            name, size, hashes = obj["hash"], obj["size"], obj["hashes"]
            if (
                name not in HASH_NAMES
                or type(size) is not int
                or not isinstance(hashes, list)
                or not all(isinstance(h, str) for h in hashes)
            ):
                raise StateFormatError("compact range fields have the wrong types")
            return cls(name, size, tuple(bytes.fromhex(h) for h in hashes))
        except (ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, StateFormatError):
                raise
            raise StateFormatError(f"malformed compact range: {exc}") from exc

    @classmethod
    def from_store(
        cls, reader: NodeReader, size: int, hash_name: HashName = "sha256"
    ) -> CompactRange:
        """Rebuild the state of the first `size` leaves from node storage (O(log n) reads).

        Lets the sequencer recover or cross-check its persisted state. Raises
        `MissingNode` when storage lacks a node.
        """
        ids = perfect_subtrees(0, size)
        hashes = tuple(reader.subtree_hashes(ids)) if ids else ()
        return cls(hash_name, size, hashes)
