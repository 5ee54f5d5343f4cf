"""Vault pages: upload (drag-and-drop with progress), document detail, download,
contacts. Views parse and call one service or door function; they never touch keys.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from baomi.access import selectors as access_selectors
from baomi.accounts.models import Level
from baomi.clients import selectors as client_selectors
from baomi.clients import services as client_services
from baomi.clients.models import Client
from baomi.core.http import actor_of, positive_id
from baomi.errors import BaomiError, NotFound
from baomi.vault import selectors, services, uploads
from baomi.vault.models import Category, Document


def _error(request: HttpRequest, exc: BaomiError, *, json: bool = False) -> HttpResponse:
    if json:
        return JsonResponse(
            {"code": exc.code, "message": str(exc.message), "detail": exc.detail},
            status=exc.http_status,
        )
    return render(
        request,
        "vault/error.html",
        {"error": exc, "message": str(exc.message), "code": exc.code},
        status=exc.http_status,
    )


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _client(request: HttpRequest, client_id: int) -> Client:
    return client_selectors.client_get(actor=actor_of(request), client_id=client_id)


def _document(request: HttpRequest, document_id: int) -> Document:
    return selectors.document_get(actor=actor_of(request), document_id=document_id)


@login_required
@require_GET
def upload_page(request: HttpRequest, client_id: int) -> HttpResponse:
    try:
        client = _client(request, client_id)
    except NotFound as exc:
        return _error(request, exc)
    return render(
        request,
        "vault/upload.html",
        {
            "client": client,
            "levels": Level.choices,
            "categories": Category.choices,
            "nav": "clients",
            "action": reverse("vault:upload", args=[client.pk]),
        },
    )


@csrf_exempt
@login_required
@require_POST
def upload(request: HttpRequest, client_id: int) -> HttpResponse:
    """POST a new document. The upload target is fixed before the body is read; the CSRF
    check runs afterwards (reading the body is what seals the file)."""
    as_json = _wants_json(request)
    actor = actor_of(request)
    try:
        uploads.set_upload_target(
            request, uploads.target_for_client(actor=actor, client_id=client_id)
        )
    except BaomiError as exc:
        return _error(request, exc, json=as_json)
    return _upload_checked(request, client_id, as_json)


@csrf_protect
def _upload_checked(request: HttpRequest, client_id: int, as_json: bool) -> HttpResponse:
    actor = actor_of(request)
    try:
        client = _client(request, client_id)
        document = services.document_upload(
            actor=actor,
            client=client,
            upload=request.FILES.get(uploads.UPLOAD_FIELD),
            title=request.POST.get("title", ""),
            level=request.POST.get("level", ""),
            category=request.POST.get("category", ""),
        )
    except BaomiError as exc:
        uploads.files_abort(request)
        return _error(request, exc, json=as_json)
    from baomi.classification import services as classification

    # Scan the tapped plaintext and ask the person to confirm or override the suggestion.
    label = classification.upload_suggest(
        actor=actor, document=document, upload=request.FILES.get(uploads.UPLOAD_FIELD)
    )
    url = reverse("classification:confirm", args=[document.pk])
    if as_json:
        return JsonResponse(
            {
                "id": document.pk,
                "url": url,
                "suggested_level": label.suggested_level or None,
                "suggested_category": label.suggested_category or None,
                "findings_summary": label.findings_summary,
            },
            status=201,
        )
    messages.success(request, _("Document %(title)s uploaded.") % {"title": document.title})
    return redirect(url)


@csrf_exempt
@login_required
@require_POST
def version_upload(request: HttpRequest, document_id: int) -> HttpResponse:
    as_json = _wants_json(request)
    try:
        uploads.set_upload_target(
            request,
            uploads.target_for_document(actor=actor_of(request), document_id=document_id),
        )
    except BaomiError as exc:
        return _error(request, exc, json=as_json)
    return _version_checked(request, document_id, as_json)


@csrf_protect
def _version_checked(request: HttpRequest, document_id: int, as_json: bool) -> HttpResponse:
    try:
        document = _document(request, document_id)
        version = services.document_version_add(
            actor=actor_of(request),
            document=document,
            upload=request.FILES.get(uploads.UPLOAD_FIELD),
        )
    except BaomiError as exc:
        uploads.files_abort(request)
        return _error(request, exc, json=as_json)
    from baomi.classification import services as classification

    # The new content may call for a higher label: scanned, and queued for review if so.
    classification.version_rescan(
        actor=actor_of(request),
        document=document,
        upload=request.FILES.get(uploads.UPLOAD_FIELD),
    )
    url = reverse("vault:document", args=[document.pk])
    if as_json:
        return JsonResponse({"id": document.pk, "version": version.number, "url": url}, status=201)
    messages.success(request, _("Version %(n)d uploaded.") % {"n": version.number})
    return redirect(url)


@login_required
@require_GET
def document_page(request: HttpRequest, document_id: int) -> HttpResponse:
    try:
        document = _document(request, document_id)
    except NotFound as exc:
        return _error(request, exc)
    return render(
        request,
        "vault/document.html",
        {
            "document": document,
            "client": document.client,
            "versions": selectors.document_versions(document=document),
            "nav": "clients",
            "needs_purpose": document.level != Level.PUBLIC,
            "approved_purposes": access_selectors.approved_purposes(
                actor_of(request), access_selectors.document_resource(document)),
        },
    )


def download_response(download: services.Download) -> HttpResponseBase:
    """An HTTP response for a prepared download (file or stream), closing it at the end."""
    headers = {
        "Content-Disposition": content_disposition_header(True, download.filename),
        "X-Baomi-Watermark": download.watermark_id,
        "Cache-Control": "no-store",
    }
    response: FileResponse | StreamingHttpResponse
    if download.file is not None:
        response = FileResponse(download.file, content_type=download.content_type, headers=headers)
        response["Content-Length"] = str(download.size)
    else:
        assert download.chunks is not None  # noqa: S101  (one of the two is set)
        response = StreamingHttpResponse(
            download.chunks, content_type=download.content_type, headers=headers
        )
        response["Content-Length"] = str(download.size)
    response._resource_closers.append(download.close)  # type: ignore[attr-defined]  # Django closes these with the response
    return response


@login_required
@require_GET
def download(request: HttpRequest, document_id: int) -> HttpResponseBase:
    try:
        document = _document(request, document_id)
        raw_version = request.GET.get("version", "")
        version_number = positive_id(raw_version)
        if raw_version and version_number is None:
            # "²", a 5,000-digit string or "abc" names no version (before, anything but
            # ASCII-looking digits fell back to the current one).
            raise NotFound(code="version_not_found")
        prepared = services.document_download(
            actor=actor_of(request),
            document=document,
            purpose=request.GET.get("purpose", ""),
            version_number=version_number,
        )
    except BaomiError as exc:
        return _error(request, exc)
    return download_response(prepared)


@login_required
@require_http_methods(["POST"])
def contact_create(request: HttpRequest, client_id: int) -> HttpResponse:
    try:
        client = _client(request, client_id)
        data: dict[str, Any] = {
            k: request.POST.get(k, "")
            for k in ("name", "title", "mobile", "email", "id_number", "address", "notes")
        }
        data["is_primary"] = request.POST.get("is_primary") == "on"
        client_services.contact_add(actor=actor_of(request), client=client, data=data)
    except BaomiError as exc:
        fields = exc.detail.get("fields") if isinstance(exc.detail, dict) else None
        if fields:
            for name, msgs in fields.items():
                for msg in msgs:
                    messages.error(request, f"{name}: {msg}")
            return redirect("clients:detail", client_id=client_id)
        return _error(request, exc)
    messages.success(request, _("Contact added."))
    return redirect("clients:detail", client_id=client_id)
