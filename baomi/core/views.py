"""Dashboard, staff list, health check and error pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from baomi import __version__
from baomi.accounts import selectors as account_selectors
from baomi.audit.events import record
from baomi.clients import selectors as client_selectors
from baomi.clients.models import ClientStatus
from baomi.core.http import actor_of
from baomi.errors import AccessDenied, BaomiError, error_body


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database status; no authentication, no data."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        db = "ok"
    except Exception:  # any database failure is reported, not raised
        db = "unavailable"
    status = 200 if db == "ok" else 503
    return JsonResponse(
        {"status": "ok" if db == "ok" else "degraded", "version": __version__, "database": db},
        status=status,
    )


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    visible = client_selectors.clients_visible_to(actor)
    by_status = dict(
        visible.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    cards = [(label, by_status.get(value, 0), value) for value, label in ClientStatus.choices]
    # The recently changed clients are listed by name: a client list, recorded as such.
    record(actor, "client.list", object_type="client", reason="dashboard")
    recent = visible.order_by("-updated_at")[:8]
    return render(
        request,
        "core/dashboard.html",
        {"cards": cards, "total": visible.count(), "recent": recent, "nav": "dashboard"},
    )


@login_required
def staff_list(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    try:
        qs = account_selectors.staff_list(actor=actor, search=request.GET.get("q", ""))
    except AccessDenied as exc:
        return error_403(request, exc)
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    template = (
        "core/_staff_rows.html" if request.headers.get("HX-Request") else "core/staff_list.html"
    )
    return render(request, template, {
        "page": page, "q": request.GET.get("q", ""), "nav": "staff",
        "can_manage": account_selectors.staff_can_manage(actor),
    })


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The refusal page; a refusal of ours (`AccessDenied` and the like) adds its reason,
    in the active language, as the API's JSON error carries it."""
    reason = exception.message if isinstance(exception, BaomiError) else ""
    return render(request, "errors/403.html", {"reason": reason}, status=403)


def _api_path(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A path no page or endpoint has: JSON under /api/ (the API's error shape, code
    `not_found`), the page elsewhere."""
    if _api_path(request):
        body = error_body("not_found", str(_("Not found.")))
        return JsonResponse(body, status=404, json_dumps_params={"ensure_ascii": False})
    return render(request, "errors/404.html", status=404)


def error_500(request: HttpRequest) -> HttpResponse:
    """An unexpected error: JSON under /api/ (code `server_error`), the page elsewhere."""
    if _api_path(request):
        message = _("Server error: the request could not be completed and nothing was "
                    "changed. Please try again later.")
        body = error_body("server_error", str(message))
        return JsonResponse(body, status=500, json_dumps_params={"ensure_ascii": False})
    return render(request, "errors/500.html", status=500)
