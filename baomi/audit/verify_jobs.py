"""Full verifications of the ledger, run in the background while the page (or an API
client) polls their progress.

At a million entries a verification takes seconds, at ten million minutes: too long
for a request. The web page and `POST /api/v1/ledger/verify` start one in a worker
thread of the web process that received the request (`start`), as web imports do
(`baomi.imports.runner`); the scheduler and `?wait=true` run one in their own thread
(`run`). Either way the run is a `VerificationRun` row that says how far it got
(`checked` of `target`) and when it last gave a sign of life (`heartbeat_at`).

At most one verification runs at a time, across every process: a run is claimed by
inserting its `running` row, and the database allows one such row (a partial unique
index); a request that finds one running joins it instead of starting another. A run
whose process died stops beating: after `STALE_AFTER_S` it is shown as interrupted, the
scheduler marks it so (`runs_mark_interrupted`), and the next request starts afresh
(a verification only reads, so starting it again is always safe).

The command line (`baomi ledger verify`) verifies on its own, in parallel parts, and
records its finished run: an operator's check is never refused because the web is
running one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass

from django.db import (
    DatabaseError,
    IntegrityError,
    connection,
    connections,
    transaction,
)
from django.db.models import Q
from django.utils import timezone

from baomi.audit import selectors
from baomi.audit.models import VerificationRun, VerificationStatus
from baomi.core.dberrors import retry_locked
from baomi.core.keepalive import keepalive
from baomi.core.scheduler import exception_brief

logger = logging.getLogger("baomi.audit")

# A running verification beats this often from a helper thread (and at every progress
# step, at most every `selectors.PROGRESS_S`): the checks after the rows (the stored
# copies, compared by the database in one statement) report no progress.
HEARTBEAT_S = 10.0
# Older than this, a running verification's heartbeat means its process is gone.
STALE_AFTER_S = selectors.VERIFY_STALE_AFTER_S
# Codes of a run that ended without a verdict (`code`, with status `interrupted`).
CODE_INTERNAL_ERROR = "internal_error"
CODE_HEARTBEAT_LOST = "heartbeat_lost"

_lock = threading.Lock()
_threads: dict[int, threading.Thread] = {}


@dataclass(frozen=True)
class Started:
    run: VerificationRun
    # False when a verification was already running: `run` is that one, and nothing
    # new was started.
    started: bool


def running_here() -> list[int]:
    """Ids of the verifications this process is running in the background now."""
    with _lock:
        return [pk for pk, t in _threads.items() if t.is_alive()]


def wait(run_id: int, timeout: float | None = None) -> bool:
    """Wait for this process's thread of `run_id` to end; True if it has (or none runs
    here)."""
    with _lock:
        thread = _threads.get(run_id)
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()


def runs_mark_interrupted(
    *, now: dt.datetime | None = None, stale_after_s: float = STALE_AFTER_S
) -> int:
    """Mark running verifications that stopped beating as interrupted (their process
    died or restarted). Run by the scheduler and before every claim; idempotent.
    Returns how many."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=stale_after_s)
    stale = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    return VerificationRun.objects.filter(stale, status=VerificationStatus.RUNNING).update(
        status=VerificationStatus.INTERRUPTED, code=CODE_HEARTBEAT_LOST
    )


def _claim(*, requested_by: str) -> tuple[VerificationRun, bool]:
    """The running verification: a new one claimed for `requested_by` (True), or the one
    already running (False). Atomic across processes: of two claims at once, the
    database lets one insert the running row, and the other finds it."""
    target = selectors.ledger_state().size  # (for the bar until the run reads its own)
    for _attempt in range(3):
        now = timezone.now()
        with transaction.atomic():
            runs_mark_interrupted(now=now)
            running = VerificationRun.objects.filter(status=VerificationStatus.RUNNING).first()
            if running is not None:
                return running, False
            try:
                with transaction.atomic():
                    claimed = VerificationRun.objects.create(
                        status=VerificationStatus.RUNNING,
                        started_at=now,
                        heartbeat_at=now,
                        requested_by=requested_by[:150],
                        target=target,
                    )
            except IntegrityError:
                # Another process inserted its running row since we looked: join it
                # (read again: under READ COMMITTED it is visible now).
                running = VerificationRun.objects.filter(
                    status=VerificationStatus.RUNNING
                ).first()
                if running is not None:
                    return running, False
                continue  # (it finished meanwhile: claim again)
        return claimed, True
    raise AssertionError("a verification could not be claimed")  # (three races in a row)


def start(*, requested_by: str) -> Started:
    """Start a full verification in a background thread of this process, or join the
    one running (anywhere). The caller has already recorded the request
    (`ledger.verify`): if that failed, nothing starts (fail closed).

    The thread starts once the caller's transaction (if any) commits, so it sees the
    run's row."""
    run, new = _claim(requested_by=requested_by)
    if not new:
        return Started(run, started=False)
    transaction.on_commit(lambda: _launch(run.pk))
    return Started(run, started=True)


def _launch(run_id: int) -> None:
    thread = threading.Thread(
        target=_thread_main, kwargs={"run_id": run_id}, name=f"baomi-verify-{run_id}",
        daemon=True,
    )
    with _lock:
        _threads[run_id] = thread
        thread.start()


def run(*, requested_by: str = "") -> Started:
    """Claim a full verification and run it in this thread (the scheduler, the API's
    `?wait=true`); when one is already running, return it without running another
    (`started` False: `wait_finished` waits for it). Never raises for a bad log or a
    failure during the run: the returned row says how it ended."""
    claimed, new = _claim(requested_by=requested_by)
    if not new:
        return Started(claimed, started=False)
    # A helper thread's connection could not see (or would wait for) a row of this
    # thread's open transaction: inside one, the progress steps are the only beat.
    _execute(claimed.pk, beat_helper=not connection.in_atomic_block)
    claimed.refresh_from_db()
    return Started(claimed, started=True)


def wait_finished(run_id: int, *, poll_s: float = 0.25) -> VerificationRun:
    """Wait until run `run_id` is no longer running (or stopped beating), and return it
    as it ended."""
    while True:
        current = VerificationRun.objects.get(pk=run_id)
        if current.status != VerificationStatus.RUNNING or selectors.verification_is_stale(
            current
        ):
            return current
        time.sleep(poll_s)


def _thread_main(*, run_id: int) -> None:
    """The background worker: never raises; closes this thread's connections."""
    try:
        _execute(run_id, beat_helper=True)
    finally:
        with _lock:
            _threads.pop(run_id, None)
        connections.close_all()  # this thread's connections only


def _execute(run_id: int, *, beat_helper: bool) -> None:
    """Verify, writing progress and then the verdict on run `run_id`. Never raises: a
    failure (the database gone, a bug) leaves the run `interrupted` with the code
    `internal_error`, and is logged by its exception's type and place only
    (`exception_brief`: a message may quote stored values)."""
    try:
        beat = _keepalive(run_id) if beat_helper else contextlib.nullcontext()
        with beat:
            result = selectors.ledger_verify(
                record=False, progress=lambda checked, total: _progress(run_id, checked, total)
            )
        now = timezone.now()
        fields = {
            "status": VerificationStatus.DONE,
            "finished_at": now,
            "heartbeat_at": now,
            "ok": result.ok,
            "size": result.size,
            "checkpoints": result.checkpoints,
            "code": result.code,
            "first_bad_seq": result.first_bad_seq,
            "message": result.message[:2000],
        }
        if result.ok:
            fields["checked"] = result.size
        # (Also over a run marked interrupted meanwhile: the verdict is genuine.)
        retry_locked(lambda: VerificationRun.objects.filter(pk=run_id).update(**fields),
                     attempts=6)
        if not result.ok:
            logger.error(
                "ledger verification %s failed: %s (seq %s)",
                run_id, result.code, result.first_bad_seq,
            )
    except Exception as exc:
        logger.error("ledger verification %s stopped: %s", run_id, exception_brief(exc))
        name = type(exc).__name__
        try:
            retry_locked(
                lambda: VerificationRun.objects.filter(
                    pk=run_id, status=VerificationStatus.RUNNING
                ).update(
                    status=VerificationStatus.INTERRUPTED,
                    heartbeat_at=timezone.now(),
                    code=CODE_INTERNAL_ERROR,
                    message=name,
                ),
                attempts=6,
            )
        except Exception as again:
            logger.error(
                "ledger verification %s: could not record the failure: %s",
                run_id, exception_brief(again),
            )




def _progress(run_id: int, checked: int, total: int) -> None:
    """Write how far the run got; writing it is also a sign of life. A write that fails
    (the database busy past its timeout) is skipped: the next one, or the helper's
    beat, makes up for it."""
    # Inside a transaction, in a savepoint: a failed write must not end the caller's
    # transaction (and the verification with it) on PostgreSQL.
    scope = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with scope:
            VerificationRun.objects.filter(pk=run_id, status=VerificationStatus.RUNNING).update(
                checked=checked, target=total, heartbeat_at=timezone.now()
            )
    except DatabaseError as exc:
        logger.warning(
            "ledger verification %s: progress not written: %s", run_id, exception_brief(exc)
        )


def _keepalive(run_id: int, interval_s: float = HEARTBEAT_S) -> AbstractContextManager[None]:
    """Touch the run's heartbeat from a helper thread while the block runs: the checks
    after the rows report no progress, and may take longer than the stale limit on a
    large log (`baomi.core.keepalive`)."""
    return keepalive(
        lambda: VerificationRun.objects.filter(
            pk=run_id, status=VerificationStatus.RUNNING
        ).update(heartbeat_at=timezone.now()),
        what=f"ledger verification {run_id}", interval_s=interval_s, logger=logger,
    )
