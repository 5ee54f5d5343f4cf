"""The audit-log page: filters, verification status, latest checkpoint."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_POST

from baomi.audit import selectors
from baomi.audit.access import require_ledger_view
from baomi.audit.events import record
from baomi.core.http import actor_of
from baomi.core.views import error_403
from baomi.errors import AccessDenied


def _day_start(value: str) -> datetime | None:
    day = parse_date(value) if value else None
    return timezone.make_aware(datetime.combine(day, time.min)) if day else None


def _filters(request: HttpRequest) -> dict[str, Any]:
    g = request.GET
    return {
        "client": g.get("client", "").strip()[:64],
        "actor": g.get("actor", "").strip()[:150],
        "action": g.get("action", "").strip()[:60],
        "decision": g.get("decision", "") if g.get("decision") in ("allowed", "refused") else "",
        "since": g.get("since", "")[:10],
        "until": g.get("until", "")[:10],
    }


def _without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@login_required
def ledger_view(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    try:
        require_ledger_view(actor)
    except AccessDenied as exc:
        return error_403(request, exc)
    f = _filters(request)
    until = _day_start(f["until"])
    if until is not None:
        until = until + timedelta(days=1)
    qs = selectors.entry_list(
        client_id=f["client"] or None,
        actor=f["actor"] or None,
        action=f["action"] or None,
        decision=f["decision"] or None,
        since=_day_start(f["since"]),
        until=until,
    )
    record(actor, "ledger.view", object_type="ledger")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    rows = [selectors.entry_view(e) for e in page]
    context = {
        "page": page,
        "rows": rows,
        "f": f,
        "query": _without_page(request),
        "state": selectors.ledger_state(),
        "checkpoint": selectors.latest_checkpoint(),
        "verification": selectors.last_verification(),
        "nav": "audit",
    }
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "ledger-rows":
        return render(request, "audit/_rows.html", context)
    return render(request, "audit/ledger.html", context)


@login_required
@require_POST
def ledger_verify_view(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    try:
        require_ledger_view(actor, "ledger.verify")
    except AccessDenied as exc:
        return error_403(request, exc)
    record(actor, "ledger.verify", object_type="ledger")
    selectors.ledger_verify()
    return render(
        request,
        "audit/_status.html",
        {
            "state": selectors.ledger_state(),
            "checkpoint": selectors.latest_checkpoint(),
            "verification": selectors.last_verification(),
        },
    )
