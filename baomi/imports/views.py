"""Import pages: upload a client list → column mapping with preview → run; ZIP of
documents for a client; job progress (polled by htmx)."""

from __future__ import annotations

import itertools

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from baomi.clients import selectors as client_selectors
from baomi.clients.selectors import clients_visible_to
from baomi.core.http import actor_of
from baomi.errors import BaomiError, NotFound
from baomi.imports import services
from baomi.imports.models import ImportJob
from baomi.imports.spreadsheet import FIELDS, TableError, guess_mapping, read_table
from baomi.imports.uploads import ImportUpload

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


def _upload(request: HttpRequest) -> ImportUpload | None:
    """Read the multipart body with the in-memory import tap (no disk, no sealing)."""
    request._baomi_import_upload = True  # type: ignore[attr-defined]  # read by the upload handler
    upload = request.FILES.get("file")
    return upload if isinstance(upload, ImportUpload) else None


@csrf_exempt
@login_required
@require_POST
def clients_upload(request: HttpRequest) -> HttpResponse:
    """Preview (guessed mapping + first rows) or run, depending on the button."""
    try:
        upload = _upload(request)
    except BaomiError as exc:
        return _error(request, exc)
    return _clients_checked(request, upload)


@csrf_protect
def _clients_checked(request: HttpRequest, upload: ImportUpload | None) -> HttpResponse:
    actor = actor_of(request)
    if upload is None:
        messages.error(request, _("Choose a spreadsheet (XLSX or CSV)."))
        return redirect("imports:index")
    stream = upload.stream()
    if request.POST.get("run") != "1":
        try:
            headers, rows = read_table(stream, upload.name)
            preview = list(itertools.islice(rows, PREVIEW_ROWS))
        except TableError as exc:
            messages.error(request, f"{upload.name}: {exc.code}: {exc.message}")
            return redirect("imports:index")
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
    job = services.clients_import(
        actor=actor,
        stream=stream,
        filename=upload.name,
        mapping=services.clean_mapping(raw, 10_000),
    )
    return redirect("imports:job", job_id=job.pk)


@csrf_exempt
@login_required
@require_POST
def documents_upload(request: HttpRequest) -> HttpResponse:
    try:
        upload = _upload(request)
    except BaomiError as exc:
        return _error(request, exc)
    return _documents_checked(request, upload)


@csrf_protect
def _documents_checked(request: HttpRequest, upload: ImportUpload | None) -> HttpResponse:
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
    stream = upload.stream()
    job = services.documents_import(
        actor=actor,
        client=client,
        sources=services.iter_zip(stream),
        source_name=upload.name,
        sha256=services.sha256_of(stream),
    )
    return redirect("imports:job", job_id=job.pk)


def _job(request: HttpRequest, job_id: int) -> ImportJob:
    job = ImportJob.objects.filter(pk=job_id, created_by=actor_of(request)).first()
    if job is None:
        raise NotFound(_("No such import."), code="import_not_found")
    return job


@login_required
@require_GET
def job_page(request: HttpRequest, job_id: int) -> HttpResponse:
    try:
        job = _job(request, job_id)
    except BaomiError as exc:
        return _error(request, exc)
    return render(request, "imports/job.html", {"job": job, "nav": "imports"})


@login_required
@require_GET
def job_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    """The progress fragment htmx polls while the job runs."""
    try:
        job = _job(request, job_id)
    except BaomiError as exc:
        return _error(request, exc)
    return render(request, "imports/_progress.html", {"job": job})
