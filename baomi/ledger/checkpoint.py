"""Signed checkpoints in the transparency-dev / Go `signed note` text format.

A checkpoint commits to the log's size and root at a moment. Its body is:

    <origin>\\n
    <size in decimal>\\n
    <root, standard base64>\\n
    time <UTC ISO-8601 with microseconds>Z\\n
    hash <sha256|sm3>\\n

followed by a blank line and one or more signature lines
`— <key name> <base64(key hash[4] || Ed25519 signature[64])>`, where the key hash is
`SHA-256(key name || "\\n" || 0x01 || public key)[:4]` exactly as in Go's
`golang.org/x/mod/sumdb/note`, so standard note tooling can check our checkpoints.
The first three lines are the tlog checkpoint format; `time` and `hash` are extension
lines. The signature covers the body bytes (UTF-8), so editing any line invalidates it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from baomi.crypto.digest import HASH_NAMES, HashName
from baomi.crypto.signing import SignatureInvalid, sign, verify
from baomi.crypto.signing import public_key as _public_key
from baomi.ledger.entry import format_time, parse_time
from baomi.ledger.errors import CheckpointError
from baomi.ledger.hashing import HASH_SIZE

_ED25519_ALG: Final = b"\x01"
_SIG_PREFIX: Final = "\u2014 "  # "— ", the em dash that starts a note signature line
_KEY_NAME_RE = re.compile(r"[^\s+]+")
_SIZE_RE = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log head: `size` leaves with Merkle `root`, as of `time`, from log `origin`.

    `key_id` is the note key name that signed it (when parsed, the name whose signature
    was verified or, for an unverified parse, the first signature line's name).
    """

    origin: str
    size: int
    root: bytes
    time: datetime
    key_id: str
    hash_name: HashName = "sha256"

    def body(self) -> str:
        """The canonical signed text (ends with a newline). Raises `CheckpointError`."""
        if not self.origin or "\n" in self.origin or self.origin != self.origin.strip():
            raise CheckpointError("origin must be one non-empty line without edge spaces")
        if self.size < 0 or len(self.root) != HASH_SIZE or self.hash_name not in HASH_NAMES:
            raise CheckpointError("checkpoint size, root or hash is invalid")
        root = base64.b64encode(self.root).decode("ascii")
        return (
            f"{self.origin}\n{self.size}\n{root}\ntime {format_time(self.time)}\n"
            f"hash {self.hash_name}\n"
        )


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint together with its full signed-note `text` (what is exported/stored).

    `checkpoint` is parsed from `text` but NOT verified; use `checkpoint_verify`.
    """

    checkpoint: Checkpoint
    text: str


def key_hash(key_name: str, public_key: bytes) -> bytes:
    """The 4-byte signed-note key hash that names `public_key` in signature lines."""
    return hashlib.sha256(key_name.encode("utf-8") + b"\n" + _ED25519_ALG + public_key).digest()[:4]


def verifier_key(key_name: str, public_key: bytes) -> str:
    """The Go `note` verifier key string `<name>+<hex keyhash>+<base64(0x01||key)>`.

    Lets third parties check exported checkpoints with standard tooling.
    """
    _check_key_name(key_name)
    return (
        f"{key_name}+{key_hash(key_name, public_key).hex()}+"
        f"{base64.b64encode(_ED25519_ALG + public_key).decode('ascii')}"
    )


def _check_key_name(name: str) -> None:
    if not _KEY_NAME_RE.fullmatch(name):
        raise CheckpointError("key name must be non-empty, without spaces or '+'")


def checkpoint_sign(
    seed: bytes,
    *,
    origin: str,
    size: int,
    root: bytes,
    time: datetime,
    key_id: str,
    hash_name: HashName = "sha256",
) -> SignedCheckpoint:
    """Sign a checkpoint with the Ed25519 private `seed` under key name `key_id`.

    Deterministic for the same inputs (Ed25519). Raises `CheckpointError` for an invalid
    origin, key name, root or size.
    """
    _check_key_name(key_id)
    cp = Checkpoint(origin, size, root, time, key_id, hash_name)
    body = cp.body()
    signature = sign(seed, body.encode("utf-8"))
    blob = base64.b64encode(key_hash(key_id, _public_key(seed)) + signature).decode("ascii")
    return SignedCheckpoint(cp, f"{body}\n{_SIG_PREFIX}{key_id} {blob}\n")


def _split(text: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """Body and (name, key hash, signature) of each signature line; no verification."""
    if not text.endswith("\n") or "\n\n" not in text:
        raise CheckpointError("not a signed note: no blank line before signatures")
    cut = text.rindex("\n\n")
    body, sig_block = text[: cut + 1], text[cut + 2 :]
    sigs: list[tuple[str, bytes, bytes]] = []
    for line in sig_block.splitlines():
        if not line.startswith(_SIG_PREFIX):
            raise CheckpointError("malformed signature line")
        parts = line[len(_SIG_PREFIX) :].split(" ")
        if len(parts) != 2:
            raise CheckpointError("malformed signature line")
        name, blob = parts
        _check_key_name(name)
        try:
            raw = base64.b64decode(blob, validate=True)
        except binascii.Error as exc:
            raise CheckpointError("signature is not base64") from exc
        if len(raw) != 4 + 64:
            raise CheckpointError("signature has the wrong length")
        sigs.append((name, raw[:4], raw[4:]))
    if not sigs:
        raise CheckpointError("checkpoint carries no signature")
    return body, sigs


def _parse_body(body: str, key_id: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) != 6 or lines[5] != "":
        raise CheckpointError("checkpoint body must have exactly five lines")
    origin, size_text, root_text, time_line, hash_line = lines[:5]
    if not _SIZE_RE.fullmatch(size_text):
        raise CheckpointError("checkpoint size is not a canonical decimal")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error as exc:
        raise CheckpointError("checkpoint root is not base64") from exc
    if not time_line.startswith("time ") or not hash_line.startswith("hash "):
        raise CheckpointError("checkpoint lacks its time or hash line")
    hash_name = hash_line[5:]
    if hash_name not in HASH_NAMES:
        raise CheckpointError(f"unknown checkpoint hash {hash_name!r}")
    try:
        time = parse_time(time_line[5:])
    except ValueError as exc:
        raise CheckpointError(str(exc)) from exc
    cp = Checkpoint(
        origin, int(size_text), root, time, key_id, "sm3" if hash_name == "sm3" else "sha256"
    )
    if cp.body() != body:
        raise CheckpointError("checkpoint body is not in canonical form")
    return cp


def checkpoint_parse(text: str | bytes) -> SignedCheckpoint:
    """Parse a signed checkpoint WITHOUT checking signatures (for storage and lookup).

    Raises `CheckpointError` when the text is not a well-formed signed checkpoint.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError("checkpoint is not UTF-8") from exc
    body, sigs = _split(text)
    return SignedCheckpoint(_parse_body(body, sigs[0][0]), text)


def checkpoint_verify(public_keys: bytes | Mapping[str, bytes], text: str | bytes) -> Checkpoint:
    """Verify a signed checkpoint and return what it says.

    `public_keys` is one raw Ed25519 public key (trusted under whatever name the note
    gives, matched by key hash) or a mapping of trusted key names to public keys.
    Succeeds when a signature by a trusted key verifies; signature lines by unknown keys
    are ignored, as in signed notes. Raises `CheckpointError` with code
    `checkpoint_malformed`, `unknown_key` (no trusted key signed it) or
    `signature_invalid` (a trusted key's signature does not verify: forged or edited).
    """
    signed = checkpoint_parse(text)
    body, sigs = _split(signed.text)
    message = body.encode("utf-8")
    for name, hash4, signature in sigs:
        if isinstance(public_keys, bytes):
            pub: bytes | None = public_keys
        else:
            pub = public_keys.get(name)
        if pub is None or key_hash(name, pub) != hash4:
            continue
        try:
            verify(pub, message, signature)
        except SignatureInvalid as exc:
            raise CheckpointError(
                f"signature by key {name!r} does not verify", code="signature_invalid"
            ) from exc
        return _parse_body(body, name)
    raise CheckpointError("no signature by a trusted key", code="unknown_key")


def checkpoint_export(signed: SignedCheckpoint, path: str | Path) -> None:
    """Write the signed checkpoint text to `path` (UTF-8), replacing any file there."""
    Path(path).write_text(signed.text, encoding="utf-8", newline="\n")


def checkpoint_import(path: str | Path) -> SignedCheckpoint:
    """Read a checkpoint file written by `checkpoint_export`; parses, does NOT verify.

    Raises `CheckpointError` when malformed and OSError when unreadable.
    """
    return checkpoint_parse(Path(path).read_bytes())
