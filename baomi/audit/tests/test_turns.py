"""Processes appending to one SQLite file take turns on an OS file lock
(`baomi.audit.services._process_turns`) instead of SQLite's sleeping busy wait."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from baomi.audit import services
from baomi.core import dberrors
from baomi.testing.sqlite_errors import as_django, busy_error, locked_error

# Takes the lock file's flock, says so, holds it for the given seconds, then exits.
HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _db(name: str, vendor: str = "sqlite") -> Any:
    return SimpleNamespace(vendor=vendor, settings_dict={"NAME": name})


def test_an_append_waits_for_another_process_and_goes_on_when_it_lets_go(tmp_path: Path) -> None:
    db = _db(str(tmp_path / "baomi.sqlite3"))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "baomi.sqlite3-ledger.lock"), "0.4"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with services._process_turns(db):
            waited = time.monotonic() - start
        assert waited >= 0.2  # it did wait for the other process (which held it 0.4 s)
        assert waited < 30
    finally:
        holder.wait(timeout=30)
    mode = stat.S_IMODE(os.stat(tmp_path / "baomi.sqlite3-ledger.lock").st_mode)
    assert mode == 0o600


def test_threads_of_one_process_are_not_held_up_by_each_other(tmp_path: Path) -> None:
    # Within a process group commit already makes appends one at a time; the file lock
    # (one file description per process) must not add a wait there.
    db = _db(str(tmp_path / "baomi.sqlite3"))
    inside = threading.Event()
    leave = threading.Event()

    def first() -> None:
        with services._process_turns(db):
            inside.set()
            leave.wait(10)

    t = threading.Thread(target=first)
    t.start()
    try:
        assert inside.wait(10)
        start = time.monotonic()
        with services._process_turns(db):
            pass
        assert time.monotonic() - start < 5
    finally:
        leave.set()
        t.join()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_opens_its_own_lock_file(tmp_path: Path) -> None:
    db = _db(str(tmp_path / "baomi.sqlite3"))
    parent_fd = services._turn_file(db)
    assert parent_fd is not None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            child_fd = services._turn_file(db)
            os.write(write, b"own" if child_fd not in (None, parent_fd) else b"shared")
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 10) == b"own"
    os.close(read)
    assert services._turn_file(db) == parent_fd  # the parent keeps its own


@pytest.mark.parametrize(
    "db",
    [
        _db(":memory:"),
        _db("file:memorydb_default?mode=memory&cache=shared"),
        _db("/nonexistent-dir/baomi.sqlite3"),  # no lock file can be made: no turns
        _db("ignored", vendor="postgresql"),  # PostgreSQL serializes with its own lock
    ],
)
def test_no_turns_where_there_is_no_lock_file(db: Any) -> None:
    with services._process_turns(db):
        pass


def test_a_lock_file_that_cannot_be_opened_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    name = str(tmp_path / "missing-dir" / "baomi.sqlite3")
    for _ in range(3):
        with services._process_turns(_db(name)):
            pass
    said = [r for r in caplog.records if "lock file" in r.getMessage()]
    assert len(said) == 1 and name in said[0].getMessage()
    (tmp_path / "missing-dir").mkdir()  # fixed: the next append takes turns again
    assert services._turn_file(_db(name)) is not None


TRY = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("held")
"""


def test_a_stuck_holder_delays_an_append_only_so_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A holder that never lets go (stopped, stuck) must not make appends hang: after
    # TURN_TIMEOUT the append goes on without its turn, and the abandoned wait does not
    # keep the lock once it gets it.
    monkeypatch.setattr(services, "TURN_TIMEOUT", 0.3)
    lock = tmp_path / "baomi.sqlite3-ledger.lock"
    db = _db(str(tmp_path / "baomi.sqlite3"))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock), "1.5"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with services._process_turns(db):
            waited = time.monotonic() - start
        assert 0.2 <= waited < 1.4
    finally:
        holder.wait(timeout=30)
    time.sleep(0.3)  # the abandoned waiter got the lock when the holder exited, and let go
    probe = subprocess.run(
        [sys.executable, "-c", TRY, str(lock)], capture_output=True, text=True, timeout=30,
        check=False,
    )
    assert probe.stdout.strip() == "free"


def test_the_turn_is_given_back_when_the_append_fails(tmp_path: Path) -> None:
    db = _db(str(tmp_path / "baomi.sqlite3"))
    with pytest.raises(RuntimeError), services._process_turns(db):
        raise RuntimeError("append failed")
    probe = subprocess.run(
        [sys.executable, "-c", TRY, str(tmp_path / "baomi.sqlite3-ledger.lock")],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert probe.stdout.strip() == "free"



def test_only_sqlite_locked_counts_as_table_locked(tmp_path: Path) -> None:
    busy, locked = busy_error(tmp_path), locked_error()
    assert busy.sqlite_errorcode == sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    assert "locked" in str(busy)  # the message alone cannot tell them apart
    for error in (locked, as_django(locked)):
        assert dberrors.table_locked(error) and not dberrors.busy(error)
    for error in (busy, as_django(busy)):
        assert dberrors.busy(error) and not dberrors.table_locked(error)
    assert not dberrors.table_locked(ValueError("database table is locked"))
    assert dberrors.sqlite_code(ValueError()) is None


@pytest.mark.parametrize(("kind", "calls"), [("busy", 1), ("locked", 4)])
def test_an_append_is_retried_only_when_sqlite_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, calls: int
) -> None:
    """SQLITE_BUSY comes after the busy timeout was waited out: the append fails (and the
    action is refused) instead of waiting that long again and again. SQLITE_LOCKED comes
    at once and is retried."""
    from django.db.utils import OperationalError

    error = as_django(busy_error(tmp_path) if kind == "busy" else locked_error())
    seen: list[int] = []

    def append(items: Any, db: Any = None) -> list[int]:
        seen.append(len(items))
        if len(seen) < 4:
            raise error
        return [7]

    monkeypatch.setattr(services, "_append_durably", append)
    if kind == "busy":
        with pytest.raises(OperationalError):
            services._GroupCommitter._append_retrying([])
    else:
        assert services._GroupCommitter._append_retrying([]) == [7]
    assert len(seen) == calls


def test_one_waiter_thread_per_lock_file_serves_every_wait(tmp_path: Path) -> None:
    # Two server processes take turns all the time: each wait is served by the same
    # long-lived thread, not a thread started per wait.
    db = _db(str(tmp_path / "baomi.sqlite3"))
    lock = str(tmp_path / "baomi.sqlite3-ledger.lock")
    seen: list[threading.Thread] = []
    for _ in range(2):
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, lock, "0.3"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            start = time.monotonic()
            with services._process_turns(db):
                assert time.monotonic() - start >= 0.1  # it did wait
            fd = services._turn_file(db)
            assert fd is not None
            seen.append(services._waiter_for(fd).thread)
        finally:
            holder.wait(timeout=30)
    assert seen[0] is seen[1] and seen[0].is_alive()
    assert seen[0].name == "baomi-ledger-turn"


def test_a_waiter_whose_thread_died_is_replaced(tmp_path: Path) -> None:
    db = _db(str(tmp_path / "baomi.sqlite3"))
    fd = services._turn_file(db)
    assert fd is not None
    first = services._waiter_for(fd)
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    first.thread = dead  # as if its thread had stopped
    second = services._waiter_for(fd)
    assert second is not first and second.thread.is_alive()
    assert services._waiter_for(fd) is second
