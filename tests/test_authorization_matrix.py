"""The door cannot be walked around: every API endpoint and every web view that touches
client data, for every role, against an object of an assigned client, an unassigned
client and a client with an authorization for someone else, answers as the documented
access matrix (`baomi.policy.MATRIX`, docs/access-matrix.md) says.

The endpoints are enumerated from the OpenAPI schema and the views from the URL
resolver; one missing from `API` or `WEB` below fails `test_every_*_is_in_the_table`.
The expected outcome is computed with `baomi.policy.decide` on the facts the real
selectors gather (so it is the documented matrix, applied), in the order the endpoint
checks: the client (`client.view`) or document (`document.metadata`) it names first,
then the action. `ok` = passed the gate (2xx/3xx, or 409/422 input errors after it);
`403` = refused with a reason; `404` = refused without revealing existence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from baomi import policy
from baomi.access import selectors as access
from baomi.access.models import (
    ClientAuthorization,
    PartnerOrganisation,
    QueryRequest,
    ReviewCampaign,
)
from baomi.accounts.models import Level, Role
from baomi.clients.models import Assignment
from conftest import agreement_scan_b64, verified_client

pytestmark = pytest.mark.django_db

A = policy.Action
ROLES = [r.value for r in Role]
TARGETS = ("assigned", "unassigned", "authorized_other")
OK, DENIED, HIDDEN = "ok", "403", "404"


@dataclass(frozen=True)
class Spec:
    """How an endpoint is gated. `scope`: 'client' (client_get first), 'document'
    (document.metadata first), 'firm' (no object), 'any' (every signed-in user; the
    response is filtered), 'fixed' (expected given per role in `roles_ok`)."""

    scope: str
    action: policy.Action | None = None
    payload: Callable[[dict[str, Any], str], Any] | None = None
    roles_ok: frozenset[str] = frozenset()
    hidden_when_refused: bool = False
    query: dict[str, str] = field(default_factory=dict)
    level: policy.Level | None = None  # the level the action touches, if not the client's


def _period(days: int = 7, start: int = 0) -> dict[str, str]:
    now = timezone.now() + timedelta(days=start)
    return {"valid_from": now.isoformat(), "valid_to": (now + timedelta(days=days)).isoformat()}


def _req_payload(w: dict[str, Any], t: str) -> dict[str, Any]:
    return {"scope": {"levels": ["internal"]}, "purpose": "审计", **_period()}


def _auth_payload(w: dict[str, Any], t: str) -> dict[str, Any]:
    return {"grantee_user_id": w["spare"].pk, "scope": {"levels": ["internal"]}, **_period(30)}


STAFF = frozenset(r.value for r in Role if r != Role.CLIENT)

API: dict[tuple[str, str], Spec] = {
    ("GET", "/api/v1/query-requests"): Spec("any"),
    ("POST", "/api/v1/clients/{client_id}/query-requests"): Spec(
        "client", A.QUERY_REQUEST_CREATE, _req_payload),
    ("POST", "/api/v1/query-requests/{request_id}/approve"): Spec(
        "request", A.QUERY_REQUEST_APPROVE, lambda w, t: {"note": ""}),
    ("POST", "/api/v1/query-requests/{request_id}/reject"): Spec(
        "request", A.QUERY_REQUEST_APPROVE, lambda w, t: {"note": ""}),
    # Only the requester (the spare accountant) may withdraw: 403 once the client is visible.
    ("POST", "/api/v1/query-requests/{request_id}/cancel"): Spec("request"),
    ("GET", "/api/v1/clients/{client_id}/authorizations"): Spec("client", A.CLIENT_VIEW),
    ("POST", "/api/v1/clients/{client_id}/authorizations"): Spec(
        "client", A.AUTHORIZATION_GRANT, _auth_payload),
    ("POST", "/api/v1/clients/{client_id}/authorization-form"): Spec(
        "client", A.AUTHORIZATION_GRANT, _auth_payload),
    ("POST", "/api/v1/authorizations/{authorization_id}/revoke"): Spec(
        "client", A.AUTHORIZATION_REVOKE, lambda w, t: {"reason": "x"}),
    ("POST", "/api/v1/clients/{client_id}/assignments"): Spec(
        "client", A.ASSIGNMENT_MANAGE, lambda w, t: {"user_id": w["spare"].pk}),
    ("DELETE", "/api/v1/clients/{client_id}/assignments/{user_id}"): Spec(
        "client", A.ASSIGNMENT_MANAGE),
    ("POST", "/api/v1/staff/{user_id}/leave"): Spec("firm", A.STAFF_MANAGE),
    ("POST", "/api/v1/staff/{user_id}/transfer"): Spec(
        "firm", A.STAFF_MANAGE, lambda w, t: {"department": "二部"}),
    ("POST", "/api/v1/staff/{user_id}/handover"): Spec(
        "firm", A.STAFF_MANAGE, lambda w, t: {"to_user_id": w["users"]["manager"].pk}),
    ("POST", "/api/v1/staff/{user_id}/agreements"): Spec(
        "fixed", roles_ok=frozenset({"admin", "compliance"}),
        payload=lambda w, t: {"kind": "employee", **_period(3, start=500),
                              **agreement_scan_b64()}),
    ("POST", "/api/v1/staff/{user_id}/trainings"): Spec(
        "fixed", roles_ok=frozenset({"admin", "compliance"}),
        payload=lambda w, t: {"course": "新课程", **_period(3)}),
    ("POST", "/api/v1/access-reviews"): Spec(
        "firm", A.ACCESS_REVIEW_MANAGE,
        lambda w, t: {"name": "季度审查", "deadline": _period()["valid_to"]}),
    ("GET", "/api/v1/access-reviews/{campaign_id}"): Spec(
        "fixed", roles_ok=frozenset({"admin", "compliance", "manager"}), hidden_when_refused=True),
    ("POST", "/api/v1/access-review-items/{item_id}"): Spec(
        "fixed", roles_ok=frozenset({"manager"}), hidden_when_refused=True,
        payload=lambda w, t: {"confirm": True}),
    ("GET", "/api/v1/access-reviews/{campaign_id}/export"): Spec(
        "fixed", roles_ok=frozenset({"admin", "compliance"}), hidden_when_refused=True),
    ("GET", "/api/v1/access/matrix"): Spec("any"),
    ("GET", "/api/v1/notifications"): Spec("any"),
    ("POST", "/api/v1/documents/{document_id}/break-glass"): Spec(
        "break_glass", A.BREAK_GLASS_READ,
        lambda w, t: {"reason": "系统故障紧急核对", "purpose": "审计"}),
    ("GET", "/api/v1/clients"): Spec("any"),
    ("POST", "/api/v1/clients"): Spec(
        "firm", A.CLIENT_CREATE,
        lambda w, t: {"name": "矩阵测试有限公司", "uscc": "91350100M000100Y43",
                      "legal_representative": "王五"}),
    ("GET", "/api/v1/clients/{client_id}"): Spec("client", A.CLIENT_VIEW),
    ("PATCH", "/api/v1/clients/{client_id}"): Spec(
        "client", A.CLIENT_UPDATE, lambda w, t: {"legal_representative": "赵六"}),
    ("GET", "/api/v1/staff"): Spec("firm", A.STAFF_VIEW),
    ("POST", "/api/v1/staff"): Spec(
        "firm", A.STAFF_MANAGE,
        lambda w, t: {"username": "newbie", "password": "Long-enough-pass-42",
                      "role": "accountant"}),
    ("GET", "/api/v1/staff/{user_id}"): Spec("firm", A.STAFF_VIEW),
    # One's own account: every member of staff; portal users are not staff.
    ("GET", "/api/v1/staff/me"): Spec("fixed", roles_ok=STAFF),
    ("PATCH", "/api/v1/staff/{user_id}"): Spec(
        "firm", A.STAFF_MANAGE, lambda w, t: {"post": "新岗位"}),
    ("GET", "/api/v1/ledger/entries"): Spec("firm", A.LEDGER_VIEW),
    ("GET", "/api/v1/ledger/state"): Spec("firm", A.LEDGER_VIEW),
    ("POST", "/api/v1/ledger/verify"): Spec("firm", A.LEDGER_VIEW),
    ("GET", "/api/v1/ledger/verify/{run_id}"): Spec("firm", A.LEDGER_VIEW),
    ("POST", "/api/v1/ledger/checkpoints"): Spec("firm", A.LEDGER_VIEW),
    ("GET", "/api/v1/ledger/checkpoints/latest"): Spec("firm", A.LEDGER_VIEW),
    ("GET", "/api/v1/ledger/proof/{seq}"): Spec("firm", A.LEDGER_VIEW),
    ("POST", "/api/v1/ledger/consistency"): Spec(
        "firm", A.LEDGER_VIEW, payload=lambda w, t: {"checkpoint": "x"}),
    ("GET", "/api/v1/clients/{client_id}/access-history"): Spec("client", A.LEDGER_VIEW_CLIENT),
    ("POST", "/api/v1/clients/{client_id}/documents"): Spec("client", A.DOCUMENT_UPLOAD),
    ("GET", "/api/v1/clients/{client_id}/documents"): Spec("client", A.DOCUMENT_LIST),
    ("GET", "/api/v1/documents/{document_id}"): Spec("document", A.DOCUMENT_METADATA),
    ("POST", "/api/v1/documents/{document_id}/versions"): Spec("document", A.DOCUMENT_VERSION),
    ("GET", "/api/v1/documents/{document_id}/content"): Spec(
        "document", A.DOCUMENT_DOWNLOAD, query={"purpose": "审计"}),
    ("GET", "/api/v1/clients/{client_id}/contacts"): Spec("client", A.CLIENT_VIEW),
    ("POST", "/api/v1/clients/{client_id}/contacts"): Spec(
        "client", A.CLIENT_UPDATE, lambda w, t: {"name": "新联系人", "mobile": "13800138000"}),
    ("GET", "/api/v1/contacts/search"): Spec(
        "fixed", roles_ok=frozenset({"admin", "manager", "accountant"}),
        query={"mobile": "13800138000", "purpose": "审计"}),
    ("GET", "/api/v1/clients/{client_id}/sensitive"): Spec(
        "client", A.CLIENT_SENSITIVE_READ, query={"purpose": "审计"},
        level=policy.Level.CONFIDENTIAL),  # reads every sealed field: up to 机密
    ("GET", "/api/v1/documents/{document_id}/classification"): Spec(
        "document", A.DOCUMENT_METADATA),
    ("POST", "/api/v1/documents/{document_id}/classification"): Spec(
        "document", A.DOCUMENT_CLASSIFY,
        lambda w, t: {"level": "internal", "category": "financial"}),
    ("GET", "/api/v1/classification/review"): Spec(
        "fixed", roles_ok=frozenset({"admin", "compliance"})),
    ("POST", "/api/v1/classification/review/{item_id}"): Spec(
        "fixed", roles_ok=frozenset(), hidden_when_refused=True,
        payload=lambda w, t: {"level": "internal", "category": "financial"}),
}

GOVERNANCE_READERS = frozenset({"admin", "manager", "compliance", "internal_auditor"})

# Web views that touch client data (namespaces below), with the same specs.
WEB_NAMESPACES = ("clients", "vault", "access", "classification", "imports", "audit")
WEB: dict[str, Spec] = {
    "clients:list": Spec("any"),
    "clients:create": Spec("firm", A.CLIENT_CREATE),
    "clients:detail": Spec("client", A.CLIENT_VIEW),
    "clients:edit": Spec("client", A.CLIENT_UPDATE),
    "clients:contacts": Spec("client", A.CLIENT_UPDATE),
    "vault:upload_page": Spec("client", A.CLIENT_VIEW),
    "vault:upload": Spec("skip"),  # POST multipart: covered by the API upload endpoint
    "vault:contact_create": Spec("skip"),  # POST: covered by the API contacts endpoint
    "vault:document": Spec("document", A.DOCUMENT_METADATA),
    "vault:version_upload": Spec("skip"),  # POST multipart: covered by the API
    "vault:download": Spec("document", A.DOCUMENT_DOWNLOAD, query={"purpose": "审计"}),
    "access:home": Spec("any"),
    "access:notifications_read": Spec("skip"),  # POST, own notifications only
    "access:matrix": Spec("any"),
    "access:client": Spec("client", A.CLIENT_VIEW),
    "access:request_new": Spec("client", A.CLIENT_VIEW),
    "access:authorization_grant": Spec("skip"),  # POST: covered by the API
    "access:assignment_change": Spec("skip"),  # POST: covered by the API
    "access:authorization_revoke": Spec("skip"),  # POST: covered by the API
    "access:request_decide": Spec("skip"),  # POST: covered by the API
    "access:staff": Spec("fixed", roles_ok=frozenset({"admin", "compliance"}),
                         hidden_when_refused=True),
    "access:break_glass": Spec("fixed", roles_ok=frozenset({"manager"}),
                               hidden_when_refused=True),
    "access:break_glass_reviews": Spec("fixed", roles_ok=frozenset({"compliance"}),
                                       hidden_when_refused=True),
    "access:agreements": Spec("fixed", roles_ok=GOVERNANCE_READERS),
    "access:trainings": Spec("fixed", roles_ok=GOVERNANCE_READERS),
    "access:partners": Spec("fixed", roles_ok=GOVERNANCE_READERS),
    "access:partner": Spec("fixed", roles_ok=GOVERNANCE_READERS),
    "access:purposes": Spec("fixed", roles_ok=GOVERNANCE_READERS),
    "access:agreement_renew": Spec("fixed", roles_ok=frozenset({"admin", "compliance"})),
    "access:training_renew": Spec("fixed", roles_ok=frozenset({"admin", "compliance"})),
    "access:agreement_scan": Spec("fixed", roles_ok=frozenset({"admin", "compliance"})),
    "access:reviews": Spec("any"),
    "access:review": Spec("fixed", roles_ok=frozenset({"admin", "compliance", "manager"}),
                          hidden_when_refused=True),
    "access:review_export": Spec("fixed", roles_ok=frozenset({"admin", "compliance"}),
                                 hidden_when_refused=True),
    "classification:confirm": Spec("document", A.DOCUMENT_METADATA),
    "classification:review": Spec("skip"),  # the classification queue (its own tests)
    "classification:review_resolve": Spec("skip"),
    "imports:index": Spec("skip"),  # bulk import: writes through client/document services
    "imports:clients": Spec("skip"),
    "imports:documents": Spec("skip"),
    "imports:job": Spec("skip"),
    "imports:job_progress": Spec("skip"),
    "imports:job_resume": Spec("skip"),  # POST multipart; the importer's own job only
    # The importer's own job; each document is filtered by the vault's document_list.
    "imports:documents_confirm": Spec("skip"),
    "audit:ledger": Spec("firm", A.LEDGER_VIEW),
    "audit:verify": Spec("skip"),  # POST, ledger only
    "audit:verify_progress": Spec("firm", A.LEDGER_VIEW),
}


# --- The firm --------------------------------------------------------------------------


@pytest.fixture
def world(make_user, make_client):
    from baomi.access.models import ConfidentialityAgreement
    from baomi.vault.models import Document

    users = {}
    for role in ROLES:
        kw: dict[str, Any] = {"clearance": Level.CONFIDENTIAL}
        if role in {"manager", "accountant"}:
            kw["department"] = "一部"
        if role == "client":
            continue
        users[role] = make_user(f"u_{role}", role=role, **kw)
    boss = users["admin"]
    a = make_client(boss, name="甲已分配有限公司", uscc="91310115945807305X")
    b = make_client(boss, name="乙未分配有限公司", uscc="91350100M000100Y43")
    c = make_client(boss, name="丙他人授权有限公司", uscc="91110000600037341L")
    a.department = users["manager"].department
    a.save()
    dept2 = make_user("u_dept2", role="manager", department="二部").department
    for cl in (b, c):
        cl.department = dept2
        cl.save()
    users["client"] = make_user("u_client", role="client", portal_client_id=a.pk)
    for role in ("accountant", "external_auditor"):
        Assignment.objects.create(client=a, user=users[role])
    ext = users["external_auditor"]
    ConfidentialityAgreement.objects.filter(person=ext).update(kind="auditor")
    org = PartnerOrganisation.objects.create(name="本方合作方")
    users["partner"].partner_org = org
    users["partner"].save()
    other_org = PartnerOrganisation.objects.create(name="他方合作方")
    spare = make_user("u_spare")  # a second accountant, assigned everywhere
    now = timezone.now()
    docs, auths, reqs = {}, {}, {}
    for key, cl, grantee in (("assigned", a, org), ("unassigned", b, other_org),
                             ("authorized_other", c, other_org)):
        Assignment.objects.create(client=cl, user=spare)
        docs[key] = Document.objects.create(client=cl, title="内部文件", level="internal",
                                            category="financial", created_by=boss)
        auths[key] = ClientAuthorization.objects.create(
            client=cl, grantee_org=grantee if key != "unassigned" else None,
            grantee_user=spare if key == "unassigned" else None,
            scope_levels=["public", "internal"], valid_from=now - timedelta(days=1),
            valid_to=now + timedelta(days=30), via="form")
        reqs[key] = QueryRequest.objects.create(
            requester=spare, client=cl, scope_levels=["internal"], purpose="审计",
            valid_from=now, valid_to=now + timedelta(days=3))
    campaign = ReviewCampaign.objects.create(name="审查", deadline=now + timedelta(days=3),
                                             created_by=boss)
    campaign.items.create(reviewer=users["manager"], grant_kind="assignment",
                          grant_id=Assignment.objects.first().pk, holder="x", client=a,
                          client_name=a.name)
    from baomi.vault import door

    for d in docs.values():
        # Give each document a sealed version so content reads can succeed.
        from baomi.vault.tests.conftest import sealed_upload

        up = sealed_upload(actor=spare, client=d.client, data=b"content", document=d)
        from baomi.vault.services import document_version_add

        document_version_add(actor=spare, document=d, upload=up)
    from baomi.access import services as access_services

    # The spare accountant's next employee agreement (the type of their role; the one in
    # force now is the setup's).
    scanned = access_services.agreement_record(
        actor=users["compliance"], person=spare, kind="employee",
        valid_from=now + timedelta(days=400), valid_to=now + timedelta(days=430),
        scan=b"%PDF-1.4 signed", scan_name="a.pdf")
    door.reset_caches()
    from baomi.audit.models import LedgerEntry
    from baomi.audit.selectors import checkpoint_create

    checkpoint_create()
    from baomi.audit.models import VerificationRun

    run = VerificationRun.objects.create(started_at=now, status="done", ok=True)
    first_seq = LedgerEntry.objects.order_by("seq").values_list("seq", flat=True).first()
    clients = {"assigned": a, "unassigned": b, "authorized_other": c}
    return {"users": users, "clients": clients, "docs": docs, "auths": auths, "reqs": reqs,
            "campaign": campaign, "spare": spare, "seq": first_seq, "org": org, "run": run,
            "agreement": scanned, "training": spare.trainings.first(),
            "http": {r: verified_client(u, HTTP_ACCEPT_LANGUAGE="en") for r, u in users.items()}}


# --- Expected outcomes from the matrix -------------------------------------------------


def _outcome(decision: policy.Decision) -> str:
    """For the object named in the URL: out of reach is 404, anything else 403."""
    if decision.allowed:
        return OK
    return HIDDEN if access.hides_existence(decision) else DENIED


def _then(decision: policy.Decision) -> str:
    """For the action on an object the caller may see: a refusal is 403 with a reason."""
    return OK if decision.allowed else DENIED


def expected(spec: Spec, w: dict[str, Any], role: str, target: str) -> str:
    user = w["users"][role]
    client = w["clients"][target]
    if spec.scope == "any":
        return OK
    if spec.scope == "fixed":
        if role in spec.roles_ok:
            return OK
        return HIDDEN if spec.hidden_when_refused else DENIED
    if spec.scope == "firm":
        assert spec.action is not None
        return _then(access.decide_for(user, spec.action, None))
    view = access.decide_for(user, A.CLIENT_VIEW, access.client_resource(client))
    if spec.scope == "break_glass":
        if role != "manager":
            doc = access.decide_for(user, A.DOCUMENT_METADATA,
                                    access.document_resource(w["docs"][target]))
            if not doc.allowed:
                return HIDDEN if access.hides_existence(doc) else DENIED
            return DENIED  # break_glass_not_permitted
        # A manager's emergency read: allowed by the ordinary path or by break-glass.
        return OK
    if spec.scope in {"client", "request"}:
        if not view.allowed:
            return _outcome(view)
        if spec.scope == "request":
            row = w["reqs"][target]
            obj = policy.Resource(kind=policy.ObjectKind.QUERY_REQUEST, id=row.pk,
                                  client_id=client.pk, client_department=client.department_id,
                                  level=policy.Level.INTERNAL, owner_id=row.requester_id)
        elif spec.level is not None:
            obj = policy.Resource(kind=policy.ObjectKind.RECORD, id=client.pk,
                                  client_id=client.pk, client_department=client.department_id,
                                  level=spec.level)
        else:
            obj = access.client_resource(client)
        if spec.action is None:
            return DENIED
        assert spec.action is not None
        return _then(access.decide_for(user, spec.action, obj, purpose="审计"))
    doc = w["docs"][target]
    meta = access.decide_for(user, A.DOCUMENT_METADATA, access.document_resource(doc))
    if not meta.allowed:
        return HIDDEN if access.hides_existence(meta) else DENIED
    assert spec.action is not None
    return _then(access.decide_for(user, spec.action, access.document_resource(doc),
                                   purpose="审计"))


def actual(status: int) -> str:
    if status == 404:
        return HIDDEN
    if status in {401, 403}:
        return DENIED
    assert status < 500, status
    return OK


def _fill(path: str, w: dict[str, Any], target: str) -> str:
    values = {
        "client_id": w["clients"][target].pk,
        "document_id": w["docs"][target].pk,
        "authorization_id": w["auths"][target].pk,
        "request_id": w["reqs"][target].pk,
        "user_id": w["spare"].pk,
        "campaign_id": w["campaign"].pk,
        "item_id": w["campaign"].items.first().pk,
        "seq": w["seq"],
        "run_id": w["run"].pk,
    }
    for key, value in values.items():
        path = path.replace("{" + key + "}", str(value))
    return path


def _call(  # noqa: PLR0917  (a test helper)
    c: Any, method: str, url: str, spec: Spec, w: dict[str, Any], target: str
) -> int:
    if method == "POST" and url.endswith(("/documents", "/versions")):
        import io

        f = io.BytesIO(b"matrix")
        f.name = "m.txt"
        return int(c.post(url, {"file": f, "level": "internal", "category": "other"}).status_code)
    body = spec.payload(w, target) if spec.payload else None
    kw: dict[str, Any] = {}
    if method == "GET":
        return int(c.get(url, spec.query).status_code)
    if body is not None:
        kw = {"data": body, "content_type": "application/json"}
    if spec.query:
        url += "?" + "&".join(f"{k}={v}" for k, v in spec.query.items())
    return int(getattr(c, method.lower())(url, **kw).status_code)


def _check(w: dict[str, Any], method: str, path: str, spec: Spec) -> list[str]:
    bad = []
    for role in ROLES:
        for target in TARGETS:
            want = expected(spec, w, role, target)
            url = _fill(path, w, target)
            with transaction.atomic():
                got = actual(_call(w["http"][role], method, url, spec, w, target))
                transaction.set_rollback(True)
            if got != want:
                bad.append(f"{method} {path} as {role} on {target}: got {got}, matrix says {want}")
    return bad


# --- The tests ---------------------------------------------------------------------------


def _api_operations() -> set[tuple[str, str]]:
    import baomi.urls  # noqa: F401  (registers every router)
    from baomi.api.base import api

    return {(m.upper(), "/api/v1" + p.removeprefix("/api/v1")) for p, ops in
            api.get_openapi_schema()["paths"].items() for m in ops}


def _web_views() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list[Any], ns: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, p.namespace or ns)
            elif isinstance(p, URLPattern) and ns in WEB_NAMESPACES and p.name:
                names.add(f"{ns}:{p.name}")

    walk(get_resolver().url_patterns, "")
    return names


def test_every_api_endpoint_is_in_the_table() -> None:
    missing = _api_operations() - set(API)
    assert not missing, f"endpoints missing from the authorization matrix test: {missing}"
    assert not set(API) - _api_operations(), "table lists endpoints that no longer exist"


def test_every_client_data_view_is_in_the_table() -> None:
    missing = _web_views() - set(WEB)
    assert not missing, f"views missing from the authorization matrix test: {missing}"


@pytest.mark.parametrize(("method", "path"), sorted(API))
def test_api_endpoint_matches_the_matrix(world, method, path) -> None:
    assert not _check(world, method, path, API[(method, path)])


@pytest.mark.parametrize("name", sorted(n for n, s in WEB.items() if s.scope != "skip"))
def test_web_view_matches_the_matrix(world, name) -> None:
    from django.urls import reverse

    pattern = next(p for p in _all_patterns() if p[0] == name)
    kwargs_names = pattern[1]
    spec = WEB[name]
    bad = []
    for role in ROLES:
        for target in TARGETS:
            values = {"client_id": world["clients"][target].pk,
                      "document_id": world["docs"][target].pk,
                      "user_id": world["spare"].pk, "campaign_id": world["campaign"].pk,
                      "fmt": "xlsx", "org_id": world["org"].pk,
                      "agreement_id": world["agreement"].pk,
                      "training_id": world["training"].pk}
            url = reverse(name, kwargs={k: values[k] for k in kwargs_names})
            want = expected(spec, world, role, target)
            with transaction.atomic():
                got = actual(world["http"][role].get(url, spec.query).status_code)
                transaction.set_rollback(True)
            if got != want:
                bad.append(f"{name} as {role} on {target}: got {got}, matrix says {want}")
    assert not bad


def _all_patterns() -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []

    def walk(patterns: list[Any], ns: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, p.namespace or ns)
            elif isinstance(p, URLPattern) and p.name:
                out.append((f"{ns}:{p.name}", list(p.pattern.regex.groupindex)))

    walk(get_resolver().url_patterns, "")
    return out
