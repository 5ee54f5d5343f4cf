"""Signed checkpoints: format, verification, forgery and edits, files."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from baomi.crypto.signing import generate_signing_key, public_key
from baomi.ledger.checkpoint import (
    checkpoint_export,
    checkpoint_import,
    checkpoint_parse,
    checkpoint_sign,
    checkpoint_verify,
    key_hash,
    verifier_key,
)
from baomi.ledger.errors import CheckpointError
from baomi.ledger.tests.helpers import T0

SEED = bytes(range(32))
PUB = public_key(SEED)
ROOT = bytes(range(100, 132))


def signed(**overrides: object) -> str:
    args: dict[str, object] = {
        "origin": "baomi.example/ledger",
        "size": 1234,
        "root": ROOT,
        "time": T0,
        "key_id": "baomi-ledger",
    }
    args.update(overrides)
    return checkpoint_sign(SEED, **args).text  # type: ignore[arg-type]  # checked above


def test_text_format() -> None:
    text = signed()
    body, sig = text.split("\n\n")
    assert body.split("\n") == [
        "baomi.example/ledger",
        "1234",
        base64.b64encode(ROOT).decode(),
        "time 2026-05-01T09:00:00.000000Z",
        "hash sha256",
    ]
    name, blob = sig.removeprefix("\u2014 ").removesuffix("\n").split(" ")
    assert name == "baomi-ledger"
    assert base64.b64decode(blob)[:4] == key_hash("baomi-ledger", PUB)
    assert len(base64.b64decode(blob)) == 68
    assert signed() == text  # Ed25519 is deterministic


def test_verify_returns_what_was_signed() -> None:
    for keys in (PUB, {"baomi-ledger": PUB}):
        cp = checkpoint_verify(keys, signed(hash_name="sm3"))
        assert (cp.origin, cp.size, cp.root, cp.time, cp.key_id, cp.hash_name) == (
            "baomi.example/ledger",
            1234,
            ROOT,
            T0,
            "baomi-ledger",
            "sm3",
        )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("baomi.example/ledger\n", "baomi.example/ledgeR\n"),
        ("\n1234\n", "\n1235\n"),
        (base64.b64encode(ROOT).decode(), base64.b64encode(bytes(32)).decode()),
        ("09:00:00", "09:00:01"),
        ("hash sha256", "hash sm3"),
    ],
)
def test_any_edit_of_the_body_breaks_the_signature(old: str, new: str) -> None:
    text = signed()
    assert old in text
    with pytest.raises(CheckpointError) as info:
        checkpoint_verify(PUB, text.replace(old, new, 1))
    assert info.value.code == "signature_invalid"


def test_forged_signature_is_refused() -> None:
    text = signed()
    other = generate_signing_key()
    forged = checkpoint_sign(
        other, origin="baomi.example/ledger", size=1234, root=ROOT, time=T0, key_id="x"
    ).text
    # Graft the forger's signature bytes onto our key name with our key hash.
    blob = base64.b64decode(forged.split(" ")[-1])
    graft = base64.b64encode(key_hash("baomi-ledger", PUB) + blob[4:]).decode()
    with pytest.raises(CheckpointError) as info:
        checkpoint_verify(PUB, text.rsplit(" ", 1)[0] + " " + graft + "\n")
    assert info.value.code == "signature_invalid"
    with pytest.raises(CheckpointError) as info:
        checkpoint_verify(PUB, forged)
    assert info.value.code == "unknown_key"


def test_unknown_signers_are_ignored_when_a_trusted_one_signed() -> None:
    text = signed()
    other = generate_signing_key()
    extra = checkpoint_sign(
        other, origin="baomi.example/ledger", size=1234, root=ROOT, time=T0, key_id="witness"
    ).text.split("\n\n")[1]
    both = text + extra
    assert checkpoint_verify({"baomi-ledger": PUB}, both).key_id == "baomi-ledger"
    assert checkpoint_verify({"witness": public_key(other)}, both).key_id == "witness"
    with pytest.raises(CheckpointError) as info:
        checkpoint_verify({"someone": PUB}, both)
    assert info.value.code == "unknown_key"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.replace("\n\n", "\n"),
        lambda t: t.replace("\n1234\n", "\n01234\n"),
        lambda t: t.replace("\n1234\n", "\n-1\n"),
        lambda t: t.replace("hash sha256", "hash md5"),
        lambda t: t.replace("time ", "when "),
        lambda t: t.replace("\n\n", "\nextra\n\n"),
        lambda t: t.replace("\u2014 ", "- "),
        lambda t: t[:-1],
        lambda t: t.replace("baomi-ledger ", "baomi-ledger x "),
        lambda t: t.rsplit(" ", 1)[0] + " !!!!\n",
        lambda t: t.split("\n\n")[0] + "\n\n",
    ],
)
def test_malformed_checkpoints_are_refused(mutate: Callable[[str], str]) -> None:
    with pytest.raises(CheckpointError) as info:
        checkpoint_verify(PUB, mutate(signed()))
    assert info.value.code == "checkpoint_malformed"


def test_bad_inputs_to_sign_are_refused() -> None:
    for overrides in ({"origin": ""}, {"origin": "a\nb"}, {"key_id": "a b"}, {"size": -1}):
        with pytest.raises(CheckpointError):
            signed(**overrides)


def test_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.txt"
    cp = checkpoint_sign(
        SEED, origin="baomi.example/ledger", size=7, root=ROOT, time=T0, key_id="k"
    )
    checkpoint_export(cp, path)
    loaded = checkpoint_import(path)
    assert loaded.text == cp.text
    assert loaded.checkpoint == cp.checkpoint
    assert checkpoint_verify(PUB, path.read_bytes()) == cp.checkpoint
    assert checkpoint_parse(cp.text).checkpoint.size == 7


def test_verifier_key_is_go_note_format() -> None:
    name, hash_hex, key = verifier_key("baomi-ledger", PUB).split("+", 2)
    assert name == "baomi-ledger"
    assert bytes.fromhex(hash_hex) == key_hash("baomi-ledger", PUB)
    assert base64.b64decode(key) == b"\x01" + PUB
