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

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from baomi.crypto.digest import HashName
from baomi.errors import BaomiError
from baomi.ledger.compact import CompactRange
from baomi.ledger.entry import GENESIS_PREV_HASH, Entry, encode_entry, entry_leaf_hash
from baomi.ledger.hashing import hasher

MAX_TEXT = 500


class LedgerUnavailable(BaomiError):
    """The ledger could not be written; the action was refused (fail closed)."""

    code = "ledger_unavailable"
    http_status = 503
    default_message = _(
        "The audit log could not be written, so the action was refused. Try again later."
    )


@dataclass(frozen=True, slots=True)
class RequestMeta:
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


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened. Never put a secret or a client data value in any field."""

    actor: str
    action: str
    object_type: str = ""
    object_id: str = ""
    client_id: str | None = None
    purpose: str = ""
    decision: str = "allowed"
    reason: str = ""
    request: RequestMeta = field(default_factory=RequestMeta)


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    # Control characters would make the log hard to read and could spoof lines in
    # text exports; they are replaced, and long free text is cut.
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text[:limit]


def configured_hash() -> HashName:
    import os

    return "sm3" if os.environ.get("BAOMI_CRYPTO_SUITE", "") == "sm4-gcm" else "sha256"


# --- the locked append ----------------------------------------------------------------


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _bytes(value: Any) -> bytes:
    return bytes(value) if value is not None else b""


# Any fixed 64-bit number: the advisory lock that serializes appends on PostgreSQL.
_PG_APPEND_LOCK = 0x6261_6F6D_695F_6C67  # "baomi_lg"


# Per process and database alias: (seq, leaf hash, state after it) of the last append.
_head_cache: dict[str, tuple[int, bytes, CompactRange]] = {}


def _append_locked(events: Sequence[AuditEvent], now: datetime) -> list[int]:
    """Append `events` inside the current transaction. Returns their sequence numbers.

    Serialization: SQLite transactions here take the write lock at BEGIN (IMMEDIATE);
    on PostgreSQL a transaction-scoped advisory lock does the same. Two appenders can
    therefore never read the same head, and the seq primary key refuses any duplicate.
    """
    table = _q("audit_ledgerentry")
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_APPEND_LOCK])
        cur.execute(
            f"SELECT seq, leaf_hash FROM {table} ORDER BY seq DESC LIMIT 1"  # noqa: S608
        )
        row = cur.fetchone()
        if row is None:
            state = CompactRange.empty(configured_hash())
            prev = GENESIS_PREV_HASH
        else:
            last_seq, prev = int(row[0]), _bytes(row[1])
            cached = _head_cache.get(connection.alias)
            # The cached state is used only if the stored head is exactly the entry it
            # was computed for (same seq and leaf hash); otherwise it is read back.
            if cached is not None and cached[0] == last_seq and cached[1] == prev:
                state = cached[2]
            else:
                cur.execute(f"SELECT state FROM {table} WHERE seq = %s", [last_seq])  # noqa: S608
                state = CompactRange.from_bytes(_bytes(cur.fetchone()[0]))
            if state.size != last_seq + 1:
                raise LedgerUnavailable(detail={"reason": "ledger head is inconsistent"})
        hash_fn = hasher(state.hash_name)
        db_now = connection.ops.adapt_datetimefield_value(now)
        rows: list[tuple[Any, ...]] = []
        seqs: list[int] = []
        for ev in events:
            seq = state.size
            entry = Entry(
                seq=seq,
                time=now,
                actor=_clip(ev.actor, 150),
                action=_clip(ev.action, 60),
                object_type=_clip(ev.object_type, 40),
                object_id=_clip(ev.object_id, 64),
                client_id=_clip(ev.client_id, 64) if ev.client_id is not None else None,
                purpose=_clip(ev.purpose),
                decision="refused" if ev.decision == "refused" else "allowed",
                reason=_clip(ev.reason),
                request={k: _clip(v, 200) for k, v in ev.request.as_dict().items()},
                prev_hash=prev,
            )
            data = encode_entry(entry)
            leaf = entry_leaf_hash(data, hash_fn)
            state, completed = state.append_nodes(leaf)
            nodes = b"".join(n.hash for n in completed[1:])
            rows.append(
                (
                    seq,
                    db_now,
                    entry.actor,
                    entry.action,
                    entry.object_type,
                    entry.object_id,
                    entry.client_id,
                    entry.purpose,
                    entry.decision,
                    entry.reason,
                    data,
                    leaf,
                    state.to_bytes(),
                    nodes,
                )
            )
            seqs.append(seq)
            prev = leaf
        sql = (
            f"INSERT INTO {table} (seq, time, actor, action, object_type, object_id, "  # noqa: S608
            "client_id, purpose, decision, reason, data, leaf_hash, state, nodes) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        if len(rows) == 1:
            cur.execute(sql, rows[0])
        else:
            cur.executemany(sql, rows)
    _head_cache[connection.alias] = (seqs[-1], prev, state)
    return seqs


# --- group commit ---------------------------------------------------------------------


@dataclass
class _Pending:
    event: AuditEvent
    # Set when the entry is committed (or failed), or when this thread is asked to lead.
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    seq: int | None = None
    error: BaseException | None = None


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
        self._last_batch = 0

    def submit(self, event: AuditEvent) -> int:
        item = _Pending(event)
        with self._lock:
            self._inflight += 1
            self._queue.append(item)
            lead = not self._leader_active
            if lead:
                self._leader_active = True
        try:
            while True:
                if lead:
                    self._lead(item)
                item.wake.wait()
                if item.done:
                    break
                item.wake.clear()
                lead = True  # promoted by the previous leader
        finally:
            with self._lock:
                self._inflight -= 1
        if item.error is not None:
            raise LedgerUnavailable() from item.error
        assert item.seq is not None  # noqa: S101  (set whenever error is None)
        return item.seq

    # After its own entry is committed a leader goes on committing for others for at most
    # this many rounds: a hand-over costs a thread switch, unbounded leading would make
    # the leader's own caller wait on everyone else.
    EXTRA_ROUNDS = 16

    def _lead(self, own: _Pending) -> None:
        extra = self.EXTRA_ROUNDS
        try:
            while not own.done or (extra > 0 and self._queue):
                if own.done:
                    extra -= 1
                # Give threads that were just woken by the last commit a chance to queue
                # their next event, so it rides on this commit instead of the next one
                # (like PostgreSQL's commit_delay, but only a GIL hand-over). A lone
                # appender never waits.
                if self._inflight > 1 or self._last_batch > 1:
                    time.sleep(0)
                with self._lock:
                    batch, self._queue = self._queue, []
                    self._last_batch = len(batch)
                self._commit(batch)
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].wake.set()  # hand over; stays leader_active
                else:
                    self._leader_active = False

    @staticmethod
    def _finish(p: _Pending, seq: int | None, error: BaseException | None) -> None:
        p.seq, p.error, p.done = seq, error, True
        p.wake.set()

    # SQLite reports a competing writer as "locked" at once in some modes (shared-cache
    # memory databases); such a commit is retried briefly before the append fails.
    LOCKED_RETRIES = 40

    @classmethod
    def _commit(cls, batch: list[_Pending]) -> None:
        try:
            for attempt in range(cls.LOCKED_RETRIES + 1):
                try:
                    with transaction.atomic():
                        seqs = _append_locked([p.event for p in batch], timezone.now())
                    break
                except OperationalError as exc:
                    if "locked" not in str(exc) or attempt == cls.LOCKED_RETRIES:
                        raise
                    time.sleep(0.002 * (attempt + 1))
        except Exception as exc:
            if len(batch) == 1:
                cls._finish(batch[0], None, exc)
                return
            # One bad event must not fail its neighbours: retry each on its own.
            for p in batch:
                cls._commit([p])
            return
        for p, seq in zip(batch, seqs, strict=True):
            cls._finish(p, seq, None)


_committer = _GroupCommitter()


def ledger_append(event: AuditEvent) -> int:
    """Append one event; see the module docstring for the durability contract.

    Returns the entry's sequence number. Raises `LedgerUnavailable` (fail closed).
    """
    if connection.in_atomic_block:
        try:
            # A savepoint keeps a failed append from poisoning the caller's transaction
            # before the caller gets the chance to refuse and roll back.
            with transaction.atomic():
                return _append_locked([event], timezone.now())[0]
        except LedgerUnavailable:
            raise
        except (DatabaseError, ValueError) as exc:
            raise LedgerUnavailable() from exc
    try:
        return _committer.submit(event)
    except LedgerUnavailable:
        raise
    except (DatabaseError, ValueError) as exc:
        raise LedgerUnavailable() from exc


def ledger_append_many(events: Sequence[AuditEvent]) -> list[int]:
    """Append several events in one transaction (bulk imports, benchmarks)."""
    try:
        with transaction.atomic():
            return _append_locked(list(events), timezone.now())
    except (DatabaseError, ValueError) as exc:
        raise LedgerUnavailable() from exc
