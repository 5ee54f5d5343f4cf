"""The sequencer: appends audit events to the ledger, durably and in one sequence.

Contract of `ledger_append`:
- Inside a transaction (a service that changes data) the entry is written in that same
  transaction: the change and its entry commit together or not at all.
- Outside a transaction (reads, refusals, logins) the entry is committed durably before
  `ledger_append` returns, so the caller may act only afterwards (fail closed). Threads
  of one process share commits (group commit): whoever finds no commit in progress
  commits everything queued so far in one transaction.
- Appends are serialized through the database (the head row), so any number of
  processes and threads never fork or duplicate the sequence.
- Any failure raises `LedgerUnavailable`; the caller must then refuse the action.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    connections,
    transaction,
)
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from baomi.core.dberrors import table_locked
from baomi.core.walkeeper import sqlite_file
from baomi.crypto.digest import HashName
from baomi.errors import BaomiError
from baomi.ledger.compact import CompactRange
from baomi.ledger.entry import GENESIS_PREV_HASH, EntryTemplate, format_time
from baomi.ledger.errors import EntryFormatError
from baomi.ledger.hashing import LEAF_PREFIX, hasher

# An entry's purpose and reason: their columns' length. A stated purpose is at most
# `baomi.policy.text.PURPOSE_LIMIT` long (refused beyond, never cut), so it is recorded
# whole; a reason is a code the system writes, not typed text.
MAX_TEXT = 500
log = logging.getLogger(__name__)


class LedgerUnavailable(BaomiError):
    """The ledger could not be written; the action was refused (fail closed)."""

    code = "ledger_unavailable"
    http_status = 503
    default_message = _(
        "The audit log could not be written, so the action was refused. Try again later."
    )


class RequestMeta(NamedTuple):
    """Where a request came from. Immutable; a named tuple because one is built for
    every ledger entry (a frozen dataclass's `__init__` costs three times as much)."""

    ip: str = ""
    user_agent: str = ""
    request_id: str = ""

    @classmethod
    def from_request(cls, request: Any) -> RequestMeta:
        if request is None:
            return cls()
        meta = getattr(request, "META", {})
        return cls(
            ip=str(meta.get("REMOTE_ADDR", ""))[:64],
            user_agent=str(meta.get("HTTP_USER_AGENT", ""))[:200],
            request_id=str(getattr(request, "request_id", ""))[:64],
        )

    def as_dict(self) -> dict[str, str]:
        return {"ip": self.ip, "user_agent": self.user_agent, "request_id": self.request_id}


class AuditEvent(NamedTuple):
    """What happened. Never put a secret or a client data value in any field.

    Immutable, and a named tuple for the same reason as `RequestMeta`.
    """

    actor: str
    action: str
    object_type: str = ""
    object_id: str = ""
    client_id: str | None = None
    purpose: str = ""
    decision: str = "allowed"
    reason: str = ""
    request: RequestMeta = RequestMeta()


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    # Control characters would make the log hard to read and could spoof lines in
    # text exports; they are replaced, and long free text is cut.
    if type(text) is not str:
        if not isinstance(text, str):
            raise EntryFormatError("audit event fields must be strings")
        text = str.__str__(text)  # a str subclass: its plain text, as the fast path keeps
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text[:limit]


def configured_hash() -> HashName:
    import os

    return "sm3" if os.environ.get("BAOMI_CRYPTO_SUITE", "") == "sm4-gcm" else "sha256"


# --- the locked append ----------------------------------------------------------------


def _bytes(value: Any) -> bytes:
    return bytes(value) if value is not None else b""


# Any fixed 64-bit number: the advisory lock that serializes appends on PostgreSQL.
_PG_APPEND_LOCK = 0x6261_6F6D_695F_6C67  # "baomi_lg"


# Per process and database alias: (seq, leaf hash, state after it) of the last append.
_head_cache: dict[str, tuple[int, bytes, CompactRange]] = {}


class _Prepared(NamedTuple):
    """An event clipped, validated and encoded before the append lock is taken.

    Under the lock only the position is filled in (seq, time, prev_hash): see
    `EntryTemplate`. `columns` are the filterable copies, in `_COLUMNS` order.
    """

    template: EntryTemplate
    columns: tuple[str, str, str, str, str | None, str, str, str]


def _prepare(ev: AuditEvent) -> _Prepared:
    """Raises `EntryFormatError` (a ValueError) for an event no entry can hold."""
    req = ev.request
    client_id = ev.client_id
    texts: tuple[str, ...] = (
        ev.actor, ev.action, ev.object_type, ev.object_id, ev.purpose, ev.reason,
        req.ip, req.user_agent, req.request_id, "" if client_id is None else client_id,
    )
    try:
        # Nearly every event is printable text: one check for all fields, then only the
        # cut (which also turns a str subclass into a plain str).
        plain = "".join(texts).isprintable()
    except TypeError:
        plain = False
    if not plain:
        texts = tuple(_clip(t) for t in texts)
    actor, action, object_type, object_id, purpose, reason, ip, agent, request_id, cid = texts
    # Cut to the columns' lengths.
    actor, action, object_type, object_id = actor[:150], action[:60], object_type[:40], object_id[:64]  # noqa: E501
    purpose, reason, cid = purpose[:MAX_TEXT], reason[:MAX_TEXT], cid[:64]
    ip, agent, request_id = ip[:200], agent[:200], request_id[:200]
    if client_id is not None:
        client_id = cid
    decision = "refused" if ev.decision == "refused" else "allowed"
    template = EntryTemplate.build(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        client_id=client_id,
        purpose=purpose,
        decision=decision,
        reason=reason,
        request={"ip": ip, "user_agent": agent, "request_id": request_id},
    )
    return _Prepared(
        template, (actor, action, object_type, object_id, client_id, purpose, decision, reason)
    )


@dataclass(frozen=True, slots=True)
class _Statements:
    begin: str  # opens an append's own transaction (SQLite: and takes the write lock)
    lock: str | None  # takes the append lock (PostgreSQL)
    head: str
    state: str
    values: str  # one row's placeholders
    insert: str  # INSERT … VALUES without the rows
    # PostgreSQL with client-side binding (psycopg's ClientCursor, Django's default):
    # several statements go in one message, so an own-transaction append takes two
    # round trips (BEGIN+lock+head, INSERT+COMMIT) instead of five.
    combined: bool
    # The `time` column's value is cut from the entry's own time text (`_sqlite_time`)
    # rather than made by Django's adapter: only where that gives the very same text.
    text_time: bool
    # SQLite: entries appended by a single statement in autocommit mode, on condition
    # that the head is still the one cached (see `_append_guarded`).
    guarded: bool


_COLUMNS = (
    "seq, time, actor, action, object_type, object_id, client_id, purpose, decision, "
    "reason, data, leaf_hash, state, nodes"
)
_statements: dict[tuple[str, str], _Statements] = {}


def _client_side_binding(db: BaseDatabaseWrapper) -> bool:
    try:
        from psycopg import ClientCursor
    except ImportError:  # pragma: no cover - psycopg 3 is a dependency
        return False
    factory = getattr(db.connection, "cursor_factory", None)
    return isinstance(factory, type) and issubclass(factory, ClientCursor)


def _sqlite_time(time_text: str) -> str:
    """Django's SQLite text for the UTC instant `time_text` (`format_time` output):
    ``str()`` of the naive datetime, which leaves out a zero fraction."""
    if time_text.endswith(".000000Z"):
        return f"{time_text[:10]} {time_text[11:19]}"
    return f"{time_text[:10]} {time_text[11:26]}"


def _sqlite_time_agrees(db: BaseDatabaseWrapper) -> bool:
    """Whether `_sqlite_time` gives what Django's adapter stores on `db` (it does with
    USE_TZ and the connection in UTC, Baomi's settings); checked, not assumed."""
    samples = (datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), datetime(2026, 7, 8, 9, 10, 11,
                                                                       tzinfo=UTC))
    return all(
        db.ops.adapt_datetimefield_value(t) == _sqlite_time(format_time(t)) for t in samples
    )


def _sql(db: BaseDatabaseWrapper) -> _Statements:
    """The append's SQL in the driver's own parameter style (built once per database).

    The hot path runs on the DB-API cursor: Django's cursor wrapper would rewrite the
    placeholders and wrap every call, which costs as much as the hashing.
    """
    key = (db.alias, db.vendor)
    sql = _statements.get(key)
    if sql is None:
        pg = db.vendor == "postgresql"
        mark = "%s" if pg else "?"
        table = db.ops.quote_name("audit_ledgerentry")
        lock = f"SELECT pg_advisory_xact_lock({_PG_APPEND_LOCK})"
        sql = _Statements(
            begin="BEGIN" if pg else "BEGIN IMMEDIATE",
            lock=lock if pg else None,
            head=f"SELECT seq, leaf_hash FROM {table} ORDER BY seq DESC LIMIT 1",  # noqa: S608
            state=f"SELECT state FROM {table} WHERE seq = {mark}",  # noqa: S608
            values=f"({', '.join([mark] * 14)})",
            insert=f"INSERT INTO {table} ({_COLUMNS}) VALUES ",  # noqa: S608
            combined=pg and _client_side_binding(db),
            text_time=not pg and _sqlite_time_agrees(db),
            guarded=not pg,
        )
        _statements[key] = sql
    return sql


def _append_locked(
    db: BaseDatabaseWrapper, cur: Any, items: Sequence[_Prepared], now: datetime, *, own: bool
) -> list[int]:
    """Append `items` on `db`'s DB-API cursor `cur`; returns their seqs.

    `own`: open a transaction, and commit it before returning (the caller is in
    autocommit mode); otherwise write in the transaction already open.

    Serialization: SQLite transactions here take the write lock at BEGIN (IMMEDIATE);
    on PostgreSQL a transaction-scoped advisory lock does the same, and the head is read
    by a later statement (a fresh snapshot in READ COMMITTED, also within one message).
    Two appenders can therefore never read the same head, and the seq primary key
    refuses any duplicate.
    """
    sql = _sql(db)
    combined = own and sql.combined
    if combined:
        cur.execute(f"{sql.begin}; {sql.lock}; {sql.head}")
        while cur.nextset():  # to the head query's result
            pass
    else:
        if own:
            cur.execute(sql.begin)
        if sql.lock is not None:
            cur.execute(sql.lock)
        cur.execute(sql.head)
    row = cur.fetchone()
    if row is None:
        state = CompactRange.empty(configured_hash())
        prev = GENESIS_PREV_HASH
    else:
        last_seq, prev = int(row[0]), _bytes(row[1])
        cached = _head_cache.get(db.alias)
        # The cached state is used only if the stored head is exactly the entry it
        # was computed for (same seq and leaf hash); otherwise it is read back.
        if cached is not None and cached[0] == last_seq and cached[1] == prev:
            state = cached[2]
        else:
            cur.execute(sql.state, (last_seq,))
            state = CompactRange.from_bytes(_bytes(cur.fetchone()[0]))
        if state.size != last_seq + 1:
            raise LedgerUnavailable(detail={"reason": "ledger head is inconsistent"})
    first = state.size
    rows, state, prev = _chain(db, sql, items, state=state, prev=prev, now=now)
    if combined:
        # All rows and the COMMIT in one message; a failing INSERT skips the COMMIT.
        values = ", ".join([sql.values] * len(rows))
        cur.execute(f"{sql.insert}{values}; COMMIT", [v for r in rows for v in r])
    else:
        if len(rows) == 1:
            cur.execute(sql.insert + sql.values, rows[0])
        else:
            cur.executemany(sql.insert + sql.values, rows)
        if own:
            cur.execute("COMMIT")
    _head_cache[db.alias] = (state.size - 1, prev, state)
    return list(range(first, state.size))


def _chain(
    db: BaseDatabaseWrapper,
    sql: _Statements,
    items: Sequence[_Prepared],
    *,
    state: CompactRange,
    prev: bytes,
    now: datetime,
) -> tuple[list[tuple[Any, ...]], CompactRange, bytes]:
    """The rows (in `_COLUMNS` order) of `items` appended after the entry whose leaf hash
    is `prev` and tree state `state`, at `now`; with the state and leaf hash after them."""
    hash_fn = hasher(state.hash_name)
    time_text = format_time(now)
    db_now = _sqlite_time(time_text) if sql.text_time else db.ops.adapt_datetimefield_value(now)
    first = state.size
    datas: list[bytes] = []
    leaves: list[bytes] = []
    for seq, item in enumerate(items, first):
        data = item.template.render(seq, time_text, prev)
        prev = hash_fn(LEAF_PREFIX + data)
        datas.append(data)
        leaves.append(prev)
    state, made = state.extend(leaves)
    rows = [
        (first + i, db_now, *item.columns, datas[i], leaves[i], made[i][0], made[i][1])
        for i, item in enumerate(items)
    ]
    return rows, state, prev


# At most this many entries go into one single-statement append (see `_append_guarded`):
# a group-commit batch is about as large as the number of appending threads.
GUARDED_MAX = 64
_guarded_statements: dict[tuple[str, int], str] = {}


def _guarded_sql(db: BaseDatabaseWrapper, sql: _Statements, n: int) -> str:
    """INSERT of `n` rows, on condition that the stored head is a given (seq, leaf)."""
    key = (db.alias, n)
    text = _guarded_statements.get(key)
    if text is None:
        table = db.ops.quote_name("audit_ledgerentry")
        text = (
            f"INSERT INTO {table} ({_COLUMNS}) SELECT * FROM (VALUES "  # noqa: S608
            f"{', '.join([sql.values] * n)}) WHERE (SELECT MAX(seq) FROM {table}) = ? "
            f"AND EXISTS (SELECT 1 FROM {table} WHERE seq = ? AND leaf_hash = ?)"
        )
        _guarded_statements[key] = text
    return text


def _append_guarded(
    db: BaseDatabaseWrapper, cur: Any, items: Sequence[_Prepared], now: datetime
) -> list[int] | None:
    """Append `items` as one statement, if this process knows the head (SQLite).

    In autocommit mode a single INSERT is its own transaction: SQLite takes the write
    lock when the statement starts and makes the commit durable before it returns, as
    BEGIN IMMEDIATE … COMMIT would, and the statement inserts the rows only if the stored
    head is still the entry the cached state was computed for (same seq, same leaf hash;
    checked under that lock, against the table as it was before the statement). Returns
    the seqs, or None if nothing was inserted (no cached head, or another writer
    appended since): the caller then takes the general path, which reads the head. One
    statement instead of four, where a durable append is otherwise little more than its
    own commit.
    """
    sql = _sql(db)
    cached = _head_cache.get(db.alias)
    if not sql.guarded or cached is None or not db.autocommit or len(items) > GUARDED_MAX:
        return None
    last_seq, head_leaf, state = cached
    first = state.size
    rows, new_state, leaf = _chain(db, sql, items, state=state, prev=head_leaf, now=now)
    params = [v for row in rows for v in row]
    params += (last_seq, last_seq, head_leaf)
    cur.execute(_guarded_sql(db, sql, len(items)), params)
    if cur.rowcount != len(items):
        return None
    _head_cache[db.alias] = (new_state.size - 1, leaf, new_state)
    return list(range(first, new_state.size))


def _append_in_atomic(items: Sequence[_Prepared]) -> list[int]:
    """Append inside the current Django transaction, in a savepoint.

    The savepoint keeps a failed append from poisoning the caller's transaction before
    the caller gets the chance to refuse and roll back.
    """
    db = connections[DEFAULT_DB_ALIAS]
    with transaction.atomic(), db.wrap_database_errors:
        cur = db.connection.cursor()
        try:
            return _append_locked(db, cur, items, timezone.now(), own=False)
        finally:
            cur.close()


def _append_durably(
    items: Sequence[_Prepared], db: BaseDatabaseWrapper | None = None
) -> list[int]:
    """Append in a transaction of its own, committed (durably) before returning.

    Only outside a Django transaction (autocommit): BEGIN and COMMIT go straight to the
    driver, so the one-appender path pays no more than a plain insert does. On SQLite,
    appenders of different processes take turns on `_process_turns` first. `db` is
    this thread's connection to the default database, if the caller has it at hand.
    """
    if db is None:
        db = connections[DEFAULT_DB_ALIAS]
    if db.connection is None:
        db.ensure_connection()
    raw = db.connection
    turn = _turn_take(db)  # (`_process_turns` without a generator: this is the hot path)
    try:
        with db.wrap_database_errors:
            cur = raw.cursor()
            try:
                # (`timezone.now()` less its settings lookup: the ledger needs USE_TZ.)
                now = datetime.now(UTC)
                seqs = _append_guarded(db, cur, items, now)
                if seqs is not None:
                    return seqs
                return _append_locked(db, cur, items, now, own=True)
            except BaseException:
                _rollback_quietly(db, raw)
                raise
            finally:
                cur.close()
    finally:
        if turn is not None:
            fcntl.flock(turn, fcntl.LOCK_UN)


# Per process: (pid, open lock file) for each SQLite database file appended to.
_turn_files: dict[str, tuple[int, int]] = {}
_turn_files_lock = threading.Lock()
_turn_files_failed: set[str] = set()  # databases whose lock file could not be opened


@contextlib.contextmanager
def _process_turns(db: BaseDatabaseWrapper) -> Iterator[None]:
    """Server processes appending to one SQLite database take turns on an OS file lock
    (``<database>-ledger.lock``, flock) before they ask for SQLite's write lock.

    SQLite's own wait for a busy write lock sleeps 1 ms, then 2, 5, 10 ms… between
    tries, however soon the lock is free: an append holds it for a fraction of a
    millisecond, and every thread of a process whose leader sleeps there waits with it.
    A thread blocked in flock() is woken the moment the lock is released. Threads of one
    process never contend here (their appends are already one at a time: group commit),
    and an append inside a Django transaction does not take this lock (it already holds
    SQLite's write lock, and taking this one second could deadlock with a process
    holding this one and waiting for that one). Any other writer still meets SQLite's
    own busy wait, as before. Without a lock file (in-memory databases, or one that
    cannot be created) appends go on without taking turns.
    """
    fd = _turn_take(db)
    try:
        yield
    finally:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _turn_take(db: BaseDatabaseWrapper) -> int | None:
    """Take this process's turn on `db` (see `_process_turns`); returns the lock file
    to unlock afterwards, or None when no turn was taken."""
    fd = _turn_file(db) if db.vendor == "sqlite" else None
    if fd is None or not _take_turn(fd):
        return None
    return fd


# How long an appender waits for its turn before it goes on without one (and meets
# SQLite's own busy wait and timeout, as before): a holder that is stopped or stuck must
# not make appends hang instead of failing closed.
TURN_TIMEOUT = 20.0


def _take_turn(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        pass
    # Another process appends: wait in the kernel (woken the moment it lets go), on this
    # process's waiter thread for the lock file, for at most TURN_TIMEOUT.
    if _waiter_for(fd).wait(TURN_TIMEOUT):
        return True
    log.warning("waited %.0f s for the ledger append turn; going on without it", TURN_TIMEOUT)
    return False


class _TurnRequest:
    """One wait for the turn. `done` is held from creation and released once the waiter
    thread has the answer (`got`), unless the caller gave up first (`abandoned`)."""

    __slots__ = ("abandoned", "done", "got")

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.got: bool | None = None
        self.abandoned = False


class _TurnWaiter:
    """A thread that waits in flock() for one lock file, for this process's appenders.

    A blocking flock() cannot be given a timeout, so it runs on a thread of its own, and
    the appender waits on that thread's answer for at most TURN_TIMEOUT. One long-lived
    thread per lock file and process does this for every wait (a thread started per
    wait cost more than the wait itself when two server processes take turns all the
    time). A wait that was given up is still served in order: when the lock comes, the
    thread lets go of it at once and turns to the next.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self._requests: collections.deque[_TurnRequest] = collections.deque()
        self._ready = threading.Semaphore(0)
        # Started by `_waiter_for` once registered, outside its lock (a fork() while a
        # thread starts must not leave that lock held in the child).
        self.thread = threading.Thread(target=self._serve, name="baomi-ledger-turn",
                                       daemon=True)

    def wait(self, timeout: float) -> bool:
        request = _TurnRequest()
        with self._lock:
            self._requests.append(request)
        self._ready.release()
        if request.done.acquire(timeout=timeout):
            return bool(request.got)
        with self._lock:
            if request.got is not None:  # answered just as the wait ran out
                return request.got
            request.abandoned = True
        return False

    def _serve(self) -> None:
        while True:
            self._ready.acquire()
            with self._lock:
                request = self._requests.popleft()
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
                got = True
            except OSError:
                got = False
            with self._lock:
                if request.abandoned:
                    if got:
                        fcntl.flock(self._fd, fcntl.LOCK_UN)
                    continue
                request.got = got
            request.done.release()


# Per process: the waiter thread of each lock file descriptor (see `_turn_file`).
_turn_waiters: dict[int, tuple[int, _TurnWaiter]] = {}


def _serving(waiter: _TurnWaiter) -> bool:
    """Its thread runs, or is about to be started (by whoever registered it)."""
    return waiter.thread.ident is None or waiter.thread.is_alive()


def _waiter_for(fd: int) -> _TurnWaiter:
    """This process's waiter for the lock file `fd`: a new one if there is none yet, if
    it is the parent's (after fork()), or if its thread has died."""
    pid = os.getpid()
    held = _turn_waiters.get(fd)
    if held is not None and held[0] == pid and _serving(held[1]):
        return held[1]
    new = None
    with _turn_files_lock:
        held = _turn_waiters.get(fd)
        if held is None or held[0] != pid or not _serving(held[1]):
            new = _TurnWaiter(fd)
            held = (pid, new)
            _turn_waiters[fd] = held
    if new is not None:
        new.thread.start()  # a wait queued before this is served once it runs
    return held[1]


def _turn_file(db: BaseDatabaseWrapper) -> int | None:
    name = sqlite_file(db.settings_dict.get("NAME"))
    if name is None:
        return None
    pid = os.getpid()
    held = _turn_files.get(name)
    if held is not None and held[0] == pid:
        return held[1]
    with _turn_files_lock:
        held = _turn_files.get(name)
        if held is not None and held[0] == pid:
            return held[1]
        # A file description inherited through fork() is shared with the parent (flock
        # would not exclude it): each process opens its own.
        try:
            fd = os.open(f"{name}-ledger.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            # Tried again on the next append (the directory may be fixed), said once.
            if name not in _turn_files_failed:
                _turn_files_failed.add(name)
                log.warning("cannot open the ledger's lock file beside %s (%s): appends of "
                            "different processes wait in SQLite's busy loop instead",
                            name, exc.strerror or type(exc).__name__)
            return None
        _turn_files[name] = (pid, fd)
        _turn_files_failed.discard(name)  # a later failure is said again
        return fd


def _rollback_quietly(db: BaseDatabaseWrapper, raw: Any) -> None:
    # DB-API rollback() does nothing when no transaction is open (e.g. COMMIT failed
    # after the database had already rolled back). A connection that cannot even roll
    # back is closed, so the next append starts on a fresh one.
    try:
        raw.rollback()
    except Exception:  # the original error is the one to report
        db.close()


# --- group commit ---------------------------------------------------------------------


class _Pending:
    """One queued append. `gate` is held from creation and released exactly once: when
    the entry is committed or failed (`done`; by the leader, or by the waiter woken just
    before this one, see `_wake`), or to promote this waiter to leader. A bare lock is the
    cheapest wake-up there is (an Event is a condition variable)."""

    __slots__ = ("done", "error", "gate", "item", "next", "seq")

    def __init__(self, item: _Prepared) -> None:
        self.item = item
        self.gate = threading.Lock()
        self.gate.acquire()
        self.done = False
        self.seq: int | None = None
        self.error: BaseException | None = None
        self.next: _Pending | None = None  # the waiter this one wakes once it is woken


class _GroupCommitter:
    """Batches concurrent durable appends of one process into shared transactions.

    One waiting thread at a time is the leader: it commits everything queued in one
    transaction, and keeps leading until its own entry is committed plus a bounded number
    of further rounds; then it hands leadership to the oldest waiting thread, so no caller
    waits on others indefinitely.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leader_active = False
        self._inflight = 0  # threads inside submit(); a hint for the commit delay
        # Signalled when `_expect` events are queued (0: the leader is not waiting).
        self._arrived = threading.Condition(self._lock)
        self._expect = 0
        self._last_batch = 0

    def submit(self, prepared: _Prepared, db: BaseDatabaseWrapper | None = None) -> int:
        """Append durably; `db`: this thread's connection, if the caller has it."""
        with self._lock:
            # Alone (no leader, nobody else inside): commit at once, without queueing.
            alone = not self._leader_active and self._inflight == 0
            self._inflight += 1
            if alone:
                self._leader_active = True
                self._last_batch = 1
            else:
                item = _Pending(prepared)
                self._queue.append(item)
                if self._expect and len(self._queue) >= self._expect:
                    self._arrived.notify()
                lead = not self._leader_active
                if lead:
                    self._leader_active = True
        if alone:
            return self._commit_alone(prepared, db)
        try:
            while True:
                if lead:
                    self._lead(item)
                if item.done:
                    break
                item.gate.acquire()
                if item.done:
                    if item.next is not None:
                        item.next.gate.release()  # pass the wake-up on (see `_wake`)
                    break
                lead = True  # promoted by the previous leader
        finally:
            with self._lock:
                self._inflight -= 1
        if item.error is not None:
            raise LedgerUnavailable() from item.error
        assert item.seq is not None  # noqa: S101  (set whenever error is None)
        return item.seq

    def _commit_alone(self, prepared: _Prepared, db: BaseDatabaseWrapper | None) -> int:
        try:
            return self._append_retrying([prepared], db)[0]
        except Exception as exc:
            raise LedgerUnavailable() from exc
        finally:
            with self._lock:
                self._inflight -= 1
                if self._queue:  # others arrived meanwhile: the oldest leads them
                    self._queue[0].gate.release()
                else:
                    self._leader_active = False

    # After its own entry is committed a leader goes on committing for others for at most
    # this many rounds: a hand-over costs a thread switch, unbounded leading would make
    # the leader's own caller wait on everyone else.
    EXTRA_ROUNDS = 16

    # At most this long (seconds) a leader waits for the last batch's threads to queue
    # again. On the 2-core developer machine eight threads' events take about 0.3 ms to
    # arrive (each is a thread wake-up and a GIL hand-over); committing whatever was
    # queued sooner (a bare GIL yield, before) made batches of about 6 and cost one
    # fsync per 6 entries instead of per 8. The wait ends at the last arrival, so it
    # adds latency only when fewer threads come back than last time (load fell).
    COMMIT_DELAY = 0.0003

    def _lead(self, own: _Pending) -> None:
        extra = self.EXTRA_ROUNDS
        own_in_last = False
        try:
            while not own.done or (extra > 0 and self._queue):
                if own.done:
                    extra -= 1
                # Give threads that were just woken by the last commit a chance to queue
                # their next event, so it rides on this commit instead of the next one
                # (like PostgreSQL's commit_delay): wait until as many are queued as the
                # last batch held (less this thread, once its own entry is committed:
                # it leads on and queues nothing), or COMMIT_DELAY. A lone appender
                # never waits.
                with self._lock:
                    self._expect = self._last_batch - (1 if own_in_last and own.done else 0)
                    if self._expect > 1 and len(self._queue) < self._expect:
                        self._arrived.wait(self.COMMIT_DELAY)
                    batch, self._queue = self._queue, []
                    self._last_batch = len(batch)
                    self._expect = 0
                own_in_last = any(p is own for p in batch)
                try:
                    self._commit(batch, own)
                except BaseException as exc:  # _commit handles Exception: this is worse
                    for p in batch:
                        if not p.done:  # no waiter may be left without its answer
                            self._finish(p, None, exc, own)
                    raise
        finally:
            with self._lock:
                if not own.done:
                    # Left by an exception before its batch: the caller gets that
                    # exception (the action is refused), so its entry must not be
                    # committed later by another leader, nor its gate be "promoted".
                    self._queue = [p for p in self._queue if p is not own]
                if self._queue:
                    self._queue[0].gate.release()  # promote; stays leader_active
                else:
                    self._leader_active = False

    @staticmethod
    def _finish(p: _Pending, seq: int | None, error: BaseException | None, own: _Pending) -> None:
        p.seq, p.error, p.done = seq, error, True
        if p is not own:  # the leader's own gate stays closed: nobody waits on it
            p.gate.release()

    @staticmethod
    def _wake(batch: list[_Pending], seqs: list[int], own: _Pending) -> None:
        """Mark a committed batch done and wake its waiters one after another.

        Released all at once, the waiters would all wake (each on whichever vCPU is free),
        find the GIL taken and sleep again until it is their turn: two wake-ups each. Here
        the leader wakes the first, and each woken waiter wakes the next before it goes
        on; by the time the next one runs, the previous one has usually finished its
        short turn, so it finds the GIL free. Every entry is committed before any wakes.
        """
        waiters = []
        for p, seq in zip(batch, seqs, strict=True):
            p.seq, p.error, p.done = seq, None, True
            if p is not own:  # the leader's own gate stays closed: nobody waits on it
                waiters.append(p)
        for p, following in itertools.pairwise(waiters):
            p.next = following
        if waiters:
            waiters[0].gate.release()

    # SQLite reports a competing writer as SQLITE_LOCKED at once, without a busy wait,
    # in shared-cache mode (the in-memory test databases); such a commit is retried
    # briefly before the append fails. SQLITE_BUSY ("database is locked") is not retried:
    # it comes only after the busy timeout (20 s, settings) has already been waited out,
    # and retrying it would hold the request for many times that before failing closed.
    LOCKED_RETRIES = 40

    @classmethod
    def _append_retrying(
        cls, items: list[_Prepared], db: BaseDatabaseWrapper | None = None
    ) -> list[int]:
        for attempt in range(cls.LOCKED_RETRIES):
            try:
                return _append_durably(items, db)
            except OperationalError as exc:
                if not table_locked(exc):
                    raise
                time.sleep(0.002 * (attempt + 1))
        return _append_durably(items, db)

    @classmethod
    def _commit(cls, batch: list[_Pending], own: _Pending) -> None:
        try:
            seqs = cls._append_retrying([p.item for p in batch])
        except Exception as exc:
            if len(batch) == 1 or not _one_event_may_cause(exc):
                # The database itself failed (busy past its timeout, unavailable, the
                # head inconsistent): every entry of the batch fails closed now, rather
                # than each waiting out the same failure again on its own.
                for p in batch:
                    cls._finish(p, None, exc, own)
                return
            # One bad event must not fail its neighbours: retry each on its own.
            for p in batch:
                cls._commit([p], own)
            return
        cls._wake(batch, seqs, own)


def _one_event_may_cause(exc: BaseException) -> bool:
    """Whether one event's content could be why a batch failed (text the database
    refuses, a constraint, a trigger), so that appending the events one by one can save
    the rest. Not when the database itself failed: busy past its timeout, locked, a
    disk or connection error (OperationalError, InterfaceError), or the ledger's head
    inconsistent (LedgerUnavailable); each event on its own would meet the same."""
    return not isinstance(exc, OperationalError | InterfaceError | LedgerUnavailable)


_committer = _GroupCommitter()


def ledger_append(event: AuditEvent) -> int:
    """Append one event; see the module docstring for the durability contract.

    Returns the entry's sequence number. Raises `LedgerUnavailable` (fail closed).
    """
    try:
        prepared = _prepare(event)
        db = connections[DEFAULT_DB_ALIAS]
        if db.in_atomic_block:
            return _append_in_atomic([prepared])[0]
        return _committer.submit(prepared, db)
    except LedgerUnavailable:
        raise
    except (DatabaseError, ValueError) as exc:
        raise LedgerUnavailable() from exc


def ledger_append_many(events: Sequence[AuditEvent]) -> list[int]:
    """Append several events in one transaction (bulk imports, benchmarks).

    The filter index is brought up to date in the same transaction (`lookup_catch_up`),
    so a bulk append leaves no long unindexed tail for filtered listings to read.
    """
    try:
        with transaction.atomic():
            seqs = _append_in_atomic([_prepare(ev) for ev in events])
            lookup_catch_up()
            return seqs
    except LedgerUnavailable:
        raise
    except (DatabaseError, ValueError) as exc:
        raise LedgerUnavailable() from exc


# --- the filter index -----------------------------------------------------------------

def _lookup_copy(where: str = "") -> str:
    """The filter index's copy of the entries `where` selects (all of them by default)."""
    return (
        "INSERT INTO audit_ledgerlookup (seq, actor, client_id) "  # noqa: S608
        f"SELECT seq, actor, client_id FROM audit_ledgerentry {where} "
        "ORDER BY seq ON CONFLICT (seq) DO NOTHING"
    )


_CATCH_UP = _lookup_copy("WHERE seq > COALESCE((SELECT MAX(seq) FROM audit_ledgerlookup), -1)")


def lookup_catch_up() -> int:
    """Copy the entries appended since the last call into the filter index
    (`LedgerLookup`); returns how many. Idempotent; concurrent calls merge (ON CONFLICT).

    Everything after the highest seq already indexed is copied, in one transaction:
    entries commit in seq order (appends are serialized until their transaction ends),
    so what one transaction sees of the log is always a prefix of it, and the index
    stays one too. Run by the scheduler and by bulk appends; listings only read it.
    Raises `LedgerUnavailable` if the index cannot be written.
    """
    db = connections[DEFAULT_DB_ALIAS]
    # Outside a transaction it takes its turn with the appenders, as an append does
    # (see `_process_turns`); inside one (a bulk append) it already holds the database.
    with contextlib.nullcontext() if db.in_atomic_block else _process_turns(db):
        attempt = 0
        while True:
            try:
                with transaction.atomic(), db.cursor() as cur:
                    cur.execute(_CATCH_UP)
                    return max(int(cur.rowcount), 0)
            except OperationalError as exc:
                # Retried as the sequencer retries its commits (see LOCKED_RETRIES).
                if not table_locked(exc) or attempt >= _GroupCommitter.LOCKED_RETRIES:
                    raise LedgerUnavailable() from exc
                attempt += 1
                time.sleep(0.002 * attempt)
            except DatabaseError as exc:
                raise LedgerUnavailable() from exc


def lookup_rebuild() -> int:
    """Rebuild the filter index from the entry table (`baomi ledger reindex`), in one
    transaction; returns the number of entries indexed. For an index that verification
    found damaged: the entries themselves are the record, the index only a copy."""
    try:
        with transaction.atomic(), connections[DEFAULT_DB_ALIAS].cursor() as cur:
            cur.execute("DELETE FROM audit_ledgerlookup")
            # Every entry, not only those above the highest indexed seq: on PostgreSQL a
            # scheduler's catch-up may commit rows the DELETE did not see.
            cur.execute(_lookup_copy())
            cur.execute("SELECT COUNT(*) FROM audit_ledgerlookup")
            return int(cur.fetchone()[0])
    except DatabaseError as exc:
        raise LedgerUnavailable() from exc
