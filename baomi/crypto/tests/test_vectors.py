"""Known-answer tests: the committed vectors must be reproduced byte for byte and open."""

from __future__ import annotations

import json
from typing import Any

import pytest

from baomi.crypto import (
    Key,
    KeyFileProvider,
    blind_index,
    client_key_unwrap,
    data_key_unwrap,
    derive_subkey,
    open_bytes,
    open_stream,
)
from baomi.crypto.suites import SUITE_NAMES, aead_for, get_suite
from baomi.crypto.tests import make_vectors

VECTORS: dict[str, Any] = json.loads(make_vectors.VECTORS_PATH.read_text())
SUITES = pytest.mark.parametrize("suite", SUITE_NAMES)
h = bytes.fromhex


def _keys(suite: str) -> dict[str, Key]:
    return {
        name: Key(h(v["key"]), get_suite(suite).name)
        for name, v in VECTORS["suites"][suite]["keys"].items()
    }


def test_code_reproduces_committed_vectors() -> None:
    assert make_vectors.build() == VECTORS


def test_primitive_vectors() -> None:
    for v in VECTORS["primitives"]:
        aead = aead_for(get_suite(v["suite"]), h(v["key"]))
        assert aead.encrypt(h(v["nonce"]), h(v["plaintext"]), h(v["aad"])) == h(
            v["ciphertext_and_tag"]
        )
        assert aead.decrypt(h(v["nonce"]), h(v["ciphertext_and_tag"]), h(v["aad"])) == h(
            v["plaintext"]
        )


@SUITES
def test_key_ids(suite: str) -> None:
    for name, key in _keys(suite).items():
        assert key.key_id.hex() == VECTORS["suites"][suite]["keys"][name]["key_id"]


@SUITES
def test_seal_bytes_vectors_open(suite: str) -> None:
    keys = _keys(suite)
    for v in VECTORS["suites"][suite]["seal_bytes"]:
        assert open_bytes(keys[v["key"]], h(v["sealed"]), h(v["aad"])) == h(v["plaintext"])


@SUITES
def test_stream_vectors_open(suite: str) -> None:
    keys = _keys(suite)
    cases = VECTORS["suites"][suite]["stream"]
    assert {len(h(v["plaintext"])) for v in cases} >= {0, 16, 32, 37}  # empty, exact multiples
    for v in cases:
        got = b"".join(open_stream(keys[v["key"]], h(v["aad"]), [h(v["sealed"])]))
        assert got == h(v["plaintext"])


@SUITES
def test_wrap_vectors_open(suite: str) -> None:
    keys = _keys(suite)
    data = VECTORS["suites"][suite]
    ck = data["client_key_wrap"]
    master = KeyFileProvider(keys[ck["master"]])
    assert client_key_unwrap(master, ck["client_id"], h(ck["wrapped"])) == keys[ck["client_key"]]
    dk = data["data_key_wrap"]
    assert data_key_unwrap(
        keys[dk["client_key"]], dk["client_id"], dk["object_id"], h(dk["wrapped"])
    ) == keys[dk["data_key"]]


@SUITES
def test_blind_index_vectors(suite: str) -> None:
    keys = _keys(suite)
    v = VECTORS["suites"][suite]["blind_index"]
    subkey = derive_subkey(keys[v["key"]], v["purpose"])
    assert subkey.material.hex() == v["subkey"]
    assert blind_index(subkey, v["field"], v["value"]) == v["token"]


def test_stream_and_value_vectors_match_the_documented_construction() -> None:
    # Re-derive the AES vectors from docs/crypto.md with the primitives alone, so the
    # document and the code cannot drift apart unnoticed.
    import struct

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    def ctx(*parts: bytes) -> bytes:
        return b"".join(struct.pack(">I", len(p)) + p for p in parts)

    key = _keys("aes-256-gcm")["data"]
    v = next(c for c in VECTORS["suites"]["aes-256-gcm"]["stream"] if c["chunk_size"] == 16
             and len(h(c["plaintext"])) == 37)
    sealed, plain, aad = h(v["sealed"]), h(v["plaintext"]), h(v["aad"])
    header = b"BMS\x01\x01\x03" + key.key_id + struct.pack(">I", 16) + h(v["salt"]) + h(
        v["nonce_prefix"]
    )
    assert sealed[:41] == header
    stream_key = HKDF(hashes.SHA256(), 32, h(v["salt"]), ctx(b"baomi stream v1", header)).derive(
        key.material
    )
    expected = header
    for i, start in enumerate(range(0, len(plain), 16)):
        last = start + 16 >= len(plain)
        nonce = h(v["nonce_prefix"]) + struct.pack(">IB", i, last)
        expected += AESGCM(stream_key).encrypt(nonce, plain[start : start + 16], header + aad)
    assert expected == sealed

    sv = VECTORS["suites"]["aes-256-gcm"]["seal_bytes"][1]
    n = h(sv["nonce"])
    value_header = b"BMV\x01\x01\x02" + key.key_id + n
    msg_key = HKDF(hashes.SHA256(), 32, n[:12], ctx(b"baomi xn192 v1", b"BMV")).derive(
        key.material
    )
    body = AESGCM(msg_key).encrypt(n[12:], h(sv["plaintext"]), value_header + h(sv["aad"]))
    assert value_header + body == h(sv["sealed"])
