"""Sealed small values and wrapped keys: one header layout, two magics.

Layout (all integers big-endian; see docs/crypto.md for the full table)::

    0   3  magic            b"BMV" sealed value | b"BMK" wrapped key
    3   1  format version   0x01
    4   1  suite            0x01 aes-256-gcm | 0x02 sm4-gcm
    5   1  nonce scheme     0x01 random96 | 0x02 xn192
    6   8  key id           of the key that sealed / wraps
    14  N  nonce            12 bytes (random96) or 24 bytes (xn192)
    14+N   ciphertext || 16-byte GCM tag

The whole header is part of the AEAD associated data (followed by the caller's aad), so
changing any header byte makes opening fail.

Nonce schemes:

- ``xn192`` (default for everything sealed in software): 24 random bytes ``n``; the
  message key is ``HKDF-H(key, salt=n[:12], info=ctx("baomi xn192 v1", magic))`` and
  the GCM nonce is ``n[12:]``. A fresh key per message means a long-lived key (a client
  key sealing millions of record fields) has no usage limit to track: a repeat needs a
  192-bit random collision.
- ``random96``: the key is used directly with a random 96-bit nonce. Used only where the
  key lives in an HSM and cannot go through HKDF (the master key wraps one blob per
  client, orders of magnitude below the 2^32 random-nonce bound).
"""

from __future__ import annotations

import os
from typing import Final

from baomi.crypto.errors import DecryptionError
from baomi.crypto.suites import (
    GCM_NONCE_SIZE,
    KEY_ID_SIZE,
    TAG_SIZE,
    Buffer,
    Key,
    RandomSource,
    Suite,
    aead_for,
    encode_context,
    hkdf,
    suite_by_code,
)

MAGIC_VALUE: Final = b"BMV"
MAGIC_WRAPPED_KEY: Final = b"BMK"
FORMAT_VERSION: Final = 0x01

SCHEME_RANDOM96: Final = 0x01
SCHEME_XN192: Final = 0x02
_NONCE_SIZES: Final = {SCHEME_RANDOM96: GCM_NONCE_SIZE, SCHEME_XN192: 24}
_FIXED_HEADER: Final = 14


def build_header(magic: bytes, suite: Suite, scheme: int, key_id: bytes, nonce: bytes) -> bytes:
    """The header bytes for an envelope; raises `ValueError` on a bad nonce length."""
    if len(nonce) != _NONCE_SIZES[scheme] or len(key_id) != KEY_ID_SIZE:
        raise ValueError("nonce or key id has the wrong length for this scheme")
    return magic + bytes((FORMAT_VERSION, suite.code, scheme)) + key_id + nonce


def parse_header(magic: bytes, blob: Buffer) -> tuple[Suite, int, bytes, bytes, int]:
    """Parse (unauthenticated) ``(suite, scheme, key_id, nonce, header_len)``.

    Raises `DecryptionError` if the blob is not a well-formed envelope of this magic.
    """
    view = memoryview(blob)
    if len(view) < _FIXED_HEADER or bytes(view[:3]) != magic or view[3] != FORMAT_VERSION:
        raise DecryptionError()
    suite = suite_by_code(view[4])
    scheme = view[5]
    nonce_size = _NONCE_SIZES.get(scheme)
    if nonce_size is None:
        raise DecryptionError()
    header_len = _FIXED_HEADER + nonce_size
    if len(view) < header_len + TAG_SIZE:
        raise DecryptionError()
    key_id = bytes(view[6:14])
    nonce = bytes(view[14:header_len])
    return suite, scheme, key_id, nonce, header_len


def _xn192_key(key: Key, magic: bytes, nonce: bytes) -> bytes:
    return hkdf(
        key.suite_info,
        key.material,
        salt=nonce[:12],
        info=encode_context("baomi xn192 v1", magic),
        length=key.suite_info.key_size,
    )


def seal_envelope(
    magic: bytes,
    key: Key,
    plaintext: Buffer,
    aad: bytes,
    *,
    scheme: int = SCHEME_XN192,
    nonce: bytes | None = None,
    rand: RandomSource = os.urandom,
) -> bytes:
    """Seal `plaintext` under `key` in the envelope layout (package-internal helper)."""
    if nonce is None:
        nonce = rand(_NONCE_SIZES[scheme])
    header = build_header(magic, key.suite_info, scheme, key.key_id, nonce)
    if scheme == SCHEME_XN192:
        aead = aead_for(key.suite_info, _xn192_key(key, magic, nonce))
        gcm_nonce = nonce[12:]
    else:
        aead = aead_for(key.suite_info, key.material)
        gcm_nonce = nonce
    return header + aead.encrypt(gcm_nonce, plaintext, header + aad)


def open_envelope(magic: bytes, key: Key, blob: Buffer, aad: bytes) -> bytes:
    """Open an envelope sealed by `seal_envelope`; raises `DecryptionError` on any failure."""
    suite, scheme, key_id, nonce, header_len = parse_header(magic, blob)
    if suite != key.suite_info or key_id != key.key_id:
        raise DecryptionError()
    view = memoryview(blob)
    header = bytes(view[:header_len])
    if scheme == SCHEME_XN192:
        aead = aead_for(suite, _xn192_key(key, magic, nonce))
        gcm_nonce = nonce[12:]
    else:
        aead = aead_for(suite, key.material)
        gcm_nonce = nonce
    return aead.decrypt(gcm_nonce, view[header_len:], header + aad)


def seal_bytes(
    key: Key,
    plaintext: Buffer,
    aad: bytes,
    *,
    nonce: bytes | None = None,
    rand: RandomSource = os.urandom,
) -> bytes:
    """Seal a small value (a record field, a JSON document) under `key`.

    `aad` binds the value to its place (e.g. ``encode_context("field", client_id,
    record_id, field_name)``); the same aad must be given to `open_bytes`. The result
    is ``len(plaintext) + 54`` bytes. Nonces: scheme xn192 (a per-message subkey), so a
    key may seal any number of values. `nonce` (24 bytes) exists only for known-answer
    tests; never pass it in production. Raises `ValueError` for a nonce of wrong length.
    """
    return seal_envelope(MAGIC_VALUE, key, plaintext, aad, nonce=nonce, rand=rand)


def open_bytes(key: Key, sealed: Buffer, aad: bytes) -> bytes:
    """Open a value sealed by `seal_bytes`.

    Returns the plaintext only if every byte of `sealed` and `aad` is authentic under
    `key`. Raises `DecryptionError` (and nothing more specific) otherwise.
    """
    return open_envelope(MAGIC_VALUE, key, sealed, aad)


def sealed_key_id(sealed: Buffer) -> bytes:
    """The key id in the header of a sealed value or wrapped key (unauthenticated).

    Useful to pick a key version or find values still sealed under an old key; never
    a substitute for opening. Raises `DecryptionError` if the blob is malformed.
    """
    view = memoryview(sealed)
    magic = bytes(view[:3])
    if magic not in (MAGIC_VALUE, MAGIC_WRAPPED_KEY):
        raise DecryptionError()
    return parse_header(magic, view)[2]
