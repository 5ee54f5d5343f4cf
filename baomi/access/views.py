"""Access governance pages: my access (requests, approvals, notifications), the matrix,
a client's authorizations and assignments, a person's agreements, training and lifecycle,
break-glass reads and their review, access-review campaigns and their exports, and the
governance registers: agreements with their sealed scans, training, partner
organisations and the purpose list.

Views parse, look up (404 when the object is out of reach) and call one service; what a
page offers comes from `visible_actions`, and the services decide again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from baomi import policy
from baomi.access import forms, selectors, services
from baomi.access.models import (
    BreakGlassRead,
    ClientAuthorization,
    ConfidentialityAgreement,
    PartnerOrganisation,
    Purpose,
    QueryRequest,
    ReviewCampaign,
    ReviewDecision,
    ReviewItem,
    TrainingRecord,
)
from baomi.accounts.models import Department, Level, Role, StaffStatus, User
from baomi.audit.events import record
from baomi.clients.models import Client
from baomi.clients.selectors import client_get
from baomi.core.http import actor_of, positive_id
from baomi.errors import AccessDenied, BaomiError, InvalidInput, NotFound, ValidationFailed
from baomi.vault import selectors as vault_selectors
from baomi.vault.models import Category

# The scope a grant or request may name, as checkboxes: the model choices' labels.
LEVELS = Level.choices
CATEGORIES = Category.choices


def _dt(raw: str | None) -> datetime | None:
    """A datetime from a form (`YYYY-MM-DDTHH:MM`, local time), aware; None if invalid."""
    if not raw:
        return None
    try:
        value = parse_datetime(raw.strip())
    except ValueError:  # well-formed but not a date, e.g. 2026-02-30T10:00
        return None
    if value is None:
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _client(request: HttpRequest, client_id: int) -> Client:
    try:
        return client_get(actor=actor_of(request), client_id=client_id)
    except NotFound as exc:
        raise Http404 from exc


def _scope(request: HttpRequest) -> services.ScopeInput:
    raw = [v for v in request.POST.getlist("document_ids") if v.strip()]
    ids = [positive_id(v) for v in raw]
    return services.ScopeInput(request.POST.getlist("levels"),
                               request.POST.getlist("categories"),
                               [i for i in ids if i is not None],
                               [v for v, i in zip(raw, ids, strict=True) if i is None])


def _fail(request: HttpRequest, exc: BaomiError) -> None:
    fields = exc.detail.get("fields") if isinstance(exc.detail, dict) else None
    messages.error(request, str(exc.message) if not fields else
                   " ".join(str(m) for msgs in fields.values() for m in msgs))


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    context = {
        "nav": "access",
        "problems": selectors.gate_problems(actor),
        "mine": selectors.requests_of(actor)[:50],
        "to_decide": selectors.requests_to_decide(actor),
        "notifications": selectors.notifications_of(actor),
        "purposes": selectors.purposes(),
        "can_review": selectors.permitted_for(actor, policy.Action.ACCESS_REVIEW_MANAGE, None),
        "is_compliance": actor.role == Role.COMPLIANCE,
    }
    return render(request, "access/home.html", context)


@login_required
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    services.notification_read_all(user=actor_of(request))
    return redirect("access:home")


@login_required
@require_GET
def matrix(request: HttpRequest) -> HttpResponse:
    """The role × action × level matrix, generated from `baomi.policy.MATRIX`."""
    roles = []
    for role in policy.Role:
        rows = [
            (action.value, [(c.value, _REQ_LABELS.get(c, "")) for c in policy.cells(role, action)])
            for action in policy.Action
            if any(c is not policy.Req.DENY for c in policy.cells(role, action))
        ]
        roles.append((role.value, Role(role.value).label, rows))
    levels = [(lv.value, Level(lv.value).label) for lv in policy.LEVELS]
    return render(request, "access/matrix.html",
                  {"nav": "access", "roles": roles, "levels": levels})


# What a matrix cell requires, as the page says it (the code is shown beside it).
_REQ_LABELS = {
    policy.Req.FIRM: gettext_lazy("any client of the firm"),
    policy.Req.ASSIGNED: gettext_lazy("assigned clients"),
    policy.Req.REQUEST: gettext_lazy("approved query request"),
    policy.Req.ASSIGNED_REQUEST: gettext_lazy("assigned and approved query request"),
    policy.Req.ASSIGNED_OR_REQUEST: gettext_lazy("assigned, or approved query request"),
    policy.Req.AUTHORIZED: gettext_lazy("client authorization"),
    policy.Req.OWN: gettext_lazy("own company"),
    policy.Req.BREAK_GLASS: gettext_lazy("emergency read, reviewed"),
}


@login_required
@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest, client_id: int) -> HttpResponse:
    actor = actor_of(request)
    client = _client(request, client_id)
    if request.method == "POST":
        try:
            services.request_create(
                actor=actor, client=client, scope=_scope(request),
                purpose=(request.POST.get("purpose_other") or request.POST.get("purpose", "")),
                valid_from=_dt(request.POST.get("valid_from")),
                valid_to=_dt(request.POST.get("valid_to")),
            )
        except BaomiError as exc:
            _fail(request, exc)
        else:
            messages.success(request, _("Query request filed."))
            return redirect("access:home")
    now = timezone.localtime()
    return render(request, "access/request_new.html", {
        "nav": "access", "client": client, "levels": LEVELS,
        "categories": CATEGORIES,
        "purposes": selectors.purposes(),
        "start": now.strftime("%Y-%m-%dT%H:%M"),
        "end": (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
    }, status=400 if request.method == "POST" else 200)


def _request(actor: User, request_id: int) -> QueryRequest:
    row = QueryRequest.objects.select_related("client", "requester").filter(pk=request_id).first()
    if row is None:
        raise Http404
    if row.requester_id != actor.pk:
        try:
            client_get(actor=actor, client_id=row.client_id)
        except NotFound as exc:
            raise Http404 from exc
    return row


@login_required
@require_POST
def request_decide(request: HttpRequest, request_id: int, verdict: str) -> HttpResponse:
    actor = actor_of(request)
    row = _request(actor, request_id)
    try:
        if verdict == "approve":
            services.request_approve(actor=actor, request=row, note=request.POST.get("note", ""))
        elif verdict == "reject":
            services.request_reject(actor=actor, request=row, note=request.POST.get("note", ""))
        else:
            services.request_cancel(actor=actor, request=row)
    except BaomiError as exc:
        _fail(request, exc)
    else:
        messages.success(request, _("Done."))
    return redirect("access:home")


@login_required
@require_GET
def client_access(request: HttpRequest, client_id: int) -> HttpResponse:
    """A client's authorizations and assignments, with what the user may change."""
    actor = actor_of(request)
    client = _client(request, client_id)
    visible = selectors.visible_actions_for(actor, selectors.client_resource(client))
    can_grant = "authorization.grant" in visible
    can_assign = "assignment.manage" in visible
    is_portal = actor.role == Role.CLIENT
    # The firm's people and partner organisations are listed only to those who pick
    # from them (who grants or assigns). Never the actor (no grant to oneself; the
    # services refuse it too). Assignment offers whom `assignment_add` accepts.
    staff = (User.objects.filter(is_active=True, role__in=services.ASSIGNABLE_ROLES)
             .exclude(status=StaffStatus.LEFT).exclude(pk=actor.pk).order_by("username")
             if can_assign else User.objects.none())
    # An authorization names partners only, the only people it gives anything to
    # (`services.authorization_grant` refuses anyone else: `grantee_not_partner`).
    grantees = (User.objects.filter(is_active=True, role=Role.PARTNER).exclude(pk=actor.pk)
                .order_by("username") if can_grant else User.objects.none())
    now = timezone.localtime()
    return render(request, "access/client.html", {
        "nav": "clients",
        "client": client,
        # A partner sees only the authorizations naming them or their organisation.
        "authorizations": selectors.authorizations_visible(actor, client),
        "assignees": ([a.user for a in client.assignments.select_related("user")]
                      if can_grant or can_assign else []),
        "show_assignees": can_grant or can_assign,
        "can_grant": can_grant,
        "can_revoke": "authorization.revoke" in visible,
        "can_assign": can_assign,
        "can_request": "query_request.create" in visible,
        "is_portal": is_portal,
        "staff": staff,
        "grantees": grantees,
        "orgs": (PartnerOrganisation.objects.filter(active=True) if can_grant
                 else PartnerOrganisation.objects.none()),
        # For picking the client's signed form: only for those who record authorizations,
        # and only documents the policy lets them see.
        "documents": (vault_selectors.document_list(actor=actor, client=client)[:50]
                      if "authorization.grant" in visible and actor.role != Role.CLIENT
                      else []),
        "levels": LEVELS,
        "categories": CATEGORIES,
        "start": now.strftime("%Y-%m-%dT%H:%M"),
        "end": (now + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M"),
        # A form downloaded now is valid until then (printed on it, `form_expired` after).
        "form_days": services.authorization_form_days(),
        "form_expires": services.authorization_form_expiry(now),
    })


def _terms_from(request: HttpRequest, client: Client) -> tuple[User | None,
                                                              PartnerOrganisation | None]:
    user_id = positive_id(request.POST.get("grantee_user"))
    org_id = positive_id(request.POST.get("grantee_org"))
    user = User.objects.filter(pk=user_id).first() if user_id else None
    org = PartnerOrganisation.objects.filter(pk=org_id).first() if org_id else None
    return user, org


@login_required
@require_POST
def authorization_grant(request: HttpRequest, client_id: int) -> HttpResponseBase:
    actor = actor_of(request)
    client = _client(request, client_id)
    user, org = _terms_from(request, client)
    start, end = _dt(request.POST.get("valid_from")), _dt(request.POST.get("valid_to"))
    if request.POST.get("form_only"):
        try:
            pdf = services.authorization_form_issue(
                actor=actor, client=client, grantee_user_id=user.pk if user else None,
                grantee_org_id=org.pk if org else None, scope=_scope(request),
                valid_from=start, valid_to=end)
        except BaomiError as exc:
            _fail(request, exc)
            return redirect("access:client", client_id=client.pk)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = 'attachment; filename="authorization-form.pdf"'
        return response
    # Staff first upload the client's signed form as a document of the client (the vault
    # seals it as it arrives), then pick it here; the service verifies it.
    from baomi.vault.models import Document

    form_document_id = positive_id(request.POST.get("form_document"))
    form_document = (Document.objects.filter(pk=form_document_id, client=client).first()
                     if form_document_id else None)
    try:
        services.authorization_grant(actor=actor, client=client, grantee_user=user,
                                     grantee_org=org, scope=_scope(request), valid_from=start,
                                     valid_to=end, form_document=form_document)
    except BaomiError as exc:
        _fail(request, exc)
    else:
        messages.success(request, _("Authorization recorded."))
    return redirect("access:client", client_id=client.pk)


@login_required
@require_POST
def authorization_revoke(request: HttpRequest, authorization_id: int) -> HttpResponse:
    actor = actor_of(request)
    row = ClientAuthorization.objects.select_related("client").filter(pk=authorization_id).first()
    if row is None:
        raise Http404
    _client(request, row.client_id)
    try:
        services.authorization_revoke(actor=actor, authorization=row,
                                      reason=request.POST.get("reason", ""))
    except BaomiError as exc:
        _fail(request, exc)
    else:
        messages.success(request, _("Authorization revoked."))
    return redirect("access:client", client_id=row.client_id)


@login_required
@require_POST
def assignment_change(request: HttpRequest, client_id: int) -> HttpResponse:
    actor = actor_of(request)
    client = _client(request, client_id)
    user_id = positive_id(request.POST.get("user"))
    user = User.objects.filter(pk=user_id).first() if user_id else None
    if user is None:
        messages.error(request, _("Choose a person."))
        return redirect("access:client", client_id=client.pk)
    try:
        if request.POST.get("remove"):
            services.assignment_remove(actor=actor, client=client, user=user)
        else:
            services.assignment_add(actor=actor, client=client, user=user)
    except BaomiError as exc:
        _fail(request, exc)
    else:
        messages.success(request, _("Assignments updated."))
    return redirect("access:client", client_id=client.pk)


@login_required
@require_http_methods(["GET", "POST"])
def staff_access(request: HttpRequest, user_id: int) -> HttpResponse:
    """A person's agreements and training, and their lifecycle (leave, transfer,
    handover). Administrators and compliance only; others get 404."""
    actor = actor_of(request)
    if actor.role not in {Role.ADMIN, Role.COMPLIANCE}:
        raise Http404
    person = User.objects.filter(pk=user_id).first()
    if person is None:
        raise Http404
    if request.method == "POST":
        what = request.POST.get("what", "")
        try:
            _staff_action(actor, person, what, request)
        except BaomiError as exc:
            _fail(request, exc)
        else:
            messages.success(request, _("Done."))
        return redirect("access:staff", user_id=person.pk)
    now = timezone.localtime()
    return render(request, "access/staff.html", {
        "nav": "staff",
        "person": person,
        "agreements": _rows(list(selectors.agreements_of(person)), lambda a: (a.kind,),
                            timezone.now(), lambda a: a.ended_at is not None),
        "trainings": _rows(list(selectors.trainings_of(person)), lambda t: (t.course,),
                           timezone.now()),
        # Only those a handover may name (`services._assignable`), never the acting
        # administrator (nobody hands clients to themselves, `staff_handover`).
        "colleagues": User.objects.filter(
            is_active=True, role__in=services.ASSIGNABLE_ROLES).exclude(
            status=StaffStatus.LEFT).exclude(pk__in=[person.pk, actor.pk]).order_by(
            "username"),
        "departments": Department.objects.all(),
        "can_manage": actor.role == Role.ADMIN,
        # One's own agreements and training are recorded by someone else.
        "can_register": person.pk != actor.pk,
        "left": person.status == StaffStatus.LEFT,
        # After 离职 / 调岗 these include the clients whose assignment ended then: their
        # access has ended, but the handover still moves them to a colleague.
        "clients": selectors.handover_clients(person),
        "start": now.strftime("%Y-%m-%dT%H:%M"),
        "end": (now + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M"),
    })


def _staff_action(actor: User, person: User, what: str, request: HttpRequest) -> None:
    start, end = _dt(request.POST.get("valid_from")), _dt(request.POST.get("valid_to"))
    if what == "agreement":
        # The page offers no form for it any more: an agreement is registered with its
        # signed scan on the register's page. A stale form is refused (`scan_required`)
        # and recorded by the service.
        services.agreement_record(actor=actor, person=person,
                                  kind=request.POST.get("kind", ""), valid_from=start,
                                  valid_to=end)
    elif what == "training":
        services.training_record(actor=actor, person=person,
                                 course=request.POST.get("course", ""), valid_from=start,
                                 valid_to=end)
    elif what == "leave":
        services.staff_leave(actor=actor, user=person)
    elif what == "transfer":
        dept_id = positive_id(request.POST.get("department"))
        dept = Department.objects.filter(pk=dept_id).first() if dept_id else None
        services.staff_transfer(actor=actor, user=person, department=dept,
                                post=request.POST.get("post", ""))
    elif what == "handover":
        to_id = positive_id(request.POST.get("to_user"))
        to = User.objects.filter(pk=to_id).first() if to_id else None
        if to is None:
            raise NotFound(_("Choose a colleague."), code="user_not_found")
        services.staff_handover(actor=actor, from_user=person, to_user=to)


@login_required
@require_http_methods(["GET", "POST"])
def break_glass(request: HttpRequest, document_id: int) -> HttpResponseBase:
    """Emergency read by a manager (紧急访问): a mandatory reason; compliance is alerted."""
    from baomi.vault.models import Document
    from baomi.vault.views import download_response

    actor = actor_of(request)
    if actor.role != Role.MANAGER:
        raise Http404
    document = Document.objects.select_related("client").filter(pk=document_id).first()
    if document is None:
        raise Http404
    # The page names the document and its client, which may be outside the manager's
    # reach; so nothing of it is shown (on a GET, or again after a refused POST) unless
    # the manager could make the emergency read at all. A refusal looks like a missing
    # document, so walking ids tells nothing, and it is recorded.
    refusal = services.break_glass_refusal(actor=actor, document=document)
    if refusal is not None:
        record(actor, "break_glass.read" if request.method == "POST" else "break_glass.form",
               object_type="document", object_id=document.pk, client_id=document.client_id,
               decision="refused", reason=refusal.value)
        raise Http404
    if request.method == "POST":
        try:
            prepared = services.break_glass_download(
                actor=actor, document=document, reason=request.POST.get("reason", ""),
                purpose=request.POST.get("purpose", ""))
        except BaomiError as exc:
            _fail(request, exc)
        else:
            return download_response(prepared)
    else:
        # The form names the document and its client, which may be outside the
        # manager's reach: the look is recorded (and shown to the client) as such.
        record(actor, "break_glass.form", object_type="document", object_id=document.pk,
               client_id=document.client_id)
    return render(request, "access/break_glass.html",
                  {"nav": "access", "document": document, "purposes": selectors.purposes()})


@login_required
@require_http_methods(["GET", "POST"])
def break_glass_reviews(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    if actor.role != Role.COMPLIANCE:
        raise Http404
    if request.method == "POST":
        item_id = positive_id(request.POST.get("item"))
        item = BreakGlassRead.objects.filter(pk=item_id).first() if item_id else None
        if item is None:
            raise Http404
        try:
            services.break_glass_review(actor=actor, item=item, note=request.POST.get("note", ""))
        except BaomiError as exc:
            _fail(request, exc)
        return redirect("access:break_glass_reviews")
    return render(request, "access/break_glass_reviews.html",
                  {"nav": "access", "items": selectors.break_glass_open()})


@login_required
@require_http_methods(["GET", "POST"])
def reviews(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    manage = selectors.permitted_for(actor, policy.Action.ACCESS_REVIEW_MANAGE, None)
    if request.method == "POST":
        try:
            campaign = services.review_campaign_create(
                actor=actor, name=request.POST.get("name", ""),
                deadline=_dt(request.POST.get("deadline")) or timezone.now())
        except BaomiError as exc:
            _fail(request, exc)
        else:
            return redirect("access:review", campaign_id=campaign.pk)
    campaigns = ReviewCampaign.objects.all() if manage else selectors.reviewer_campaigns(actor)
    deadline = (timezone.localtime() + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M")
    return render(request, "access/reviews.html", {"nav": "access", "campaigns": campaigns,
                                                   "manage": manage, "deadline": deadline})


def _campaign(actor: User, campaign_id: int) -> tuple[ReviewCampaign, bool]:
    campaign = ReviewCampaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise Http404
    manage = selectors.permitted_for(actor, policy.Action.ACCESS_REVIEW_MANAGE, None)
    if not manage and not selectors.campaign_items(campaign, actor):
        raise Http404
    return campaign, manage


@login_required
@require_http_methods(["GET", "POST"])
def review(request: HttpRequest, campaign_id: int) -> HttpResponse:
    actor = actor_of(request)
    campaign, manage = _campaign(actor, campaign_id)
    if request.method == "POST":
        item_id = positive_id(request.POST.get("item"))
        item = (ReviewItem.objects.filter(pk=item_id, campaign=campaign).first()
                if item_id else None)
        if item is None:
            raise Http404
        try:
            services.review_decide(actor=actor, item=item,
                                   confirm=request.POST.get("decision") == "confirm")
        except BaomiError as exc:
            _fail(request, exc)
        else:
            if item.decision == ReviewDecision.ENDED:
                messages.info(request, _("This access had already ended: nothing was "
                                         "confirmed or revoked."))
        return redirect("access:review", campaign_id=campaign.pk)
    items = selectors.campaign_items(campaign, None if manage else actor)
    # Items whose reviewer has gone pass to compliance (`services.review_may_decide`).
    orphaned = {i.pk for i in items if services.review_orphaned(i)}
    decidable = {i.pk for i in items
                 if i.decision == ReviewDecision.PENDING and services.review_may_decide(actor, i)}
    return render(request, "access/review.html",
                  {"nav": "access", "campaign": campaign, "items": items, "manage": manage,
                   "orphaned": orphaned, "decidable": decidable})


@login_required
@require_GET
def review_export(request: HttpRequest, campaign_id: int, fmt: str) -> HttpResponse:
    from baomi.access.exports import CONTENT_TYPES

    actor = actor_of(request)
    campaign, manage = _campaign(actor, campaign_id)
    if not manage or fmt not in services.REVIEW_EXPORT_FORMATS:
        raise Http404
    data = services.review_export(actor=actor, campaign=campaign, fmt=fmt)
    response = HttpResponse(data, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="access-review-{campaign.pk}.{fmt}"'
    return response


# --- Governance registers: agreements (F23), training (F24), partners (F25), purposes ---
#
# Seen by the roles the matrix gives `staff.view` (a refusal is 403 with the policy's
# reason, recorded); changed by administrators and compliance only: the pages offer the
# forms to them alone, and the services refuse anyone else again (403 with the reason).

EXPIRING_DAYS = 30
SCAN_PURPOSE = "核验保密协议"
# A request body this large is refused before it is read (no ledger entry: nothing of it,
# not even the CSRF token, has been checked). Smaller ones are read into memory and
# refused by the service, which records the refusal.
SCAN_BODY_LIMIT = 2 * services.MAX_SCAN_BYTES


def _register_view(actor: User, what: str) -> None:
    services.require_allowed(actor, policy.Action.STAFF_VIEW, None,
                             ledger_action=f"{what}.view", object_type=what)


def _can_manage(actor: User) -> bool:
    """Mirrors the services' check (`_check_roles`): what the pages offer."""
    return actor.is_active and actor.role in {Role.ADMIN, Role.COMPLIANCE}


def _require_manage(actor: User, what: str, object_id: Any) -> None:
    """Pages that only change a register (renewals) refuse readers outright, recorded,
    with the services' reason."""
    if not _can_manage(actor):
        record(actor, f"{what}.record", object_type=what, object_id=object_id,
               decision="refused", reason="role_not_permitted")
        raise AccessDenied(_("Your role may not change this register."),
                           code="role_not_permitted")


@dataclass
class _Row:
    """A register row with its state for the page."""

    obj: Any
    state: str
    days_left: int
    latest: bool


def _state(valid_from: datetime, valid_to: datetime, now: datetime, *, superseded: bool,
           ended: bool = False) -> tuple[str, int]:
    days_left = max((valid_to - now).days, 0)
    if ended:
        return "ended", days_left
    if superseded:
        return "renewed", days_left
    if valid_to <= now:
        return "expired", 0
    if valid_from > now:
        return "future", days_left
    if valid_to - now <= timedelta(days=EXPIRING_DAYS):
        return "expiring", days_left
    return "valid", days_left


def _rows(objects: list[Any], key: Callable[[Any], tuple[Any, ...]], now: datetime,
          ended: Callable[[Any], bool] = lambda o: False) -> list[_Row]:
    """State per row; a row is superseded when a later row of the same person and type
    (or course) exists, and only the latest may be renewed."""
    last: dict[tuple[Any, ...], datetime] = {}
    for o in objects:
        if not ended(o):
            last[key(o)] = max(last.get(key(o), o.valid_to), o.valid_to)
    out = []
    for o in objects:
        superseded = not ended(o) and o.valid_to < last.get(key(o), o.valid_to)
        state, days = _state(o.valid_from, o.valid_to, now, superseded=superseded,
                             ended=ended(o))
        out.append(_Row(o, state, days, latest=not superseded and not ended(o)))
    return out


STATE_ORDER = {"expired": 0, "expiring": 1, "future": 2, "valid": 3, "renewed": 4, "ended": 5}


def _filtered(rows: list[_Row], state: str) -> list[_Row]:
    if state in STATE_ORDER:
        rows = [r for r in rows if r.state == state]
    return sorted(rows, key=lambda r: (STATE_ORDER[r.state], r.obj.valid_to))


def _counts(rows: list[_Row]) -> dict[str, int]:
    return {s: sum(1 for r in rows if r.state == s) for s in STATE_ORDER}


def _without(model: Any, now: datetime) -> Any:
    """Active people (not client portal users) with no row of `model` in force now."""
    in_force = model.objects.filter(valid_from__lte=now, valid_to__gt=now)
    if model is ConfidentialityAgreement:
        in_force = in_force.filter(ended_at__isnull=True)
    return (User.objects.filter(is_active=True).exclude(role=Role.CLIENT)
            .exclude(pk__in=in_force.values("person_id")).order_by("username"))


def _read_scan(request: HttpRequest) -> tuple[bytes | None, str, bool]:
    """The uploaded scan (field `file`), read into memory only, never to disk: (data,
    name, too_large). Bodies over `SCAN_BODY_LIMIT` are not read at all."""
    from baomi.imports.uploads import ImportUpload

    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > SCAN_BODY_LIMIT:
        return None, "", True
    request._baomi_import_upload = True  # type: ignore[attr-defined]  # read by the upload handler
    upload = request.FILES.get("file")
    if not isinstance(upload, ImportUpload):
        return None, "", False
    return upload.stream().getvalue(), upload.name, False


def _too_large_page(request: HttpRequest) -> HttpResponse:
    return render(request, "errors/baomi_error.html", {
        "message": _("The scan is larger than 10 MiB."), "code": "scan_too_large"}, status=413)


def _input_error(form: Any, exc: BaomiError) -> None:
    fields = exc.detail.get("fields") if isinstance(exc.detail, dict) else None
    if fields:
        form.add_service_errors(fields)
    else:
        form.add_error(None, str(exc.message))


@csrf_exempt  # the multipart body is read first (memory only), then CSRF is checked
@login_required
@require_http_methods(["GET", "POST"])
def agreements(request: HttpRequest) -> HttpResponse:
    """The register of confidentiality agreements (保密协议, F23): every agreement with
    its state (expired, expiring within 30 days…), who has none in force, and a form to
    register a signed agreement with its scan."""
    scan: bytes | None = None
    name = ""
    if request.method == "POST":
        scan, name, too_large = _read_scan(request)
        if too_large:
            return _too_large_page(request)
    return _agreements_checked(request, scan, name)


@csrf_protect
def _agreements_checked(request: HttpRequest, scan: bytes | None, scan_name: str
                        ) -> HttpResponse:
    actor = actor_of(request)
    _register_view(actor, "agreement")
    now = timezone.now()
    form = forms.AgreementForm(request.POST or None, initial={
        "person": request.GET.get("person"),
        "valid_from": timezone.localdate(), "valid_to": _plus_years(timezone.localdate(), 3)})
    _not_oneself(form, actor)
    status = 200
    if request.method == "POST":
        if not scan:
            form.add_error(None, _("Attach the signed scan (PDF or image)."))
        if form.is_valid():
            start, end = form.period()
            try:
                services.agreement_record(
                    actor=actor, person=form.cleaned_data["person"],
                    kind=form.cleaned_data["kind"], valid_from=start, valid_to=end,
                    scan=scan, scan_name=scan_name)
            except (ValidationFailed, InvalidInput) as exc:
                _input_error(form, exc)
            else:
                messages.success(request, _("Agreement registered."))
                return redirect("access:agreements")
        status = 422
    state = request.GET.get("state", "")
    rows = _rows(list(ConfidentialityAgreement.objects.select_related("person")),
                 lambda a: (a.person_id, a.kind), now, lambda a: a.ended_at is not None)
    return render(request, "access/agreements.html", {
        "nav": "governance", "tab": "agreements", "form": form,
        "rows": _filtered(rows, state), "counts": _counts(rows), "state": state,
        "without": _without(ConfidentialityAgreement, now),
        "can_manage": _can_manage(actor), "max_mib": services.MAX_SCAN_BYTES // 2**20,
    }, status=status)


def _not_oneself(form: Any, actor: User) -> None:
    """Nobody records their own agreement or training (the services refuse it, 403
    `self_action`): the person picker does not offer the acting registrar."""
    field = form.fields["person"]
    field.queryset = field.queryset.exclude(pk=actor.pk)


def _plus_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _agreement(agreement_id: int) -> ConfidentialityAgreement:
    row = ConfidentialityAgreement.objects.select_related("person").filter(
        pk=agreement_id).first()
    if row is None:
        raise Http404
    return row


@csrf_exempt  # as `agreements`: the scan is read first, then CSRF is checked
@login_required
@require_http_methods(["GET", "POST"])
def agreement_renew(request: HttpRequest, agreement_id: int) -> HttpResponse:
    scan: bytes | None = None
    name = ""
    if request.method == "POST":
        scan, name, too_large = _read_scan(request)
        if too_large:
            return _too_large_page(request)
    return _agreement_renew_checked(request, agreement_id, scan, name)


@csrf_protect
def _agreement_renew_checked(request: HttpRequest, agreement_id: int, scan: bytes | None,
                             scan_name: str) -> HttpResponse:
    """Renew an agreement with a newly signed scan: it runs on from the old one's end."""
    actor = actor_of(request)
    _register_view(actor, "agreement")
    _require_manage(actor, "agreement", agreement_id)
    row = _agreement(agreement_id)
    starts = max(row.valid_to, timezone.now())
    form = forms.RenewForm(request.POST or None, starts=starts, initial={
        "valid_to": _plus_years(timezone.localdate(starts), 3)})
    status = 200
    if request.method == "POST":
        if not scan:
            form.add_error(None, _("Attach the signed scan (PDF or image)."))
        if form.is_valid():
            try:
                services.agreement_renew(
                    actor=actor, agreement=row,
                    valid_to=forms.day_start(form.cleaned_data["valid_to"]),
                    scan=scan, scan_name=scan_name)
            except (ValidationFailed, InvalidInput) as exc:
                _input_error(form, exc)
            else:
                messages.success(request, _("Agreement renewed."))
                return redirect("access:agreements")
        status = 422
    return render(request, "access/renew.html", {
        "nav": "governance", "tab": "agreements", "form": form, "row": row,
        "what": row.get_kind_display(), "starts": starts, "with_scan": True,
        "max_mib": services.MAX_SCAN_BYTES // 2**20,
        "can_manage": _can_manage(actor), "back": "access:agreements",
    }, status=status)


@login_required
@require_GET
def agreement_scan(request: HttpRequest, agreement_id: int) -> HttpResponse:
    """The signed scan, opened through the vault door (administrators and compliance;
    anyone else is refused there, with the reason, and the refusal recorded)."""
    row = _agreement(agreement_id)
    data = services.agreement_scan_read(actor=actor_of(request), agreement=row,
                                        purpose=SCAN_PURPOSE)
    if not data:
        raise Http404
    media = services.scan_media_type(data) or "application/octet-stream"
    response = HttpResponse(data, content_type=media)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=row.scan_name or f"agreement-{row.pk}")
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def trainings(request: HttpRequest) -> HttpResponse:
    """The training register (保密培训, F24), with the same states as agreements."""
    actor = actor_of(request)
    _register_view(actor, "training")
    now = timezone.now()
    form = forms.TrainingForm(request.POST or None, initial={
        "person": request.GET.get("person"),
        "valid_from": timezone.localdate(), "valid_to": _plus_years(timezone.localdate(), 1)})
    _not_oneself(form, actor)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            start, end = form.period()
            try:
                services.training_record(actor=actor, person=form.cleaned_data["person"],
                                         course=form.cleaned_data["course"],
                                         valid_from=start, valid_to=end)
            except (ValidationFailed, InvalidInput) as exc:
                _input_error(form, exc)
            else:
                messages.success(request, _("Training registered."))
                return redirect("access:trainings")
        status = 422
    state = request.GET.get("state", "")
    rows = _rows(list(TrainingRecord.objects.select_related("person")),
                 lambda t: (t.person_id, t.course), now)
    return render(request, "access/trainings.html", {
        "nav": "governance", "tab": "trainings", "form": form,
        "rows": _filtered(rows, state), "counts": _counts(rows), "state": state,
        "without": _without(TrainingRecord, now), "can_manage": _can_manage(actor),
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def training_renew(request: HttpRequest, training_id: int) -> HttpResponse:
    actor = actor_of(request)
    _register_view(actor, "training")
    _require_manage(actor, "training", training_id)
    row = TrainingRecord.objects.select_related("person").filter(pk=training_id).first()
    if row is None:
        raise Http404
    starts = max(row.valid_to, timezone.now())
    form = forms.RenewForm(request.POST or None, starts=starts, initial={
        "valid_to": _plus_years(timezone.localdate(starts), 1)})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.training_renew(
                    actor=actor, training=row,
                    valid_to=forms.day_start(form.cleaned_data["valid_to"]))
            except (ValidationFailed, InvalidInput) as exc:
                _input_error(form, exc)
            else:
                messages.success(request, _("Training renewed."))
                return redirect("access:trainings")
        status = 422
    return render(request, "access/renew.html", {
        "nav": "governance", "tab": "trainings", "form": form, "row": row,
        "what": row.course, "starts": starts, "with_scan": False,
        "can_manage": _can_manage(actor), "back": "access:trainings",
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def partners(request: HttpRequest) -> HttpResponse:
    """Partner organisations (合作机构, F25): their people and live authorizations."""
    actor = actor_of(request)
    _register_view(actor, "partner_org")
    form = forms.PartnerForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                org = services.partner_org_create(
                    actor=actor, name=form.cleaned_data["name"],
                    registration_no=form.cleaned_data["registration_no"],
                    vetted_on=form.cleaned_data["vetted_on"], exists_ok=False)
            except (ValidationFailed, InvalidInput) as exc:
                _input_error(form, exc)
            else:
                messages.success(request, _("Partner organisation registered."))
                return redirect("access:partner", org_id=org.pk)
        status = 422
    now = timezone.now()
    orgs = PartnerOrganisation.objects.annotate(
        people=Count("members", filter=Q(members__is_active=True), distinct=True),
        live=Count("client_authorizations", filter=Q(
            client_authorizations__revoked_at__isnull=True,
            client_authorizations__valid_from__lte=now,
            client_authorizations__valid_to__gt=now), distinct=True),
    ).order_by("-active", "name")
    return render(request, "access/partners.html", {
        "nav": "governance", "tab": "partners", "form": form, "orgs": orgs,
        "can_manage": _can_manage(actor),
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def partner(request: HttpRequest, org_id: int) -> HttpResponse:
    """One partner organisation: edit, deactivate or reactivate, its people and its
    client authorizations."""
    actor = actor_of(request)
    _register_view(actor, "partner_org")
    org = PartnerOrganisation.objects.filter(pk=org_id).first()
    if org is None:
        raise Http404
    form = forms.PartnerForm(
        request.POST if request.POST.get("what") == "update" else None,
        initial={"name": org.name, "registration_no": org.registration_no,
                 "vetted_on": org.vetted_on})
    status = 200
    if request.method == "POST":
        what = request.POST.get("what", "")
        if what == "deactivate":
            ended = services.partner_org_deactivate(actor=actor, org=org)
            messages.success(request, _(
                "Deactivated: %(auths)d authorizations revoked, %(people)d accounts "
                "deactivated.") % {"auths": ended["authorizations"], "people": ended["people"]})
            return redirect("access:partner", org_id=org.pk)
        if what == "reactivate":
            services.partner_org_reactivate(actor=actor, org=org)
            messages.success(request, _("Reactivated. Its people's accounts stay as they are."))
            return redirect("access:partner", org_id=org.pk)
        if what != "update":
            raise InvalidInput(code="unknown_action")
        if form.is_valid():
            try:
                services.partner_org_update(
                    actor=actor, org=org, name=form.cleaned_data["name"],
                    registration_no=form.cleaned_data["registration_no"],
                    vetted_on=form.cleaned_data["vetted_on"])
            except (ValidationFailed, InvalidInput) as exc:
                _input_error(form, exc)
            else:
                messages.success(request, _("Changes saved."))
                return redirect("access:partner", org_id=org.pk)
        status = 422
    now = timezone.now()
    auths = (ClientAuthorization.objects.filter(grantee_org=org).select_related("client")
             .order_by("revoked_at", "-valid_to"))
    return render(request, "access/partner.html", {
        "nav": "governance", "tab": "partners", "org": org, "form": form,
        "people": User.objects.filter(partner_org=org).order_by("-is_active", "username"),
        "authorizations": [(a, a.revoked_at is None and a.valid_from <= now < a.valid_to)
                           for a in auths],
        "can_manage": _can_manage(actor),
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def purposes(request: HttpRequest) -> HttpResponse:
    """The purpose list (查询目的, F08) offered with reads of 内部 and above: add, reword,
    retire or restore, and order. Free text stays accepted beside it."""
    actor = actor_of(request)
    _register_view(actor, "purpose")
    add_form = forms.PurposeForm(request.POST if request.POST.get("what") == "add" else None,
                                 prefix="new")
    rename: tuple[int, Any] | None = None
    status = 200
    if request.method == "POST":
        what = request.POST.get("what", "")
        if what == "add":
            if add_form.is_valid():
                try:
                    services.purpose_add(actor=actor, text=add_form.cleaned_data["text"])
                except (ValidationFailed, InvalidInput) as exc:
                    _input_error(add_form, exc)
                else:
                    messages.success(request, _("Purpose added."))
                    return redirect("access:purposes")
            status = 422
        else:
            purpose_id = positive_id(request.POST.get("purpose"))
            row = Purpose.objects.filter(pk=purpose_id).first() if purpose_id else None
            if row is None:
                raise Http404
            if what == "rename":
                rename_form = forms.PurposeForm(request.POST, prefix=f"p{row.pk}")
                if rename_form.is_valid():
                    try:
                        services.purpose_rename(actor=actor, purpose=row,
                                                text=rename_form.cleaned_data["text"])
                    except (ValidationFailed, InvalidInput) as exc:
                        _input_error(rename_form, exc)
                    else:
                        messages.success(request, _("Purpose reworded."))
                        return redirect("access:purposes")
                rename = (row.pk, rename_form)
                status = 422
            elif what in {"retire", "restore"}:
                try:
                    services.purpose_set_active(actor=actor, purpose=row,
                                                active=what == "restore")
                except (ValidationFailed, InvalidInput) as exc:
                    messages.error(request, str(exc.message))
                return redirect("access:purposes")
            elif what in {"up", "down"}:
                services.purpose_move(actor=actor, purpose=row, up=what == "up")
                return redirect("access:purposes")
            else:
                raise InvalidInput(code="unknown_action")
    rows = []
    for p in Purpose.objects.order_by("position", "id"):
        f = (rename[1] if rename and rename[0] == p.pk
             else forms.PurposeForm(initial={"text": p.text}, prefix=f"p{p.pk}"))
        rows.append((p, f))
    return render(request, "access/purposes.html", {
        "nav": "governance", "tab": "purposes", "rows": rows, "add_form": add_form,
        "can_manage": _can_manage(actor),
    }, status=status)
