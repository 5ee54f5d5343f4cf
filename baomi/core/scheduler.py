"""Background jobs run by `baomi scheduler` (started by `baomi up`).

A deliberately small loop: each job has an interval; a job that fails is logged (its
exception's type and place, never its message: `exception_brief`) and retried at its next
turn, never taking the loop down. Jobs must be idempotent because a restart may run one
again early.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("baomi.scheduler")


def exception_brief(exc: BaseException) -> str:
    """What a log may say about `exc`: its type and the line of code that raised it.

    Never its message, arguments or traceback text: those can quote client data (a
    `ValueError` naming a spreadsheet cell, a database error with a row's values), and
    nothing secret or client data may reach the logs. The type and the place (file,
    line, function) are code, and tell a developer where to look.
    """
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else (
        f"{kind.__module__}.{kind.__qualname__}"
    )
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return name
    code = tb.tb_frame.f_code
    path = code.co_filename.replace("\\", "/")
    for marker in ("/site-packages/", "/baomi/"):
        if marker in path:
            path = ("baomi/" if marker == "/baomi/" else "") + path.rsplit(marker, 1)[1]
            break
    return f"{name} at {path}:{tb.tb_lineno} in {code.co_name}"


@dataclass
class Job:
    name: str
    interval_s: int
    run: Callable[[], None]
    next_at: float = 0.0


def _clear_expired_sessions() -> None:
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from baomi.accounts.models import UserSession

    expired = Session.objects.filter(expire_date__lt=timezone.now())
    keys = list(expired.values_list("session_key", flat=True)[:10000])
    UserSession.objects.filter(session_key__in=keys).delete()
    expired.filter(session_key__in=keys).delete()


def _ledger_checkpoint() -> None:
    from baomi.audit.selectors import checkpoint_create

    checkpoint_create()


def _ledger_lookup_catch_up() -> None:
    # Keeps the filter index close to the head: a filtered listing reads the entries
    # after it from the entry table, so this bounds that tail.
    from baomi.audit.services import lookup_catch_up

    lookup_catch_up()


def _ledger_verify() -> None:
    # Claimed like a verification started from the page, so the two never run at once;
    # one already running (started from the web) counts as this turn's.
    from baomi.audit import verify_jobs

    outcome = verify_jobs.run()
    if not outcome.started:
        logger.info("ledger verification %s is already running", outcome.run.pk)
        return
    run = outcome.run
    if run.status != "done":
        logger.error("ledger verification %s did not finish: %s", run.pk, run.code)
    elif not run.ok:
        logger.error("ledger verification failed: %s (seq %s)", run.code, run.first_bad_seq)


def _classification_review() -> None:
    from baomi.classification.services import review_fill

    review_fill()


def _sweep_unfinished_uploads() -> None:
    # Sealed temporary blobs of uploads whose process died (an hour old or more).
    from baomi.vault.blobstore import blob_store

    store = blob_store()
    sweep = getattr(store, "sweep_temporary", None)
    if sweep is not None:
        removed = sweep(older_than_s=3600.0)
        if removed:
            logger.info("removed %d unfinished upload(s)", removed)


def _query_requests_expire() -> None:
    from baomi.access.services import requests_expire

    requests_expire()


def _access_reviews_flag_overdue() -> None:
    from baomi.access.services import reviews_flag_overdue

    reviews_flag_overdue()


def _authorization_forms_expire() -> None:
    # Issued authorization forms past their validity and never used are deleted.
    from baomi.access.services import authorization_forms_expire

    removed = authorization_forms_expire()
    if removed:
        logger.info("removed %d expired authorization form(s)", removed)


def _form_revocation_lists_check() -> None:
    # Compliance hears of a configured revocation list near or past its next update
    # before clients' signed forms are refused for it (baomi.access.formsig).
    from baomi.access.services import revocation_lists_check

    revocation_lists_check()


def _imports_mark_interrupted() -> None:
    # Imports whose process died stop waiting and offer to resume (baomi.imports.runner).
    from baomi.imports.services import jobs_mark_interrupted

    marked = jobs_mark_interrupted()
    if marked:
        logger.info("marked %d import(s) interrupted", marked)


def _ledger_verifications_mark_interrupted() -> None:
    # Verifications whose process died stop showing as running; the next request
    # starts a new one (baomi.audit.verify_jobs).
    from baomi.audit.verify_jobs import runs_mark_interrupted

    marked = runs_mark_interrupted()
    if marked:
        logger.info("marked %d ledger verification(s) interrupted", marked)


def jobs() -> list[Job]:
    import os

    checkpoint_s = int(os.environ.get("BAOMI_CHECKPOINT_MINUTES", "10")) * 60
    verify_s = int(os.environ.get("BAOMI_VERIFY_HOURS", "24")) * 3600
    return [
        Job("clear_expired_sessions", 3600, _clear_expired_sessions),
        Job("ledger_checkpoint", checkpoint_s, _ledger_checkpoint),
        Job("ledger_verify", verify_s, _ledger_verify),
        Job("ledger_lookup_catch_up", 30, _ledger_lookup_catch_up),
        Job("sweep_unfinished_uploads", 3600, _sweep_unfinished_uploads),
        Job("classification_review", 24 * 3600, _classification_review),
        Job("query_requests_expire", 300, _query_requests_expire),
        Job("access_reviews_flag_overdue", 3600, _access_reviews_flag_overdue),
        Job("authorization_forms_expire", 3600, _authorization_forms_expire),
        Job("form_revocation_lists_check", 6 * 3600, _form_revocation_lists_check),
        Job("imports_mark_interrupted", 60, _imports_mark_interrupted),
        Job("ledger_verifications_mark_interrupted", 60, _ledger_verifications_mark_interrupted),
    ]


def run_forever(*, once: bool = False, tick_s: float = 1.0) -> int:
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    if not once:
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    registry = jobs()
    while not stopping:
        now = time.monotonic()
        for job in registry:
            if job.next_at <= now:
                try:
                    job.run()
                except Exception as exc:  # a failing job must not stop the others
                    # The type and place only: a message may quote client data.
                    logger.error("job %s failed: %s", job.name, exception_brief(exc))
                job.next_at = now + job.interval_s
        if once:
            break
        time.sleep(tick_s)
    return 0
