"""Master-key providers: key file, passphrase, PKCS#11 (SoftHSM2), keyrings, rotation."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from baomi.crypto import (
    DecryptionError,
    KeyFileError,
    KeyFileProvider,
    KeyNotAvailable,
    Keyring,
    PassphraseParams,
    PassphraseProvider,
    Pkcs11Provider,
    ProviderError,
    WrongPassphrase,
    client_key_new,
    client_key_rewrap,
    client_key_unwrap,
    client_key_wrap,
    needs_rewrap,
    provider_from_config,
    rewrap,
    wrapped_key_id,
)
from baomi.crypto.keys import MasterKeyProvider
from baomi.crypto.tests.conftest import SoftHsm


def _fast_passphrase(passphrase: str) -> PassphraseProvider:
    # Cheap Argon2 parameters: the tests check behaviour, not cost.
    return PassphraseProvider.create(passphrase, time_cost=1, memory_cost_kib=1024, parallelism=1)


def _round_trip(provider: MasterKeyProvider) -> None:
    blob = provider.wrap(b"k" * 33, b"ctx")
    assert wrapped_key_id(blob) == provider.key_id
    assert provider.unwrap(blob, b"ctx") == b"k" * 33
    with pytest.raises(DecryptionError):
        provider.unwrap(blob, b"other ctx")
    bad = bytearray(blob)
    bad[-1] ^= 1
    with pytest.raises(DecryptionError):
        provider.unwrap(bytes(bad), b"ctx")


# Key file --------------------------------------------------------------------------


def test_key_file_create_and_load(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    created = KeyFileProvider.create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_size == 32
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]  # no temp file left
    loaded = KeyFileProvider.load(path)
    assert loaded.key_id == created.key_id
    _round_trip(loaded)
    assert loaded.unwrap(created.wrap(b"x", b"a"), b"a") == b"x"


def test_key_file_sm4(tmp_path: Path) -> None:
    path = tmp_path / "sm4.key"
    KeyFileProvider.create(path, suite="sm4-gcm")
    assert path.stat().st_size == 16
    provider = KeyFileProvider.load(path, suite="sm4-gcm")
    _round_trip(provider)
    with pytest.raises(KeyFileError, match="16 bytes"):
        KeyFileProvider.load(path)


def test_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    KeyFileProvider.create(path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        KeyFileProvider.create(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    KeyFileProvider.create(path)
    path.chmod(mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        KeyFileProvider.load(path)


def test_key_file_missing_symlink_short(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        KeyFileProvider.load(tmp_path / "nope.key")
    target = tmp_path / "real.key"
    KeyFileProvider.create(target)
    (tmp_path / "link.key").symlink_to(target)
    with pytest.raises(KeyFileError):
        KeyFileProvider.load(tmp_path / "link.key")
    short = tmp_path / "short.key"
    fd = os.open(short, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"too short")
    os.close(fd)
    with pytest.raises(KeyFileError, match="holds 9 bytes"):
        KeyFileProvider.load(short)


# Passphrase ------------------------------------------------------------------------


def test_passphrase_provider(tmp_path: Path) -> None:
    created = _fast_passphrase("正确 horse battery staple")
    _round_trip(created)
    path = tmp_path / "kek.json"
    created.save_params(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = PassphraseProvider.load(path, "正确 horse battery staple")
    assert loaded.key_id == created.key_id
    assert loaded.unwrap(created.wrap(b"x", b"a"), b"a") == b"x"


def test_wrong_passphrase_is_detected() -> None:
    created = _fast_passphrase("right")
    params = PassphraseParams.from_json(created.params.to_json())
    assert params == created.params
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        PassphraseProvider.unlock("wrong", params)


def test_passphrase_params_validation() -> None:
    with pytest.raises(ValueError, match="empty"):
        _fast_passphrase("")
    with pytest.raises(ValueError, match=r"malformed|not baomi"):
        PassphraseParams.from_json('{"format": "baomi-passphrase-kek", "version": 1}')
    with pytest.raises(ValueError, match="out of bounds"):
        PassphraseProvider.create("x", time_cost=1000, memory_cost_kib=1024, parallelism=1)


# Keyrings and rotation -------------------------------------------------------------


def test_rotation_with_keyring_and_rewrap(tmp_path: Path) -> None:
    old = KeyFileProvider.create(tmp_path / "v1.key")
    new = KeyFileProvider.create(tmp_path / "v2.key")
    ck = client_key_new()
    blob = client_key_wrap(old, "c1", ck)
    ring = Keyring([new, old])
    assert ring.key_id == new.key_id
    assert client_key_unwrap(ring, "c1", blob) == ck  # old blobs still readable
    assert needs_rewrap(blob, ring)
    moved = client_key_rewrap(ring, new, "c1", blob)
    assert not needs_rewrap(moved, ring)
    assert client_key_unwrap(new, "c1", moved) == ck
    with pytest.raises(KeyNotAvailable):
        client_key_unwrap(new, "c1", blob)  # new alone cannot read the old blob
    with pytest.raises(DecryptionError):  # KeyNotAvailable is a DecryptionError
        new.unwrap(blob, b"")
    with pytest.raises(ValueError, match="share key id"):
        Keyring([old, KeyFileProvider.load(tmp_path / "v1.key")])


# Configuration ---------------------------------------------------------------------


def test_provider_from_config(tmp_path: Path) -> None:
    KeyFileProvider.create(tmp_path / "v1.key")
    KeyFileProvider.create(tmp_path / "v2.key")
    single = provider_from_config("keyfile", path=str(tmp_path / "v1.key"))
    assert isinstance(single, KeyFileProvider)
    ring = provider_from_config(
        "keyfile", path=tmp_path / "v2.key", previous_paths=f"{tmp_path / 'v1.key'}"
    )
    assert isinstance(ring, Keyring)
    assert ring.unwrap(single.wrap(b"x", b""), b"") == b"x"

    pp = _fast_passphrase("pw")
    pp.save_params(tmp_path / "pp.json")
    got = provider_from_config("passphrase", path=tmp_path / "pp.json", passphrase="pw")
    assert got.key_id == pp.key_id
    with pytest.raises(WrongPassphrase):
        provider_from_config("passphrase", path=tmp_path / "pp.json", passphrase="nope")

    with pytest.raises(ValueError, match="unknown master key provider"):
        provider_from_config("vault")
    with pytest.raises(ValueError, match="unknown options"):
        provider_from_config("keyfile", path=tmp_path / "v1.key", colour="blue")
    with pytest.raises(ValueError, match="'path' is required"):
        provider_from_config("keyfile")


# PKCS#11 (SoftHSM2) ------------------------------------------------------------------


def test_pkcs11_provider(softhsm: SoftHsm) -> None:
    Pkcs11Provider.generate_key(softhsm.lib_path, softhsm.token_label, softhsm.pin, "kek-v1")
    with pytest.raises(ProviderError, match="already exists"):
        Pkcs11Provider.generate_key(softhsm.lib_path, softhsm.token_label, softhsm.pin, "kek-v1")
    with Pkcs11Provider(softhsm.lib_path, softhsm.token_label, softhsm.pin, "kek-v1") as hsm:
        _round_trip(hsm)
        ck = client_key_new()
        blob = client_key_wrap(hsm, "client-7", ck)
        assert blob[:6] == b"BMK\x01\x01\x01"  # aes-256-gcm, random96 inside the token
        assert client_key_unwrap(hsm, "client-7", blob) == ck
        with pytest.raises(DecryptionError):
            client_key_unwrap(hsm, "client-8", blob)


def test_pkcs11_rotation_and_config(softhsm: SoftHsm, tmp_path: Path) -> None:
    for label in ("rot-v1", "rot-v2"):
        Pkcs11Provider.generate_key(softhsm.lib_path, softhsm.token_label, softhsm.pin, label)
    opts = {"lib_path": softhsm.lib_path, "token_label": softhsm.token_label, "pin": softhsm.pin}
    v1 = provider_from_config("pkcs11", key_label="rot-v1", **opts)
    ring = provider_from_config("pkcs11", key_label="rot-v2", previous_key_labels="rot-v1", **opts)
    ck = client_key_new()
    blob = client_key_wrap(v1, "c", ck)
    assert client_key_unwrap(ring, "c", blob) == ck
    # Move from the HSM to a key file and back: rewrap works across provider kinds.
    kf = KeyFileProvider.create(tmp_path / "kf.key")
    moved = client_key_rewrap(ring, kf, "c", blob)
    assert client_key_unwrap(kf, "c", moved) == ck
    assert client_key_unwrap(ring, "c", client_key_rewrap(kf, ring, "c", moved)) == ck
    # The generic form, for any wrapped secret and its aad.
    assert rewrap(ring, kf, ring.wrap(b"s", b"a"), b"a") != b"s"


def test_pkcs11_errors(softhsm: SoftHsm) -> None:
    with pytest.raises(ProviderError, match="no usable AES key"):
        Pkcs11Provider(softhsm.lib_path, softhsm.token_label, softhsm.pin, "absent")
    with pytest.raises(ProviderError, match="cannot open"):
        Pkcs11Provider(softhsm.lib_path, softhsm.token_label, "0000", "kek-v1")
    with pytest.raises(ProviderError, match="cannot open"):
        Pkcs11Provider(softhsm.lib_path, "no-such-token", softhsm.pin, "kek-v1")
