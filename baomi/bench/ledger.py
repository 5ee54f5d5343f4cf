"""`baomi bench ledger`: durable appends on the real database, beside the raw insert rate.

Runs in a throwaway data directory (SQLite, WAL, synchronous=FULL — the production
settings) or, with `--postgres`, on a throwaway PostgreSQL server, so a real ledger never
receives benchmark entries. (That PostgreSQL server runs with fsync off, as the test
server does: its figures measure statements and round trips, not commit durability.)
Measures in one run:
- raw durable single-row inserts/s (one transaction per row, same database, same
  connection settings, statements straight to the driver as the sequencer's go; the rate
  through Django's `transaction.atomic` is shown beside it);
- durable ledger appends/s with one appender, and with 8 concurrent appenders (threads of
  one process share commits: group commit), and the same 8 as `--processes` forked
  processes of 8/N threads, as the server runs them (processes take turns on the
  ledger's lock file; their commits are not shared);
  the three rates are measured in interleaved rounds (`--rounds`), so each ratio compares
  the same period of a shared machine;
- full verification of the stored log (entries/s);
- inclusion-proof time and size from the database at `--entries` entries (default
  1,000,000), plus the in-memory core figures from `baomi.bench.ledger_core`.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from typing import Any


def _setup(postgres: bool) -> tuple[str, dict[str, str] | None]:
    tmp = tempfile.mkdtemp(prefix="baomi-bench-ledger-")
    os.environ["BAOMI_DATA_DIR"] = tmp
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baomi.settings")
    pg = None
    if postgres:
        from baomi.testing import pgtemp

        pg = pgtemp.start()
        os.environ["BAOMI_DATABASE_URL"] = (
            f"postgresql://{pg['USER']}@/postgres?host={pg['HOST']}&port={pg['PORT']}"
        )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    return tmp, pg


def _timed_loop(fn: Any, seconds: float, max_ops: int) -> tuple[int, float]:
    start = time.perf_counter()
    n = 0
    while n < max_ops and time.perf_counter() - start < seconds:
        fn(n)
        n += 1
    return n, time.perf_counter() - start


def _event(i: int) -> Any:
    """The i-th event of the workload (built in the timed loop, as a caller would)."""
    AuditEvent, RequestMeta = _event_types()  # noqa: N806
    return AuditEvent(
        actor=f"acct{i % 40}",
        action=("client.read", "document.read", "client.update")[i % 3],
        object_type="client",
        object_id=str(i % 997),
        client_id=str(i % 997),
        purpose="月度记账",
        reason="",
        request=RequestMeta(
            ip="10.1.2.3",
            user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0",
            request_id=f"{i:032x}",
        ),
    )


@functools.cache
def _event_types() -> tuple[Any, Any]:
    # Imported once, after django.setup(), not on every event.
    from baomi.audit.services import AuditEvent, RequestMeta

    return AuditEvent, RequestMeta


_PAYLOAD = "x" * 520  # the size of a typical entry's canonical bytes
_raw_ids = itertools.count()


def _raw_table() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_raw (id BIGINT PRIMARY KEY, payload TEXT)")


def raw_insert_rate(seconds: float) -> float:
    """Durable single-row inserts/s, one transaction per row, on the DB-API connection.

    The baseline the ledger is held to: Django's own connection (so exactly the same
    settings and pragmas: WAL, synchronous=FULL), but BEGIN (IMMEDIATE on SQLite, as the
    ledger takes it), INSERT and COMMIT go straight to the driver, as the sequencer's do.
    """
    from django.db import connection

    _raw_table()
    connection.ensure_connection()
    cur = connection.connection.cursor()
    sqlite = connection.vendor == "sqlite"
    begin = "BEGIN IMMEDIATE" if sqlite else "BEGIN"
    sql = "INSERT INTO bench_raw (id, payload) VALUES (?, ?)"
    if not sqlite:
        sql = "INSERT INTO bench_raw (id, payload) VALUES (%s, %s)"

    def one(_: int) -> None:
        cur.execute(begin)
        cur.execute(sql, (next(_raw_ids), _PAYLOAD))
        cur.execute("COMMIT")

    try:
        n, dt = _timed_loop(one, seconds, 1_000_000)
    finally:
        cur.close()
    return n / dt


def raw_insert_rate_django(seconds: float) -> float:
    """The same inserts through Django (`transaction.atomic` and its cursor), for scale."""
    from django.db import connection, transaction

    _raw_table()

    def one(_: int) -> None:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "INSERT INTO bench_raw (id, payload) VALUES (%s, %s)", [next(_raw_ids), _PAYLOAD]
            )

    n, dt = _timed_loop(one, seconds, 1_000_000)
    return n / dt


def append_rate(seconds: float, threads: int) -> tuple[float, int]:
    from django.db import connection

    from baomi.audit.services import ledger_append

    counts = [0] * threads
    barrier = threading.Barrier(threads + 1)

    def worker(k: int) -> None:
        # Connect before the clock starts, as the raw baseline's connection already is
        # (a PostgreSQL connection takes milliseconds to open).
        connection.ensure_connection()
        barrier.wait()
        stop = time.perf_counter() + seconds
        i = 0
        try:
            while time.perf_counter() < stop:
                ledger_append(_event(k * 1_000_000 + i))
                i += 1
        finally:
            counts[k] = i
            connection.close()

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    return sum(counts) / elapsed, sum(counts)


def _child_appends(seconds: float, threads: int, out: Any) -> None:
    out.put(append_rate(seconds, threads)[1])


def append_rate_processes(seconds: float, processes: int, threads: int) -> float:
    """Appends/s of `processes` forked processes with `threads` appenders each, as the
    server runs them (`baomi up`: 2 workers × 4 threads). Group commit joins the threads
    of one process; processes take turns on the ledger's lock file."""
    import multiprocessing

    from django.db import connections

    connections.close_all()  # a forked child must open its own
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_child_appends, args=(seconds, threads, out))
             for _ in range(processes)]
    for p in procs:
        p.start()
    counts = [int(out.get(timeout=seconds + 120)) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    # Each child counts its appends over `seconds` from its own start (they start within
    # milliseconds of each other).
    return sum(counts) / seconds


def fill(total: int, batch: int = 5000) -> float:
    """Bring the log to `total` entries with bulk appends; returns entries/s."""
    from baomi.audit.selectors import ledger_state
    from baomi.audit.services import ledger_append_many

    have = ledger_state().size
    start = time.perf_counter()
    added = 0
    while have < total:
        n = min(batch, total - have)
        ledger_append_many([_event(have + i) for i in range(n)])
        have += n
        added += n
    dt = time.perf_counter() - start
    return added / dt if dt else 0.0


def run(
    *, seconds: float, entries: int, proofs: int, core: bool, rounds: int = 4,
    processes: int = 2, jobs: int = 1,
) -> dict[str, Any]:
    from django.db import connection

    from baomi.audit import selectors

    result: dict[str, Any] = {"database": connection.vendor}
    # The rates share the machine with whatever else runs on it: they are measured in
    # interleaved rounds (raw, 1 appender, 8 appenders, raw via Django, repeated) so each
    # ratio compares the same period; the rates reported are the means over the rounds.
    share = seconds / rounds
    rates: dict[str, list[float]] = {"raw": [], "one": [], "eight": [], "django": [],
                                     "server": []}
    appended = 0
    for _ in range(rounds):
        rates["raw"].append(raw_insert_rate(share))
        one, one_n = append_rate(share, 1)
        eight, eight_n = append_rate(share, 8)
        rates["one"].append(one)
        rates["eight"].append(eight)
        rates["django"].append(raw_insert_rate_django(share))
        if processes:
            rates["server"].append(append_rate_processes(share, processes, 8 // processes))
        appended += one_n + eight_n
    raw, one = statistics.fmean(rates["raw"]), statistics.fmean(rates["one"])
    eight, django_raw = statistics.fmean(rates["eight"]), statistics.fmean(rates["django"])
    result["raw_insert_per_s"] = round(raw, 1)
    result["raw_insert_django_per_s"] = round(django_raw, 1)
    result["append_1_per_s"] = round(one, 1)
    result["append_8_per_s"] = round(eight, 1)
    result["ratio_1_to_raw"] = round(one / raw, 3)
    result["ratio_8_to_1"] = round(eight / one, 3)
    if rates["server"]:
        server = statistics.fmean(rates["server"])
        result["append_server_shaped"] = {
            "processes": processes,
            "threads_each": 8 // processes,
            "per_s": round(server, 1),
            "ratio_to_1": round(server / one, 3),
        }
    result["rounds"] = [
        {"ratio_1_to_raw": round(o / r, 3), "ratio_8_to_1": round(e / o, 3)}
        for r, o, e in zip(rates["raw"], rates["one"], rates["eight"], strict=True)
    ]
    result["appended"] = appended
    result["bulk_fill_per_s"] = round(fill(entries), 1)
    selectors.checkpoint_create()
    # `baomi ledger verify` as the CLI runs it (every check, `jobs` parts in parallel),
    # then in one process, then the tree recomputation alone (no stored copies, no index
    # columns), both ways.
    result["verify_jobs"] = jobs
    for key, columns, parts in (
        ("verify_full", True, jobs),
        ("verify_full_one_process", True, 1),
        ("verify", False, jobs),
        ("verify_one_process", False, 1),
    ):
        start = time.perf_counter()
        verification = selectors.ledger_verify(record=False, columns=columns, jobs=parts)
        dt = time.perf_counter() - start
        result[key] = {
            "ok": verification.ok,
            "entries": verification.size,
            "entries_per_s": round(verification.size / dt, 1),
        }
    size = selectors.ledger_state().size
    rng = random.Random(7)
    times, sizes = [], []
    for _ in range(proofs):
        seq = rng.randrange(size)
        t0 = time.perf_counter()
        p = selectors.inclusion(seq)
        times.append(time.perf_counter() - t0)
        sizes.append(len(p["proof"]) * 32)
    times.sort()
    result["inclusion_proof_db"] = {
        "tree_size": size,
        "mean_ms": round(statistics.fmean(times) * 1000, 3),
        "p99_ms": round(times[int(len(times) * 0.99) - 1] * 1000, 3),
        "max_ms": round(times[-1] * 1000, 3),
        "max_bytes": max(sizes),
    }
    if core:
        from baomi.bench import ledger_core

        result["core"] = ledger_core.run(entries, proofs=proofs)
    return result


def _default_jobs() -> int:
    from baomi.cli import _default_jobs as cli_default

    return cli_default()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="baomi bench ledger", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="per rate measurement, over all rounds"
    )
    parser.add_argument(
        "--rounds", type=int, default=4, help="interleaved rounds of the rate measurements"
    )
    parser.add_argument(
        "--entries",
        type=int,
        default=1_000_000,
        help="log size for verification and proofs (default 1,000,000)",
    )
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument(
        "--processes",
        type=int,
        default=2,
        choices=(0, 1, 2, 4, 8),
        help="also 8 appenders as N processes x 8/N threads, as the server runs them "
        "(default 2; 0: skip)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="parts verified in parallel, as `baomi ledger verify --jobs` (default: as it)",
    )
    parser.add_argument("--postgres", action="store_true", help="throwaway PostgreSQL")
    parser.add_argument("--no-core", action="store_true", help="skip the in-memory core run")
    args = parser.parse_args(argv)
    tmp, pg = _setup(args.postgres)
    try:
        result = run(
            seconds=args.seconds,
            entries=args.entries,
            proofs=args.proofs,
            core=not args.no_core,
            rounds=max(1, args.rounds),
            processes=args.processes,
            jobs=args.jobs or _default_jobs(),
        )
    finally:
        from django.db import connections

        connections.close_all()
        if pg:
            from baomi.testing import pgtemp

            pgtemp.stop(pg)
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print(f"database: {result['database']}")
    print(
        f"raw durable inserts/s        {result['raw_insert_per_s']:>12,.0f}  "
        f"(through Django: {result['raw_insert_django_per_s']:,.0f})"
    )
    print(
        f"ledger appends/s, 1 thread   {result['append_1_per_s']:>12,.0f}  "
        f"({result['ratio_1_to_raw']:.2f} of raw; target >= 0.6)"
    )
    print(
        f"ledger appends/s, 8 threads  {result['append_8_per_s']:>12,.0f}  "
        f"({result['ratio_8_to_1']:.2f}x one thread; target >= 3x on SQLite)"
    )
    if "append_server_shaped" in result:
        srv = result["append_server_shaped"]
        label = f"  as {srv['processes']} processes x {srv['threads_each']}"
        print(
            f"{label:<29}{srv['per_s']:>12,.0f}  ({srv['ratio_to_1']:.2f}x one thread; as "
            "`baomi up` runs them; no target)"
        )
    rounds = result["rounds"]
    print(
        f"  per round: of raw {min(r['ratio_1_to_raw'] for r in rounds):.2f}-"
        f"{max(r['ratio_1_to_raw'] for r in rounds):.2f}, 8 vs 1 "
        f"{min(r['ratio_8_to_1'] for r in rounds):.2f}-{max(r['ratio_8_to_1'] for r in rounds):.2f}"
    )
    full, one = result["verify_full"], result["verify_full_one_process"]
    print(
        f"verification (all checks)    {full['entries_per_s']:>12,.0f} entries/s over "
        f"{full['entries']:,} in {result['verify_jobs']} parts "
        f"({'ok' if full['ok'] else 'FAILED'}; target >= 200,000)"
    )
    print(f"  in one process             {one['entries_per_s']:>12,.0f} entries/s")
    print(
        f"  tree only (no stored copies, no index columns): "
        f"{result['verify']['entries_per_s']:,.0f} entries/s in {result['verify_jobs']} parts, "
        f"{result['verify_one_process']['entries_per_s']:,.0f} in one process"
    )
    p = result["inclusion_proof_db"]
    print(
        f"inclusion proof (database)   mean {p['mean_ms']} ms, p99 {p['p99_ms']} ms, max "
        f"{p['max_ms']} ms, {p['max_bytes']} bytes at {p['tree_size']:,} entries "
        "(target < 5 ms, < 1 KiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
