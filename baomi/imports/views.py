"""Import pages: upload a client list → column mapping with preview → start; ZIP of
documents for a client; job progress (polled by htmx) and resume; bulk confirmation of
the classification of the documents a job imported.

Imports run in the background (`baomi.imports.runner`): the request only reads the
file, creates or finds the job and starts it."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from baomi.accounts.models import Level
from baomi.classification import services as classification_services
from baomi.clients import selectors as client_selectors
from baomi.clients.selectors import clients_visible_to
from baomi.core.http import actor_of
from baomi.errors import BaomiError, InvalidInput, NotFound, ValidationFailed
from baomi.imports import runner, selectors, services
from baomi.imports.messages import error_text
from baomi.imports.models import ImportedDocument, ImportJob, ImportKind
from baomi.imports.spreadsheet import FIELDS, TableError, guess_mapping, read_table
from baomi.imports.uploads import ImportUpload
from baomi.vault.models import Category

FIELD_LABELS = {  # lazy: evaluated in the request's language
    "name": gettext_lazy("Enterprise name"),
    "uscc": gettext_lazy("Unified social credit code"),
    "legal_representative": gettext_lazy("Legal representative"),
    "legal_rep_id_number": gettext_lazy("Legal representative's ID number"),
    "address": gettext_lazy("Address"),
    "bank_account": gettext_lazy("Bank account"),
    "notes": gettext_lazy("Notes"),
    "contact_name": gettext_lazy("Contact name"),
    "contact_title": gettext_lazy("Contact title"),
    "contact_mobile": gettext_lazy("Contact mobile"),
    "contact_email": gettext_lazy("Contact e-mail"),
    "contact_id_number": gettext_lazy("Contact ID number"),
}
PREVIEW_ROWS = 5
ERRORS_SHOWN = 200  # skipped rows listed on the page; all of them are kept on the job


def _error(request: HttpRequest, exc: BaomiError) -> HttpResponse:
    return render(
        request,
        "vault/error.html",
        {"error": exc, "message": str(exc.message), "code": exc.code},
        status=exc.http_status,
    )


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    return render(
        request,
        "imports/index.html",
        {
            "jobs": ImportJob.objects.filter(created_by=actor)[:20],
            "clients": clients_visible_to(actor).order_by("name")[:500],
            "nav": "imports",
        },
    )


ImportView = Callable[..., HttpResponse]


def import_upload(view: ImportView) -> ImportView:
    """The one way an import page receives its file: signed in, POST, then the
    multipart body read with the in-memory import tap (the upload handler must know
    it is an import *before* anything reads the body, which Django's CSRF middleware
    would do; hence `csrf_exempt` here), and only then the CSRF check on the parsed
    form (`csrf_protect` around `view`). `view(request, upload, **kwargs)` gets the
    upload, or None when no file was chosen."""
    checked = csrf_protect(view)

    @csrf_exempt
    @login_required
    @require_POST
    @functools.wraps(view)
    def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        request._baomi_import_upload = True  # type: ignore[attr-defined]  # read by the upload handler
        try:
            upload = request.FILES.get("file")
        except BaomiError as exc:
            return _error(request, exc)
        return checked(request, upload if isinstance(upload, ImportUpload) else None, **kwargs)

    return wrapper


def _started(request: HttpRequest, started: runner.Started) -> HttpResponse:
    if not started.started:
        messages.info(request, _("This file is already being imported; its progress is below."))
    return redirect("imports:job", job_id=started.job.pk)


@import_upload
def clients_upload(request: HttpRequest, upload: ImportUpload | None) -> HttpResponse:
    """Preview (guessed mapping + first rows) or start the import, depending on the
    button."""
    actor = actor_of(request)
    if upload is None:
        messages.error(request, _("Choose a spreadsheet (XLSX or CSV)."))
        return redirect("imports:index")
    stream = upload.stream()
    try:
        headers, rows = read_table(stream, upload.name)
        preview = list(itertools.islice(rows, PREVIEW_ROWS))
    except TableError as exc:
        messages.error(request, f"{upload.name}: {error_text(exc.code, exc.message)}")
        return redirect("imports:index")
    if request.POST.get("run") != "1":
        mapping = guess_mapping(headers)
        fields = [(f, FIELD_LABELS[f], mapping.get(f)) for f in FIELDS]
        return render(
            request,
            "imports/mapping.html",
            {
                "filename": upload.name,
                "headers": list(enumerate(headers)),
                "preview": preview,
                "fields": fields,
                "nav": "imports",
            },
        )
    raw = {f: request.POST.get(f"map_{f}", "") for f in FIELDS}
    stream.seek(0)
    try:
        started = runner.enqueue_clients(
            actor=actor,
            stream=stream,
            filename=upload.name,
            mapping=services.clean_mapping(raw, len(headers)),
        )
    except BaomiError as exc:
        return _error(request, exc)
    return _started(request, started)


@import_upload
def documents_upload(request: HttpRequest, upload: ImportUpload | None) -> HttpResponse:
    actor = actor_of(request)
    if upload is None:
        messages.error(request, _("Choose a ZIP file."))
        return redirect("imports:index")
    try:
        client_id = int(request.POST.get("client", "0") or 0)
        client = client_selectors.client_get(actor=actor, client_id=client_id)
    except (ValueError, NotFound):
        messages.error(request, _("Choose a client."))
        return redirect("imports:index")
    except BaomiError as exc:
        return _error(request, exc)
    try:
        started = runner.enqueue_documents(
            actor=actor, client=client, stream=upload.stream(), filename=upload.name
        )
    except BaomiError as exc:
        return _error(request, exc)
    return _started(request, started)


@import_upload
def job_resume(request: HttpRequest, upload: ImportUpload | None, job_id: int) -> HttpResponse:
    """Continue an interrupted or failed job: its file chosen again (checked by SHA-256)."""
    try:
        job = _job(request, job_id)
        if upload is None:
            raise InvalidInput(_("Choose the file again to continue."), code="file_required")
        started = runner.resume(actor=actor_of(request), job=job, stream=upload.stream())
    except BaomiError as exc:
        return _error(request, exc)
    return _started(request, started)


def _job(request: HttpRequest, job_id: int) -> ImportJob:
    return selectors.job_get(actor=actor_of(request), job_id=job_id)


def _job_context(request: HttpRequest, job: ImportJob) -> dict[str, Any]:
    shown = job.errors[-ERRORS_SHOWN:] if job.active else job.errors[:ERRORS_SHOWN]
    return {
        "job": job,
        "errors_shown": shown,
        "errors_hidden": max(0, len(job.errors) - len(shown))
        + max(0, job.failed - len(job.errors)),
        "imported": ImportedDocument.objects.filter(job=job).count()
        if job.kind == ImportKind.DOCUMENTS
        else 0,
    }


@login_required
@require_GET
def job_page(request: HttpRequest, job_id: int) -> HttpResponse:
    try:
        job = _job(request, job_id)
    except BaomiError as exc:
        return _error(request, exc)
    return render(request, "imports/job.html", {**_job_context(request, job), "nav": "imports"})


@login_required
@require_GET
def job_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    """The progress fragment htmx polls while the job runs."""
    try:
        job = _job(request, job_id)
    except BaomiError as exc:
        return _error(request, exc)
    return render(request, "imports/_progress.html", _job_context(request, job))


@login_required
@require_http_methods(["GET", "POST"])
def job_documents(request: HttpRequest, job_id: int) -> HttpResponse:
    """The documents a job imported, with the scanner's suggestion and the number of
    findings; one submit confirms every listed one, each with the label chosen on its
    row (the suggestion unless the person changed it: then an override)."""
    actor = actor_of(request)
    try:
        job = _job(request, job_id)
    except BaomiError as exc:
        return _error(request, exc)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        choices: dict[int, tuple[str, str]] = {}
        for raw in request.POST.getlist("doc"):
            try:
                document_id = int(raw)
            except ValueError:
                continue
            choices[document_id] = (
                request.POST.get(f"level_{document_id}", ""),
                request.POST.get(f"category_{document_id}", ""),
            )
        try:
            confirmed, overridden = services.documents_confirm(
                actor=actor, job=job, choices=choices
            )
        except ValidationFailed as exc:
            fields = exc.detail.get("fields") if isinstance(exc.detail, dict) else None
            errors = fields if isinstance(fields, dict) else {"": [str(exc.message)]}
        except BaomiError as exc:
            return _error(request, exc)
        else:
            if confirmed:
                messages.success(
                    request,
                    ngettext(
                        "%(n)d document confirmed (%(o)d with a label you chose).",
                        "%(n)d documents confirmed (%(o)d with a label you chose).",
                        confirmed,
                    )
                    % {"n": confirmed, "o": overridden},
                )
            else:
                messages.error(request, _("No document was chosen."))
            return redirect("imports:documents_confirm", job_id=job.pk)
    found = selectors.job_documents(actor=actor, job=job)
    chosen = (
        {k[len("level_") :]: v for k, v in request.POST.items() if k.startswith("level_")}
        if errors
        else {}
    )
    chosen_cat = (
        {k[len("category_") :]: v for k, v in request.POST.items() if k.startswith("category_")}
        if errors
        else {}
    )
    # Each row offers only the levels the matrix lets this person set for that document
    # (the door still decides each one submitted); a suggestion they may not set is not
    # preselected: the current label is, or else the highest level they may set.
    settable = (
        classification_services.classify_levels_for(
            actor=actor, documents=[r.document for r in found.rows if not r.confirmed]
        )
        if found.can_classify
        else {}
    )
    level_names = dict(Level.choices)
    rows = []
    for r in found.rows:
        offered = settable.get(r.document.pk, [])
        level = chosen.get(str(r.document.pk), r.suggested_level or r.document.level)
        if offered and level not in offered:
            level = r.document.level if r.document.level in offered else offered[-1]
        rows.append(
            {
                "row": r,
                "level": level,
                "levels": [(v, level_names[v]) for v in offered],
                "suggestion_not_settable": bool(
                    offered and r.suggested_level and r.suggested_level not in offered
                ),
                "category": chosen_cat.get(
                    str(r.document.pk), r.suggested_category or r.document.category
                ),
                "types": sorted(r.findings.items()),
            }
        )
    return render(
        request,
        "imports/documents.html",
        {
            "job": job,
            "found": found,
            "rows": rows,
            "errors": errors,
            "categories": Category.choices,
            "nav": "imports",
        },
        status=422 if errors else 200,
    )
