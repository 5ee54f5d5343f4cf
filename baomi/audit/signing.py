"""The ledger's Ed25519 checkpoint-signing key, held wrapped by the master key.

The 32-byte seed is stored in `<data dir>/ledger-signing.key`, wrapped by the configured
master key provider with its purpose bound as associated data, so copying the file
without the master key yields nothing. The public key is published with every exported
checkpoint.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

from django.conf import settings

from baomi.config import write_secret_file
from baomi.crypto import MasterKeyProvider, needs_rewrap
from baomi.crypto.signing import generate_signing_key, public_key

SIGNING_KEY_FILE = "ledger-signing.key"
_AAD = b"baomi/ledger-signing-key/v1"
KEY_NAME = "baomi-ledger"


def master_provider() -> MasterKeyProvider:
    """The configured master key provider (`baomi.config.master_key_provider`)."""
    from baomi import config

    return config.master_key_provider()


def _write_atomic(path: Path, content: bytes) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@functools.lru_cache(maxsize=1)
def _seed_for(path: str) -> bytes:
    p = Path(path)
    provider = master_provider()
    if not p.exists():
        # Two processes may start at once: the loser reads the winner's file.
        with contextlib.suppress(FileExistsError):
            write_secret_file(p, provider.wrap(generate_signing_key(), _AAD))
    blob = p.read_bytes()
    seed = provider.unwrap(blob, _AAD)
    if needs_rewrap(blob, provider):
        # Wrapped by a previous master key (a rotation happened): re-wrap under the
        # current one so the old key file can be retired.
        _write_atomic(p, provider.wrap(seed, _AAD))
    return seed


def signing_key_path() -> Path:
    return Path(settings.DATA_DIR) / SIGNING_KEY_FILE


def signing_seed() -> bytes:
    """The checkpoint signing seed (created on first use). Raises crypto errors."""
    return _seed_for(str(signing_key_path()))


def signing_key_rewrap() -> bool:
    """Re-wrap the signing key under the current master key (after a rotation).

    Returns True if the file was re-wrapped. Part of `baomi keys rotate`.
    """
    path = signing_key_path()
    if not path.exists():
        return False
    changed = needs_rewrap(path.read_bytes(), master_provider())
    _seed_for.cache_clear()
    signing_seed()
    return changed


def signing_public_key() -> bytes:
    return public_key(signing_seed())


def origin() -> str:
    """The log's origin line: identifies this firm's ledger in checkpoints."""
    return os.environ.get("BAOMI_LEDGER_ORIGIN", "baomi.ledger/v1")
