"""Real SQLite lock errors for tests of the code that retries writes (no fakes: each is
produced by SQLite itself, and wrapped by Django's own error wrapper)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

from django.db.utils import DatabaseErrorWrapper


def busy_error(directory: Path) -> sqlite3.OperationalError:
    """SQLITE_BUSY: a file database whose write lock another connection holds, asked
    with no busy timeout (as if the timeout had just run out)."""
    path = directory / "busy.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
        holder.execute("BEGIN IMMEDIATE")
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            return exc
        raise AssertionError("SQLite did not report the write lock as busy")
    finally:
        other.close()
        holder.close()


def locked_error() -> sqlite3.OperationalError:
    """SQLITE_LOCKED: a shared-cache in-memory database (as the test databases are) whose
    table another connection is writing."""
    uri = "file:baomi-locked-error?mode=memory&cache=shared"
    first = sqlite3.connect(uri, uri=True, isolation_level=None)
    second = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        first.execute("CREATE TABLE IF NOT EXISTS t (x)")
        first.execute("BEGIN IMMEDIATE")
        first.execute("INSERT INTO t VALUES (1)")
        try:
            second.execute("INSERT INTO t VALUES (2)")
        except sqlite3.OperationalError as exc:
            return exc
        raise AssertionError("SQLite did not report the table as locked")
    finally:
        second.close()
        first.close()


def as_django(error: sqlite3.Error) -> Exception:
    """`error` as a SQLite query raises it through Django: Django's own error wrapper
    over the driver module of its sqlite3 backend (`sqlite3`), whichever database the
    tests run on (the default connection's wrapper maps only its own driver's errors)."""
    backend = SimpleNamespace(Database=sqlite3, errors_occurred=False)
    try:
        with DatabaseErrorWrapper(backend):
            raise error
    except Exception as wrapped:  # whatever Django made of it
        return wrapped
    raise AssertionError("unreachable")
