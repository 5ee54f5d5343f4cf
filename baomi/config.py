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

DEFAULT_DATA_DIR = "baomi-data"
SECRET_KEY_FILE = "secret_key"  # noqa: S105  (a file name)
MASTER_KEY_FILE = "master.key"


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


def _write_secret_file(path: Path, content: bytes) -> None:
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
            _write_secret_file(key_path, secrets.token_urlsafe(64).encode())
    if os.environ.get("BAOMI_KEY_PROVIDER", "keyfile") == "keyfile":
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


def ensure_master_key_file(base: Path) -> Path:
    """Create the default key-file master key (32 random bytes, 0600) if missing.

    The master key never enters the database; losing this file makes every sealed
    value unreadable, so `baomi check` and the operations guide insist on backing it
    up separately from the data.
    """
    path = base / MASTER_KEY_FILE
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            _write_secret_file(path, secrets.token_bytes(32))
    return path
