"""Builds small real logs for tests with the real encoding, tree and signing code."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from baomi.crypto.digest import HashName
from baomi.crypto.signing import generate_signing_key, public_key
from baomi.ledger.checkpoint import SignedCheckpoint, checkpoint_sign
from baomi.ledger.compact import CompactRange
from baomi.ledger.entry import GENESIS_PREV_HASH, Entry, encode_entry, entry_leaf_hash
from baomi.ledger.hashing import hasher
from baomi.ledger.storage import MemoryNodeStore

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
ORIGIN = "baomi.test/ledger"
KEY_NAME = "baomi-test"


def make_entry(seq: int, prev_hash: bytes, actor: str | None = None) -> Entry:
    return Entry(
        seq=seq,
        time=T0 + timedelta(seconds=seq, microseconds=seq),
        actor=actor or f"user:{seq % 7}",
        action="record.read" if seq % 3 else "document.export",
        object_type="document",
        object_id=f"doc-{seq}",
        client_id=None if seq % 11 == 0 else f"client-{seq % 5}",
        purpose="年度审计 annual audit",
        decision="refused" if seq % 13 == 0 else "allowed",
        reason="assigned_staff",
        request={"ip": "192.0.2.1", "user_agent": "pytest", "request_id": f"req-{seq}"},
        prev_hash=prev_hash,
    )


@dataclass
class Log:
    hash_name: HashName
    seed: bytes
    public: bytes
    entries: list[Entry] = field(default_factory=list)
    rows: list[tuple[int, bytes]] = field(default_factory=list)
    checkpoints: list[SignedCheckpoint] = field(default_factory=list)
    states: list[CompactRange] = field(default_factory=list)
    store: MemoryNodeStore = field(default_factory=MemoryNodeStore)


def build_log(
    n: int,
    checkpoint_sizes: tuple[int, ...] = (100, 200, 300),
    hash_name: HashName = "sha256",
    seed: bytes | None = None,
) -> Log:
    """A valid n-entry log with signed checkpoints at `checkpoint_sizes` (<= n)."""
    seed = seed or generate_signing_key()
    log = Log(hash_name, seed, public_key(seed))
    hash_fn = hasher(hash_name)
    state = CompactRange.empty(hash_name)
    log.states.append(state)
    prev = GENESIS_PREV_HASH
    for seq in range(n):
        entry = make_entry(seq, prev)
        data = encode_entry(entry)
        prev = entry_leaf_hash(data, hash_fn)
        state, nodes = state.append_nodes(prev)
        log.store.put_nodes(nodes)
        log.entries.append(entry)
        log.rows.append((seq, data))
        log.states.append(state)
    for size in checkpoint_sizes:
        log.checkpoints.append(
            checkpoint_sign(
                seed,
                origin=ORIGIN,
                size=size,
                root=log.states[size].root(),
                time=T0 + timedelta(hours=size),
                key_id=KEY_NAME,
                hash_name=hash_name,
            )
        )
    return log


def relink(entries: list[Entry], start: int, hash_name: HashName = "sha256") -> list[Entry]:
    """Recompute every prev_hash from `start` on, as an attacker rewriting history would."""
    hash_fn = hasher(hash_name)
    out = list(entries[:start])
    for entry in entries[start:]:
        prev = entry_leaf_hash(out[-1], hash_fn) if out else GENESIS_PREV_HASH
        out.append(
            Entry(
                seq=entry.seq,
                time=entry.time,
                actor=entry.actor,
                action=entry.action,
                object_type=entry.object_type,
                object_id=entry.object_id,
                client_id=entry.client_id,
                purpose=entry.purpose,
                decision=entry.decision,
                reason=entry.reason,
                request=entry.request,
                prev_hash=prev,
            )
        )
    return out
