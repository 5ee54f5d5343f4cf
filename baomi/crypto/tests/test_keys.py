"""The key hierarchy, subkeys and blind indexes."""

from __future__ import annotations

from pathlib import Path

import pytest

from baomi.crypto import (
    DecryptionError,
    Key,
    KeyFileProvider,
    blind_index,
    client_key_new,
    client_key_unwrap,
    client_key_wrap,
    data_key_new,
    data_key_unwrap,
    data_key_wrap,
    derive_subkey,
    open_stream,
    seal_stream,
)
from baomi.crypto.suites import SUITE_NAMES, SuiteName

SUITES = pytest.mark.parametrize("suite", SUITE_NAMES)


@pytest.fixture
def master(tmp_path: Path) -> KeyFileProvider:
    return KeyFileProvider.create(tmp_path / "master.key")


@SUITES
def test_full_hierarchy_round_trip(master: KeyFileProvider, suite: SuiteName) -> None:
    client_key = client_key_new(suite)
    wrapped_ck = client_key_wrap(master, "client-7", client_key)
    assert client_key.material not in wrapped_ck
    data_key = data_key_new(suite)
    wrapped_dk = data_key_wrap(client_key, "client-7", "doc-42", data_key)
    sealed = b"".join(seal_stream(data_key, b"doc-42", [b"balance sheet"]))

    ck = client_key_unwrap(master, "client-7", wrapped_ck)
    dk = data_key_unwrap(ck, "client-7", "doc-42", wrapped_dk)
    assert (ck, dk) == (client_key, data_key)
    assert dk.suite == suite
    assert b"".join(open_stream(dk, b"doc-42", [sealed])) == b"balance sheet"


def test_wrapped_client_key_is_bound_to_its_client(master: KeyFileProvider) -> None:
    wrapped = client_key_wrap(master, "client-7", client_key_new())
    with pytest.raises(DecryptionError):
        client_key_unwrap(master, "client-8", wrapped)


def test_wrapped_data_key_is_bound_to_client_and_object() -> None:
    ck = client_key_new()
    wrapped = data_key_wrap(ck, "client-7", "doc-42", data_key_new())
    for client_id, object_id in [("client-8", "doc-42"), ("client-7", "doc-43"), ("", "")]:
        with pytest.raises(DecryptionError):
            data_key_unwrap(ck, client_id, object_id, wrapped)
    with pytest.raises(DecryptionError):  # another client's key
        data_key_unwrap(client_key_new(), "client-7", "doc-42", wrapped)


def test_context_encoding_is_unambiguous() -> None:
    ck = client_key_new()
    wrapped = data_key_wrap(ck, "ab", "c", data_key_new())
    with pytest.raises(DecryptionError):
        data_key_unwrap(ck, "a", "bc", wrapped)


def test_data_key_blob_cannot_pose_as_client_key(master: KeyFileProvider) -> None:
    # A master-wrapped data key (same magic) must not open as a client key: the aad label
    # differs between the two kinds.
    client_aad_blob = master.wrap(b"\x01" + bytes(32), b"not a client-key context")
    with pytest.raises(DecryptionError):
        client_key_unwrap(master, "client-7", client_aad_blob)


def test_crypto_shredding(master: KeyFileProvider) -> None:
    # With the wrapped client key destroyed, nothing the test still holds opens the data.
    ck = client_key_new()
    wrapped_dk = data_key_wrap(ck, "c", "o", data_key_new())
    del ck
    for guess in (client_key_new(), derive_subkey(client_key_new(), "x")):
        with pytest.raises(DecryptionError):
            data_key_unwrap(guess, "c", "o", wrapped_dk)


@SUITES
def test_derive_subkey(suite: SuiteName) -> None:
    key = client_key_new(suite)
    a, b = derive_subkey(key, "blind-index"), derive_subkey(key, "blind-index")
    assert a == b
    assert a.suite == suite
    assert derive_subkey(key, "export-mac") != a
    assert a != key
    other = derive_subkey(key, "blind-index", suite="sm4-gcm")
    assert len(other.material) == 16


@SUITES
def test_blind_index(suite: SuiteName) -> None:
    ik = derive_subkey(client_key_new(suite), "blind-index")
    token = blind_index(ik, "id_number", "110101199003071234")
    assert len(token) == 32
    assert int(token, 16) >= 0
    assert token == blind_index(ik, "id_number", "110101199003071234")
    assert token != blind_index(ik, "phone", "110101199003071234")  # field is bound
    assert token != blind_index(ik, "id_number", "110101199003071235")
    other = derive_subkey(client_key_new(suite), "blind-index")
    assert token != blind_index(other, "id_number", "110101199003071234")


def test_key_ids_are_stable_and_distinct() -> None:
    k = Key(bytes(range(32)))
    assert k.key_id == Key(bytes(range(32))).key_id
    assert k.key_id != Key(bytes(range(1, 33))).key_id
    assert len(k.key_id) == 8
