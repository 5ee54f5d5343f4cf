"""Access governance with the real database: the gates, requests, authorizations,
break-glass, lifecycle, reviews and exports, and the bad input the issue lists. Every
refusal must carry a reason and leave a ledger entry."""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from baomi.access import exports, selectors, services
from baomi.access.context import session_facts
from baomi.access.models import (
    BreakGlassRead,
    ClientAuthorization,
    ConfidentialityAgreement,
    Notification,
    PartnerOrganisation,
    QueryRequest,
    ReviewDecision,
)
from baomi.accounts import services as account_services
from baomi.accounts.models import Level, Role
from baomi.audit.models import LedgerEntry
from baomi.clients.models import Assignment
from baomi.errors import AccessDenied, BaomiError, NotFound, ValidationFailed
from baomi.testing.pdfsign import sign_pdf
from baomi.vault import door
from baomi.vault import services as vault_services
from baomi.vault.tests.conftest import sealed_upload
from conftest import agreement_scan, verified_client

pytestmark = pytest.mark.django_db


def refused(action: str, reason: str | None = None) -> LedgerEntry:
    qs = LedgerEntry.objects.filter(action=action, decision="refused")
    if reason is not None:
        qs = qs.filter(reason__startswith=reason)
    entry = qs.order_by("-seq").first()
    assert entry is not None, (action, reason, list(
        LedgerEntry.objects.filter(decision="refused").values_list("action", "reason")))
    return entry


def period(days: float = 7, start: float = 0) -> dict[str, Any]:
    now = timezone.now() + timedelta(days=start)
    return {"valid_from": now, "valid_to": now + timedelta(days=days)}


@pytest.fixture
def firm(make_user, make_client):
    admin = make_user("admin", role=Role.ADMIN, clearance=Level.CONFIDENTIAL)
    manager = make_user("manager", role=Role.MANAGER, department="一部",
                        clearance=Level.SECRET)
    acct = make_user("acct1", department="一部", clearance=Level.CONFIDENTIAL)
    acct2 = make_user("acct2", department="一部", clearance=Level.SECRET)
    compliance = make_user("compliance", role=Role.COMPLIANCE, clearance=Level.SECRET)
    partner = make_user("partner1", role=Role.PARTNER, clearance=Level.CONFIDENTIAL)
    org = PartnerOrganisation.objects.create(name="华信税务师事务所")
    partner.partner_org = org
    partner.save()
    client = make_client(manager, name="恒信贸易有限公司")
    other = make_client(admin, name="明远科技有限公司")
    services.assignment_add(actor=manager, client=client, user=acct)
    services.assignment_add(actor=manager, client=client, user=acct2)
    portal = make_user("client1", role=Role.CLIENT, portal_client_id=client.pk)
    doc = _doc(acct, client, "internal")
    secret = _doc(acct2, client, "secret", category="trade_secret")
    return {"admin": admin, "manager": manager, "acct": acct, "acct2": acct2,
            "compliance": compliance, "partner": partner, "org": org, "client": client,
            "other": other, "portal": portal, "doc": doc, "secret": secret}


def _doc(actor: Any, client: Any, level: str, category: str = "financial") -> Any:
    up = sealed_upload(actor=actor, client=client, data=f"{level} content".encode())
    return vault_services.document_upload(actor=actor, client=client, upload=up,
                                          title=f"{level} file", level=level, category=category)


def _read(actor: Any, doc: Any, purpose: str = "记账") -> bytes:
    dl = vault_services.document_download(actor=actor, document=doc, purpose=purpose)
    try:
        return dl.file.read() if dl.file is not None else b"".join(dl.chunks or [])
    finally:
        dl.close()


# --- Gates: agreement, training, MFA, clearance ----------------------------------------


def test_expired_agreement_blocks_everything_above_public(firm, make_user):
    assert _read(firm["acct"], firm["doc"]) == b"internal content"
    ConfidentialityAgreement.objects.filter(person=firm["acct"]).update(
        valid_to=timezone.now() - timedelta(days=1))
    with pytest.raises(AccessDenied) as info:
        _read(firm["acct"], firm["doc"])
    assert info.value.detail["rule"] == "agreement_missing"
    assert "保密协议" in str(info.value.message)
    assert refused("document.download", "agreement_missing")
    assert not selectors.clients_visible_to(firm["acct"]).exists()
    assert selectors.gate_problems(firm["acct"])


def test_confidential_needs_a_two_factor_session(firm):
    doc = _doc(firm["acct"], firm["client"], "confidential")
    with session_facts(mfa_verified=False), pytest.raises(AccessDenied) as info:
        _read(firm["acct"], doc)
    assert info.value.detail["rule"] == "mfa_required"
    assert _read(firm["acct"], doc) == b"confidential content"
    # An API token is not a second factor, even beside a verified session cookie.
    token = account_services.token_create(user=firm["acct"]).plaintext
    c = verified_client(firm["acct"], HTTP_AUTHORIZATION=f"Bearer {token}")
    r = c.get(f"/api/v1/documents/{doc.pk}/content", {"purpose": "记账"})
    assert r.status_code == 403 and r.json()["detail"]["rule"] == "mfa_required"
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    r = c.get(f"/api/v1/documents/{doc.pk}/content", {"purpose": "记账"})
    assert r.status_code == 200


def test_refusal_reason_follows_the_language(firm):
    c = verified_client(firm["compliance"], HTTP_ACCEPT_LANGUAGE="en")
    r = c.get(f"/api/v1/documents/{firm['doc'].pk}/content", {"purpose": "检查"})
    assert r.status_code == 403 and "may not" in r.json()["message"]
    c = verified_client(firm["compliance"], HTTP_ACCEPT_LANGUAGE="zh-hans")
    r = c.get(f"/api/v1/documents/{firm['doc'].pk}/content", {"purpose": "检查"})
    assert "不允许" in r.json()["message"]


# --- Purposes ---------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", ["", "   ", "\u3000\t"])
def test_empty_or_whitespace_purpose_is_refused(firm, purpose):
    with pytest.raises(AccessDenied) as info:
        _read(firm["acct"], firm["doc"], purpose=purpose)
    assert info.value.code == "purpose_required"
    assert refused("document.download", "purpose_required")
    with pytest.raises(ValidationFailed) as err:
        services.request_create(actor=firm["acct2"], client=firm["client"],
                                scope=services.ScopeInput(["secret"]), purpose=purpose, **period())
    assert err.value.code == "purpose_required"
    assert refused("query_request.create", "purpose_required")


# --- Query requests (F08) ---------------------------------------------------------------


def test_secret_needs_an_approved_request_nobody_approves_their_own(firm):
    acct2, secret = firm["acct2"], firm["secret"]
    with pytest.raises(AccessDenied) as info:
        door.document_open(actor=acct2, version=secret.current_version, purpose="审计")
    assert "approval_required" in [r["code"] for r in info.value.detail.get("reasons", [])] or \
        info.value.detail["rule"] == "approval_required"
    row = services.request_create(actor=acct2, client=firm["client"],
                                  scope=services.ScopeInput(document_ids=[secret.pk]),
                                  purpose="年度审计", **period(3))
    assert Notification.objects.filter(user=firm["manager"], kind="request_filed").exists()
    # The requester cannot approve it, even as a manager would.
    with pytest.raises(AccessDenied):
        services.request_approve(actor=acct2, request=row)
    mgr_row = services.request_create(actor=firm["manager"], client=firm["client"],
                                      scope=services.ScopeInput(["secret"]), purpose="复核",
                                      **period(1))
    with pytest.raises(AccessDenied) as own:
        services.request_approve(actor=firm["manager"], request=mgr_row)
    assert own.value.code == "self_approval"
    assert refused("query_request.approve", "self_approval")
    approved = services.request_approve(actor=firm["manager"], request=row)
    assert approved.status == "approved"
    assert Notification.objects.filter(user=acct2, kind="request_approved").exists()
    # The read states the purpose the request was approved for (`purpose_not_approved`).
    opened = door.document_open(actor=acct2, version=secret.current_version,
                                purpose="年度审计")
    assert b"".join(opened.chunks()) == b"secret content"
    # Secret files are viewed, never downloaded by staff.
    with pytest.raises(AccessDenied):
        _read(acct2, secret)
    # Automatic expiry: past its window it grants nothing and is marked expired.
    QueryRequest.objects.filter(pk=row.pk).update(
        valid_from=timezone.now() - timedelta(days=1),
        valid_to=timezone.now() - timedelta(seconds=1))
    with pytest.raises(AccessDenied):
        door.document_open(actor=acct2, version=secret.current_version, purpose="年度审计")
    assert services.requests_expire() == 1
    assert QueryRequest.objects.get(pk=row.pk).status == "expired"
    assert LedgerEntry.objects.filter(action="query_request.expire").exists()


def test_request_window_checks(firm):
    scope = services.ScopeInput(["internal"])
    with pytest.raises(ValidationFailed) as inv:
        services.request_create(actor=firm["acct"], client=firm["client"], scope=scope,
                                purpose="x", **{"valid_from": timezone.now(),
                                                "valid_to": timezone.now() - timedelta(hours=1)})
    assert inv.value.code == "period_inverted"
    assert refused("query_request.create", "period_inverted")
    with pytest.raises(ValidationFailed) as long:
        services.request_create(actor=firm["acct"], client=firm["client"], scope=scope,
                                purpose="x", **period(120))
    assert long.value.code == "period_too_long"
    with pytest.raises(ValidationFailed) as empty:
        services.request_create(actor=firm["acct"], client=firm["client"],
                                scope=services.ScopeInput(), purpose="x", **period())
    assert empty.value.code == "scope_empty"


def test_client_approves_when_configured(firm, settings):
    settings.BAOMI_CLIENT_APPROVES_LEVELS = "internal"
    row = services.request_create(actor=firm["acct"], client=firm["client"],
                                  scope=services.ScopeInput(["internal"]), purpose="对账",
                                  **period())
    assert row in selectors.requests_to_decide(firm["portal"])
    assert services.request_approve(actor=firm["portal"], request=row).status == "approved"
    high = services.request_create(actor=firm["acct2"], client=firm["client"],
                                   scope=services.ScopeInput(["secret"]), purpose="对账",
                                   **period())
    with pytest.raises(AccessDenied):
        services.request_approve(actor=firm["portal"], request=high)


# --- Client authorizations (F07) and partners (F25) --------------------------------------


def _terms(firm: dict[str, Any], **kw: Any) -> services.AuthorizationTerms:
    p = period(30)
    return services.AuthorizationTerms(firm["client"].pk, None, firm["org"].pk,
                                       services.ScopeInput(["internal"]), p["valid_from"],
                                       p["valid_to"], **kw)


def test_partner_reaches_data_only_through_a_live_authorization(firm):
    partner, doc = firm["partner"], firm["doc"]
    with pytest.raises(AccessDenied):
        _read(partner, doc)
    terms = _terms(firm)
    form = sign_pdf(services.authorization_form_pdf(terms, client_name="恒信", grantee="华信"))
    auth = services.authorization_grant(
        actor=firm["manager"], client=firm["client"], grantee_org=firm["org"],
        scope=terms.scope, valid_from=terms.valid_from, valid_to=terms.valid_to, form=form)
    assert auth.form_document is not None and auth.form_document.level == "confidential"
    assert _read(partner, doc) == b"internal content"
    # Outside the scope (secret) and outside the window are refused.
    with pytest.raises(AccessDenied):
        door.document_open(actor=partner, version=firm["secret"].current_version,
                           purpose="x")
    services.authorization_revoke(actor=firm["portal"], authorization=auth, reason="结束合作")
    with pytest.raises(AccessDenied) as info:
        _read(partner, doc)
    assert info.value.detail["rule"] == "authorization_revoked"
    assert LedgerEntry.objects.filter(action="authorization.revoke").exists()


def test_tampered_or_foreign_form_is_refused(firm):
    terms = _terms(firm)
    form = services.authorization_form_pdf(terms, client_name="恒信", grantee="华信")
    longer = services.ScopeInput(["internal", "confidential"])  # terms changed after signing
    with pytest.raises(ValidationFailed) as info:
        services.authorization_grant(
            actor=firm["manager"], client=firm["client"], grantee_org=firm["org"], scope=longer,
            valid_from=terms.valid_from, valid_to=terms.valid_to, form=form)
    assert info.value.code == "form_tampered"
    # The code itself altered in the PDF.
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(form)))
    code = exports.form_token(form) or ""
    writer.add_metadata({exports.FORM_KEY: code[:-3] + "AAA"})
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(ValidationFailed) as info2:
        services.authorization_grant(
            actor=firm["manager"], client=firm["client"], grantee_org=firm["org"],
            scope=terms.scope, valid_from=terms.valid_from, valid_to=terms.valid_to,
            form=buf.getvalue())
    assert info2.value.code == "form_tampered"
    with pytest.raises(ValidationFailed) as info3:
        services.authorization_grant(
            actor=firm["manager"], client=firm["client"], grantee_org=firm["org"],
            scope=terms.scope, valid_from=terms.valid_from, valid_to=terms.valid_to,
            form=b"%PDF-1.4 not really")
    assert info3.value.code == "form_tampered"
    assert refused("authorization.grant", "form_tampered")
    assert not ClientAuthorization.objects.exists()


def test_overlapping_and_inverted_periods_are_refused(firm):
    kw = {"actor": firm["portal"], "client": firm["client"], "grantee_org": firm["org"],
          "scope": services.ScopeInput(["internal"])}
    services.authorization_grant(**kw, **period(30))  # the client itself, in the portal
    with pytest.raises(ValidationFailed) as info:
        services.authorization_grant(**kw, **period(10, start=5))
    assert info.value.code == "period_overlaps"
    assert refused("authorization.grant", "period_overlaps")
    now = timezone.now()
    with pytest.raises(ValidationFailed) as inv:
        services.authorization_grant(**kw, valid_from=now + timedelta(days=60),
                                     valid_to=now + timedelta(days=40))
    assert inv.value.code == "period_inverted"
    with pytest.raises(ValidationFailed) as agr:
        services.agreement_record(actor=firm["compliance"], person=firm["acct"],
                                  kind="employee", **period(30), **agreement_scan())
    assert agr.value.code == "period_overlaps"
    assert refused("agreement.record", "period_overlaps")


def test_agreement_scan_is_sealed_through_the_door(firm):
    scan = b"%PDF-1.4 signed agreement scan"
    row = services.agreement_record(actor=firm["compliance"], person=firm["acct"],
                                    kind="employee", scan=scan, scan_name="协议.pdf",
                                    **period(365, start=400))
    row.refresh_from_db()
    assert bytes(row.scan_sealed)[:3] == b"BMV" and scan not in bytes(row.scan_sealed)
    assert door.sealed_file_read(actor=firm["compliance"], obj=row, name="scan",
                                 purpose="核对") == scan
    with pytest.raises(AccessDenied):
        door.sealed_file_read(actor=firm["acct"], obj=row, name="scan", purpose="x")
    with pytest.raises(AccessDenied):
        services.agreement_record(actor=firm["acct"], person=firm["acct"], kind="employee",
                                  **period(10, start=900))
    assert refused("agreement.record", "role_not_permitted")


# --- Break-glass ------------------------------------------------------------------------


def test_break_glass_needs_a_reason_alerts_compliance_and_opens_a_review(firm):
    mgr2 = _second_manager(firm)
    doc = firm["doc"]
    with pytest.raises(AccessDenied):
        _read(mgr2, doc)
    with pytest.raises(AccessDenied) as info:
        services.break_glass_download(actor=mgr2, document=doc, reason="  ", purpose="审计")
    assert info.value.code == "break_glass_reason_required"
    assert refused("break_glass.read", "break_glass_reason_required")
    dl = services.break_glass_download(actor=mgr2, document=doc, reason="客户来电紧急核对",
                                       purpose="客户请求")
    dl.close()
    item = BreakGlassRead.objects.get()
    assert item.reason == "客户来电紧急核对" and item.reviewed_at is None
    assert Notification.objects.filter(user=firm["compliance"], kind="break_glass").exists()
    assert LedgerEntry.objects.filter(action="document.download", decision="allowed",
                                      reason__startswith="allow_break_glass").exists()
    with pytest.raises(AccessDenied):
        services.break_glass_download(actor=firm["acct"], document=firm["secret"],
                                      reason="x", purpose="x")
    services.break_glass_review(actor=firm["compliance"], item=item, note="已核实")
    assert BreakGlassRead.objects.get().reviewed_at is not None


def _second_manager(firm: dict[str, Any]) -> Any:
    from baomi.accounts.services import department_get_or_create, user_create
    from conftest import give_agreement_and_training

    user = user_create(username="mgr2", password=None, role=Role.MANAGER,
                       department=department_get_or_create(name="二部"),
                       clearance=Level.CONFIDENTIAL)
    give_agreement_and_training(user)
    return user


# --- Lifecycle (F06) ---------------------------------------------------------------------


def test_leaving_ends_grants_tokens_sessions_and_requests(firm):
    acct = firm["acct"]
    token = account_services.token_create(user=acct).plaintext
    web = HttpClient()
    web.force_login(acct)
    pending = services.request_create(actor=acct, client=firm["client"],
                                      scope=services.ScopeInput(["confidential"]),
                                      purpose="月结", **period())
    with pytest.raises(AccessDenied):  # not the admin: refused and recorded
        services.staff_leave(actor=firm["manager"], user=acct)
    ended = services.staff_leave(actor=firm["admin"], user=acct)
    assert ended["assignments"] == 1 and ended["requests"] == 1 and ended["tokens"] == 1
    assert not Assignment.objects.filter(user=acct).exists()
    assert QueryRequest.objects.get(pk=pending.pk).status == "cancelled"
    r = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/clients")
    assert r.status_code == 401
    # Recorded against the departed person's account, with the reason.
    assert LedgerEntry.objects.filter(actor=acct.username, action="auth.token",
                                      reason="invalid_token:revoked").exists()
    assert web.get("/clients/").status_code == 302  # the old session is gone
    acct.refresh_from_db()
    with pytest.raises(AccessDenied) as info:
        _read(acct, firm["doc"])
    assert info.value.detail["rule"] == "actor_departed"
    assert LedgerEntry.objects.filter(action="staff.leave").exists()


def test_forged_expired_and_revoked_tokens_are_refused(firm):
    issued = account_services.token_create(user=firm["acct"])
    for raw in ("bm_forged_token", issued.plaintext[:-2] + "xx"):
        assert HttpClient(HTTP_AUTHORIZATION=f"Bearer {raw}").get(
            "/api/v1/clients").status_code == 401
    expired = account_services.token_create(user=firm["acct"], expires_days=1,
                                            now=timezone.now() - timedelta(days=3))
    assert HttpClient(HTTP_AUTHORIZATION=f"Bearer {expired.plaintext}").get(
        "/api/v1/clients").status_code == 401
    account_services.token_revoke(prefix=issued.token.prefix)
    assert HttpClient(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}").get(
        "/api/v1/clients").status_code == 401
    refused = list(LedgerEntry.objects.filter(action="auth.token", decision="refused")
                   .order_by("seq").values_list("actor", "object_id", "reason"))
    prefix = issued.token.prefix
    assert refused == [
        ("unknown-token", "forged", "invalid_token:unknown"),
        ("unknown-token", prefix, "invalid_token:forged owner=acct1"),
        ("acct1", expired.token.prefix, "invalid_token:expired"),
        ("acct1", prefix, "invalid_token:revoked"),
    ]
    # Its holder learns why a real token stopped working; a made-up one learns nothing.
    r = HttpClient(HTTP_AUTHORIZATION=f"Bearer {expired.plaintext}",
                   HTTP_ACCEPT_LANGUAGE="en").get("/api/v1/clients")
    assert r.json() == {"code": "token_refused", "message": "This API token has expired.",
                        "detail": {"reason": "expired"}}
    r = HttpClient(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}").get("/api/v1/clients")
    assert r.json()["code"] == "token_refused" and r.json()["detail"]["reason"] == "revoked"
    for raw in ("bm_forged_token", issued.plaintext[:-2] + "xx"):
        r = HttpClient(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/clients")
        assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    # A departed person's token, were it still live, is refused as theirs.
    live = account_services.token_create(user=firm["acct2"])
    firm["acct2"].status = "left"
    firm["acct2"].save()
    assert HttpClient(HTTP_AUTHORIZATION=f"Bearer {live.plaintext}").get(
        "/api/v1/clients").status_code == 401
    assert LedgerEntry.objects.filter(actor="acct2", reason="invalid_token:user_left").exists()
    r = HttpClient(HTTP_AUTHORIZATION=f"Bearer {live.plaintext}").get("/api/v1/clients")
    assert r.json()["detail"]["reason"] == "user_left"


def test_transfer_and_handover(firm):
    moved = services.staff_handover(actor=firm["admin"], from_user=firm["acct"],
                                    to_user=firm["acct2"])
    assert moved == 1
    assert not Assignment.objects.filter(user=firm["acct"]).exists()
    services.assignment_add(actor=firm["manager"], client=firm["client"], user=firm["acct"])
    from baomi.accounts.services import department_get_or_create

    ended = services.staff_transfer(actor=firm["admin"], user=firm["acct"],
                                    department=department_get_or_create(name="二部"))
    assert ended["assignments"] == 1
    firm["acct"].refresh_from_db()
    assert firm["acct"].department.name == "二部"


# --- Access reviews ----------------------------------------------------------------------


def test_review_campaign_confirm_revoke_flag_and_export(firm):
    services.assignment_add(actor=firm["admin"], client=firm["other"], user=firm["acct"])
    with pytest.raises(AccessDenied):
        services.review_campaign_create(actor=firm["acct"], name="x",
                                        deadline=timezone.now() + timedelta(days=1))
    campaign = services.review_campaign_create(actor=firm["compliance"], name="2026年第四季度审查",
                                               deadline=timezone.now() + timedelta(days=1))
    items = list(campaign.items.all())
    assert firm["manager"] in {i.reviewer for i in items}
    items = [i for i in items if i.reviewer == firm["manager"]] + [
        i for i in items if i.reviewer != firm["manager"]]
    assert len(items) == Assignment.objects.count()
    first, second = items[0], items[1]
    with pytest.raises(AccessDenied):
        services.review_decide(actor=firm["acct"], item=first, confirm=True)
    services.review_decide(actor=firm["manager"], item=first, confirm=True)
    services.review_decide(actor=firm["manager"], item=second, confirm=False)
    assert not Assignment.objects.filter(pk=second.grant_id).exists()
    campaign.deadline = timezone.now() - timedelta(seconds=1)
    campaign.save()
    assert services.reviews_flag_overdue() == len(items) - 2
    assert Notification.objects.filter(user=firm["compliance"], kind="review_overdue").exists()
    assert campaign.items.filter(decision=ReviewDecision.PENDING, flagged=True).count() == \
        len(items) - 2
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(exports.review_xlsx(campaign)))
    assert wb.active is not None and wb.active["A1"].value == "2026年第四季度审查"
    from pypdf import PdfReader

    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(exports.review_pdf(campaign))
                                                       ).pages)
    assert "2026年第四季度审查" in text and "恒信贸易有限公司" in text


# --- Visibility, UI and API ---------------------------------------------------------------


def test_visible_actions_hide_what_the_user_may_not_do(firm):
    res = selectors.client_resource(firm["client"])
    assert "assignment.manage" in selectors.visible_actions_for(firm["manager"], res)
    assert "assignment.manage" not in selectors.visible_actions_for(firm["acct"], res)
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    body = c.get(f"/access/clients/{firm['client'].pk}/").content.decode()
    assert "Unassign" not in body and "File a query request" in body
    body = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en").get(
        f"/access/clients/{firm['client'].pk}/").content.decode()
    assert "Unassign" in body


def test_matrix_page_and_api(firm):
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    body = c.get("/access/matrix/").content.decode()
    assert "break_glass.read" in body and "assigned_and_request" in body
    r = c.get("/api/v1/access/matrix")
    assert r.json()["roles"]["partner"]["document.read"][3] == "deny"


def test_notification_badge(firm):
    services.notify([firm["acct"]], "assigned", {"client": "x"})
    body = verified_client(firm["acct"]).get("/access/").content.decode()
    assert 'class="nav-count"' in body


def test_api_request_flow_and_self_approval(firm):
    c = verified_client(firm["acct2"], HTTP_ACCEPT_LANGUAGE="en")
    now = timezone.now()
    r = c.post(f"/api/v1/clients/{firm['client'].pk}/query-requests",
               {"scope": {"levels": ["secret"]}, "purpose": "审计",
                "valid_from": now.isoformat(),
                "valid_to": (now + timedelta(days=2)).isoformat()},
               content_type="application/json")
    assert r.status_code == 201, r.content
    rid = r.json()["id"]
    r = c.post(f"/api/v1/query-requests/{rid}/approve", {}, content_type="application/json")
    assert r.status_code == 403
    m = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en")
    r = m.post(f"/api/v1/query-requests/{rid}/approve", {}, content_type="application/json")
    assert r.status_code == 200 and r.json()["status"] == "approved"
    r = c.post(f"/api/v1/clients/{firm['other'].pk}/query-requests",
               {"scope": {"levels": ["secret"]}, "purpose": "x",
                "valid_from": now.isoformat(), "valid_to": now.isoformat()},
               content_type="application/json")
    assert r.status_code == 404  # not visible: existence not revealed


def test_api_authorization_with_form(firm):
    terms = _terms(firm)
    form = sign_pdf(services.authorization_form_pdf(terms, client_name="恒信", grantee="华信"))
    m = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en")
    body = {"grantee_org_id": firm["org"].pk, "scope": {"levels": ["internal"]},
            "valid_from": terms.valid_from.isoformat(), "valid_to": terms.valid_to.isoformat(),
            "form_base64": base64.b64encode(form).decode()}
    r = m.post(f"/api/v1/clients/{firm['client'].pk}/authorizations", body,
               content_type="application/json")
    assert r.status_code == 201, r.content
    r = m.get(f"/api/v1/clients/{firm['client'].pk}/authorizations")
    assert [a["grantee_org_id"] for a in r.json()] == [firm["org"].pk]


def test_every_refusal_carries_a_reason(firm):
    for call in (
        lambda: _read(firm["compliance"], firm["doc"]),
        lambda: services.assignment_add(actor=firm["acct"], client=firm["client"],
                                        user=firm["acct2"]),
        lambda: services.request_approve(actor=firm["admin"], request=services.request_create(
            actor=firm["acct"], client=firm["client"], scope=services.ScopeInput(["internal"]),
            purpose="x", **period())),
    ):
        with pytest.raises(BaomiError) as info:
            call()
        assert str(info.value.message).strip()


def test_hidden_client_is_404_not_403(firm):
    from baomi.clients.selectors import client_get

    with pytest.raises(NotFound):
        client_get(actor=firm["acct"], client_id=firm["other"].pk)
    assert refused("client.read", "not_assigned")
