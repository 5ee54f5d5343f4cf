"""Test helpers shared by the crypto tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable


class DetRand:
    """A reproducible stand-in for os.urandom: SHA-256 in counter mode over a seed."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0

    def __call__(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            out += hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
        return bytes(out[:n])


def queue_rand(*values: bytes) -> Callable[[int], bytes]:
    """A random source that returns exactly `values`, in order, checking lengths."""
    pending = list(values)

    def rand(n: int) -> bytes:
        value = pending.pop(0)
        assert len(value) == n, (len(value), n)
        return value

    return rand
