"""The audit-log page: filters, verification status, latest checkpoint."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from baomi.audit import selectors, verify_jobs
from baomi.audit.access import require_ledger_view
from baomi.audit.events import record
from baomi.audit.messages import ledger_message
from baomi.core.http import actor_of
from baomi.core.views import error_403
from baomi.errors import AccessDenied

# The filter fields, by the labels the form shows them with.
_FILTER_LABELS = {
    "client": gettext_lazy("Client ID"),
    "actor": gettext_lazy("User"),
    "action": gettext_lazy("Action"),
    "since": gettext_lazy("From"),
    "until": gettext_lazy("To"),
}


def _day_start(value: str, *, days_after: int = 0) -> datetime:
    """Midnight in the current time zone at the start of day `value` (YYYY-MM-DD) plus
    `days_after` days. Raises ValueError for anything else: not a date, a day that does
    not exist (2024-02-30), or an instant the database cannot hold (the first and last
    days of the calendar, once in UTC)."""
    day = parse_date(value)  # None for another format, ValueError for a day that is not
    if day is None:
        raise ValueError(value)
    try:
        start = timezone.make_aware(datetime.combine(day, time.min)) + timedelta(days=days_after)
        start.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(value) from exc
    return start


# Days added to a date filter's day for the instant it stands for: "until" includes
# its whole day.
_DAYS_AFTER = {"since": 0, "until": 1}


def _filters(
    request: HttpRequest,
) -> tuple[dict[str, Any], dict[str, datetime | None], list[str]]:
    """The listing's filters as the form shows them, the instants the date filters stand
    for, and a message for each filter that is not valid; an invalid filter is left out
    of the query (and blank in the form), the rest still apply."""
    g = request.GET
    f = {
        "client": g.get("client", "").strip()[:64],
        "actor": g.get("actor", "").strip()[:150],
        "action": g.get("action", "").strip()[:60],
        "decision": g.get("decision", "") if g.get("decision") in ("allowed", "refused") else "",
        "since": g.get("since", "").strip()[:10],
        "until": g.get("until", "").strip()[:10],
    }
    instants: dict[str, datetime | None] = dict.fromkeys(_DAYS_AFTER)
    errors: list[str] = []
    for name, label in _FILTER_LABELS.items():
        if not f[name]:
            continue
        try:
            if name in _DAYS_AFTER:
                instants[name] = _day_start(f[name], days_after=_DAYS_AFTER[name])
            elif "\x00" in f[name]:  # no stored value holds one (PostgreSQL text cannot)
                raise ValueError(name)
        except ValueError:
            errors.append(
                _("The “%(field)s” filter is not valid and was ignored.") % {"field": label}
            )
            f[name] = ""
    return f, instants, errors


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
    f, instants, filter_errors = _filters(request)
    qs = selectors.entry_list(
        client_id=f["client"] or None,
        actor=f["actor"] or None,
        action=f["action"] or None,
        decision=f["decision"] or None,
        since=instants["since"],
        until=instants["until"],
    )
    record(actor, "ledger.view", object_type="ledger")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    rows = [selectors.entry_view(e) for e in page]
    context = {
        "page": page,
        "rows": rows,
        "f": f,
        "filter_errors": filter_errors,
        "query": _without_page(request),
        **_status_context(),
        "nav": "audit",
    }
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "ledger-rows":
        return render(request, "audit/_rows.html", context)
    return render(request, "audit/ledger.html", context)


@login_required
@require_POST
def ledger_verify_view(request: HttpRequest) -> HttpResponse:
    """Start a full verification in the background, or join the one running. htmx gets
    the status card (which polls the run's progress); a plain form post goes back to
    the ledger page, which shows the run."""
    actor = actor_of(request)
    try:
        require_ledger_view(actor, "ledger.verify")
    except AccessDenied as exc:
        return error_403(request, exc)
    # Recorded before anything starts: if the ledger cannot be written, nothing does.
    record(actor, "ledger.verify", object_type="ledger")
    verify_jobs.start(requested_by=actor.username)
    if request.headers.get("HX-Request"):
        return render(request, "audit/_status.html", _status_context())
    return redirect("audit:ledger")


@login_required
@require_GET
def ledger_verify_progress(request: HttpRequest) -> HttpResponse:
    """The status card, which htmx polls while a verification runs.

    Gated as the ledger page is; an allowed poll is not recorded (as an import's
    progress polls are not): it comes every second while a run goes on, and shows no
    entry, only how far the run got (its request was recorded as `ledger.verify`)."""
    actor = actor_of(request)
    try:
        require_ledger_view(actor)
    except AccessDenied as exc:
        return error_403(request, exc)
    return render(request, "audit/_status.html", _status_context())


def _status_context() -> dict[str, Any]:
    """The status card: size, latest checkpoint, the verification running (if any),
    last finished verification and, if it failed, what its code means, and whether the
    latest run stopped without a verdict."""
    verification = selectors.last_verification()
    message = ""
    if verification is not None and not verification.ok:
        message = ledger_message(verification.code)
    running = selectors.verification_running()
    return {
        "state": selectors.ledger_state(),
        "checkpoint": selectors.latest_checkpoint(),
        "verification": verification,
        "verification_message": message,
        "running": running,
        "stopped": None if running is not None else selectors.verification_stopped(),
    }
