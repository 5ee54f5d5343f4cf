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



def test_hold_open_only_for_an_existing_sqlite_file(db, tmp_path):
    walkeeper.release()
    assert walkeeper.hold_open({"ENGINE": "django.db.backends.postgresql", "NAME": "x"}) is False
    sqlite = "django.db.backends.sqlite3"
    assert walkeeper.hold_open({"ENGINE": sqlite, "NAME": ":memory:"}) is False
    assert walkeeper.hold_open({"ENGINE": sqlite, "NAME": "file:x?mode=memory"}) is False
    assert walkeeper.hold_open({"ENGINE": sqlite, "NAME": str(tmp_path / "none")}) is False
    assert not (tmp_path / "none").exists()  # nothing created
    assert walkeeper.hold_open({"ENGINE": sqlite, "NAME": str(db)}) is True


def test_a_database_that_cannot_be_opened_is_not_an_error(tmp_path):
    walkeeper.release()
    bad = tmp_path / "not-a-database.sqlite3"
    bad.write_bytes(b"this is not SQLite" * 100)
    assert walkeeper.hold(str(bad)) is False  # logged; the server still starts


def test_a_forked_child_holds_its_own_connection(db):
    import os

    assert walkeeper.hold(str(db))
    parent = walkeeper._held["default"][0]
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        held = walkeeper._held.get("default")
        ok = held is not None and held[1] == os.getpid() and held[0] is not parent
        os._exit(0 if ok and parent in walkeeper._inherited else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert walkeeper._held["default"][0] is parent  # the parent's is untouched
