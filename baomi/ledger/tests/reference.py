"""An independent, deliberately naive RFC 9162 implementation used as a test oracle.

Written straight from the RFC's recursive definitions (MTH, PATH, SUBPROOF) over raw
leaf data, sharing no code with `baomi.ledger` so that a bug there cannot hide here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import lru_cache

Hash = Callable[[bytes], bytes]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def split_point(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Reference:
    """MTH/PATH/PROOF over a fixed list of entries, memoised on (start, end)."""

    def __init__(self, entries: Sequence[bytes], h: Hash = sha256) -> None:
        self.entries = list(entries)
        self.h = h
        self.mth = lru_cache(maxsize=None)(self._mth)

    def leaf(self, i: int) -> bytes:
        return self.h(b"\x00" + self.entries[i])

    def _mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return self.h(b"")
        if n == 1:
            return self.leaf(start)
        k = split_point(n)
        return self.h(b"\x01" + self.mth(start, start + k) + self.mth(start + k, end))

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = split_point(n)
        if m < k:
            return [*self.path(m, start, start + k), self.mth(start + k, end)]
        return [*self.path(m - k, start + k, end), self.mth(start, start + k)]

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return self.path(index, 0, size)

    def subproof(self, m: int, start: int, end: int, b: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if b else [self.mth(start, end)]
        k = split_point(n)
        if m <= k:
            return [*self.subproof(m, start, start + k, b), self.mth(start + k, end)]
        return [*self.subproof(m - k, start + k, end, False), self.mth(start, start + k)]

    def consistency(self, m: int, n: int) -> list[bytes]:
        if m in (0, n):
            return []
        return self.subproof(m, 0, n, True)
