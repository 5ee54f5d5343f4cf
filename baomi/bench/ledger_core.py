"""Benchmark of the framework-free ledger core (`baomi bench ledger`, in-memory half).

Builds an n-entry log in memory from realistic entries, then measures: entry encoding,
appends (compact range + node storage), full verification from stored bytes, inclusion
and consistency proof generation (from O(log n) node reads) and their sizes, and
checkpoint signing/verification. The database half of `baomi bench ledger` calls `run`.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from baomi.crypto.signing import generate_signing_key, public_key
from baomi.ledger.checkpoint import SignedCheckpoint, checkpoint_sign, checkpoint_verify
from baomi.ledger.compact import CompactRange
from baomi.ledger.entry import GENESIS_PREV_HASH, Entry, encode_entry
from baomi.ledger.hashing import sha256
from baomi.ledger.proof import (
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from baomi.ledger.storage import MemoryNodeStore
from baomi.ledger.verify import verify_encoded

_ACTIONS = ("record.read", "document.read", "document.export", "record.update", "login")
_PURPOSES = (
    "月度记账 monthly bookkeeping",
    "年度汇算清缴 annual tax filing",
    "工商变更 company change registration",
    "客户咨询 client enquiry",
)
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari",
    "baomi-cli/0.1.0",
)


def _entries(n: int, rng: random.Random) -> list[bytes]:
    """Encoded, hash-linked entries with realistic field sizes (~450-550 bytes each)."""
    rows: list[bytes] = []
    prev = GENESIS_PREV_HASH
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for seq in range(n):
        refused = rng.random() < 0.05
        entry = Entry(
            seq=seq,
            time=t0 + timedelta(milliseconds=seq * 37),
            actor=f"user:{rng.randrange(200)}",
            action=_ACTIONS[seq % len(_ACTIONS)],
            object_type="document" if seq % 2 else "client_record",
            object_id=f"{rng.getrandbits(64):016x}",
            client_id=f"client-{rng.randrange(5000):05d}",
            purpose=_PURPOSES[seq % len(_PURPOSES)],
            decision="refused" if refused else "allowed",
            reason="not_assigned" if refused else "assigned_staff",
            request={
                "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
                "user_agent": _AGENTS[seq % len(_AGENTS)],
                "request_id": f"{rng.getrandbits(128):032x}",
            },
            prev_hash=prev,
        )
        data = encode_entry(entry)
        prev = sha256(b"\x00" + data)
        rows.append(data)
    return rows


def _timed_stats(samples: Sequence[float]) -> dict[str, float]:
    return {
        "mean_ms": statistics.fmean(samples) * 1e3,
        "max_ms": max(samples) * 1e3,
        "p50_ms": statistics.median(samples) * 1e3,
    }


def run(n: int = 1_000_000, *, proofs: int = 1000, seed: int = 1) -> dict[str, Any]:
    """Build an n-entry in-memory log and measure the core operations; returns figures.

    Deterministic for a given `seed` (except timings). Keys: `entries`, `entry_bytes_mean`,
    `encode_entries_per_s`, `append_entries_per_s`, `verify_entries_per_s` (wall clock),
    `verify_cpu_entries_per_s` (process CPU time), `verify_seconds`,
    `verify_strict_entries_per_s` (on at most 100,000 entries), `inclusion` and
    `consistency` (mean/p50/max ms and proof bytes), `checkpoint_sign_ms`,
    `checkpoint_verify_ms`.
    """
    if n < 2:
        raise ValueError("need at least 2 entries")
    rng = random.Random(seed)  # workload shape, not security

    start = time.perf_counter()
    rows = _entries(n, rng)
    encode_s = time.perf_counter() - start

    store = MemoryNodeStore()
    state = CompactRange.empty()
    start = time.perf_counter()
    for data in rows:
        state, nodes = state.append_nodes(sha256(b"\x00" + data))
        store.put_nodes(nodes)
    append_s = time.perf_counter() - start

    key = generate_signing_key()
    pub = public_key(key)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    # Checkpoints every n/10 entries, as a periodically signing sequencer would leave.
    step = max(n // 10, 1)
    checkpoints: list[SignedCheckpoint] = []
    replay = CompactRange.empty()
    sign_times: list[float] = []
    for i, data in enumerate(rows, 1):
        replay = replay.append(sha256(b"\x00" + data))
        if i % step == 0 or i == n:
            s = time.perf_counter()
            checkpoints.append(
                checkpoint_sign(
                    key,
                    origin="bench.baomi/ledger",
                    size=i,
                    root=replay.root(),
                    time=t0,
                    key_id="bench",
                )
            )
            sign_times.append(time.perf_counter() - s)
    head = checkpoint_verify(pub, checkpoints[-1].text)  # warm-up, outside the timing
    verify_times: list[float] = []
    for cp in checkpoints:
        s = time.perf_counter()
        checkpoint_verify(pub, cp.text)
        verify_times.append(time.perf_counter() - s)

    indexed = list(enumerate(rows))
    gc.collect()
    start, cpu_start = time.perf_counter(), time.process_time()
    report = verify_encoded(indexed, checkpoints, pub)
    verify_s = time.perf_counter() - start
    # CPU time too: on a shared machine wall time also counts other processes' turns.
    verify_cpu_s = time.process_time() - cpu_start
    assert report.root == head.root == state.root()  # noqa: S101  # bench self-check

    strict_n = min(n, 100_000)
    strict_cps = [c for c in checkpoints if c.checkpoint.size <= strict_n]
    start = time.perf_counter()
    verify_encoded(indexed[:strict_n], strict_cps, pub, strict=True)
    strict_s = time.perf_counter() - start

    root = state.root()
    # Collect garbage left by the build first so that a full collection of millions of
    # objects does not land inside one timed proof; one warm-up call per proof kind.
    gc.collect()
    inclusion_proof(store, 0, n)
    consistency_proof(store, 1, n)
    inc_times: list[float] = []
    inc_bytes: list[int] = []
    leaf_ids = [rng.randrange(n) for _ in range(proofs)]
    leaf_hashes = store.subtree_hashes([(0, i) for i in leaf_ids])
    for index, leaf in zip(leaf_ids, leaf_hashes, strict=True):
        s = time.perf_counter()
        proof = inclusion_proof(store, index, n)
        inc_times.append(time.perf_counter() - s)
        inc_bytes.append(sum(len(p) for p in proof))
        verify_inclusion(sha256, index, n, leaf, proof, root)

    con_times: list[float] = []
    con_bytes: list[int] = []
    for _ in range(proofs):
        m = rng.randrange(1, n)
        s = time.perf_counter()
        proof = consistency_proof(store, m, n)
        con_times.append(time.perf_counter() - s)
        con_bytes.append(sum(len(p) for p in proof))
    # Verify a sample outside the timed region (needs the old root from storage).
    old_state = CompactRange.from_store(store, m)
    verify_consistency(sha256, m, n, old_state.root(), root, proof)

    return {
        "entries": n,
        "entry_bytes_mean": sum(map(len, rows)) / n,
        "encode_entries_per_s": n / encode_s,
        "append_entries_per_s": n / append_s,
        "verify_entries_per_s": n / verify_s,
        "verify_cpu_entries_per_s": n / verify_cpu_s,
        "verify_seconds": verify_s,
        "verify_strict_entries_per_s": strict_n / strict_s,
        "checkpoints": len(checkpoints),
        "checkpoint_sign_ms": statistics.fmean(sign_times) * 1e3,
        "checkpoint_verify_ms": statistics.fmean(verify_times) * 1e3,
        "inclusion": {
            "proofs": proofs,
            **_timed_stats(inc_times),
            "bytes_mean": statistics.fmean(inc_bytes),
            "bytes_max": max(inc_bytes),
        },
        "consistency": {
            "proofs": proofs,
            **_timed_stats(con_times),
            "bytes_mean": statistics.fmean(con_bytes),
            "bytes_max": max(con_bytes),
        },
    }


def main(argv: list[str] | None = None) -> int:
    """`baomi bench ledger-core [--entries N] [--proofs K] [--json]`; returns exit status."""
    parser = argparse.ArgumentParser(prog="baomi bench ledger-core", description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    result = run(args.entries, proofs=args.proofs)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    inc, con = result["inclusion"], result["consistency"]
    lines = [
        f"entries                      {result['entries']:>12,}",
        f"mean entry size (bytes)      {result['entry_bytes_mean']:>12.0f}",
        f"encode (entries/s)           {result['encode_entries_per_s']:>12,.0f}",
        f"append + nodes (entries/s)   {result['append_entries_per_s']:>12,.0f}",
        f"verify (entries/s)           {result['verify_entries_per_s']:>12,.0f}",
        f"verify, CPU time (entries/s) {result['verify_cpu_entries_per_s']:>12,.0f}",
        f"verify strict (entries/s)    {result['verify_strict_entries_per_s']:>12,.0f}",
        f"checkpoint sign / verify ms  {result['checkpoint_sign_ms']:>7.3f} / "
        f"{result['checkpoint_verify_ms']:.3f}",
        f"inclusion proof ms mean/max  {inc['mean_ms']:>7.3f} / {inc['max_ms']:.3f}"
        f"   ({inc['bytes_mean']:.0f} B mean, {inc['bytes_max']} B max)",
        f"consistency proof ms mean/max{con['mean_ms']:>8.3f} / {con['max_ms']:.3f}"
        f"   ({con['bytes_mean']:.0f} B mean, {con['bytes_max']} B max)",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
