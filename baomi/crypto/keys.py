"""The key hierarchy: master key (KEK) → per-client key → per-object data key.

- A client key is wrapped by the master key provider with associated data
  ``ctx("baomi client-key v1", client_id)``.
- A data key is wrapped by its client key with associated data
  ``ctx("baomi data-key v1", client_id, object_id)``.

Both wrapped forms are envelopes with magic ``BMK`` (see `baomi.crypto.envelope`); the
plaintext inside is ``suite byte || key material`` so an unwrapped key comes back with
its suite. A wrapped key copied to another client or object, or presented as the other
kind of key, fails to open. Destroying a client key (every copy of its wrapped form)
makes every data key under it, and so all the client's data, unreadable: that is
crypto-shredding.

Also here: `derive_subkey` (HKDF, for keys with a separate purpose such as blind
indexes) and `blind_index` (exact-match search over encrypted fields).
"""

from __future__ import annotations

import os
from typing import Final, Protocol

from baomi.crypto.envelope import MAGIC_WRAPPED_KEY, open_envelope, seal_envelope
from baomi.crypto.errors import DecryptionError
from baomi.crypto.suites import (
    DEFAULT_SUITE,
    Buffer,
    Key,
    RandomSource,
    SuiteName,
    encode_context,
    get_suite,
    hkdf,
    hmac_digest,
    suite_by_code,
)

BLIND_INDEX_BYTES: Final = 16


class MasterKeyProvider(Protocol):
    """Where the master key (KEK) lives: a key file, a passphrase, an HSM, a keyring.

    Contract:
    - ``key_id``: 8 bytes naming the key `wrap` uses now; stable across restarts.
    - ``wrap(plaintext_key, aad)``: returns a ``BMK`` blob whose header carries the
      wrapping key's id; never the same output twice (fresh nonce per call).
    - ``unwrap(blob, aad)``: returns the plaintext only if blob and aad are authentic;
      raises `KeyNotAvailable` if the blob names a key this provider does not hold and
      `DecryptionError` for every other failure.
    """

    @property
    def key_id(self) -> bytes: ...

    def wrap(self, plaintext_key: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, blob: bytes, aad: bytes) -> bytes: ...


def encode_key(key: Key) -> bytes:
    """``suite byte || material``: the plaintext that wrapping protects."""
    return bytes((key.suite_info.code,)) + key.material


def decode_key(raw: bytes) -> Key:
    """Inverse of `encode_key`; raises `DecryptionError` on a malformed encoding."""
    if not raw:
        raise DecryptionError()
    suite = suite_by_code(raw[0])
    if len(raw) != 1 + suite.key_size:
        raise DecryptionError()
    return Key(raw[1:], suite.name)


def _client_aad(client_id: str) -> bytes:
    return encode_context("baomi client-key v1", client_id)


def _data_aad(client_id: str, object_id: str) -> bytes:
    return encode_context("baomi data-key v1", client_id, object_id)


def client_key_new(suite: SuiteName = DEFAULT_SUITE, *, rand: RandomSource = os.urandom) -> Key:
    """A fresh random client key for `suite`."""
    return Key.generate(suite, rand=rand)


def client_key_wrap(provider: MasterKeyProvider, client_id: str, client_key: Key) -> bytes:
    """Wrap `client_key` under the master key, bound to `client_id`.

    Store the result with the client (database); the plaintext key is never stored.
    Raises whatever the provider raises (`ProviderError` if an HSM fails).
    """
    return provider.wrap(encode_key(client_key), _client_aad(client_id))


def client_key_unwrap(provider: MasterKeyProvider, client_id: str, wrapped: bytes) -> Key:
    """Unwrap a client key; raises `DecryptionError` (or `KeyNotAvailable`) on failure,
    including when `wrapped` belongs to another client."""
    return decode_key(provider.unwrap(wrapped, _client_aad(client_id)))


def client_key_rewrap(
    old: MasterKeyProvider, new: MasterKeyProvider, client_id: str, wrapped: bytes
) -> bytes:
    """Move a wrapped client key from master key `old` (or a keyring) to `new`.

    The client key itself is unchanged, so no data key or ciphertext under it changes:
    master-key rotation costs one small rewrap per client. Raises what `old.unwrap`
    raises (`DecryptionError`, `KeyNotAvailable`).
    """
    aad = _client_aad(client_id)
    return new.wrap(old.unwrap(wrapped, aad), aad)


def data_key_new(suite: SuiteName = DEFAULT_SUITE, *, rand: RandomSource = os.urandom) -> Key:
    """A fresh random data key. Use one per object (per document version)."""
    return Key.generate(suite, rand=rand)


def data_key_wrap(
    client_key: Key,
    client_id: str,
    object_id: str,
    data_key: Key,
    *,
    rand: RandomSource = os.urandom,
) -> bytes:
    """Wrap `data_key` under `client_key`, bound to ``(client_id, object_id)``.

    Uses the xn192 nonce scheme, so a client key may wrap any number of data keys.
    """
    return seal_envelope(
        MAGIC_WRAPPED_KEY, client_key, encode_key(data_key), _data_aad(client_id, object_id),
        rand=rand,
    )


def data_key_unwrap(client_key: Key, client_id: str, object_id: str, wrapped: Buffer) -> Key:
    """Unwrap a data key; raises `DecryptionError` on any failure, including a blob
    moved to another object or client, or one wrapped by another client key."""
    return decode_key(
        open_envelope(MAGIC_WRAPPED_KEY, client_key, wrapped, _data_aad(client_id, object_id))
    )


def derive_subkey(key: Key, purpose: str, *, suite: SuiteName | None = None) -> Key:
    """A key for a separate `purpose` (e.g. ``"blind-index"``), derived from `key`.

    ``HKDF-H(key, salt=none, info=ctx("baomi subkey v1", purpose))`` with the hash of
    `key`'s suite; the result belongs to `suite` (default: the same suite). Distinct
    purposes give independent keys; nothing about `key` can be learnt from a subkey.
    Raises `ValueError` for an unknown suite.
    """
    target = get_suite(suite) if suite is not None else key.suite_info
    material = hkdf(
        key.suite_info,
        key.material,
        salt=None,
        info=encode_context("baomi subkey v1", purpose),
        length=target.key_size,
    )
    return Key(material, target.name)


def blind_index(index_key: Key, field: str, normalized_value: str) -> str:
    """Deterministic search token for an exact-match lookup on an encrypted field.

    ``hex(HMAC-H(index_key, ctx("baomi blind-index v1", field, value))[:16])``, where
    H is SHA-256 (or SM3 for an sm4-gcm key). Binding `field` makes equal values in
    different fields unlinkable. The caller normalizes (trim, case, full-width digits)
    before calling, the same way when storing and searching. Use a key from
    `derive_subkey(..., "blind-index")`, never an encryption key. Equal inputs give
    equal tokens by design: a blind index reveals equality, nothing else.
    """
    mac = hmac_digest(
        index_key.suite_info,
        index_key.material,
        encode_context("baomi blind-index v1", field, normalized_value),
    )
    return mac[:BLIND_INDEX_BYTES].hex()
