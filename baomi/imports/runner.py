"""Web imports run in the background: a worker thread of the web process that received
the upload, while the page polls the job's progress.

Why a thread here and not the scheduler process: the uploaded file exists only in this
process's memory (the upload handler never writes an import source to disk, and the
vault door has no sealed staging area for a file that belongs to no document yet). The
thread also runs with the uploader's session facts (second factor verified or not)
and language, as the request would have.

What survives a restart is the job row: its progress (`processed` rows or files), the
column mapping and the file's SHA-256. The thread and its helper touch the job's
heartbeat; when the process dies, the scheduler marks the job interrupted
(`services.jobs_mark_interrupted`), and choosing the same file again resumes it from
`processed` (`resume`; re-importing a row or file is idempotent anyway, so a row the
crash caught half-way is safe to do again).

At most `MAX_RUNNING` imports run per process, so memory stays bounded (each holds its
file, at most `BAOMI_IMPORT_MAX_BYTES`); the copy is zeroed when the job ends.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
from dataclasses import dataclass

from django.db import connections, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from baomi.access import context as access_context
from baomi.accounts.models import User
from baomi.audit.events import record
from baomi.clients.models import Client
from baomi.core.scheduler import exception_brief
from baomi.errors import Conflict, InvalidInput
from baomi.imports import services
from baomi.imports.models import ImportJob, ImportKind, ImportStatus

logger = logging.getLogger("baomi.imports")
MAX_RUNNING = 2

_lock = threading.Lock()
_threads: dict[int, threading.Thread] = {}


@dataclass(frozen=True)
class Started:
    job: ImportJob
    # False when the same file was already being imported: nothing new was started.
    started: bool


def running_here() -> list[int]:
    """Ids of the jobs this process is running now."""
    with _lock:
        return [pk for pk, t in _threads.items() if t.is_alive()]


def wait(job_id: int, timeout: float | None = None) -> bool:
    """Wait for this process's thread of `job_id` to end; True if it has (or none runs)."""
    with _lock:
        thread = _threads.get(job_id)
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()


def _claim(job: ImportJob, *, new: bool) -> bool:
    """Take `job` for a new run: atomically, so two uploads of the same file (two
    workers) cannot both run it."""
    if new:
        return True
    cutoff = timezone.now() - dt.timedelta(seconds=services.STALE_AFTER_S)
    free = Q(status__in=[ImportStatus.FAILED, ImportStatus.INTERRUPTED]) | Q(
        status__in=[ImportStatus.PENDING, ImportStatus.RUNNING], heartbeat_at__lt=cutoff
    )
    with transaction.atomic():
        return bool(
            ImportJob.objects.filter(free, pk=job.pk).update(
                status=ImportStatus.PENDING, heartbeat_at=timezone.now()
            )
        )


def _check_capacity() -> None:
    if len(running_here()) >= MAX_RUNNING:
        raise Conflict(
            _("Other imports are running; try again when one of them has finished."),
            code="import_busy",
        )


def enqueue_clients(
    *, actor: User, stream: io.BytesIO, filename: str, mapping: dict[str, int]
) -> Started:
    """Create (or find, to resume) the job for this spreadsheet and start importing it
    in the background. Raises `Conflict` (`import_busy`) when too many run here."""
    _check_capacity()
    sha = services.sha256_of(stream)
    job, resumed = services.job_for(
        actor=actor,
        kind=ImportKind.CLIENTS,
        source_name=filename,
        sha256=sha,
        mapping=mapping,
    )
    return _start(actor, job, resumed, stream, filename)


def enqueue_documents(*, actor: User, client: Client, stream: io.BytesIO, filename: str) -> Started:
    """The same for a ZIP of documents for `client`."""
    _check_capacity()
    sha = services.sha256_of(stream)
    job, resumed = services.job_for(
        actor=actor,
        kind=ImportKind.DOCUMENTS,
        source_name=filename,
        sha256=sha,
        client=client,
    )
    return _start(actor, job, resumed, stream, filename)


def resume(*, actor: User, job: ImportJob, stream: io.BytesIO) -> Started:
    """Continue an unfinished job with its file chosen again. Raises `InvalidInput`
    (`not_the_same_file`) when the file is not the one the job was started with."""
    if job.status == ImportStatus.DONE:
        raise Conflict(_("This import has finished."), code="import_finished")
    _check_capacity()
    if services.sha256_of(stream) != job.source_sha256:
        raise InvalidInput(
            _("This is not the file this import was started with; choose that one."),
            code="not_the_same_file",
        )
    return _start(actor, job, True, stream, job.source_name)


def _start(actor: User, job: ImportJob, resumed: bool, stream: io.BytesIO, name: str) -> Started:
    if job.pk in running_here() or not _claim(job, new=not resumed):
        job.refresh_from_db()
        return Started(job, started=False)
    job.refresh_from_db()
    record(
        actor,
        "import.queue",
        object_type="import",
        object_id=job.pk,
        client_id=job.client_id,
        reason=f"kind={job.kind} resume_from={job.processed}",
    )
    facts = access_context.current()
    language = translation.get_language() or "zh-hans"
    thread = threading.Thread(
        target=_run,
        kwargs={
            "job_id": job.pk,
            "stream": stream,
            "filename": name,
            "language": language,
            "mfa_verified": facts.mfa_verified,
        },
        name=f"baomi-import-{job.pk}",
        daemon=True,
    )
    with _lock:
        _threads[job.pk] = thread
    # Start once the request's transaction (if any) has committed, so the thread sees
    # the job row.
    transaction.on_commit(thread.start)
    return Started(job, started=True)


def _run(
    *, job_id: int, stream: io.BytesIO, filename: str, language: str, mfa_verified: bool
) -> None:
    """The worker: run the job as its creator, then wipe the file and close the thread's
    database connections. Never raises (a failure is written on the job).

    A failure is logged by its exception's type and place, the job's id and the row or
    file it stopped at, never by its message or traceback text: those can quote the
    file's values (`exception_brief`)."""
    job: ImportJob | None = None
    try:
        access_context.replace(access_context.SessionFacts(mfa_verified=mfa_verified))
        with translation.override(language):
            job = ImportJob.objects.select_related("created_by", "client").get(pk=job_id)
            actor = job.created_by
            if actor is None or not actor.is_active:
                services.job_fail(job, "actor_inactive", _("Your account is not active."))
                return
            if job.kind == ImportKind.CLIENTS:
                services.clients_import(
                    actor=actor, stream=stream, filename=filename, mapping=job.mapping, job=job
                )
            elif job.client is not None:
                services.documents_import(
                    actor=actor,
                    client=job.client,
                    sources=services.iter_zip(stream),
                    source_name=job.source_name,
                    sha256=job.source_sha256,
                    total=services.zip_entry_count(stream),
                    job=job,
                )
    except Exception as exc:
        # Ledger or database trouble, or a bug: the job says so; the log gets the
        # exception's type and place and where the import stopped, never a row's values.
        logger.error(
            "import %s failed at %s: %s", job_id, _position(job), exception_brief(exc)
        )
        try:
            failed = ImportJob.objects.get(pk=job_id)
            services.job_fail(failed, "internal_error", type(exc).__name__)
        except Exception as again:
            logger.error(
                "import %s: could not record the failure: %s", job_id, exception_brief(again)
            )
    finally:
        _wipe(stream)
        # Refusals the door wrote inside a row's rolled-back transaction are written
        # again here, as the request middleware does for web requests.
        try:
            from baomi.vault.door import record_rolled_back_refusals

            record_rolled_back_refusals()
        except Exception as exc:
            logger.error(
                "import %s: could not record its refusals: %s", job_id, exception_brief(exc)
            )
        with _lock:
            _threads.pop(job_id, None)
        connections.close_all()  # this thread's connections only


def _position(job: ImportJob | None) -> str:
    """Where a failed import stopped, for the log: the spreadsheet row (as the job's row
    errors number it, the header being row 1) or the file in the archive."""
    if job is None:
        return "start"
    if job.kind == ImportKind.CLIENTS:
        return f"row {job.processed + 2}"
    return f"file {job.processed + 1}"


def _wipe(stream: io.BytesIO) -> None:
    """Overwrite the in-memory copy of the file before dropping it."""
    try:
        view = stream.getbuffer()
        try:
            view[:] = bytes(len(view))
        finally:
            view.release()
    except (BufferError, ValueError):
        pass
    stream.close()
