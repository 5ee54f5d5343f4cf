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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connection, transaction
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
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return cleaned[:limit]


def configured_hash() -> HashName:
    import os

    return "sm3" if os.environ.get("BAOMI_CRYPTO_SUITE", "") == "sm4-gcm" else "sha256"


# --- the locked append ----------------------------------------------------------------


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _bytes(value: Any) -> bytes:
    return bytes(value) if value is not None else b""


def _append_locked(events: Sequence[AuditEvent], now: datetime) -> list[int]:
    """Append `events` inside the current transaction. Returns their sequence numbers."""
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cur:
        # The head row is created by a migration; recreate it if it is missing (a flushed
        # test database). With entries still stored, the first insert below then collides
        # on seq 0 and the append fails: a lost head never silently starts a new log.
        ignore = "ON CONFLICT (id) DO NOTHING" if connection.vendor == "postgresql" else ""
        insert = "INSERT OR IGNORE INTO" if connection.vendor == "sqlite" else "INSERT INTO"
        cur.execute(
            f"{insert} {_q('audit_ledgerhead')} (id, size, state, last_leaf_hash, hash_name) "
            f"VALUES (1, 0, %s, %s, '') {ignore}",
            [b"", b""],
        )
        cur.execute(
            f"SELECT size, state, last_leaf_hash, hash_name FROM {_q('audit_ledgerhead')} "  # noqa: S608
            f"WHERE id = 1{lock}"
        )
        row = cur.fetchone()
        if row is None:
            raise LedgerUnavailable(detail={"reason": "ledger head missing; run migrations"})
        size, state_raw, last_raw, _hash_name = row
        state_bytes = _bytes(state_raw)
        if state_bytes:
            state = CompactRange.from_bytes(state_bytes)
            prev = _bytes(last_raw)
        else:
            state = CompactRange.empty(configured_hash())
            prev = GENESIS_PREV_HASH
        if state.size != size:
            raise LedgerUnavailable(detail={"reason": "ledger head is inconsistent"})
        hash_fn = hasher(state.hash_name)
        db_now = connection.ops.adapt_datetimefield_value(now)
        entry_rows: list[tuple[Any, ...]] = []
        node_rows: list[tuple[int, int, bytes]] = []
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
            node_rows.extend((n.level, n.index, n.hash) for n in completed if n.level > 0)
            entry_rows.append(
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
                )
            )
            seqs.append(seq)
            prev = leaf
        cur.executemany(
            f"INSERT INTO {_q('audit_ledgerentry')} (seq, time, actor, action, object_type, "  # noqa: S608
            "object_id, client_id, purpose, decision, reason, data, leaf_hash) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            entry_rows,
        )
        if node_rows:
            cur.executemany(
                f"INSERT INTO {_q('audit_ledgernode')} (level, {_q('index')}, hash) "  # noqa: S608
                "VALUES (%s, %s, %s)",
                node_rows,
            )
        cur.execute(
            f"UPDATE {_q('audit_ledgerhead')} SET size = %s, state = %s, last_leaf_hash = %s, "  # noqa: S608
            "hash_name = %s, updated_at = %s WHERE id = 1",
            [state.size, state.to_bytes(), prev, state.hash_name, db_now],
        )
    return seqs


# --- group commit ---------------------------------------------------------------------


@dataclass
class _Pending:
    event: AuditEvent
    done: threading.Event = field(default_factory=threading.Event)
    seq: int | None = None
    error: BaseException | None = None


class _GroupCommitter:
    """Batches concurrent durable appends of one process into shared transactions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leader_active = False

    def submit(self, event: AuditEvent) -> int:
        item = _Pending(event)
        with self._lock:
            self._queue.append(item)
            lead = not self._leader_active
            if lead:
                self._leader_active = True
        if lead:
            self._lead()
        item.done.wait()
        if item.error is not None:
            raise LedgerUnavailable() from item.error
        assert item.seq is not None  # noqa: S101  (set whenever error is None)
        return item.seq

    def _lead(self) -> None:
        try:
            while True:
                with self._lock:
                    batch, self._queue = self._queue, []
                    if not batch:
                        self._leader_active = False
                        return
                self._commit(batch)
        except BaseException:
            with self._lock:
                self._leader_active = False
            raise

    @staticmethod
    def _commit(batch: list[_Pending]) -> None:
        try:
            with transaction.atomic():
                seqs = _append_locked([p.event for p in batch], timezone.now())
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                batch[0].done.set()
                return
            # One bad event must not fail its neighbours: retry each on its own.
            for p in batch:
                _GroupCommitter._commit([p])
            return
        for p, seq in zip(batch, seqs, strict=True):
            p.seq = seq
            p.done.set()


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
