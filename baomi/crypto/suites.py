"""Cipher suites and symmetric keys: the one place that touches AEAD primitives.

Two suites exist, chosen per deployment and recorded in every sealed header:

- ``aes-256-gcm`` (default): AES-256-GCM, HKDF/HMAC with SHA-256.
- ``sm4-gcm`` (国密, GB/T 39786): SM4-GCM with a 128-bit key, HKDF/HMAC with SM3.

A `Key` carries its suite, so an SM4 key can never be fed to AES by mistake, and its
`key_id`, a short public identifier used in headers so rotation can tell keys apart.
"""

from __future__ import annotations

import hmac as _stdlib_hmac
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from baomi.crypto.errors import DecryptionError

SuiteName = Literal["aes-256-gcm", "sm4-gcm"]
DEFAULT_SUITE: Final[SuiteName] = "aes-256-gcm"
SUITE_NAMES: Final[tuple[SuiteName, ...]] = ("aes-256-gcm", "sm4-gcm")

TAG_SIZE: Final = 16
GCM_NONCE_SIZE: Final = 12
KEY_ID_SIZE: Final = 8

#: Randomness is a parameter wherever it is consumed, so known-answer tests can pin it.
RandomSource = Callable[[int], bytes]
Buffer = bytes | bytearray | memoryview
#: Output of the ``*_into`` methods: a bytearray, or a writable view (of part) of one.
WritableBuffer = bytearray | memoryview


@dataclass(frozen=True)
class Suite:
    """Static description of a suite. `code` is the byte stored in every header."""

    name: SuiteName
    code: int
    key_size: int
    hash_name: Literal["sha256", "sm3"]


_SUITES: Final[dict[str, Suite]] = {
    "aes-256-gcm": Suite("aes-256-gcm", 0x01, 32, "sha256"),
    "sm4-gcm": Suite("sm4-gcm", 0x02, 16, "sm3"),
}
_SUITES_BY_CODE: Final[dict[int, Suite]] = {s.code: s for s in _SUITES.values()}


def get_suite(name: str) -> Suite:
    """The suite called `name`; raises `ValueError` for an unknown name."""
    try:
        return _SUITES[name]
    except KeyError:
        raise ValueError(f"unknown cipher suite {name!r}; expected one of {SUITE_NAMES}") from None


def suite_by_code(code: int) -> Suite:
    """The suite whose header byte is `code`; raises `DecryptionError` if none is.

    Only parsers of sealed data call this, so an unknown byte is a decryption failure.
    """
    try:
        return _SUITES_BY_CODE[code]
    except KeyError:
        raise DecryptionError() from None


def _hash(suite: Suite) -> hashes.HashAlgorithm:
    return hashes.SHA256() if suite.hash_name == "sha256" else hashes.SM3()


def hmac_digest(suite: Suite, key: Buffer, message: Buffer) -> bytes:
    """HMAC with the suite's hash (SHA-256 or SM3); 32 bytes for both."""
    h = hmac.HMAC(bytes(key), _hash(suite))
    h.update(bytes(message))
    return h.finalize()


def hkdf(suite: Suite, ikm: Buffer, *, salt: bytes | None, info: bytes, length: int) -> bytes:
    """HKDF (RFC 5869) with the suite's hash."""
    return HKDF(_hash(suite), length, salt, info).derive(bytes(ikm))


def encode_context(label: str, *parts: str | bytes) -> bytes:
    """An unambiguous encoding of a label and parts, used as AAD and KDF info.

    Each item is a 4-byte big-endian length followed by its bytes (text as UTF-8), so
    ``("ab", "c")`` and ``("a", "bc")`` never encode alike.
    """
    out = bytearray()
    for part in (label, *parts):
        raw = part.encode() if isinstance(part, str) else part
        out += struct.pack(">I", len(raw))
        out += raw
    return bytes(out)


class Key:
    """A symmetric key bound to its suite. Immutable; `repr` never shows the material.

    Invariant: ``len(material) == suite.key_size``. Equality is constant-time.
    """

    __slots__ = ("_key_id", "_material", "_suite")

    def __init__(self, material: bytes, suite: SuiteName = DEFAULT_SUITE) -> None:
        """Wrap raw key bytes; raises `ValueError` if the length does not fit the suite."""
        s = get_suite(suite)
        if len(material) != s.key_size:
            raise ValueError(f"{suite} keys are {s.key_size} bytes, got {len(material)}")
        self._material = bytes(material)
        self._suite = s
        # The key id is a PRF output of the key itself, so it names the key without
        # revealing anything about it, and it is stable across processes and hosts.
        self._key_id = hmac_digest(s, self._material, b"baomi key-id v1")[:KEY_ID_SIZE]

    @classmethod
    def generate(cls, suite: SuiteName = DEFAULT_SUITE, *, rand: RandomSource = os.urandom) -> Key:
        """A fresh random key for `suite`."""
        return cls(rand(get_suite(suite).key_size), suite)

    @property
    def material(self) -> bytes:
        """The raw key bytes. Hand them only to a wrapping function or a provider."""
        return self._material

    @property
    def suite(self) -> SuiteName:
        """The suite this key belongs to."""
        return self._suite.name

    @property
    def suite_info(self) -> Suite:
        """The full `Suite` description."""
        return self._suite

    @property
    def key_id(self) -> bytes:
        """8-byte public identifier: ``HMAC-H(key, "baomi key-id v1")[:8]``."""
        return self._key_id

    def __repr__(self) -> str:
        return f"Key(suite={self._suite.name!r}, key_id={self._key_id.hex()!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Key):
            return NotImplemented
        return self._suite == other._suite and _stdlib_hmac.compare_digest(
            self._material, other._material
        )

    def __hash__(self) -> int:
        return hash((self._suite.code, self._key_id))


class Aead(Protocol):
    """The AEAD interface the formats use: ciphertext is ``ct || 16-byte tag``."""

    def encrypt(self, nonce: bytes, data: Buffer, aad: bytes) -> bytes: ...

    def decrypt(self, nonce: bytes, data: Buffer, aad: bytes) -> bytes:
        """Raises `DecryptionError` on any failure; never returns unauthenticated data."""
        ...

    def encrypt_into(self, nonce: bytes, data: Buffer, aad: bytes, out: WritableBuffer) -> None:
        """Encrypt into a preallocated ``len(data) + 16`` (or larger) buffer.

        The file helpers reuse one such buffer for every chunk, and `baomi bench vault`
        measures the raw ceiling with it, without allocation.
        """
        ...

    def decrypt_into(self, nonce: bytes, data: Buffer, aad: bytes, out: WritableBuffer) -> None:
        """Decrypt into a preallocated ``len(data) - 16`` (or larger) buffer; raises
        `DecryptionError` (the buffer then holds unauthenticated bytes: discard it)."""
        ...


class _AesGcm:
    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def encrypt(self, nonce: bytes, data: Buffer, aad: bytes) -> bytes:
        return self._aead.encrypt(nonce, data, aad)

    def decrypt(self, nonce: bytes, data: Buffer, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(nonce, data, aad)
        except InvalidTag:
            raise DecryptionError() from None

    def encrypt_into(self, nonce: bytes, data: Buffer, aad: bytes, out: WritableBuffer) -> None:
        view = memoryview(out)[: len(memoryview(data)) + TAG_SIZE]
        self._aead.encrypt_into(nonce, data, aad, view)

    def decrypt_into(self, nonce: bytes, data: Buffer, aad: bytes, out: WritableBuffer) -> None:
        view = memoryview(out)[: len(memoryview(data)) - TAG_SIZE]
        try:
            self._aead.decrypt_into(nonce, data, aad, view)
        except InvalidTag:
            raise DecryptionError() from None


class _Sm4Gcm:
    """SM4-GCM through the `Cipher` API (cryptography has no SM4 AEAD class)."""

    __slots__ = ("_algorithm",)

    def __init__(self, key: bytes) -> None:
        self._algorithm = algorithms.SM4(key)

    def encrypt(self, nonce: bytes, data: Buffer, aad: bytes) -> bytes:
        enc = Cipher(self._algorithm, modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(aad)
        body = enc.update(data)
        tail = enc.finalize()
        return b"".join((body, tail, enc.tag))

    def decrypt(self, nonce: bytes, data: Buffer, aad: bytes) -> bytes:
        view = memoryview(data)
        if len(view) < TAG_SIZE:
            raise DecryptionError()
        tag = bytes(view[-TAG_SIZE:])
        dec = Cipher(self._algorithm, modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(aad)
        # GCM decryption emits plaintext before the tag is checked; it is returned only
        # after finalize() has verified the tag.
        body = dec.update(view[:-TAG_SIZE])
        try:
            tail = dec.finalize()
        except InvalidTag:
            raise DecryptionError() from None
        return body + tail if tail else body

    def encrypt_into(self, nonce: bytes, data: Buffer, aad: bytes, out: WritableBuffer) -> None:
        # update_into needs block_size - 1 spare bytes; the tag's 16 cover them.
        n = len(memoryview(data))
        enc = Cipher(self._algorithm, modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(aad)
        view = memoryview(out)
        enc.update_into(data, view[: n + TAG_SIZE])
        enc.finalize()
        view[n : n + TAG_SIZE] = enc.tag

    def decrypt_into(self, nonce: bytes, data: Buffer, aad: bytes, out: WritableBuffer) -> None:
        src = memoryview(data)
        if len(src) < TAG_SIZE:
            raise DecryptionError()
        n = len(src) - TAG_SIZE
        dec = Cipher(self._algorithm, modes.GCM(nonce, bytes(src[n:]))).decryptor()
        dec.authenticate_additional_data(aad)
        if len(out) >= n + TAG_SIZE:
            dec.update_into(src[:n], memoryview(out)[: n + TAG_SIZE])
        else:  # update_into wants block_size - 1 spare bytes; fall back to a copy
            memoryview(out)[:n] = dec.update(src[:n])
        try:
            dec.finalize()
        except InvalidTag:
            raise DecryptionError() from None


def aead_for(suite: Suite, key: bytes) -> Aead:
    """The AEAD of `suite` keyed with raw `key` (length already checked by the caller)."""
    if suite.name == "aes-256-gcm":
        return _AesGcm(key)
    return _Sm4Gcm(key)
