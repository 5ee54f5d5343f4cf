"""The idle connection each server process holds (`baomi.core.walkeeper`): with it, a
request's connection that wrote no longer checkpoints the WAL when it closes, and no
committed write is lost or hidden."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from baomi.core import walkeeper


@pytest.fixture
def db(tmp_path: Path):
    path = tmp_path / "t.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.close()
    yield path
    walkeeper.release()


def _write(path: Path, value: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
    conn.execute("COMMIT")
    conn.close()


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def test_without_a_held_connection_each_close_checkpoints(db):
    _write(db, "a")
    assert not _wal(db).exists()  # checkpointed into the file and deleted on close


def test_held_connection_keeps_closes_from_checkpointing(db):
    walkeeper.hold(str(db))
    before = db.stat().st_size
    for i in range(20):
        _write(db, f"v{i}")
    # The commits stay in the WAL (durable there: synchronous=FULL), the database file
    # is untouched, and every new connection reads them.
    assert _wal(db).stat().st_size > 0
    assert db.stat().st_size == before
    reader = sqlite3.connect(db)
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (20,)
    reader.close()
    # Holding twice is holding once; releasing lets the last close checkpoint as usual.
    walkeeper.hold(str(db))
    walkeeper.release()
    walkeeper.release()
    assert not _wal(db).exists()
    reader = sqlite3.connect(db)
    assert [v for (v,) in reader.execute("SELECT v FROM t ORDER BY id")] == [
        f"v{i}" for i in range(20)
    ]
    reader.close()


def test_held_connection_holds_back_no_checkpoint(db):
    """It pins no snapshot: an explicit full checkpoint still completes with it open."""
    walkeeper.hold(str(db))
    for i in range(5):
        _write(db, f"v{i}")
    conn = sqlite3.connect(db, isolation_level=None)
    busy, log_frames, done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    conn.close()
    assert busy == 0 and log_frames == done == 0  # TRUNCATE empties the WAL
    assert _wal(db).stat().st_size == 0

