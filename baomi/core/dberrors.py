"""What a database error says, for the few places that retry a write.

SQLite answers a write that meets another writer in one of two ways. SQLITE_LOCKED comes
at once, without waiting (shared-cache connections, such as the in-memory test
databases): trying again shortly is the only way to wait. SQLITE_BUSY ("database is
locked") comes only after the connection's busy timeout (20 s, settings) has already
been waited out: trying again means waiting that long again. The message cannot tell
them apart; the result code can (Python 3.11's `sqlite3` errors carry it).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, transaction

T = TypeVar("T")

_MAX_CHAIN = 8  # how far down __cause__ to look (Django wraps a driver error once)


def sqlite_code(exc: BaseException) -> int | None:
    """The primary SQLite result code behind `exc` (a `sqlite3` error, or Django's
    database error raised from one), or None when no SQLite error is behind it."""
    cur: BaseException | None = exc
    for _ in range(_MAX_CHAIN):
        if cur is None:
            break
        code = getattr(cur, "sqlite_errorcode", None)
        if isinstance(code, int):
            return code & 0xFF  # extended codes keep the primary code in the low byte
        cur = cur.__cause__
    return None


def table_locked(exc: BaseException) -> bool:
    """SQLITE_LOCKED, in any of its extended forms: refused at once, worth a retry."""
    return sqlite_code(exc) == sqlite3.SQLITE_LOCKED


def busy(exc: BaseException) -> bool:
    """SQLITE_BUSY: the busy timeout has already been waited out."""
    return sqlite_code(exc) == sqlite3.SQLITE_BUSY


def retry_locked(step: Callable[[], T], attempts: int = 5) -> T:
    """Run `step` again, after a short pause, when the database was momentarily locked
    by another writer: SQLite gives up after its busy timeout (or at once for an
    in-memory database shared between threads), and background work (an import's rows,
    a verification's verdict) writes beside the requests of its own process. `step`
    must be its own transaction and safe to do again; other errors propagate, and so
    does any error inside an outer transaction (which it has already broken)."""
    for attempt in range(attempts):
        try:
            return step()
        except OperationalError as exc:
            locked = "locked" in str(exc) or "busy" in str(exc)
            if (
                not locked
                or attempt == attempts - 1
                or transaction.get_connection().in_atomic_block
            ):
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")
