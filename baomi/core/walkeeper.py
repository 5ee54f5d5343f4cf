"""One idle SQLite connection held open by each server process.

When the last connection to a WAL-mode database closes, SQLite checkpoints the whole WAL
into the database file (with its fsyncs) and deletes the WAL, which the next write
creates again. Server threads keep their connections between requests (``CONN_MAX_AGE``
in settings), but Django still closes one once it is older than that age, and a
connection opened per request (``BAOMI_SQLITE_CONN_MAX_AGE=0``) is closed after every
request: nearly every request that wrote (every ledger append: each door-checked
read writes one) then paid for a full checkpoint when it closed its connection, about
0.9 ms of CPU on the 2-core developer machine. Python 3.11's `sqlite3` cannot set
``SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE``; a connection that stays open does the same, as no
close is then the last.

Durability is unchanged: commits are made durable in the WAL (``synchronous=FULL``),
and SQLite's automatic checkpoint (every 1,000 WAL pages) still moves them into the
database file as writes go on. The held connection never starts a transaction, so it
pins no snapshot and holds back no checkpoint. A file-level copy of the database must
therefore take the ``-wal`` file with it (or use SQLite's backup API), as with any
database in WAL mode that is in use. While a server runs, nothing can take the
database file's EXCLUSIVE lock (``PRAGMA journal_mode=DELETE`` fails, for one); the WAL
file is kept and reused, capped by ``journal_size_limit`` (settings).

The connection is opened in each worker process as it loads the app (``baomi.wsgi``;
gunicorn runs without ``--preload``). One inherited through fork() (an app loaded before
forking) is left alone, and the child opens its own.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# "default" → (the held connection, the pid that opened it, the database path).
_held: dict[str, tuple[sqlite3.Connection, int, str]] = {}
# Connections inherited through fork() (a server that preloads the app): never used or
# closed in the child, as SQLite requires; kept referenced so they are not closed either.
_inherited: list[sqlite3.Connection] = []


def sqlite_file(name: object) -> str | None:
    """`name` (a SQLite ``NAME`` setting) if it names a database file on disk, else None:
    in-memory databases and ``file:`` URIs (Django's test databases among them) have no
    file of their own to hold open or to put a lock file beside."""
    text = str(name or "")
    if not text or text == ":memory:" or text.startswith("file:"):
        return None
    return text


def hold_open(database: Mapping[str, Any] | None = None) -> bool:
    """Open (once per process) the idle connection to the default database if it is a
    SQLite file; returns whether one is held. `database` defaults to the ``default`` entry
    of ``settings.DATABASES``. Never raises: a database that cannot be opened now is the
    request path's to report, and a server without the held connection only checkpoints
    more often."""
    if database is None:
        from django.conf import settings

        database = settings.DATABASES.get("default", {})
    if database.get("ENGINE") != "django.db.backends.sqlite3":
        return False
    name = sqlite_file(database.get("NAME"))
    if name is None or not Path(name).exists():
        return False
    return hold(name)


def hold(path: str) -> bool:
    """Hold an idle connection to the SQLite database file `path` (one per process);
    returns whether one is held. Never raises."""
    held = _held.get("default")
    if held is not None:
        if held[1] == os.getpid():
            return True
        _inherited.append(held[0])  # opened before a fork: the parent's, not ours
        del _held["default"]
    try:
        conn = sqlite3.connect(path, timeout=2, check_same_thread=False, isolation_level=None)
        # Reading once opens the WAL index (the -shm file) and the shared lock on the
        # database file, which is what keeps another connection's close from being the
        # last. The statement runs to its end: no read snapshot is left open.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        log.warning("could not hold a SQLite connection open (%s): WAL checkpoints on "
                    "every close", type(exc).__name__)
        return False
    _held["default"] = (conn, os.getpid(), path)
    return True


def _after_fork_in_child() -> None:
    # A server that loads the app before forking (gunicorn --preload) leaves the
    # parent's connection in every worker: each worker holds its own instead.
    held = _held.get("default")
    if held is not None:
        hold(held[2])


os.register_at_fork(after_in_child=_after_fork_in_child)


def release() -> None:
    """Close the held connection (tests; a process exiting closes it anyway)."""
    held = _held.pop("default", None)
    if held is not None and held[1] == os.getpid():
        held[0].close()
