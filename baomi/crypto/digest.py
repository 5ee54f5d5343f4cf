"""Hash functions used across Baomi (SHA-256 by default, SM3 for the 国密 suite).

Only `baomi.crypto` imports `cryptography.hazmat`; other cores (the ledger) call these
recipes instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Literal

from cryptography.hazmat.primitives import hashes

HashName = Literal["sha256", "sm3"]
HASH_NAMES: tuple[HashName, ...] = ("sha256", "sm3")


def _sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hash_function(name: HashName) -> Callable[[bytes], bytes]:
    """Return a one-shot digest function for `name` (32-byte output for both)."""
    if name == "sha256":
        return _sha256
    if name == "sm3":
        return _sm3
    raise ValueError(f"unknown hash {name!r}")


def digest(name: HashName, data: bytes) -> bytes:
    """One-shot digest of `data` with the named hash."""
    return hash_function(name)(data)
