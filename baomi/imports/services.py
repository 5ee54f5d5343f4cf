"""Bulk import of clients/contacts (XLSX/CSV) and documents (folder or ZIP).

Every write goes through the existing services and the vault door (`client_create`,
`client_update`, `contact_add`, `door.search_token`, `door.upload_begin` +
`document_upload`), each of which records itself in the ledger; the import adds
``import.start``, ``import.row.error`` / ``import.file.error`` (row number or file name
and error code, never a value) and ``import.finish``.

Invariants:
- one short transaction per row or file: a bad row is reported and skipped, and
  nothing imported before it is lost when a later row or the process fails;
- idempotent: clients are matched by USCC, contacts by the blind index of their ID
  number or mobile (the door's search token), so importing the same file twice changes
  nothing the second time; values already sealed on a client are kept (an import
  never overwrites confidential data silently);
- resumable: a job remembers how many rows it handled; running the same file again
  (same SHA-256, same person) continues the unfinished job from there;
- alive or not: while a job runs, its heartbeat is touched at every save point and
  by a helper thread every `HEARTBEAT_S` seconds (one file may take minutes to scan);
  the scheduler marks a job whose heartbeat is older than `STALE_AFTER_S` as
  interrupted (`jobs_mark_interrupted`), so the page stops waiting and offers to resume.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import logging
import os
import stat
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from baomi.accounts.models import User
from baomi.audit.events import record
from baomi.clients import uscc as uscc_codes
from baomi.clients.models import Client, Contact
from baomi.clients.selectors import client_can_edit
from baomi.clients.services import ClientInput, client_create, client_update, contact_add
from baomi.core.dberrors import retry_locked as _retry_locked
from baomi.core.keepalive import keepalive
from baomi.errors import AccessDenied, BaomiError
from baomi.imports.models import (
    MAX_ERRORS,
    UNFINISHED,
    ImportedDocument,
    ImportJob,
    ImportKind,
    ImportStatus,
)
from baomi.imports.spreadsheet import FIELDS, TableError, guess_mapping, read_table
from baomi.vault import door

Progress = Callable[[ImportJob], None]
CLIENT_FIELDS = ("name", "uscc", "legal_representative")
SEALED_FIELDS = ("legal_rep_id_number", "address", "bank_account", "notes")
_SAVE_EVERY = 20
HEARTBEAT_S = 30.0
STALE_AFTER_S = 180.0
logger = logging.getLogger("baomi.imports")


def sha256_of(stream: IO[bytes]) -> str:
    h = hashlib.sha256()
    stream.seek(0)
    while block := stream.read(1 << 20):
        h.update(block)
    stream.seek(0)
    return h.hexdigest()




def _save(job: ImportJob) -> None:
    """Save a job's progress; saving is also a sign of life (heartbeat)."""
    job.heartbeat_at = timezone.now()
    _retry_locked(job.save)


def _keepalive(job: ImportJob, interval_s: float = HEARTBEAT_S) -> AbstractContextManager[None]:
    """Touch the job's heartbeat from a helper thread while the block runs: one large
    file (OCR of a long scan) may take longer than the interval between save points,
    and the job must not be taken for a dead one meanwhile (`baomi.core.keepalive`)."""
    return keepalive(
        lambda: ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now()),
        what=f"import {job.pk}", interval_s=interval_s, logger=logger,
    )


def _add_error(job: ImportJob, item: str, code: str, message: str) -> None:
    job.failed += 1
    if len(job.errors) < MAX_ERRORS:
        job.errors.append({"item": item, "code": code, "message": str(message)[:300]})


def job_for(
    *,
    actor: User,
    kind: str,
    source_name: str,
    sha256: str,
    client: Client | None = None,
    mapping: dict[str, int] | None = None,
) -> tuple[ImportJob, bool]:
    """The unfinished job for this file and person (to resume), or a new one."""
    job = (
        ImportJob.objects.filter(
            kind=kind,
            source_sha256=sha256,
            created_by=actor,
            client=client,
            status__in=UNFINISHED,
        )
        .order_by("-id")
        .first()
    )
    if job is not None:
        if mapping is not None and job.processed == 0:
            job.mapping = mapping
            job.save(update_fields=["mapping"])
        return job, True
    job = ImportJob.objects.create(
        kind=kind,
        source_name=source_name[:255],
        source_sha256=sha256,
        client=client,
        mapping=mapping or {},
        created_by=actor,
        heartbeat_at=timezone.now(),
    )
    return job, False


def _cell(cells: list[str], mapping: dict[str, int], name: str) -> str:
    i = mapping.get(name)
    return cells[i].strip() if i is not None and 0 <= i < len(cells) else ""


def _field_errors(exc: BaomiError) -> str:
    fields = exc.detail.get("fields") if isinstance(exc.detail, dict) else None
    if isinstance(fields, dict) and fields:
        return "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in fields.items())
    return str(exc.message)


def clean_mapping(raw: Mapping[str, object], width: int) -> dict[str, int]:
    """Keep known fields pointing at existing columns (a form or --mapping JSON)."""
    out: dict[str, int] = {}
    for name, value in raw.items():
        if name not in FIELDS or value in (None, ""):
            continue
        try:
            index = int(str(value))
        except ValueError:
            continue
        if 0 <= index < width:
            out[name] = index
    return out


def clients_import(
    *,
    actor: User,
    stream: IO[bytes],
    filename: str,
    mapping: dict[str, int] | None = None,
    progress: Progress | None = None,
    job: ImportJob | None = None,
) -> ImportJob:
    """Import clients (and their contacts) from a spreadsheet; see the module doc.

    Without `mapping` the columns are guessed from the headers. A file that cannot be
    read fails the job with a clear error code (nothing else is touched). Raises only
    `AccessDenied` (the actor may not create clients) and ledger errors.
    """
    sha = sha256_of(stream)
    try:
        headers, rows = read_table(stream, filename)
    except TableError as exc:
        job = (
            job
            or job_for(actor=actor, kind=ImportKind.CLIENTS, source_name=filename, sha256=sha)[0]
        )
        return _fail(actor, job, exc.code, exc.message)
    used = mapping if mapping is not None else guess_mapping(headers)
    used = clean_mapping(dict(used), len(headers))
    if job is None:
        job, _resumed = job_for(
            actor=actor, kind=ImportKind.CLIENTS, source_name=filename, sha256=sha, mapping=used
        )
    if job.processed == 0 or not job.mapping:
        job.mapping = used
    missing = [f for f in ("name", "uscc", "legal_representative") if f not in job.mapping]
    if missing:
        return _fail(
            actor,
            job,
            "mapping_incomplete",
            _("Map a column to each of: %(fields)s.") % {"fields": ", ".join(missing)},
        )
    record(
        actor,
        "import.start",
        object_type="import",
        object_id=job.pk,
        reason=f"kind=clients resume_from={job.processed}",
    )
    job.status = ImportStatus.RUNNING
    job.error = ""
    if not job.total:
        # Reading the rows once more costs little beside importing them, and lets the
        # progress say "n of total" from the start.
        job.total = count_rows(stream, filename)
        stream.seek(0)
        headers, rows = read_table(stream, filename)
    _save(job)
    if progress:
        progress(job)
    skip = job.processed
    count = 0
    with _keepalive(job):
        try:
            for count, cells in enumerate(rows, start=1):
                if count <= skip:
                    continue
                _retry_locked(functools.partial(_client_row, actor, job, count + 1, cells))
                job.processed = count
                job.total = max(job.total, count)
                if count % _SAVE_EVERY == 0:
                    _save(job)
                    if progress:
                        progress(job)
        except TableError as exc:
            job.total = max(job.total, count)
            return _fail(actor, job, exc.code, exc.message)
    job.total = max(count, job.processed)
    return _finish(actor, job, progress)


def count_rows(stream: IO[bytes], filename: str) -> int:
    """Data rows in a spreadsheet (0 when it cannot be read to the end; the import
    then reports the error at the row where it stops)."""
    stream.seek(0)
    try:
        _headers, rows = read_table(stream, filename)
        return sum(1 for _row in rows)
    except TableError:
        return 0
    finally:
        stream.seek(0)


def job_fail(job: ImportJob, code: str, message: str) -> ImportJob:
    """Fail `job` with an error code and a message that holds no imported value.
    Ledger ``import.finish`` (refused, ``error=<code>``)."""
    return _fail(job.created_by or "system:imports", job, code, message)


def _fail(actor: User | str, job: ImportJob, code: str, message: str) -> ImportJob:
    job.status = ImportStatus.FAILED
    job.error = f"{code}: {message}"[:300]
    job.finished_at = timezone.now()
    _save(job)
    record(
        actor,
        "import.finish",
        object_type="import",
        object_id=job.pk,
        decision="refused",
        reason=f"error={code}",
    )
    return job


def _finish(actor: User, job: ImportJob, progress: Progress | None) -> ImportJob:
    job.status = ImportStatus.DONE
    job.finished_at = timezone.now()
    _save(job)
    if progress:
        progress(job)
    record(
        actor,
        "import.finish",
        object_type="import",
        object_id=job.pk,
        client_id=job.client_id,
        reason=f"kind={job.kind} processed={job.processed} created={job.created} "
        f"updated={job.updated} unchanged={job.unchanged} failed={job.failed}",
    )
    return job


def _client_row(actor: User, job: ImportJob, line: int, cells: list[str]) -> None:
    """One spreadsheet row in its own transaction; errors are recorded, not raised."""
    m = job.mapping
    item = _("row %(n)d") % {"n": line}
    code = uscc_codes.normalize(_cell(cells, m, "uscc"))
    try:
        for name in ("uscc", "legal_rep_id_number", "contact_id_number", "contact_mobile"):
            if "?" in _cell(cells, m, name):
                raise _RowError(
                    "precision_lost",
                    _(
                        "%(field)s was stored as a number in Excel and lost its last digits; "
                        "format the column as text and export again."
                    )
                    % {"field": name},
                )
        with transaction.atomic():
            client = Client.objects.filter(uscc=code).first() if code else None
            if client is None:
                data = ClientInput(
                    name=_cell(cells, m, "name"),
                    uscc=code,
                    legal_representative=_cell(cells, m, "legal_representative"),
                )
                for f in SEALED_FIELDS:
                    if value := _cell(cells, m, f):
                        setattr(data, f, value)
                client = client_create(actor=actor, data=data)
                outcome = "created"
            else:
                outcome = _client_update(actor, client, cells, m)
            contact_outcome = _contact_row(actor, client, cells, m)
    except _RowError as exc:
        _row_error(actor, job, item, exc.code, exc.message)
        return
    except BaomiError as exc:
        _row_error(actor, job, item, exc.code, _field_errors(exc))
        return
    if outcome == "created":
        job.created += 1
    elif outcome == "updated" or contact_outcome == "created":
        job.updated += 1
    else:
        job.unchanged += 1


class _RowError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


def _row_error(actor: User, job: ImportJob, item: str, code: str, message: str) -> None:
    _add_error(job, item, code, message)
    record(
        actor,
        "import.row.error",
        object_type="import",
        object_id=job.pk,
        reason=f"{item} error={code}",
    )


def _client_update(actor: User, client: Client, cells: list[str], m: dict[str, int]) -> str:
    if not client_can_edit(actor, client):
        raise AccessDenied(_("This client exists and you may not edit it."))
    data = ClientInput()
    changed = False
    for f in ("name", "legal_representative"):
        value = _cell(cells, m, f)
        if value and value != getattr(client, f):
            setattr(data, f, value)
            changed = True
    for f in SEALED_FIELDS:
        value = _cell(cells, m, f)
        # Fill in what is missing; never overwrite a sealed value from a spreadsheet.
        if value and not door.record_present(client, f):
            setattr(data, f, value)
            changed = True
    if not changed:
        return "unchanged"
    client_update(actor=actor, client=client, data=data)
    return "updated"


def _contact_row(actor: User, client: Client, cells: list[str], m: dict[str, int]) -> str:
    name = _cell(cells, m, "contact_name")
    if not name:
        return "none"
    id_number = _cell(cells, m, "contact_id_number")
    mobile = _cell(cells, m, "contact_mobile")
    email = _cell(cells, m, "contact_email")
    for field_name, value in (("id_number", id_number), ("mobile", mobile), ("email", email)):
        if not value:
            continue
        token = door.search_token(actor=actor, model=Contact, field_name=field_name, value=value)
        if (
            token
            and Contact.objects.filter(client=client, **{f"{field_name}_bidx": token}).exists()
        ):
            return "unchanged"
    if (
        not (id_number or mobile or email)
        and Contact.objects.filter(client=client, name=name).exists()
    ):
        return "unchanged"
    contact_add(
        actor=actor,
        client=client,
        data={
            "name": name,
            "title": _cell(cells, m, "contact_title"),
            "mobile": mobile,
            "email": email,
            "id_number": id_number,
        },
    )
    return "created"


# --- Documents ----------------------------------------------------------------------------


@dataclass
class Source:
    """One file to import: its name and bytes, or why it cannot be read."""

    name: str
    data: bytes | None = None
    code: str = ""
    message: str = ""


def max_file_bytes() -> int:
    return min(int(settings.BAOMI_IMPORT_MAX_BYTES), int(settings.BAOMI_SCAN_MAX_BYTES))


def iter_folder(path: Path) -> Iterator[Source]:
    """Regular files under `path` (sorted; symlinks are not followed)."""
    limit = max_file_bytes()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = Path(root, name)
            rel = full.relative_to(path).as_posix()
            try:
                st = full.lstat()
                if not stat.S_ISREG(st.st_mode):
                    yield Source(rel, code="not_a_file", message=_("Not a regular file."))
                    continue
                if st.st_size > limit:
                    yield Source(rel, code="too_large", message=_too_large(limit))
                    continue
                yield Source(rel, full.read_bytes())
            except OSError as exc:
                yield Source(rel, code="unreadable", message=exc.strerror or str(exc))


def _too_large(limit: int) -> str:
    return _("Larger than %(mb)d MiB; upload it on its own.") % {"mb": limit // (1024 * 1024)}


MAX_ZIP_ENTRIES = 10_000
MAX_ZIP_RATIO = 200.0


def iter_zip(stream: IO[bytes]) -> Iterator[Source]:
    """Files inside a ZIP, each checked on its own.

    Refused per entry, while the others go on: names with `..`, absolute paths or drive
    letters (`unsafe_path`), encrypted entries (`encrypted_entry`), entries that expand
    more than 200x or beyond the size limit (`zip_bomb`; zipfile stops at the declared
    size and then fails the CRC, so a lying header cannot get past). A ZIP that cannot
    be opened at all, or with more than 10 000 entries, is one `Source` with the error.
    """
    limit = max_file_bytes()
    try:
        zf = zipfile.ZipFile(stream)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        yield Source("", code="malformed_zip", message=str(exc)[:200])
        return
    if len(infos) > MAX_ZIP_ENTRIES:
        yield Source(
            "", code="zip_bomb", message=_("More than %(n)d entries.") % {"n": MAX_ZIP_ENTRIES}
        )
        return
    with zf:
        for info in infos:
            if info.is_dir():
                continue
            name = info.filename
            parts = PurePosixPath(name.replace("\\", "/")).parts
            if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
                yield Source(
                    name,
                    code="unsafe_path",
                    message=_("Unsafe path in the archive (.. or absolute)."),
                )
                continue
            if info.flag_bits & 0x1:
                yield Source(name, code="encrypted_entry", message=_("Password-protected entry."))
                continue
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > limit or (info.file_size > (1 << 20) and ratio > MAX_ZIP_RATIO):
                yield Source(
                    name,
                    code="zip_bomb",
                    message=_("Expands too much (%(r).0fx, %(mb)d MiB).")
                    % {"r": ratio, "mb": info.file_size // (1024 * 1024)},
                )
                continue
            try:
                with zf.open(info) as fh:
                    data = fh.read(limit + 1)
                if len(data) > limit:
                    yield Source(name, code="zip_bomb", message=_too_large(limit))
                    continue
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
                yield Source(name, code="malformed_zip", message=str(exc)[:200])
                continue
            yield Source(name, data)


def zip_entry_count(stream: IO[bytes]) -> int:
    """How many `Source`s `iter_zip` will yield (for the progress total)."""
    try:
        with zipfile.ZipFile(stream) as zf:
            n = sum(1 for info in zf.infolist() if not info.is_dir())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        n = 1
    finally:
        stream.seek(0)
    return 1 if n > MAX_ZIP_ENTRIES else n


def folder_key(path: Path) -> str:
    """The job key of a folder import: its resolved path and what it holds (every file's
    relative name, size and modification time), hashed. A re-run of an unchanged folder
    resumes its job, which skips the files it already handled by position (as a ZIP's
    job does, keyed by the archive's content). A changed folder, or another folder, is
    a new job: positions would no longer be the same files (a file added that sorts
    earlier would be skipped). Files already imported are found again by name and
    SHA-256, so a new job does not import them twice."""
    digest = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogateescape"))
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = Path(root, name)
            try:
                st = full.lstat()
                meta = f"{st.st_size}:{st.st_mtime_ns}"
            except OSError:
                meta = "-"
            rel = full.relative_to(path).as_posix()
            digest.update(f"\0{rel}\0{meta}".encode("utf-8", "surrogateescape"))
    return "folder:" + digest.hexdigest()[:57]


def folder_file_count(path: Path) -> int:
    """How many `Source`s `iter_folder` will yield (for the progress total)."""
    return sum(len(files) for _root, _dirs, files in os.walk(path))


def documents_import(
    *,
    actor: User,
    client: Client,
    sources: Iterable[Source],
    source_name: str,
    sha256: str,
    progress: Progress | None = None,
    total: int = 0,
    job: ImportJob | None = None,
) -> ImportJob:
    """Scan, classify by suggestion and seal each file into a new document of `client`.

    The level and category are the scanner's suggestion (a file that cannot be scanned is
    refused: no document without a reasoned label); each document enters the
    classification confirmation state (`DocumentLabel`, source "unconfirmed") so people
    confirm it later. Files already imported (same name and SHA-256 for this client) are
    skipped, so a re-run resumes. Errors are per file. Each document created or found
    already imported is linked to the job (`ImportedDocument`) for the bulk
    confirmation page. `total`: the number of entries, when known beforehand; `job`:
    the job to run (the web runner creates it first), else found or created here.
    """
    if job is None:
        job, _resumed = job_for(
            actor=actor,
            kind=ImportKind.DOCUMENTS,
            source_name=source_name,
            sha256=sha256,
            client=client,
        )
    record(
        actor,
        "import.start",
        object_type="import",
        object_id=job.pk,
        client_id=client.pk,
        reason=f"kind=documents resume_from={job.processed}",
    )
    job.status = ImportStatus.RUNNING
    job.error = ""
    job.total = max(job.total, total)
    _save(job)
    if progress:
        progress(job)
    count = 0
    with _keepalive(job):
        count = _documents_loop(
            actor=actor,
            job=job,
            client=client,
            sources=sources,
            source_name=source_name,
            progress=progress,
        )
    job.total = max(job.total, count)
    return _finish(actor, job, progress)


def _documents_loop(
    *,
    actor: User,
    job: ImportJob,
    client: Client,
    sources: Iterable[Source],
    source_name: str,
    progress: Progress | None,
) -> int:
    count = 0
    for count, src in enumerate(sources, start=1):
        if count <= job.processed:
            continue
        item = src.name or source_name
        if src.data is None:
            _file_error(actor, job, item, src.code, src.message)
        else:
            try:
                _retry_locked(
                    functools.partial(_document_file, actor=actor, job=job, client=client, src=src)
                )
            except _RowError as exc:
                _file_error(actor, job, item, exc.code, exc.message)
            except BaomiError as exc:
                _file_error(actor, job, item, exc.code, str(exc.message))
        job.processed = count
        job.total = max(job.total, count)
        _save(job)
        if progress:
            progress(job)
    return count


def _document_file(*, actor: User, job: ImportJob, client: Client, src: Source) -> None:
    """Scan, seal and label one file (raises `_RowError` / `BaomiError` to skip it)."""
    from baomi.classification import services as classification
    from baomi.detect import scan_file
    from baomi.vault import services as vault_services
    from baomi.vault.models import Document
    from baomi.vault.uploads import SNIFF_BYTES, SealedUpload, sanitize_filename, sniff_kind

    assert src.data is not None  # noqa: S101  (unreadable sources are reported by the caller)
    filename = sanitize_filename(src.name.rsplit("/", 1)[-1])
    digest = hashlib.sha256(src.data).hexdigest()
    existing = Document.objects.filter(
        client=client, versions__sha256=digest, versions__original_filename=filename
    ).first()
    if existing is not None:
        ImportedDocument.objects.get_or_create(job=job, document=existing, defaults={"new": False})
        job.unchanged += 1
    else:
        scan = scan_file(io.BytesIO(src.data), filename=filename)
        suggested = classification.suggestion_from_scan(scan)
        if suggested.error:
            code, _sep, message = suggested.error.partition(": ")
            raise _RowError(code, message)
        session = door.upload_begin(
            actor=actor,
            client_id=client.pk,
            document=None,
            filename=filename,
            content_type="application/octet-stream",
            limit=max_file_bytes(),
        )
        try:
            for i in range(0, len(src.data), 1 << 20):
                session.write(src.data[i : i + (1 << 20)])
            session.finish()
        except BaseException:
            session.abort()
            raise
        upload = SealedUpload(session, sniff_kind(src.data[:SNIFF_BYTES], filename))
        document = vault_services.document_upload(  # aborts the sealed blob if it fails
            actor=actor,
            client=client,
            upload=upload,
            title=src.name[:200],
            level=suggested.level,
            category=suggested.category,
        )
        classification.label_record_scan(
            actor=actor,
            document=document,
            version=document.current_version,
            suggested=suggested,
        )
        ImportedDocument.objects.get_or_create(job=job, document=document)
        job.created += 1


def _file_error(actor: User, job: ImportJob, item: str, code: str, message: str) -> None:
    _add_error(job, item, code, message)
    record(
        actor,
        "import.file.error",
        object_type="import",
        object_id=job.pk,
        client_id=job.client_id,
        reason=f"error={code}",
    )


def jobs_mark_interrupted(
    *, now: dt.datetime | None = None, stale_after_s: float = STALE_AFTER_S
) -> int:
    """Mark waiting or running jobs whose runner stopped beating as interrupted (the
    process that ran them died or restarted). Run by the scheduler; idempotent. Ledger
    ``import.interrupted`` per job (actor ``system:scheduler``). Returns how many."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=stale_after_s)
    stale = Q(status__in=[ImportStatus.PENDING, ImportStatus.RUNNING]) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )
    marked = 0
    for job in ImportJob.objects.filter(stale).only("pk", "client_id", "processed")[:1000]:
        with transaction.atomic():
            if not ImportJob.objects.filter(stale, pk=job.pk).update(
                status=ImportStatus.INTERRUPTED
            ):
                continue  # it beat again meanwhile
            record(
                "system:scheduler",
                "import.interrupted",
                object_type="import",
                object_id=job.pk,
                client_id=job.client_id,
                reason=f"processed={job.processed}",
            )
        marked += 1
    return marked


# --- Confirming the classification of imported documents ----------------------------------


def documents_confirm(
    *, actor: User, job: ImportJob, choices: Mapping[int, tuple[str, str]]
) -> tuple[int, int]:
    """Confirm the suggested label, or override it, for documents `job` imported, in one
    go: `choices` maps a document id to the (level, category) the person chose.

    Everything is checked before anything changes: every document must belong to the
    job and be visible to `actor`, and every level and category must be valid, else
    `ValidationFailed` (``fields``: one entry per bad document, by title) and nothing is
    saved. Each label is then set by `classification.services.document_classify`, which
    decides who may (`AccessDenied` for the first refused document; those before it
    stay saved) and records ``document.classify`` with the suggestion and the choice,
    marked ``override`` where they differ, exactly as the single-document page does.
    Returns (documents confirmed, of which overridden).
    """
    from baomi.accounts.models import Level
    from baomi.classification import services as classification
    from baomi.errors import ValidationFailed
    from baomi.vault import selectors as vault_selectors
    from baomi.vault.models import Category

    if job.client is None or not choices:
        return 0, 0
    imported = ImportedDocument.objects.filter(job=job, document_id__in=list(choices)).values(
        "document_id"
    )
    documents = {
        d.pk: d
        for d in vault_selectors.document_list(actor=actor, client=job.client).filter(
            pk__in=imported
        )
    }
    errors: dict[str, list[str]] = {}
    for document_id, (level, category) in choices.items():
        document = documents.get(document_id)
        if document is None:
            errors[str(document_id)] = [_("Not a document of this import.")]
            continue
        if level not in Level.values:
            errors.setdefault(document.title, []).append(_("Choose a classification level."))
        if category not in Category.values:
            errors.setdefault(document.title, []).append(_("Choose a category."))
    if errors:
        raise ValidationFailed(detail={"fields": errors})
    overridden = 0
    for document_id, (level, category) in choices.items():
        label = classification.document_classify(
            actor=actor, document=documents[document_id], level=level, category=category
        )
        overridden += int(label.overridden)
    return len(choices), overridden
