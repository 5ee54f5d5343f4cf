"""REST endpoints of access governance under /api/v1/ (tag `access`).

Each endpoint parses, looks the object up (404 when the caller may not know it exists)
and calls one service; the services decide through `baomi.policy` and answer 403 with
the policy's reason (code = rule code) otherwise.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Schema
from ninja.responses import Status
from pydantic import ConfigDict, Field

from baomi import policy
from baomi.access import selectors, services
from baomi.access.models import (
    ClientAuthorization,
    PartnerOrganisation,
    QueryRequest,
    ReviewCampaign,
    ReviewItem,
)
from baomi.accounts.models import Role, User
from baomi.accounts.services import department_get_or_create
from baomi.api.base import ERRORS, api, typed_text
from baomi.clients.selectors import client_get
from baomi.errors import InvalidInput, NotFound
from baomi.policy.text import PURPOSE_LIMIT, REASON_LIMIT


class _Strict(Schema):
    model_config = ConfigDict(extra="forbid")


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101  (auth classes only return User)
    return user


def _b64(value: str, field_name: str) -> bytes | None:
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(_("Not valid base64."), code="invalid_base64",
                           detail={"fields": {field_name: [_("Not valid base64.")]}}) from exc


# A database id in a request body: 1…2**63-1, the range of a 64-bit id column, so a
# larger number is refused as invalid input (422) and the schema says so.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


class ScopeIn(_Strict):
    levels: list[policy.Level] = Field(default_factory=list, max_length=4)
    categories: list[policy.Category] = Field(default_factory=list, max_length=7)
    document_ids: list[Id] = Field(default_factory=list, max_length=500)

    def to_input(self) -> services.ScopeInput:
        return services.ScopeInput([str(v) for v in self.levels],
                                   [str(v) for v in self.categories], self.document_ids)


class RequestIn(_Strict):
    scope: ScopeIn
    purpose: str = typed_text(PURPOSE_LIMIT)
    valid_from: datetime
    valid_to: datetime


class RequestOut(Schema):
    id: int
    client_id: int
    requester: str
    purpose: str
    scope_levels: list[str]
    scope_categories: list[str]
    scope_document_ids: list[int]
    valid_from: datetime
    valid_to: datetime
    status: str
    decided_by: str | None
    decision_note: str

    @staticmethod
    def resolve_requester(obj: QueryRequest) -> str:
        return obj.requester.username

    @staticmethod
    def resolve_decided_by(obj: QueryRequest) -> str | None:
        return obj.decided_by.username if obj.decided_by else None


class DecisionIn(_Strict):
    note: str = typed_text(REASON_LIMIT, default="")


def _request_visible(actor: User, request_id: int) -> QueryRequest:
    row = QueryRequest.objects.select_related("client", "requester", "decided_by").filter(
        pk=request_id
    ).first()
    if row is None:
        raise NotFound(code="query_request_not_found")
    if row.requester_id == actor.pk:
        return row
    try:
        client_get(actor=actor, client_id=row.client_id)
    except NotFound as exc:
        raise NotFound(code="query_request_not_found") from exc
    return row


@api.get("/query-requests", response={200: list[RequestOut], **ERRORS}, tags=["access"])
def query_requests_list(request: HttpRequest) -> list[QueryRequest]:
    """The caller's own query requests, then those waiting for the caller's decision."""
    actor = _actor(request)
    return [*selectors.requests_of(actor)[:200], *selectors.requests_to_decide(actor)]


@api.post("/clients/{client_id}/query-requests", response={201: RequestOut, **ERRORS},
          tags=["access"])
def query_requests_create(request: HttpRequest, client_id: int,
                          payload: RequestIn) -> Status[QueryRequest]:
    """File a query request (scope, purpose, window ≤ 90 days)."""
    actor = _actor(request)
    client = client_get(actor=actor, client_id=client_id)
    row = services.request_create(actor=actor, client=client, scope=payload.scope.to_input(),
                                  purpose=payload.purpose, valid_from=payload.valid_from,
                                  valid_to=payload.valid_to)
    return Status(201, row)


@api.post("/query-requests/{request_id}/approve", response={200: RequestOut, **ERRORS},
          tags=["access"])
def query_requests_approve(request: HttpRequest, request_id: int,
                           payload: DecisionIn) -> QueryRequest:
    """Approve (never one's own: 403 `self_approval`)."""
    actor = _actor(request)
    row = _request_visible(actor, request_id)
    return services.request_approve(actor=actor, request=row, note=payload.note)


@api.post("/query-requests/{request_id}/reject", response={200: RequestOut, **ERRORS},
          tags=["access"])
def query_requests_reject(request: HttpRequest, request_id: int,
                          payload: DecisionIn) -> QueryRequest:
    actor = _actor(request)
    row = _request_visible(actor, request_id)
    return services.request_reject(actor=actor, request=row, note=payload.note)


@api.post("/query-requests/{request_id}/cancel", response={200: RequestOut, **ERRORS},
          tags=["access"])
def query_requests_cancel(request: HttpRequest, request_id: int) -> QueryRequest:
    actor = _actor(request)
    row = _request_visible(actor, request_id)
    return services.request_cancel(actor=actor, request=row)


class AuthorizationIn(_Strict):
    grantee_user_id: Id | None = None
    grantee_org_id: Id | None = None
    scope: ScopeIn
    valid_from: datetime
    valid_to: datetime
    form_base64: str = Field(default="", max_length=14_000_000,
                             description="The client's signed form (staff only), base64.")


class AuthorizationOut(Schema):
    id: int
    client_id: int
    grantee_user_id: int | None
    grantee_org_id: int | None
    scope_levels: list[str]
    scope_categories: list[str]
    scope_document_ids: list[int]
    valid_from: datetime
    valid_to: datetime
    via: str
    form_document_id: int | None
    revoked_at: datetime | None


class RevokeIn(_Strict):
    reason: str = typed_text(REASON_LIMIT, default="")


@api.get("/clients/{client_id}/authorizations", response={200: list[AuthorizationOut], **ERRORS},
         tags=["access"])
def authorizations_list(request: HttpRequest, client_id: int) -> list[ClientAuthorization]:
    """The client's authorizations (who may see what, F07/F25). A partner gets only
    those naming them or their organisation."""
    actor = _actor(request)
    client = client_get(actor=actor, client_id=client_id)
    return list(selectors.authorizations_visible(actor, client))


@api.post("/clients/{client_id}/authorizations", response={201: AuthorizationOut, **ERRORS},
          tags=["access"])
def authorizations_create(request: HttpRequest, client_id: int,
                          payload: AuthorizationIn) -> Status[ClientAuthorization]:
    """Grant: the client itself (portal), or staff with the client's signed form (the
    PDF from the form endpoint, signed; an altered one is refused as `form_tampered`)."""
    actor = _actor(request)
    client = client_get(actor=actor, client_id=client_id)
    user = (User.objects.filter(pk=payload.grantee_user_id).first()
            if payload.grantee_user_id else None)
    org = (PartnerOrganisation.objects.filter(pk=payload.grantee_org_id).first()
           if payload.grantee_org_id else None)
    if (payload.grantee_user_id and user is None) or (payload.grantee_org_id and org is None):
        raise NotFound(code="grantee_not_found")
    row = services.authorization_grant(
        actor=actor, client=client, grantee_user=user, grantee_org=org,
        scope=payload.scope.to_input(), valid_from=payload.valid_from, valid_to=payload.valid_to,
        form=_b64(payload.form_base64, "form_base64"),
    )
    return Status(201, row)


class FormIn(_Strict):
    grantee_user_id: Id | None = None
    grantee_org_id: Id | None = None
    scope: ScopeIn
    valid_from: datetime
    valid_to: datetime


@api.post("/clients/{client_id}/authorization-form", response={200: None, **ERRORS},
          tags=["access"])
def authorizations_form(request: HttpRequest, client_id: int, payload: FormIn) -> HttpResponse:
    """The PDF form for these terms, for the client to sign (its code binds the terms)."""
    actor = _actor(request)
    client = client_get(actor=actor, client_id=client_id)
    pdf = services.authorization_form_issue(
        actor=actor, client=client, grantee_user_id=payload.grantee_user_id,
        grantee_org_id=payload.grantee_org_id, scope=payload.scope.to_input(),
        valid_from=payload.valid_from, valid_to=payload.valid_to)
    return HttpResponse(pdf, content_type="application/pdf")


@api.post("/authorizations/{authorization_id}/revoke", response={200: AuthorizationOut, **ERRORS},
          tags=["access"])
def authorizations_revoke(request: HttpRequest, authorization_id: int,
                          payload: RevokeIn) -> ClientAuthorization:
    actor = _actor(request)
    row = ClientAuthorization.objects.select_related("client").filter(pk=authorization_id).first()
    if row is None:
        raise NotFound(code="authorization_not_found")
    try:
        client_get(actor=actor, client_id=row.client_id)
    except NotFound as exc:
        raise NotFound(code="authorization_not_found") from exc
    return services.authorization_revoke(actor=actor, authorization=row, reason=payload.reason)


class AssignIn(_Strict):
    user_id: Id


class OkOut(Schema):
    ok: bool
    detail: dict[str, int] = Field(default_factory=dict)


def _user(actor: User, user_id: int, ledger_action: str) -> User:
    """The person an endpoint names. A caller who may not see the staff list
    (`staff.view`) gets the same answer for an id that does not exist as for one that
    does (403, recorded), so that ids cannot be probed; others get 404."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        if not selectors.permitted_for(actor, policy.Action.STAFF_VIEW, None):
            services.require_allowed(actor, policy.Action.STAFF_MANAGE, None,
                                     ledger_action=ledger_action, object_type="user",
                                     object_id=user_id)
        raise NotFound(code="user_not_found")
    return user


@api.post("/clients/{client_id}/assignments", response={200: OkOut, **ERRORS}, tags=["access"])
def assignments_add(request: HttpRequest, client_id: int, payload: AssignIn) -> dict[str, object]:
    actor = _actor(request)
    client = client_get(actor=actor, client_id=client_id)
    services.assignment_add(actor=actor, client=client,
                            user=_user(actor, payload.user_id, "assignment.add"))
    return {"ok": True}


@api.delete("/clients/{client_id}/assignments/{user_id}", response={200: OkOut, **ERRORS},
            tags=["access"])
def assignments_remove(request: HttpRequest, client_id: int, user_id: int) -> dict[str, object]:
    actor = _actor(request)
    client = client_get(actor=actor, client_id=client_id)
    services.assignment_remove(actor=actor, client=client,
                               user=_user(actor, user_id, "assignment.remove"))
    return {"ok": True}


class TransferIn(_Strict):
    department: str = Field(max_length=100)
    post: str = Field(default="", max_length=100)


class HandoverIn(_Strict):
    to_user_id: Id


@api.post("/staff/{user_id}/leave", response={200: OkOut, **ERRORS}, tags=["access"])
def staff_leave(request: HttpRequest, user_id: int) -> dict[str, object]:
    """离职: every grant, token and session of the person ends at once."""
    actor = _actor(request)
    return {"ok": True, "detail": services.staff_leave(
        actor=actor, user=_user(actor, user_id, "staff.leave"))}


@api.post("/staff/{user_id}/transfer", response={200: OkOut, **ERRORS}, tags=["access"])
def staff_transfer(request: HttpRequest, user_id: int, payload: TransferIn) -> dict[str, object]:
    """调岗: grants, tokens and sessions end; the department changes."""
    actor = _actor(request)
    user = _user(actor, user_id, "staff.transfer")
    # The department is looked up (or created) only once the caller may transfer the
    # person: a refused caller must not leave a new department behind.
    services.staff_manage_check(actor=actor, user=user, ledger_action="staff.transfer")
    name = payload.department.strip()
    # A blank department takes the person out of theirs (as on the staff page); a new
    # name creates the department (recorded, `department.create`).
    dept = department_get_or_create(name=name[:100], actor=actor) if name else None
    return {"ok": True, "detail": services.staff_transfer(
        actor=actor, user=user, department=dept, post=payload.post)}


@api.post("/staff/{user_id}/handover", response={200: OkOut, **ERRORS}, tags=["access"])
def staff_handover(request: HttpRequest, user_id: int, payload: HandoverIn) -> dict[str, object]:
    """工作交接: every client of the person moves to the colleague in one step, also
    after they left: `detail.moved` is the number of clients moved."""
    actor = _actor(request)
    moved = services.staff_handover(actor=actor, from_user=_user(actor, user_id, "staff.handover"),
                                    to_user=_user(actor, payload.to_user_id, "staff.handover"))
    return {"ok": True, "detail": {"moved": moved}}


class RegistryIn(_Strict):
    # Agreements: omitted, the type that serves the person's role
    # (`selectors.registry_agreement_kind`); another type is refused.
    kind: str = Field(default="", max_length=16)
    course: str = Field(default="", max_length=200)
    valid_from: datetime
    valid_to: datetime
    scan_base64: str = Field(default="", max_length=14_000_000)
    scan_name: str = Field(default="", max_length=200)


@api.post("/staff/{user_id}/agreements", response={201: OkOut, **ERRORS}, tags=["access"])
def agreements_create(request: HttpRequest, user_id: int, payload: RegistryIn) -> Status[object]:
    """Register a confidentiality agreement (F23) with its signed scan (`scan_base64`,
    required: `scan_required`), sealed under the firm key. The type must serve the
    person's role (`agreement_kind_mismatch`); omitted, it is that type."""
    actor = _actor(request)
    person = _user(actor, user_id, "agreement.record")
    row = services.agreement_record(
        actor=actor, person=person,
        kind=payload.kind or selectors.registry_agreement_kind(person.role),
        valid_from=payload.valid_from, valid_to=payload.valid_to,
        scan=_b64(payload.scan_base64, "scan_base64"), scan_name=payload.scan_name)
    return Status(201, {"ok": True, "detail": {"id": row.pk}})


@api.post("/staff/{user_id}/trainings", response={201: OkOut, **ERRORS}, tags=["access"])
def trainings_create(request: HttpRequest, user_id: int, payload: RegistryIn) -> Status[object]:
    """Register completed confidentiality training (F24)."""
    actor = _actor(request)
    row = services.training_record(actor=actor, person=_user(actor, user_id, "training.record"),
                                   course=payload.course, valid_from=payload.valid_from,
                                   valid_to=payload.valid_to)
    return Status(201, {"ok": True, "detail": {"id": row.pk}})


class CampaignIn(_Strict):
    name: str = Field(max_length=200)
    deadline: datetime


class ItemOut(Schema):
    id: int
    reviewer_id: int | None
    grant_kind: str
    grant_id: int
    holder: str
    client_id: int | None
    client_name: str
    description: str = Field(description="An authorization's period, a request's purpose.")
    scope_levels: list[str] = Field(description="What the grant covered when the campaign "
                                                "was made (empty for an assignment, and for "
                                                "an item of a campaign made before scopes "
                                                "were kept whose grant had ended).")
    scope_categories: list[str]
    scope_document_ids: list[int]
    decision: str
    flagged: bool


class CampaignOut(Schema):
    id: int
    name: str
    deadline: datetime
    items: list[ItemOut]


def _campaign(actor: User, campaign_id: int) -> tuple[ReviewCampaign, User | None]:
    campaign = ReviewCampaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound(code="access_review_not_found")
    if selectors.permitted_for(actor, policy.Action.ACCESS_REVIEW_MANAGE, None):
        return campaign, None
    if selectors.campaign_items(campaign, actor):
        return campaign, actor
    raise NotFound(code="access_review_not_found")


@api.post("/access-reviews", response={201: CampaignOut, **ERRORS}, tags=["access"])
def access_reviews_create(request: HttpRequest, payload: CampaignIn) -> Status[dict[str, object]]:
    campaign = services.review_campaign_create(actor=_actor(request), name=payload.name,
                                               deadline=payload.deadline)
    return Status(201, {"id": campaign.pk, "name": campaign.name, "deadline": campaign.deadline,
                        "items": list(campaign.items.all())})


@api.get("/access-reviews/{campaign_id}", response={200: CampaignOut, **ERRORS}, tags=["access"])
def access_reviews_get(request: HttpRequest, campaign_id: int) -> dict[str, object]:
    """A campaign: everything (compliance, admin) or the caller's own items (reviewer)."""
    campaign, reviewer = _campaign(_actor(request), campaign_id)
    return {"id": campaign.pk, "name": campaign.name, "deadline": campaign.deadline,
            "items": selectors.campaign_items(campaign, reviewer)}


class ReviewIn(_Strict):
    confirm: bool


@api.post("/access-review-items/{item_id}", response={200: ItemOut, **ERRORS}, tags=["access"])
def access_review_decide(request: HttpRequest, item_id: int, payload: ReviewIn) -> ReviewItem:
    """Confirm or revoke one grant: the item's reviewer while they still review the
    client's grants, or a compliance officer for an item whose reviewer has left, was
    transferred (or that has none). 404 for anyone else."""
    actor = _actor(request)
    item = ReviewItem.objects.select_related("reviewer", "client").filter(pk=item_id).first()
    if item is None or not services.review_may_decide(actor, item):
        raise NotFound(code="review_item_not_found")
    return services.review_decide(actor=actor, item=item, confirm=payload.confirm)


@api.get("/access-reviews/{campaign_id}/export", response={200: None, **ERRORS}, tags=["access"])
def access_reviews_export(request: HttpRequest, campaign_id: int,
                          format: Literal["xlsx", "pdf"] = "xlsx") -> HttpResponse:
    """The result as XLSX (`format=xlsx`) or PDF (`format=pdf`); recorded in the ledger
    (`access_review.export`) before it is built."""
    from baomi.access.exports import CONTENT_TYPES

    actor = _actor(request)
    campaign, reviewer = _campaign(actor, campaign_id)
    if reviewer is not None:
        raise NotFound(code="access_review_not_found")
    data = services.review_export(actor=actor, campaign=campaign, fmt=format)
    response = HttpResponse(data, content_type=CONTENT_TYPES[format])
    response["Content-Disposition"] = (
        f'attachment; filename="access-review-{campaign.pk}.{format}"'
    )
    return response


class MatrixOut(Schema):
    roles: dict[str, dict[str, list[str]]]


@api.get("/access/matrix", response={200: MatrixOut, **ERRORS}, tags=["access"])
def access_matrix(request: HttpRequest) -> dict[str, object]:
    """The role × action × level matrix the policy decides with (docs/access-matrix.md)."""
    return {"roles": {role.value: {a.value: [c.value for c in cells] for a, cells in rows.items()}
                      for role, rows in policy.MATRIX.items()}}


class NotificationOut(Schema):
    id: int
    kind: str
    params: dict[str, object]
    url: str
    created_at: datetime
    read_at: datetime | None


@api.get("/notifications", response={200: list[NotificationOut], **ERRORS}, tags=["access"])
def notifications_list(request: HttpRequest) -> list[object]:
    return list(selectors.notifications_of(_actor(request)))


class BreakGlassIn(_Strict):
    reason: str = typed_text(REASON_LIMIT, default="", description="Why this emergency read.")
    purpose: str = typed_text(PURPOSE_LIMIT, default="")


@api.post("/documents/{document_id}/break-glass", response={200: None, **ERRORS},
          tags=["access"])
def documents_break_glass(request: HttpRequest, document_id: int,
                          payload: BreakGlassIn) -> object:
    """Emergency read by a manager with a mandatory reason; compliance is alerted at once
    and a post-review is opened. A POST (a browser session needs its CSRF token), so
    a link or an embedded image cannot make an emergency read in a manager's name. A
    manager the gates refuse (agreement, training, second factor, clearance, a document
    closed to managers) gets 404, as for a missing id, so ids reveal nothing; the
    refusal is recorded. Anyone else: 404 unless the document is visible."""
    from baomi.audit.events import record
    from baomi.vault.models import Document
    from baomi.vault.selectors import document_get
    from baomi.vault.views import download_response

    actor = _actor(request)
    if actor.role != Role.MANAGER:
        document_get(actor=actor, document_id=document_id)  # 404 when hidden
    document = Document.objects.select_related("client").filter(pk=document_id).first()
    if document is None:
        raise NotFound(code="document_not_found")
    if actor.role == Role.MANAGER:
        refusal = services.break_glass_refusal(actor=actor, document=document)
        if refusal is not None:
            record(actor, "break_glass.read", object_type="document", object_id=document.pk,
                   client_id=document.client_id, decision="refused", reason=refusal.value)
            raise NotFound(code="document_not_found")
    prepared = services.break_glass_download(actor=actor, document=document,
                                             reason=payload.reason, purpose=payload.purpose)
    return download_response(prepared)
