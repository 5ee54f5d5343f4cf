"""One idle SQLite connection held open by each server process.

Django opens a connection per request (``CONN_MAX_AGE = 0``). When the last connection
to a WAL-mode database closes, SQLite checkpoints the whole WAL into the database file
(with its fsyncs) and deletes the WAL, which the next write creates again. In a server
whose requests mostly come one at a time, nearly every request that wrote (every
ledger append: each door-checked read writes one) then paid for a full checkpoint when it
closed its connection: about 0.9 ms of CPU per request on the 2-core developer machine.
Python 3.11's `sqlite3` cannot set ``SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE``; a connection
that stays open does the same, as no close is then the last.

Durability is unchanged: commits are made durable in the WAL (``synchronous=FULL``),
and SQLite's automatic checkpoint (every 1,000 WAL pages) still moves them into the
database file as writes go on. The held connection never starts a transaction, so it
pins no snapshot and holds back no checkpoint. A file-level copy of the database must
therefore take the ``-wal`` file with it (or use SQLite's backup API), as with any
database in WAL mode that is in use.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_held: dict[str, sqlite3.Connection] = {}  # "default" → the held connection


def hold_open() -> bool:
    """Open (once per process) the idle connection to the default database if it is a
    SQLite file; returns whether one is held."""
    from django.conf import settings

    if "default" in _held:
        return True
    db: Mapping[str, Any] = settings.DATABASES.get("default", {})
    if db.get("ENGINE") != "django.db.backends.sqlite3":
        return False
    name = str(db.get("NAME", ""))
    if not name or name == ":memory:" or name.startswith("file:") or not Path(name).exists():
        return False
    hold(name)
    return True


def hold(path: str) -> None:
    """Hold an idle connection to the SQLite database file `path` (one per process)."""
    if "default" in _held:
        return
    conn = sqlite3.connect(path, timeout=20, check_same_thread=False, isolation_level=None)
    # Reading once opens the WAL index (the -shm file) and its shared lock, which is what
    # keeps another connection's close from being the last. Nothing is left open.
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    _held["default"] = conn


def release() -> None:
    """Close the held connection (tests; a process exiting closes it anyway)."""
    conn = _held.pop("default", None)
    if conn is not None:
        conn.close()
