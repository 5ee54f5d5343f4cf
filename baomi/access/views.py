"""Access governance pages: my access (requests, approvals, notifications), the matrix,
a client's authorizations and assignments, a person's agreements, training and lifecycle,
break-glass reads and their review, access-review campaigns and their exports.

Views parse, look up (404 when the object is out of reach) and call one service; what a
page offers comes from `visible_actions`, and the services decide again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from baomi import policy
from baomi.access import selectors, services
from baomi.access.models import (
    AgreementKind,
    BreakGlassRead,
    ClientAuthorization,
    PartnerOrganisation,
    QueryRequest,
    ReviewCampaign,
    ReviewItem,
)
from baomi.accounts.models import Department, Role, User
from baomi.clients.models import Client
from baomi.clients.selectors import client_get
from baomi.core.http import actor_of
from baomi.errors import BaomiError, NotFound

LEVELS = [(lv.value, lv.value) for lv in policy.LEVELS]


def _dt(raw: str | None) -> datetime | None:
    """A datetime from a form (`YYYY-MM-DDTHH:MM`, local time), aware; None if invalid."""
    if not raw:
        return None
    value = parse_datetime(raw.strip())
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
    ids = [int(v) for v in request.POST.getlist("document_ids") if v.strip().isdigit()]
    return services.ScopeInput(request.POST.getlist("levels"),
                               request.POST.getlist("categories"), ids)


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
            (action.value, [c.value for c in policy.cells(role, action)])
            for action in policy.Action
            if any(c is not policy.Req.DENY for c in policy.cells(role, action))
        ]
        roles.append((role.value, Role(role.value).label, rows))
    return render(request, "access/matrix.html",
                  {"nav": "access", "roles": roles, "levels": [lv.value for lv in policy.LEVELS]})


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
        "categories": [(c.value, c.value) for c in policy.Category],
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
    now = timezone.localtime()
    return render(request, "access/client.html", {
        "nav": "clients",
        "client": client,
        "authorizations": selectors.authorizations_for_client(client),
        "assignees": [a.user for a in client.assignments.select_related("user")],
        "can_grant": "authorization.grant" in visible,
        "can_revoke": "authorization.revoke" in visible,
        "can_assign": "assignment.manage" in visible,
        "can_request": "query_request.create" in visible,
        "is_portal": actor.role == Role.CLIENT,
        "staff": User.objects.filter(is_active=True, role__in=[
            Role.ACCOUNTANT, Role.MANAGER, Role.EXTERNAL_AUDITOR, Role.PARTNER]).order_by(
            "username"),
        "orgs": PartnerOrganisation.objects.all(),
        "documents": client.documents.order_by("-created_at")[:50],
        "levels": LEVELS,
        "categories": [(c.value, c.value) for c in policy.Category],
        "start": now.strftime("%Y-%m-%dT%H:%M"),
        "end": (now + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M"),
    })


def _terms_from(request: HttpRequest, client: Client) -> tuple[User | None,
                                                              PartnerOrganisation | None]:
    user_id, org_id = request.POST.get("grantee_user", ""), request.POST.get("grantee_org", "")
    user = User.objects.filter(pk=int(user_id)).first() if user_id.isdigit() else None
    org = PartnerOrganisation.objects.filter(pk=int(org_id)).first() if org_id.isdigit() else None
    return user, org


@login_required
@require_POST
def authorization_grant(request: HttpRequest, client_id: int) -> HttpResponseBase:
    actor = actor_of(request)
    client = _client(request, client_id)
    user, org = _terms_from(request, client)
    start, end = _dt(request.POST.get("valid_from")), _dt(request.POST.get("valid_to"))
    if request.POST.get("form_only"):
        if start is None or end is None:
            messages.error(request, _("Give the start and the end."))
            return redirect("access:client", client_id=client.pk)
        terms = services.AuthorizationTerms(client.pk, user.pk if user else None,
                                            org.pk if org else None, _scope(request), start, end)
        pdf = services.authorization_form_pdf(terms, client_name=client.name,
                                              grantee=str(user or org or ""))
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = 'attachment; filename="authorization-form.pdf"'
        return response
    # Staff first upload the client's signed form as a document of the client (the vault
    # seals it as it arrives), then pick it here; the service verifies it.
    from baomi.vault.models import Document

    raw = request.POST.get("form_document", "")
    form_document = (Document.objects.filter(pk=int(raw), client=client).first()
                     if raw.isdigit() else None)
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
    raw = request.POST.get("user", "")
    user = User.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
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
        "agreements": selectors.agreements_of(person),
        "trainings": selectors.trainings_of(person),
        "kinds": AgreementKind.choices,
        "colleagues": User.objects.filter(is_active=True).exclude(pk=person.pk).exclude(
            role__in=[Role.CLIENT, Role.PARTNER]).order_by("username"),
        "departments": Department.objects.all(),
        "can_manage": actor.role == Role.ADMIN,
        "clients": Client.objects.filter(assignments__user=person).order_by("name"),
        "start": now.strftime("%Y-%m-%dT%H:%M"),
        "end": (now + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M"),
    })


def _staff_action(actor: User, person: User, what: str, request: HttpRequest) -> None:
    start, end = _dt(request.POST.get("valid_from")), _dt(request.POST.get("valid_to"))
    if what == "agreement":
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
        raw = request.POST.get("department", "")
        dept = Department.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
        services.staff_transfer(actor=actor, user=person, department=dept,
                                post=request.POST.get("post", ""))
    elif what == "handover":
        raw = request.POST.get("to_user", "")
        to = User.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
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
    if request.method == "POST":
        try:
            prepared = services.break_glass_download(
                actor=actor, document=document, reason=request.POST.get("reason", ""),
                purpose=request.POST.get("purpose", ""))
        except BaomiError as exc:
            _fail(request, exc)
        else:
            return download_response(prepared)
    return render(request, "access/break_glass.html",
                  {"nav": "access", "document": document, "purposes": selectors.purposes()})


@login_required
@require_http_methods(["GET", "POST"])
def break_glass_reviews(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    if actor.role != Role.COMPLIANCE:
        raise Http404
    if request.method == "POST":
        raw = request.POST.get("item", "")
        item = BreakGlassRead.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
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
    campaigns = ReviewCampaign.objects.all() if manage else ReviewCampaign.objects.filter(
        items__reviewer=actor).distinct()
    deadline = (timezone.localtime() + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M")
    return render(request, "access/reviews.html", {"nav": "access", "campaigns": campaigns,
                                                   "manage": manage, "deadline": deadline})


def _campaign(actor: User, campaign_id: int) -> tuple[ReviewCampaign, bool]:
    campaign = ReviewCampaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise Http404
    manage = selectors.permitted_for(actor, policy.Action.ACCESS_REVIEW_MANAGE, None)
    if not manage and not campaign.items.filter(reviewer=actor).exists():
        raise Http404
    return campaign, manage


@login_required
@require_http_methods(["GET", "POST"])
def review(request: HttpRequest, campaign_id: int) -> HttpResponse:
    actor = actor_of(request)
    campaign, manage = _campaign(actor, campaign_id)
    if request.method == "POST":
        raw = request.POST.get("item", "")
        item = ReviewItem.objects.filter(pk=int(raw) if raw.isdigit() else 0,
                                         campaign=campaign).first()
        if item is None:
            raise Http404
        try:
            services.review_decide(actor=actor, item=item,
                                   confirm=request.POST.get("decision") == "confirm")
        except BaomiError as exc:
            _fail(request, exc)
        return redirect("access:review", campaign_id=campaign.pk)
    items = selectors.campaign_items(campaign, None if manage else actor)
    return render(request, "access/review.html",
                  {"nav": "access", "campaign": campaign, "items": items, "manage": manage})


@login_required
@require_GET
def review_export(request: HttpRequest, campaign_id: int, fmt: str) -> HttpResponse:
    from baomi.access import exports

    campaign, manage = _campaign(actor_of(request), campaign_id)
    if not manage:
        raise Http404
    if fmt == "pdf":
        response = HttpResponse(exports.review_pdf(campaign), content_type="application/pdf")
    else:
        response = HttpResponse(
            exports.review_xlsx(campaign),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="access-review-{campaign.pk}.{fmt}"'
    return response
