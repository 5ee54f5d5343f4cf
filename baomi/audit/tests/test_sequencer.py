"""The sequencer under concurrency: processes and threads, group commit, injected faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from baomi.audit import selectors
from baomi.audit.models import LedgerEntry
from baomi.audit.services import AuditEvent, LedgerUnavailable, ledger_append
from baomi.testing.ledger_faults import clear_ledger_faults, inject_ledger_faults

pytestmark = pytest.mark.django_db(transaction=True)

# Each worker process waits for the go file, then appends from several threads.
WORKER = """
import os, sys, threading, time
import django
django.setup()
from django.db import connection
from baomi.audit.services import AuditEvent, RequestMeta, ledger_append
proc, threads, per, go = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
while not os.path.exists(go):
    time.sleep(0.005)
errors = []
def work(t):
    try:
        for i in range(per):
            tag = f"{proc}-{t}-{i}"
            ledger_append(AuditEvent(actor=f"proc{proc}", action="client.read",
                                     object_id=tag, request=RequestMeta(request_id=tag)))
    except BaseException as exc:
        errors.append(repr(exc))
    finally:
        connection.close()
pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for t in pool:
    t.start()
for t in pool:
    t.join()
print("\\n".join(errors))
sys.exit(1 if errors else 0)
"""

REPORT = """
import json
import django
django.setup()
from baomi.audit import selectors
from baomi.audit.models import LedgerEntry
selectors.checkpoint_create()
rows = list(LedgerEntry.objects.order_by("seq").values_list("seq", "object_id"))
print(json.dumps({"rows": rows, "ok": selectors.ledger_verify(record=False).ok}))
"""


def _env(data_dir: Path, database_url: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAOMI_", "DJANGO_"))}
    env.update({"BAOMI_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "baomi.settings"})
    if database_url:
        env["BAOMI_DATABASE_URL"] = database_url
    return env


def _python(code: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_processes_and_threads_never_fork_or_duplicate(tmp_path: Path) -> None:
    """Several processes, each with several threads (group commit), append at once."""
    procs, threads, per = 4, 4, 15
    if connection.vendor == "postgresql":
        db = settings.DATABASES["default"]
        url = f"postgresql://{db['USER']}@/{db['NAME']}?host={db['HOST']}&port={db['PORT']}"
        env = _env(tmp_path, url)
    else:
        # The SQLite test database lives in this process's memory: the processes share
        # a database file of their own instead.
        env = _env(tmp_path)
        migrate = _python(
            "import django; django.setup(); from django.core.management import call_command;"
            " call_command('migrate', verbosity=0)",
            env=env,
        )
        assert migrate.returncode == 0, migrate.stderr
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(p), str(threads), str(per), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(procs)
    ]
    time.sleep(0.5)
    go.touch()
    for w in workers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, (out, err)
    if connection.vendor == "postgresql":
        selectors.checkpoint_create()
        rows = [
            list(r) for r in LedgerEntry.objects.order_by("seq").values_list("seq", "object_id")
        ]
        ok = selectors.ledger_verify(record=False).ok
    else:
        report = _python(REPORT, env=env)
        assert report.returncode == 0, report.stderr
        result = json.loads(report.stdout)
        rows, ok = result["rows"], result["ok"]
    total = procs * threads * per
    assert [seq for seq, _ in rows] == list(range(total))
    expected = {f"{p}-{t}-{i}" for p in range(procs) for t in range(threads) for i in range(per)}
    assert sorted(obj for _, obj in rows) == sorted(expected)
    assert ok


def test_group_commit_under_faults_acknowledges_exactly_what_was_stored() -> None:
    """Threads share commits while inserts fail at random: every append either returns
    the seq its entry is stored under or raises LedgerUnavailable and leaves no entry."""
    inject_ledger_faults(30)
    acknowledged: dict[str, int] = {}
    refused: list[str] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        try:
            for i in range(30):
                tag = f"{k}-{i}"
                event = AuditEvent(actor=f"t{k}", action="client.read", object_id=tag)
                try:
                    seq = ledger_append(event)
                except LedgerUnavailable:
                    with lock:
                        refused.append(tag)
                else:
                    with lock:
                        acknowledged[tag] = seq
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    clear_ledger_faults()
    stored = dict(LedgerEntry.objects.values_list("object_id", "seq"))
    assert len(acknowledged) + len(refused) == 240
    assert refused and acknowledged  # both outcomes happened
    assert stored == acknowledged
    assert sorted(stored.values()) == list(range(len(stored)))
    selectors.checkpoint_create()
    assert selectors.ledger_verify(record=False).ok


def test_an_invalid_event_fails_alone() -> None:
    """An event no entry can hold is refused before it joins a shared commit."""
    bad = AuditEvent(actor=None, action="client.read")  # type: ignore[arg-type]
    with pytest.raises(LedgerUnavailable):
        ledger_append(bad)
    seq = ledger_append(AuditEvent(actor="x", action="client.read"))
    assert seq == 0 and LedgerEntry.objects.count() == 1


def test_a_stale_head_from_another_writer_is_read_back() -> None:
    """The cached tree state is used only while the stored head is the entry it was
    computed for; after another writer's change the state is read from the row."""
    for i in range(5):
        ledger_append(AuditEvent(actor="x", action="client.read", object_id=str(i)))
    # Another writer (here: raw SQL) removes the newest entries, as a rolled-back or
    # foreign append would leave a different head.
    with connection.cursor() as cur:
        cur.execute("DELETE FROM audit_ledgerentry WHERE seq >= 3")
    assert ledger_append(AuditEvent(actor="x", action="client.read", object_id="n")) == 3
    selectors.checkpoint_create()
    assert selectors.ledger_verify(record=False).ok
    assert selectors.ledger_state().size == 4


def test_another_process_s_appends_are_never_overwritten_or_forked() -> None:
    """A process keeps the head it last wrote; when another process has appended since
    (here: the cache is set back to an older head), the append goes after the real head,
    with the tree state read back, never after the cached one."""
    from baomi.audit import services

    for i in range(5):
        ledger_append(AuditEvent(actor="x", action="client.read", object_id=str(i)))
    older = services._head_cache[connection.alias]
    for i in range(5, 7):
        ledger_append(AuditEvent(actor="x", action="client.read", object_id=str(i)))
    services._head_cache[connection.alias] = older  # as if another process wrote 5 and 6
    assert ledger_append(AuditEvent(actor="x", action="client.read", object_id="n")) == 7
    selectors.checkpoint_create()
    assert selectors.ledger_verify(record=False).ok
    rows = list(LedgerEntry.objects.order_by("seq").values_list("seq", "object_id"))
    assert rows == [(i, str(i)) for i in range(7)] + [(7, "n")]


def test_one_leader_at_a_time_and_threads_share_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Within a process one thread at a time commits (the leader), and concurrent
    appends ride on shared commits: that is what makes 8 appenders faster than one."""
    from baomi.audit import services

    active = 0
    overlap = 0
    batches: list[int] = []
    guard = threading.Lock()
    durably = services._append_durably

    def counting(items, db=None):  # type: ignore[no-untyped-def]
        nonlocal active, overlap
        with guard:
            active += 1
            overlap = max(overlap, active)
            batches.append(len(items))
        try:
            return durably(items, db)
        finally:
            with guard:
                active -= 1

    monkeypatch.setattr(services, "_append_durably", counting)

    def worker(k: int) -> None:
        try:
            for i in range(25):
                ledger_append(AuditEvent(actor=f"t{k}", action="client.read", object_id=str(i)))
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert overlap == 1
    assert sum(batches) == 200 and max(batches) > 1
    assert list(LedgerEntry.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(200)
    )


def test_appends_without_combined_statements(monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL with server-side binding cannot send several statements at once: the
    sequencer then sends them one by one (on SQLite that is the only way)."""
    import dataclasses

    from baomi.audit import services

    connection.ensure_connection()
    sql = services._sql(connection)
    monkeypatch.setitem(
        services._statements,
        (connection.alias, connection.vendor),
        dataclasses.replace(sql, combined=False),
    )
    seqs = [ledger_append(AuditEvent(actor="x", action="client.read")) for _ in range(3)]
    assert seqs == [0, 1, 2]
    selectors.checkpoint_create()
    assert selectors.ledger_verify(record=False).ok


class _Stopped(BaseException):
    """Stands for an exception no handler should swallow (as KeyboardInterrupt)."""


def _fake_committer(fail_batch: int = 0, error=_Stopped):  # type: ignore[no-untyped-def]
    """A group committer whose "database" is a counter: the queueing, leading, chained
    wake-ups and commit delay run for real, without SQLite's timing in the way. Batches
    of at least `fail_batch` events fail with `error()`."""
    from baomi.audit import services

    state = {"next": 0, "batches": [], "tried": [], "gate": threading.Event()}
    state["gate"].set()

    class Fake(services._GroupCommitter):
        @classmethod
        def _append_retrying(cls, items, db=None):  # type: ignore[no-untyped-def,override]
            state["gate"].wait(10)
            time.sleep(0.0002)  # an fsync's time, so that arrivals overlap commits
            state["tried"].append(len(items))
            if fail_batch and len(items) >= fail_batch:
                raise error()
            first = state["next"]
            state["next"] += len(items)
            state["batches"].append(len(items))
            return list(range(first, first + len(items)))

    return Fake(), state


def test_group_commit_under_random_arrivals_answers_every_append_once() -> None:
    """Threads arrive and leave at random (the commit delay then waits for some that
    never come): every append gets exactly one sequence number, none waits forever."""
    import random

    from baomi.audit.services import _prepare

    committer, state = _fake_committer()
    seqs: list[int] = []
    guard = threading.Lock()

    def worker(k: int) -> None:
        rng = random.Random(k)
        for i in range(60):
            event = AuditEvent(actor=f"t{k}", action="x", object_id=str(i))
            seq = committer.submit(_prepare(event))
            with guard:
                seqs.append(seq)
            if rng.random() < 0.3:
                time.sleep(rng.random() / 1000)

    pool = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(6)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(30)
    assert not any(t.is_alive() for t in pool)
    assert sorted(seqs) == list(range(360))
    assert max(state["batches"]) > 1  # appends did share commits
    assert not committer._queue and not committer._leader_active and not committer._inflight


def _queued_batch(committer, state) -> dict[int, str]:  # type: ignore[no-untyped-def]
    """One lone append commits while four more queue, then those four commit together;
    returns each caller's outcome."""
    from baomi.audit.services import _prepare

    state["gate"].clear()  # the first (lone) commit waits, so the others queue up
    outcomes: dict[int, str] = {}

    def worker(k: int) -> None:
        try:
            committer.submit(_prepare(AuditEvent(actor=f"t{k}", action="x")))
            outcomes[k] = "ok"
        except LedgerUnavailable:
            outcomes[k] = "unavailable"
        except _Stopped:
            outcomes[k] = "stopped"

    first = threading.Thread(target=worker, args=(0,), daemon=True)
    first.start()
    while not committer._leader_active:
        time.sleep(0.001)
    rest = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(1, 5)]
    for t in rest:
        t.start()
    while len(committer._queue) < 4:
        time.sleep(0.001)
    state["gate"].set()
    for t in [first, *rest]:
        t.join(30)
    assert not any(t.is_alive() for t in [first, *rest])
    return outcomes


def test_a_batch_stopped_by_a_base_exception_still_answers_every_waiter() -> None:
    """The leader's caller gets the exception; every other caller in that batch gets
    LedgerUnavailable, nobody waits forever, and the next append is committed."""
    from baomi.audit.services import _prepare

    committer, state = _fake_committer(fail_batch=2)
    outcomes = _queued_batch(committer, state)
    assert outcomes[0] == "ok"
    assert sorted(outcomes[k] for k in range(1, 5)) == ["stopped"] + ["unavailable"] * 3
    assert not committer._queue and not committer._leader_active
    # The committer is still usable.
    assert committer.submit(_prepare(AuditEvent(actor="after", action="x"))) == 1


def test_a_database_failure_fails_the_whole_batch_at_once(tmp_path: Path) -> None:
    """SQLITE_BUSY (the busy timeout already waited out) refuses every entry of the
    batch together, instead of each trying, and waiting, again on its own."""
    from baomi.testing.sqlite_errors import as_django, busy_error

    busy = as_django(busy_error(tmp_path))
    committer, state = _fake_committer(fail_batch=2, error=lambda: busy)
    outcomes = _queued_batch(committer, state)
    assert outcomes[0] == "ok"
    assert sorted(outcomes[k] for k in range(1, 5)) == ["unavailable"] * 4
    assert state["tried"] == [1, 4]  # the failed batch was not retried event by event


def test_an_event_the_database_refuses_fails_alone() -> None:
    """A refusal one event can cause (a constraint, a trigger) is retried event by event,
    so its neighbours are still committed."""
    from django.db import IntegrityError

    committer, state = _fake_committer(fail_batch=2, error=lambda: IntegrityError("x"))
    outcomes = _queued_batch(committer, state)
    assert [outcomes[k] for k in range(5)] == ["ok"] * 5
    assert state["tried"] == [1, 4, 1, 1, 1, 1]


def test_a_lone_append_is_one_statement_committed_before_it_returns() -> None:
    """With the head known, a lone durable append is a single INSERT in autocommit mode
    (SQLite): its own transaction, committed when the statement returns."""
    if connection.vendor != "sqlite":
        pytest.skip("the single-statement append is SQLite's")
    ledger_append(AuditEvent(actor="x", action="client.read"))  # the head is now known
    raw = connection.connection
    statements: list[str] = []
    raw.set_trace_callback(statements.append)
    try:
        seq = ledger_append(AuditEvent(actor="y", action="client.read"))
    finally:
        raw.set_trace_callback(None)
    assert seq == 1
    assert len(statements) == 1 and statements[0].startswith("INSERT"), statements
    assert not raw.in_transaction
    seen: list[int] = []

    def other_connection() -> None:  # another connection sees it: it is committed
        try:
            seen.append(LedgerEntry.objects.filter(seq=1, actor="y").count())
        finally:
            connection.close()

    t = threading.Thread(target=other_connection)
    t.start()
    t.join(30)
    assert seen == [1]
    # A group commit's batch is one statement as well.
    from baomi.audit import services

    batch = [services._prepare(AuditEvent(actor=f"b{i}", action="client.read"))
             for i in range(3)]
    raw.set_trace_callback(statements.append)
    try:
        assert services._append_durably(batch) == [2, 3, 4]
    finally:
        raw.set_trace_callback(None)
    assert len(statements) == 2 and statements[1].startswith("INSERT"), statements
    assert not raw.in_transaction
    assert selectors.ledger_verify(record=False).ok


def test_a_head_replaced_at_the_same_seq_is_read_back() -> None:
    """The single-statement append checks the head's leaf hash, not only its seq."""
    from baomi.audit import services

    for i in range(3):
        ledger_append(AuditEvent(actor="x", action="client.read", object_id=str(i)))
    stale = services._head_cache["default"]
    with connection.cursor() as cur:
        cur.execute("DELETE FROM audit_ledgerentry WHERE seq = 2")
    services._head_cache.clear()  # as another process, which never saw the old head
    assert ledger_append(AuditEvent(actor="other", action="client.read")) == 2
    services._head_cache["default"] = stale  # this process still believes the old one
    assert ledger_append(AuditEvent(actor="x", action="client.read", object_id="n")) == 3
    assert selectors.ledger_verify(record=False).ok
    assert list(LedgerEntry.objects.order_by("seq").values_list("actor", flat=True)) == [
        "x", "x", "other", "x"
    ]
