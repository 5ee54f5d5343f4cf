"""Sealed small values: round trips, every header field tampered, wrong key and aad."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baomi.crypto import DecryptionError, Key, open_bytes, seal_bytes, sealed_key_id
from baomi.crypto.suites import SUITE_NAMES, SuiteName
from baomi.crypto.tests.helpers import DetRand

SUITES = pytest.mark.parametrize("suite", SUITE_NAMES)


def _key(suite: SuiteName, seed: bytes = b"k") -> Key:
    return Key.generate(suite, rand=DetRand(seed))


@SUITES
def test_round_trip_and_layout(suite: SuiteName) -> None:
    key = _key(suite)
    sealed = seal_bytes(key, "统一社会信用代码".encode(), b"client:7|field:uscc")
    assert sealed[:4] == b"BMV\x01"
    assert sealed[4] == (1 if suite == "aes-256-gcm" else 2)
    assert sealed[5] == 0x02  # xn192
    assert sealed[6:14] == key.key_id == sealed_key_id(sealed)
    assert len(sealed) == len("统一社会信用代码".encode()) + 54
    assert open_bytes(key, sealed, b"client:7|field:uscc").decode() == "统一社会信用代码"


@SUITES
def test_fresh_nonce_every_time(suite: SuiteName) -> None:
    key = _key(suite)
    assert seal_bytes(key, b"x", b"") != seal_bytes(key, b"x", b"")


# (name, offset) of every header field: magic, version, suite, scheme, key id, nonce.
HEADER_FIELDS = [
    ("magic", 0), ("magic", 2), ("version", 3), ("suite", 4), ("scheme", 5),
    ("key_id", 6), ("key_id", 13), ("nonce_salt", 14), ("nonce_gcm", 37),
]


@SUITES
@pytest.mark.parametrize(("field", "offset"), HEADER_FIELDS)
def test_every_header_field_is_authenticated(suite: SuiteName, field: str, offset: int) -> None:
    key = _key(suite)
    sealed = bytearray(seal_bytes(key, b"secret ledger", b"aad"))
    sealed[offset] ^= 0x01
    with pytest.raises(DecryptionError):
        open_bytes(key, bytes(sealed), b"aad")


@SUITES
def test_body_tag_truncation_extension(suite: SuiteName) -> None:
    key = _key(suite)
    sealed = seal_bytes(key, b"secret ledger", b"aad")
    for i in range(38, len(sealed)):  # every ciphertext and tag byte
        bad = bytearray(sealed)
        bad[i] ^= 0x80
        with pytest.raises(DecryptionError):
            open_bytes(key, bytes(bad), b"aad")
    for cut in (0, 5, 14, 38, 53, len(sealed) - 1):
        with pytest.raises(DecryptionError):
            open_bytes(key, sealed[:cut], b"aad")
    with pytest.raises(DecryptionError):
        open_bytes(key, sealed + b"\x00", b"aad")


@SUITES
def test_wrong_key_wrong_aad_wrong_suite(suite: SuiteName) -> None:
    key = _key(suite)
    sealed = seal_bytes(key, b"v", b"field:a")
    with pytest.raises(DecryptionError):
        open_bytes(key, sealed, b"field:b")
    with pytest.raises(DecryptionError):
        open_bytes(_key(suite, b"other"), sealed, b"field:a")
    other_suite: SuiteName = "sm4-gcm" if suite == "aes-256-gcm" else "aes-256-gcm"
    with pytest.raises(DecryptionError):
        open_bytes(_key(other_suite), sealed, b"field:a")


def test_key_length_must_fit_suite() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Key(b"\x00" * 32, "sm4-gcm")
    with pytest.raises(ValueError, match="unknown cipher suite"):
        Key(b"\x00" * 32, "des")  # type: ignore[arg-type]  # deliberately wrong
    assert "material" not in repr(Key.generate())
    assert Key(b"\x01" * 16, "sm4-gcm") == Key(b"\x01" * 16, "sm4-gcm")


def test_nonce_length_checked() -> None:
    with pytest.raises(ValueError, match="wrong length"):
        seal_bytes(Key.generate(), b"x", b"", nonce=b"\x00" * 12)


@given(
    suite=st.sampled_from(SUITE_NAMES),
    plaintext=st.binary(max_size=2048),
    aad=st.binary(max_size=64),
)
def test_round_trip_property(suite: SuiteName, plaintext: bytes, aad: bytes) -> None:
    key = _key(suite)
    assert open_bytes(key, seal_bytes(key, plaintext, aad), aad) == plaintext


@given(
    suite=st.sampled_from(SUITE_NAMES),
    plaintext=st.binary(max_size=64),
    data=st.data(),
)
def test_any_bit_flip_is_refused(suite: SuiteName, plaintext: bytes, data: st.DataObject) -> None:
    key = _key(suite)
    sealed = bytearray(seal_bytes(key, plaintext, b"a"))
    i = data.draw(st.integers(0, len(sealed) - 1))
    sealed[i] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(DecryptionError):
        open_bytes(key, bytes(sealed), b"a")
