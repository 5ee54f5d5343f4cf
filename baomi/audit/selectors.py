"""Reads of the ledger: filtered listings, proofs, checkpoints and verification."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast, overload

from django.db import DatabaseError, connection, connections, transaction
from django.db.models import F, Max, QuerySet
from django.utils import timezone

from baomi.audit import signing
from baomi.audit.models import (
    LedgerCheckpoint,
    LedgerEntry,
    LedgerLookup,
    VerificationRun,
    VerificationStatus,
)
from baomi.crypto.digest import HashName
from baomi.ledger.checkpoint import checkpoint_parse, checkpoint_sign, checkpoint_verify
from baomi.ledger.compact import CompactRange
from baomi.ledger.entry import decode_entry, parse_time
from baomi.ledger.errors import (
    EntryFormatError,
    LedgerError,
    LedgerVerificationError,
    MissingNode,
    VerifyCode,
)
from baomi.ledger.hashing import hasher
from baomi.ledger.proof import consistency_proof, inclusion_proof
from baomi.ledger.storage import NodeID
from baomi.ledger.verify import VerifyReport, fork_check, verify_encoded, verify_stored


@dataclass(frozen=True)
class LedgerState:
    size: int
    root: bytes
    hash_name: HashName


def _head_row() -> tuple[int | None, CompactRange]:
    """The highest stored seq and the tree state its row holds (None and the empty tree
    for an empty log)."""
    last = LedgerEntry.objects.order_by("-seq").values_list("seq", "state").first()
    if last is None:
        from baomi.audit.services import configured_hash

        return None, CompactRange.empty(configured_hash())
    return int(last[0]), CompactRange.from_bytes(bytes(last[1]))


def _head_state() -> CompactRange:
    return _head_row()[1]


def ledger_state() -> LedgerState:
    """The committed tree state (size and root) after the last entry."""
    state = _head_state()
    return LedgerState(state.size, state.root(), state.hash_name)


class DbNodeReader:
    """`NodeReader` over the entry table.

    A leaf is row `seq`'s leaf hash; inner node (level, index) was completed by the
    append of its last leaf, row `((index + 1) << level) - 1`, which keeps it at offset
    `(level - 1) * 32` of its `nodes` column.
    """

    def subtree_hashes(self, ids: Sequence[NodeID]) -> list[bytes]:
        rows_needed = {((index + 1) << level) - 1 for level, index in ids}
        rows = {
            int(seq): (bytes(leaf), bytes(nodes))
            for seq, leaf, nodes in LedgerEntry.objects.filter(seq__in=rows_needed).values_list(
                "seq", "leaf_hash", "nodes"
            )
        }
        out: list[bytes] = []
        for level, index in ids:
            row = rows.get(((index + 1) << level) - 1)
            if row is None:
                raise MissingNode(f"node ({level}, {index}) is not stored")
            if level == 0:
                out.append(row[0])
                continue
            h = row[1][(level - 1) * 32 : level * 32]
            if len(h) != 32:
                raise MissingNode(f"node ({level}, {index}) is not stored")
            out.append(h)
        return out


class EntryListing:
    """A filtered ledger listing, newest first: count it, slice it, iterate it (what
    Django's Paginator and the API need).

    Filtering by client or actor reads the filter index (`LedgerLookup`) up to its
    highest seq (the mark) and the entries after that (not indexed yet: normally at most
    a scheduler interval's worth) from the entry table itself, and merges the two, each
    read in its own index's order. Nothing is written: a listing works on a read-only
    database and never waits for a writer.
    """

    ordered = True  # (for the Paginator)

    def __init__(
        self,
        tail: QuerySet[LedgerEntry],
        indexed: QuerySet[LedgerEntry],
        count_parts: tuple[QuerySet[Any], QuerySet[Any]],
    ) -> None:
        # Each half is ordered by a key its own index walks in order: the tail by the
        # entry's seq (the primary key), the indexed half by the index row's seq.
        # (Ordered by the entry's seq, the database would sort a client's whole history
        # for every page.)
        self._tail = tail.annotate(position=F("seq"))
        self._indexed = indexed.annotate(position=F("lookup__entry_id"))
        self._count_parts = count_parts

    def count(self) -> int:
        # By parts: through the merge, every indexed hit's entry row would be read (130
        # ms for a client with 60,000 entries, against 3 ms from the index alone).
        return sum(part.count() for part in self._count_parts)

    def __len__(self) -> int:
        return self.count()

    def _merged(self, stop: int | None) -> QuerySet[LedgerEntry]:
        tail, indexed = self._tail, self._indexed
        if connection.features.supports_slicing_ordering_in_compound and stop is not None:
            # PostgreSQL plans each half of a UNION on its own: without their own ORDER
            # BY and LIMIT it would sort the whole history. SQLite merges ordered halves
            # itself (MERGE UNION ALL), and allows no ORDER BY inside one.
            tail = tail.order_by("-position")[:stop]
            indexed = indexed.order_by("-position")[:stop]
        else:
            tail, indexed = tail.order_by(), indexed.order_by()
        return tail.union(indexed, all=True).order_by("-position")

    @overload
    def __getitem__(self, key: int) -> LedgerEntry: ...

    @overload
    def __getitem__(self, key: slice) -> list[LedgerEntry]: ...

    def __getitem__(self, key: int | slice) -> LedgerEntry | list[LedgerEntry]:
        if isinstance(key, int):
            if key < 0:
                raise IndexError("negative indexing is not supported")
            found = self[key : key + 1]
            if not found:
                raise IndexError("entry listing index out of range")
            return found[0]
        if key.step not in (None, 1) or (key.start or 0) < 0 or (key.stop or 0) < 0:
            raise ValueError("an entry listing takes forward slices [start:stop]")
        start = key.start or 0
        stop = None if key.stop is None else max(key.stop, start)
        if stop == start:
            return []  # (PostgreSQL's merge of two sliced halves cannot take an empty one)
        return list(self._merged(stop)[start:stop])

    def __iter__(self) -> Iterator[LedgerEntry]:
        return iter(self._merged(None))


def entry_list(
    *,
    client_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    decision: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[LedgerEntry] | EntryListing:
    """Entries, newest first; slice it or count it. Filtered by client or actor, an
    `EntryListing` (the filter index and its unindexed tail); otherwise a queryset."""
    qs = LedgerEntry.objects.all()
    if action:
        qs = qs.filter(action__startswith=action)
    if decision in ("allowed", "refused"):
        qs = qs.filter(decision=decision)
    if since:
        qs = qs.filter(time__gte=since)
    if until:
        qs = qs.filter(time__lt=until)
    if not (client_id or actor):
        return qs.order_by("-seq")
    # The index holds exactly the entries 0..mark (a prefix; see LedgerLookup). A
    # catch-up committed between this read and the listing's own adds rows above the
    # mark; the indexed half stops at the mark, so they are listed once, from the tail.
    mark = LedgerLookup.objects.aggregate(mark=Max("entry_id"))["mark"]
    mark = -1 if mark is None else int(mark)
    indexed = qs.filter(lookup__entry_id__lte=mark)
    tail = qs.filter(seq__gt=mark)
    if client_id:
        indexed = indexed.filter(lookup__client_id=client_id)
        tail = tail.filter(client_id=client_id)
    if actor:
        indexed = indexed.filter(lookup__actor=actor)
        tail = tail.filter(actor=actor)
    if action or decision in ("allowed", "refused") or since or until:
        indexed_count: QuerySet[Any] = indexed
    else:
        indexed_count = LedgerLookup.objects.filter(entry_id__lte=mark)
        if client_id:
            indexed_count = indexed_count.filter(client_id=client_id)
        if actor:
            indexed_count = indexed_count.filter(actor=actor)
    return EntryListing(tail, indexed, (tail, indexed_count))


def entry_view(entry: LedgerEntry) -> dict[str, Any]:
    """The entry as recorded (decoded from the hashed bytes, not from the index columns).

    Bytes that do not decode (an entry altered in the database) do not take the listing
    down with them: the row is shown as `unreadable`, with its seq, the time column and
    the stored leaf hash only, and `baomi ledger verify` names it.
    """
    try:
        decoded = decode_entry(bytes(entry.data))
    except (EntryFormatError, ValueError, TypeError):
        return {
            "seq": entry.seq,
            "time": entry.time,  # (the column: None if it was altered past reading too)
            "actor": "",
            "action": "",
            "object_type": "",
            "object_id": "",
            "client_id": None,
            "purpose": "",
            "decision": "",
            "reason": "",
            "request": {},
            "leaf_hash": bytes(entry.leaf_hash).hex(),
            "unreadable": True,
        }
    return {
        "unreadable": False,
        "seq": decoded.seq,
        "time": decoded.time,
        "actor": decoded.actor,
        "action": decoded.action,
        "object_type": decoded.object_type,
        "object_id": decoded.object_id,
        "client_id": decoded.client_id,
        "purpose": decoded.purpose,
        "decision": decoded.decision,
        "reason": decoded.reason,
        "request": dict(decoded.request),
        "leaf_hash": bytes(entry.leaf_hash).hex(),
    }


def inclusion(seq: int, size: int | None = None) -> dict[str, Any]:
    """An inclusion proof of entry `seq` against the latest checkpoint (or `size`).

    Raises `LedgerError` when `seq` is not covered.
    """
    cp = LedgerCheckpoint.objects.order_by("-size", "-id").first()
    if size is None:
        if cp is None or cp.size <= seq:
            raise LedgerError("no checkpoint covers this entry yet; make one first")
        size = cp.size
        checkpoint_text = cp.text
    else:
        checkpoint_text = None
    entry = LedgerEntry.objects.filter(seq=seq).first()
    if entry is None:
        raise LedgerError(f"no entry {seq}")
    state = ledger_state()
    proof = inclusion_proof(DbNodeReader(), seq, size, hash_fn=hasher(state.hash_name))
    return {
        "seq": seq,
        "tree_size": size,
        "leaf_hash": bytes(entry.leaf_hash).hex(),
        "entry": bytes(entry.data).decode("utf-8"),
        "proof": [h.hex() for h in proof],
        "hash": state.hash_name,
        "checkpoint": checkpoint_text,
        "public_key": signing.signing_public_key().hex(),
        "key_name": signing.KEY_NAME,
    }


def latest_checkpoint() -> LedgerCheckpoint | None:
    return LedgerCheckpoint.objects.order_by("-size", "-id").first()


def checkpoint_create(*, now: datetime | None = None) -> LedgerCheckpoint:
    """Sign the current head (idempotent: an unchanged head reuses the last checkpoint)."""
    state = ledger_state()
    last = latest_checkpoint()
    if last is not None and last.size == state.size and bytes(last.root) == state.root:
        return last
    now = now or timezone.now()
    signed = checkpoint_sign(
        signing.signing_seed(),
        origin=signing.origin(),
        size=state.size,
        root=state.root,
        time=now,
        key_id=signing.KEY_NAME,
        hash_name=state.hash_name,
    )
    return LedgerCheckpoint.objects.create(
        size=state.size, root=state.root, text=signed.text, created_at=now
    )


def _rows(
    limit: int,
    batch: int = 20000,
    *,
    copies: bool = False,
    low: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """(seq, bytes) of every stored entry below `limit`, in seq order from the lowest
    stored seq, whatever it is: a row stored at a negative seq is read first (and fails
    the sequence check) rather than skipped. With `copies`, each row also carries the
    tree's stored copies: (seq, bytes, leaf hash, state, nodes), as `verify_stored` takes.
    `low`: from that seq on (a part of the log, verified on its own).
    `progress`: called with the number of rows the consumer has taken so far, once per
    page (when it asks for the row after the page's last: the page's rows are checked),
    so the hot loop over rows pays nothing for it.

    Hand-written SQL in keyset pages: the ORM's per-row work cost more than hashing the
    row does.
    """
    table = LedgerEntry._meta.db_table
    names = ("data", "leaf_hash", "state", "nodes") if copies else ("data",)
    columns = ", ".join(["seq", *(_blob(name) for name in names)])
    first = f"SELECT {columns} FROM {table} WHERE seq < %s AND seq >= %s ORDER BY seq LIMIT %s"  # noqa: S608
    after = f"SELECT {columns} FROM {table} WHERE seq < %s AND seq > %s ORDER BY seq LIMIT %s"  # noqa: S608
    last: int | None = None
    taken = 0
    # (The lowest seq a row can have: the column is a 64-bit integer.)
    floor = -(2**63) if low is None else low
    with connection.cursor() as cur:
        while True:
            cur.execute(first if last is None else after,
                        [limit, floor, batch] if last is None else [limit, last, batch])
            chunk = cur.fetchall()
            if not chunk:
                return
            if not all(type(row[1]) is bytes for row in chunk):
                chunk = [(row[0], _as_bytes(row[1]), *row[2:]) for row in chunk]
            yield from chunk
            last = int(chunk[-1][0])
            if progress is not None:
                taken += len(chunk)
                progress(taken)


def _blob(column: str) -> str:
    """`column` as selected for verification: on SQLite a value stored as anything but a
    blob (hand-edited: text, which may not even be UTF-8, or a number) reads as NULL, so
    it fails its check by name instead of reading as other bytes or failing the read."""
    if connection.vendor == "sqlite":
        return f"CASE WHEN typeof({column}) = 'blob' THEN {column} END"
    return column


def _as_bytes(value: Any) -> bytes:
    """An entry's stored bytes as bytes (a driver's memoryview); None, which is what a
    value not stored as bytes reads as (`_blob`), as no bytes: not an entry."""
    return b"" if value is None else bytes(value)


# `ledger_verify(progress=…)`: called with (entries checked so far, entries to check).
Progress = Callable[[int, int], None]
# How often progress is passed on at most: every this many entries or seconds, whichever
# comes first (checked at the end of each page of `_rows`).
PROGRESS_ROWS = 50_000
PROGRESS_S = 0.5


class _Reporter:
    """Passes progress on to `progress`: at most every `PROGRESS_ROWS` entries or
    `PROGRESS_S` seconds, never backwards (after the parts of a parallel run, the one
    pass that names a failure starts from 0 again), and always the final count."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self._progress = progress
        self._total = total
        self._last = -1
        self._at = time.monotonic()

    def __call__(self, checked: int, *, final: bool = False) -> None:
        if self._progress is None or checked <= self._last:
            return
        now = time.monotonic()
        if final or checked - self._last >= PROGRESS_ROWS or now - self._at >= PROGRESS_S:
            self._last, self._at = checked, now
            self._progress(checked, self._total)


@dataclass(frozen=True)
class Verification:
    ok: bool
    size: int
    checkpoints: int
    code: str = ""
    first_bad_seq: int | None = None
    message: str = ""


_FIELD_COLUMNS = (
    "actor",
    "action",
    "object_type",
    "object_id",
    "client_id",
    "purpose",
    "decision",
    "reason",
)


def _check_columns(
    limit: int,
) -> tuple[LedgerVerificationError | None, LedgerVerificationError | None]:
    """The filterable columns and the time column (they drive filters, pages and a
    client's access history) must say what the hashed bytes of their entry say, in the
    spelling Django writes, for the entries below `limit` (the size verified); and the
    filter index (`_check_lookup`). Returns (the first entry that differs, the index's
    first difference).

    The database compares them (`_columns_agree`: its JSON functions, no row through
    Python); only where it finds a difference, or cannot read an entry, are the rows
    decoded here one by one (`_first_column_mismatch`), which names the first entry
    that differs.
    """
    error = None if _columns_agree(limit) else _first_column_mismatch(limit)
    return error, _check_lookup(limit)


# Per vendor: a row below the limit whose columns are not exactly its entry's. Strict on
# purpose: a difference of spelling only (a text escaped otherwise, a time column Django
# would not have written so) sends verification to the row-by-row decode, which decides.
# On SQLite the entry's values, read by one multi-path json_extract() (a JSON array, each
# value in its JSON spelling, so "5" and 5 differ), are compared with json_array() of
# the columns; on PostgreSQL each value and its JSON type.
_TIME_TEXT_SQLITE = (
    # Django writes a time as str() of the UTC datetime: no fraction when it is 0.
    "replace(CASE WHEN length(time) = 19 THEN time || '.000000' ELSE time END, ' ', 'T') || 'Z'"
)
# …and the column must be spelled exactly as Django writes it (filters compare the text):
# whole seconds without a fraction, any other time with six digits.
_DIGITS = "[0-9][0-9]"
_SECONDS_GLOB = f"{_DIGITS}{_DIGITS}-{_DIGITS}-{_DIGITS} {_DIGITS}:{_DIGITS}:{_DIGITS}"
_TIME_SPELLED_SQLITE = (
    f"typeof(time) = 'text' AND (time GLOB '{_SECONDS_GLOB}' OR (time GLOB "
    f"'{_SECONDS_GLOB}.{_DIGITS}{_DIGITS}{_DIGITS}' AND substr(time, 20) <> '.000000'))"
)
# PostgreSQL: the stored instant spelled as entries spell times.
_TIME_TEXT_PG = "to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
_TEXT_FIELDS = tuple(f for f in _FIELD_COLUMNS if f != "client_id")  # (never NULL)
_COLUMNS_DIFFER_SQL = {
    "sqlite": (
        "SELECT 1 FROM (SELECT CAST(data AS TEXT) AS d, time, "  # noqa: S608
        + ", ".join(_FIELD_COLUMNS)
        + " FROM {table} WHERE seq < %s AND seq >= %s) WHERE NOT json_valid(d)"
        " OR json_type(d, '$.client_id') IS NULL OR json_extract(d, "
        + ", ".join(f"'$.{f}'" for f in _FIELD_COLUMNS)
        + ", '$.time') IS NOT json_array("
        + ", ".join(_FIELD_COLUMNS)
        + f", {_TIME_TEXT_SQLITE}) OR NOT ({_TIME_SPELLED_SQLITE}) LIMIT 1"
    ),
    "postgresql": (
        # OFFSET 0 keeps the decode in the subquery: once per row, not once per use.
        "SELECT 1 FROM (SELECT convert_from(data, 'UTF8')::jsonb AS j, time, client_id, "  # noqa: S608
        + ", ".join(_TEXT_FIELDS)
        + " FROM {table} WHERE seq < %s AND seq >= %s OFFSET 0) e WHERE "
        + " OR ".join(
            f"jsonb_typeof(j -> '{f}') IS DISTINCT FROM 'string' OR "
            f"j ->> '{f}' IS DISTINCT FROM {f}"
            for f in _TEXT_FIELDS
        )
        + " OR coalesce(jsonb_typeof(j -> 'client_id'), '') NOT IN ('string', 'null')"
        " OR j ->> 'client_id' IS DISTINCT FROM client_id"
        " OR jsonb_typeof(j -> 'time') IS DISTINCT FROM 'string'"
        f" OR j ->> 'time' IS DISTINCT FROM {_TIME_TEXT_PG} LIMIT 1"
    ),
}


def _columns_agree(limit: int, low: int | None = None) -> bool:
    """True when the database finds every entry below `limit` (from `low` on) readable
    as JSON with the index and time columns its entry states; False on any difference,
    or when it cannot tell (another vendor, an entry it cannot decode)."""
    sql = _COLUMNS_DIFFER_SQL.get(connection.vendor)
    if sql is None:
        return False
    # Inside a transaction, in a savepoint (on PostgreSQL a failed statement would end
    # the caller's transaction). Outside one, none at all: on SQLite atomic() would
    # BEGIN IMMEDIATE and hold every appender off for the whole scan.
    scope = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with scope, connection.cursor() as cur:
            cur.execute(sql.format(table=LedgerEntry._meta.db_table),
                        [limit, -(2**63) if low is None else low])
            return cur.fetchone() is None
    except DatabaseError:
        return False


def _first_column_mismatch(limit: int) -> LedgerVerificationError | None:
    """Decode the entries below `limit` one by one; the first whose index or time column
    differs from its hashed bytes (or whose bytes do not decode) is named.

    Columns are read as bytes (SQLite: a hand-edited value need not be UTF-8) and the
    time column as text: on SQLite as stored, which must be what Django writes for the
    entry's time; on PostgreSQL the stored instant, spelled as entries spell it.
    """
    sqlite = connection.vendor == "sqlite"
    texts = [f"CAST({f} AS BLOB)" if sqlite else f for f in _FIELD_COLUMNS]
    time_text = "CAST(time AS BLOB)" if sqlite else _TIME_TEXT_PG
    sql = (
        f"SELECT seq, {_blob('data')}, {time_text}, {', '.join(texts)} "  # noqa: S608
        f"FROM {LedgerEntry._meta.db_table} WHERE seq < %s AND seq {{}} %s ORDER BY seq "
        "LIMIT %s"
    )
    first, after = sql.format(">="), sql.format(">")
    last: int | None = None
    with connection.cursor() as cur:
        while True:
            if last is None:
                cur.execute(first, [limit, -(2**63), 5000])
            else:
                cur.execute(after, [limit, last, 5000])
            chunk = cur.fetchall()
            if not chunk:
                return None
            for seq, data, when, *cols in chunk:
                error = _row_mismatch(int(seq), data, when, cols, sqlite)
                if error is not None:
                    return error
            last = int(chunk[-1][0])


def _text(value: Any) -> str | None:
    """A column read as bytes (SQLite) or text, as text; raises ValueError if not UTF-8."""
    if value is None or isinstance(value, str):
        return value
    return bytes(value).decode("utf-8")


def _row_mismatch(
    seq: int, data: Any, when: Any, cols: list[Any], sqlite: bool
) -> LedgerVerificationError | None:
    try:
        obj = json.loads(_as_bytes(data))
        recorded = [obj[f] for f in _FIELD_COLUMNS]
        stated = obj["time"]
        if not isinstance(stated, str):
            raise TypeError(stated)
    except (ValueError, KeyError, TypeError):
        return LedgerVerificationError(
            VerifyCode.ENTRY_MALFORMED, "the hashed bytes do not decode", seq=seq
        )
    try:
        columns = [_text(c) for c in cols]
        stored = _text(when)
        if sqlite:
            # What Django writes for the entry's time (str() of the naive UTC datetime).
            same_time = stored == str(parse_time(stated).replace(tzinfo=None))
        else:
            same_time = stored == stated
    except (ValueError, LedgerError):  # not UTF-8, or a time that does not parse
        same_time, columns = False, []
    if recorded != columns or not same_time:
        return LedgerVerificationError(
            VerifyCode.INDEX_MISMATCH, "an index column differs from the hashed entry", seq=seq
        )
    return None


def _check_lookup(limit: int) -> LedgerVerificationError | None:
    """The filter index (`LedgerLookup`) must hold exactly the entries 0..k for some k,
    each with the entry's actor and client (checked against the columns, which
    `_check_columns` has just held to the hashed bytes): a row missing, extra or
    changed there would hide an entry from, or add one to, a client's access history.
    Rows at or above `limit` (appended while verification ran) are left for the next."""
    differs = "IS NOT" if connection.vendor == "sqlite" else "IS DISTINCT FROM"
    queries = (
        # A row that is not its entry's, or has no entry (at any seq: entries are never
        # removed, and the index copies only entries that exist).
        "SELECT l.seq FROM audit_ledgerlookup l LEFT JOIN audit_ledgerentry e "  # noqa: S608
        f"ON e.seq = l.seq WHERE e.seq IS NULL OR (l.seq < %s AND (e.actor {differs} "
        f"l.actor OR e.client_id {differs} l.client_id)) ORDER BY l.seq LIMIT 1",
        # An entry left out below the highest indexed seq.
        "SELECT e.seq FROM audit_ledgerentry e LEFT JOIN audit_ledgerlookup l "
        "ON l.seq = e.seq WHERE l.seq IS NULL AND e.seq < %s AND e.seq < (SELECT MAX(seq) "
        "FROM audit_ledgerlookup) ORDER BY e.seq LIMIT 1",
    )
    with connection.cursor() as cur:
        for sql in queries:
            cur.execute(sql, [limit])
            row = cur.fetchone()
            if row is not None:
                return LedgerVerificationError(
                    VerifyCode.INDEX_MISMATCH,
                    "the filter index differs from the hashed entries "
                    "(`baomi ledger reindex` rebuilds it)",
                    seq=int(row[0]),
                )
    return None


def _check_checkpoint_rows(
    rows: Sequence[tuple[int, bytes, str]],
) -> LedgerVerificationError | None:
    """Each checkpoint row's size and root columns must be those its signed text states
    (the signatures themselves are verified by `verify_encoded`): proofs are served
    against the row found by its size column."""
    for size, root, text in rows:
        try:
            signed = checkpoint_parse(text).checkpoint
        except LedgerError:
            continue  # not a checkpoint at all: the signature check reports it
        if (signed.size, signed.root) != (int(size), bytes(root)):
            return LedgerVerificationError(
                VerifyCode.CHECKPOINT_MISMATCH,
                f"a checkpoint row says size {size}, its signed text size {signed.size}",
                checkpoint_size=int(size),
            )
    return None


_Checked = tuple[LedgerVerificationError | None, LedgerVerificationError | None]

# Verification in parts, in parallel (`ledger_verify(jobs=N)`): below this many entries
# starting the processes costs more than they save.
PARALLEL_MIN = 50_000


def _can_fork() -> bool:
    """Whether this process may verify in forked processes: only a single-threaded one
    (a fork copies the locks other threads hold, held), outside a transaction (the
    children read through connections of their own, which see only committed rows), on a
    database other processes can open (not SQLite in memory)."""
    if threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
        return False
    if connection.in_atomic_block:
        return False
    return not (connection.vendor == "sqlite" and cast(Any, connection).is_in_memory_db())


# What a part verified in a child process reports: size, state bytes after it, last leaf
# hash, first copy mismatch, checkpoints verified, their sizes, and (with copies) whether
# the database found its rows' index and time columns agree. None: the part failed.
_PartResult = tuple[int, bytes, bytes, int | None, int, tuple[int, ...], bool] | None


class _Part(NamedTuple):
    """One part of the log for `_verify_part`: the rows from `low` (None: the lowest
    stored) below `high`, from the stored state `start` (None: the empty log)."""

    low: int | None
    high: int
    start: bytes | None
    start_leaf: bytes
    texts: list[str]
    keys: dict[str, bytes]
    hash_name: HashName
    origin: str
    copies: bool
    complete: bool


def _verify_part(part: _Part) -> _PartResult:
    """Verify one part, in a forked process with a connection of its own. Any failure is
    reported as None: the parent then verifies the whole log in one pass, which names
    the failure as it always does."""
    try:
        state = CompactRange.from_bytes(part.start) if part.start is not None else None
        verify = verify_stored if part.copies else verify_encoded
        report = verify(
            _rows(part.high, copies=part.copies, low=part.low), part.texts, part.keys,
            part.hash_name, origin=part.origin, start=state, start_leaf=part.start_leaf,
            complete=part.complete,
        )
        assert report.state is not None  # noqa: S101  (set by every verification)
        agree = not part.copies or _columns_agree(part.high, part.low)
        return (report.size, report.state.to_bytes(), report.last_leaf_hash,
                report.first_copy_mismatch, report.checkpoints_verified,
                report.checkpoint_sizes, agree)
    except Exception:  # whatever it was, the one-pass run reports it
        return None
    finally:
        connections.close_all()


def _verify_in_parts(
    limit: int, texts: list[str], keys: dict[str, bytes], hash_name: HashName, *,
    columns: bool, jobs: int, progress: Callable[[int], None] | None = None,
) -> tuple[VerifyReport | None, _Checked | None]:
    """Verify the log below `limit` as `jobs` parts in forked processes, each from the
    tree state stored in the row before it; with `columns` each part's process also has
    the database compare its rows' index columns, while this one checks the filter
    index.

    Returns the report of the whole, and the column check's results (None when it was
    not run). The report is None when a part failed or the parts do not join
    up (a part must end with exactly the state and leaf hash the next one started from):
    then the log is verified again in one pass, which names the first problem exactly as
    it always does. A log that verifies in parts verifies in one pass, with the same
    report.

    `progress` is told only at part boundaries: the entries of the parts finished so
    far (taken in order; the parts run at the same time, so they finish together).
    """
    cuts = sorted({limit * i // jobs for i in range(1, jobs)} - {0})
    starts: list[tuple[bytes, bytes]] = []
    boundary = (
        f"SELECT {_blob('state')}, {_blob('leaf_hash')} "  # noqa: S608
        f"FROM {LedgerEntry._meta.db_table} WHERE seq = %s"
    )
    with connection.cursor() as cur:
        for cut in cuts:
            cur.execute(boundary, [cut - 1])
            row = cur.fetchone()
            if row is None or row[0] is None or row[1] is None:
                return None, None  # (the one pass names what is wrong there)
            starts.append((bytes(row[0]), bytes(row[1])))
    origin = signing.origin()
    lows: list[int | None] = [None, *cuts]
    highs = [*cuts, limit]
    args = [
        _Part(low, high, starts[i - 1][0] if i else None, starts[i - 1][1] if i else b"",
              texts, keys, hash_name, origin, columns, i == len(highs) - 1)
        for i, (low, high) in enumerate(zip(lows, highs, strict=True))
    ]
    connections.close_all()  # the children open their own
    # (With "fork" the executor starts every process before its own thread; a process
    # that dies, killed for memory say, fails the pool instead of hanging it.)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(len(args), mp_context=context) as pool:
        pending = [pool.submit(_verify_part, part) for part in args]
        lookup = _check_lookup(limit) if columns else None
        results: list[_PartResult] = []
        for future, high in zip(pending, highs, strict=True):
            try:
                results.append(future.result())
            except BrokenProcessPool:
                results.append(None)
            if progress is not None:
                progress(high)  # (the parts before it are done: everything below `high`)
    parts = [r for r in results if r is not None]
    if len(parts) != len(results):
        return None, None
    for part, (state, leaf), cut in zip(parts, starts, cuts, strict=False):
        if (part[0], part[1], part[2]) != (cut, state, leaf):
            return None, None
    checked: _Checked | None = None
    if columns:
        agree = all(p[6] for p in parts)
        checked = (None if agree else _first_column_mismatch(limit), lookup)
    size, state_bytes, last_leaf, _mismatch, verified, sizes, _agree = parts[-1]
    final = CompactRange.from_bytes(state_bytes)
    mismatches = [p[3] for p in parts if p[3] is not None]
    report = VerifyReport(
        hash_name=hash_name,
        size=size,
        root=final.root(),
        last_leaf_hash=last_leaf,
        checkpoints_verified=verified,
        checkpoint_sizes=sizes,
        first_copy_mismatch=min(mismatches) if mismatches else None,
        state=final,
    )
    return report, checked


def _first_stored_mismatch(
    copy_seq: int | None, checked: _Checked
) -> LedgerVerificationError | None:
    """The first stored copy that differs from the hashed entries: a tree copy (leaf
    hash, state, inner nodes: `copy_seq`) or an index or time column, whichever entry
    comes first (the tree copies first within one entry); then the filter index."""
    column_error, lookup_error = checked
    if copy_seq is not None and (
        column_error is None or column_error.seq is None or copy_seq <= column_error.seq
    ):
        return LedgerVerificationError(
            VerifyCode.STATE_MISMATCH,
            "a stored leaf hash, tree state or inner node differs from the tree "
            "recomputed from the hashed entries",
            seq=copy_seq,
        )
    return column_error or lookup_error


def ledger_verify(
    *, record: bool = True, columns: bool = True, jobs: int = 1,
    progress: Progress | None = None,
) -> Verification:
    """Recompute the whole ledger from stored entries and checkpoints.

    Checks signatures of every checkpoint, sequence continuity, hash chain, Merkle roots
    at every checkpoint, the head state, the checkpoint rows and (`columns`) every
    stored copy of an entry's content. Never raises for a bad log: the result names the
    first bad entry.

    `jobs` > 1: a large log is verified in that many parts in parallel, in forked
    processes, where this process allows it (`_can_fork`: the CLI, not a server's
    threads); the result is the same.

    The log verified is the one up to the head read at the start (checkpoints are read
    before it, so none is larger): entries appended while verification runs are the
    next run's, and are not mistaken for an inconsistency.

    `progress(checked, total)`: called once the head is read (0, total), then as entries
    are checked, at most every `PROGRESS_ROWS` entries or `PROGRESS_S` seconds, never
    backwards, and with (total, total) once every entry has been (the checks that
    follow, of the stored copies, report nothing). In parts (`jobs`), only as each part
    finishes. It runs in the verifying thread: it must be quick and should not raise
    (a database error it raised would be reported as a log that cannot be read).

    `record`: store the outcome as a finished `VerificationRun` (the background runner,
    `baomi.audit.verify_jobs`, stores it on its own running row instead).
    """
    started = timezone.now()
    size = 0
    result: Verification
    try:
        checkpoint_rows = [
            (int(cp_size), _as_bytes(root), text)
            for cp_size, root, text in LedgerCheckpoint.objects.order_by(
                "size", "id"
            ).values_list("size", "root", "text")
        ]
        head_seq, head = _head_row()
        size = head.size
        # Every row up to the last one read now is verified, whatever its state says: a
        # row planted far above the log with a copy of the real head's state is a gap in
        # the sequence, not a row outside every check (and the last row must then hold
        # the state after itself, as the appender requires: checked against the
        # recomputed tree below).
        limit = head.size if head_seq is None else max(head.size, head_seq + 1)
        report_progress = _Reporter(progress, limit)
        report_progress(0, final=True)
        keys = {signing.KEY_NAME: signing.signing_public_key()}
        texts = [text for _size, _root, text in checkpoint_rows]
        report: VerifyReport | None = None
        checked: _Checked | None = None
        if jobs > 1 and limit >= PARALLEL_MIN and _can_fork():
            report, checked = _verify_in_parts(
                limit, texts, keys, head.hash_name, columns=columns, jobs=jobs,
                progress=report_progress if progress is not None else None,
            )
        if report is None:
            taken = report_progress if progress is not None else None
            report = (
                verify_stored(_rows(limit, copies=True, progress=taken), texts, keys,
                              head.hash_name, origin=signing.origin())
                if columns
                else verify_encoded(_rows(limit, progress=taken), texts, keys,
                                    head.hash_name, origin=signing.origin())
            )
        report_progress(report.size, final=True)
        error = None
        if report.size != head.size or report.root != head.root():
            error = LedgerVerificationError(
                VerifyCode.TRUNCATED if report.size < head.size else VerifyCode.ROOT_MISMATCH,
                f"stored entries give size {report.size}; the last entry's state says {head.size}",
                seq=min(report.size, head.size),
            )
        if error is None:
            error = _check_checkpoint_rows(checkpoint_rows)
        if error is None and columns:
            error = _first_stored_mismatch(
                report.first_copy_mismatch, checked or _check_columns(limit)
            )
        if error is None:
            result = Verification(True, report.size, report.checkpoints_verified)
        else:
            result = Verification(
                False,
                report.size,
                report.checkpoints_verified,
                str(error.code),
                error.seq,
                str(error),
            )
    except LedgerVerificationError as exc:
        result = Verification(False, size, 0, str(exc.code), exc.seq, str(exc))
    except LedgerError as exc:
        result = Verification(False, size, 0, str(exc.code or "error"), None, str(exc))
    except (DatabaseError, ValueError, TypeError) as exc:
        # A stored value the database or its driver cannot even hand over (a time
        # PostgreSQL reads as infinity, say): the ledger is not intact, and says so.
        result = Verification(
            False, size, 0, "error", None, f"a stored value cannot be read ({type(exc).__name__})"
        )
    if record:
        VerificationRun.objects.create(
            started_at=started,
            finished_at=timezone.now(),
            status=VerificationStatus.DONE,
            checked=result.size,
            target=size,
            ok=result.ok,
            size=result.size,
            checkpoints=result.checkpoints,
            code=result.code,
            first_bad_seq=result.first_bad_seq,
            message=result.message[:2000],
        )
    return result


def consistency_with(exported_text: str) -> dict[str, Any]:
    """Prove the current log extends an exported checkpoint, or report a fork.

    The head is read once: the proof and the check are for the same size, however many
    entries are appended meanwhile. Raises `LedgerError` (incl. `ForkDetected`,
    `CheckpointError`).
    """
    keys = {signing.KEY_NAME: signing.signing_public_key()}
    exported = checkpoint_verify(keys, exported_text)
    head = _head_state()
    if head.size < exported.size:
        proof: list[bytes] = []
    else:
        proof = consistency_proof(
            DbNodeReader(), exported.size, head.size, hash_fn=hasher(head.hash_name)
        )
    result = fork_check(exported, head, proof)
    return {
        "old_size": result.old_size,
        "new_size": result.new_size,
        "new_root": result.new_root.hex(),
        "proof": [h.hex() for h in proof],
    }


def last_verification() -> VerificationRun | None:
    """The last finished run: the verdict the status card and `/ledger/state` show (a
    run still going, or interrupted, has none)."""
    return (
        VerificationRun.objects.filter(status=VerificationStatus.DONE).order_by("-id").first()
    )


# A running verification whose heartbeat is older than this is taken for dead (its
# process died or restarted): it is shown as interrupted, the scheduler marks it so
# (`verify_jobs.runs_mark_interrupted`), and a new request starts a new run. The runner
# beats every `verify_jobs.HEARTBEAT_S` seconds, from a helper thread as well as at
# every progress step, so only a dead process misses it for this long.
VERIFY_STALE_AFTER_S = 60.0


def verification_is_stale(run: VerificationRun, *, now: datetime | None = None) -> bool:
    """Whether `run` says it is running but has stopped beating."""
    if run.status != VerificationStatus.RUNNING:
        return False
    beat = run.heartbeat_at or run.started_at
    return beat < (now or timezone.now()) - timedelta(seconds=VERIFY_STALE_AFTER_S)


def verification_running(*, now: datetime | None = None) -> VerificationRun | None:
    """The verification in progress (at most one: see `VerificationRun`), or None; one
    that stopped beating is not in progress."""
    run = VerificationRun.objects.filter(status=VerificationStatus.RUNNING).first()
    if run is None or verification_is_stale(run, now=now):
        return None
    return run


def verification_stopped(*, now: datetime | None = None) -> VerificationRun | None:
    """The newest run, when it ended without a verdict (interrupted, or running but no
    longer beating); None otherwise."""
    latest = VerificationRun.objects.order_by("-id").first()
    if latest is None or verification_status(latest, now=now) != VerificationStatus.INTERRUPTED:
        return None
    return latest


def verification_get(*, run_id: int) -> VerificationRun | None:
    """Run `run_id`, or None when there is none (an id no database could hold too)."""
    if not 0 < run_id < 2**63:
        return None
    return VerificationRun.objects.filter(pk=run_id).first()


def verification_status(run: VerificationRun, *, now: datetime | None = None) -> str:
    """The run's status as shown: a running row that stopped beating is `interrupted`
    (before the scheduler has marked it so)."""
    if verification_is_stale(run, now=now):
        return str(VerificationStatus.INTERRUPTED)
    return str(run.status)


__all__ = ["checkpoint_parse"]
