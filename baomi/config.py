"""Runtime configuration: the data directory and the secrets that live in it.

Everything Baomi keeps on one machine lives under one data directory
(`--data-dir`, `$BAOMI_DATA_DIR`, default `./baomi-data`): the SQLite database, the
Django secret key, the master key file and blobs. Secrets are created on first use with
mode 0600 and never overwritten; they never enter the database or the repository.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from baomi.crypto import MasterKeyProvider

DEFAULT_DATA_DIR = "baomi-data"
SECRET_KEY_FILE = "secret_key"  # noqa: S105  (a file name)
MASTER_KEY_FILE = "master.key"
PASSPHRASE_PARAMS_FILE = "master.passphrase.json"  # noqa: S105  (a file name)


def data_dir() -> Path:
    """The configured data directory, absolute (not created here)."""
    return Path(os.environ.get("BAOMI_DATA_DIR") or DEFAULT_DATA_DIR).expanduser().resolve()


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable (1/true/yes/on)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    """Read a comma-separated environment variable into a list without blanks."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def write_secret_file(path: Path, content: bytes) -> None:
    """Create `path` with `content`, mode 0600; raises FileExistsError if it exists."""
    # O_EXCL: two processes starting at once must not both write a key; the loser
    # simply reads the winner's file.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_data_dir(path: Path | None = None) -> Path:
    """Create the data directory (0700) and its secret key file if missing.

    Idempotent; never changes an existing file. With the default key-file provider
    the master key file is created here too.
    """
    base = path or data_dir()
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path = base / SECRET_KEY_FILE
    if not key_path.exists():
        with contextlib.suppress(FileExistsError):
            write_secret_file(key_path, secrets.token_urlsafe(64).encode())
    if key_provider_kind() == "keyfile":
        ensure_master_key_file(base)
    return base


def read_secret_key(base: Path) -> str:
    """The Django secret key from the data directory (created if missing)."""
    key_path = base / SECRET_KEY_FILE
    if not key_path.exists():
        ensure_data_dir(base)
    return key_path.read_text().strip()


def file_mode_problems(path: Path) -> list[str]:
    """Human-readable problems with a secret file's permissions (empty if fine)."""
    if not path.exists():
        return [f"{path} does not exist"]
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return [f"{path} has mode {mode:04o}; it must be readable by its owner only (0600)"]
    return []


def crypto_suite() -> str:
    """`BAOMI_CRYPTO_SUITE`: ``aes-256-gcm`` (default) or ``sm4-gcm`` for new keys."""
    return os.environ.get("BAOMI_CRYPTO_SUITE", "").strip().lower() or "aes-256-gcm"


def key_provider_kind() -> str:
    """`BAOMI_KEY_PROVIDER`: ``keyfile`` (default), ``passphrase`` or ``pkcs11``."""
    return os.environ.get("BAOMI_KEY_PROVIDER", "").strip().lower() or "keyfile"


def master_key_path(base: Path | None = None) -> Path:
    """The key file (keyfile provider) or parameters file (passphrase provider)."""
    raw = os.environ.get("BAOMI_MASTER_KEY_FILE", "").strip()
    if raw:
        return Path(raw).expanduser().resolve()
    base = base or data_dir()
    if key_provider_kind() == "passphrase":
        return base / PASSPHRASE_PARAMS_FILE
    return base / MASTER_KEY_FILE


def previous_master_key_paths(current: Path) -> list[Path]:
    """Older master keys that may still unwrap: `BAOMI_MASTER_KEY_PREVIOUS` (comma list)
    plus the ``<key file>.prev-<key id>`` files `baomi keys rotate` leaves beside it,
    newest first."""
    listed = [Path(p).expanduser().resolve() for p in env_list("BAOMI_MASTER_KEY_PREVIOUS", "")]
    kept = sorted(
        current.parent.glob(f"{current.name}.prev-*"),
        key=lambda p: p.stat().st_mtime_ns,
        reverse=True,
    )
    out: list[Path] = []
    for p in [*listed, *kept]:
        if p not in out and p != current:
            out.append(p)
    return out


def master_key_options(base: Path | None = None) -> tuple[str, dict[str, object]]:
    """``(kind, options)`` for `baomi.crypto.provider_from_config`, from `BAOMI_*`.

    No key is loaded here; secrets (passphrase, PIN) come only from the environment.
    """
    kind = key_provider_kind()
    if kind == "pkcs11":
        return kind, {
            "lib_path": os.environ.get("BAOMI_PKCS11_LIB", ""),
            "token_label": os.environ.get("BAOMI_PKCS11_TOKEN", ""),
            "pin": os.environ.get("BAOMI_PKCS11_PIN", ""),
            "key_label": os.environ.get("BAOMI_PKCS11_KEY_LABEL", ""),
            "previous_key_labels": env_list("BAOMI_PKCS11_PREVIOUS_KEY_LABELS", ""),
        }
    path = master_key_path(base)
    previous = [str(p) for p in previous_master_key_paths(path)]
    if kind == "passphrase":
        return kind, {
            "path": str(path),
            "passphrase": os.environ.get("BAOMI_MASTER_PASSPHRASE", ""),
            "previous_paths": previous,
        }
    return kind, {"path": str(path), "suite": crypto_suite(), "previous_paths": previous}


def master_key_provider(base: Path | None = None) -> MasterKeyProvider:
    """The configured master-key provider (a keyring when older keys are kept).

    Raises `ValueError` for a bad configuration, `KeyFileError`, `WrongPassphrase` or
    `ProviderError` when the key cannot be loaded.
    """
    from baomi.crypto import provider_from_config

    kind, options = master_key_options(base)
    return provider_from_config(kind, **options)


def ensure_master_key_file(base: Path) -> Path:
    """Create the default key-file master key (`KeyFileProvider.create`: one random key
    of `BAOMI_CRYPTO_SUITE`, mode 0600, atomic) if missing.

    The master key never enters the database; losing this file makes every sealed
    value unreadable, so `baomi check` and the operations guide insist on backing it
    up separately from the data.
    """
    from baomi.crypto import KeyFileError, KeyFileProvider
    from baomi.crypto.suites import get_suite

    path = master_key_path(base)
    if not path.exists():
        # Another process may create it at the same moment; the loser reads the winner's.
        with contextlib.suppress(KeyFileError):
            KeyFileProvider.create(path, suite=get_suite(crypto_suite()).name)
    return path
