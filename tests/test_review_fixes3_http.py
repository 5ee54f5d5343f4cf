"""Access governance over HTTP after the third review: the pages and the API agree on
one's own agreements and training, documents a query request names, the break-glass
post-review, requests whose window has ended and the approvals list; the emergency
read is a POST (a link cannot make one); a partner sees only their own authorizations
and neither the firm's staff nor its other partners."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from baomi.access import services
from baomi.access.models import (
    BreakGlassRead,
    ConfidentialityAgreement,
    PartnerOrganisation,
    QueryRequest,
    TrainingRecord,
)
from baomi.access.tests.test_services import (
    _second_manager,
    firm,
    period,
    refused,
)
from baomi.accounts import services as account_services
from baomi.accounts.models import Level, Role
from baomi.audit.models import LedgerEntry
from conftest import verified_client

pytestmark = pytest.mark.django_db

__all__ = ["firm"]  # the fixture, shared with test_services


def _when(days: float) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


# --- M2: one's own agreement or training --------------------------------------------------------


def test_the_registers_do_not_offer_the_registrar_themselves(firm):
    admin = firm["admin"]
    c = verified_client(admin)
    for url in ("/access/agreements/", "/access/trainings/"):
        page = c.get(url)
        assert page.status_code == 200
        people = page.context["form"].fields["person"].queryset
        assert admin not in people and firm["acct"] in people
    day = timezone.localdate()
    r = c.post("/access/trainings/", {"person": admin.pk, "course": "自学",
                                      "valid_from": day.isoformat(),
                                      "valid_to": (day + timedelta(days=365)).isoformat()})
    assert r.status_code == 422
    assert TrainingRecord.objects.filter(person=admin, course="自学").count() == 0
    # The person's page offers no register form on one's own page.
    own = c.get(f"/access/staff/{admin.pk}/").content.decode()
    assert f"?person={admin.pk}#register" not in own and 'value="training"' not in own
    other = c.get(f"/access/staff/{firm['acct'].pk}/").content.decode()
    assert f"?person={firm['acct'].pk}#register" in other and 'value="training"' in other


def test_the_api_refuses_ones_own_agreement_or_training(firm):
    comp = firm["compliance"]
    c = verified_client(comp)
    before = ConfidentialityAgreement.objects.filter(person=comp).count()
    for what, body in (("agreements", {"kind": "partner"}), ("trainings", {"course": "自学"})):
        r = c.post(f"/api/v1/staff/{comp.pk}/{what}",
                   {**body, "valid_from": _when(400), "valid_to": _when(800)},
                   content_type="application/json")
        assert r.status_code == 403, r.content
        assert r.json()["code"] == "self_action"
    assert ConfidentialityAgreement.objects.filter(person=comp).count() == before
    assert refused("agreement.record", "self") and refused("training.record", "self")
    # Staff page form, also refused by the service.
    c.post(f"/access/staff/{comp.pk}/", {"what": "training", "course": "自学",
                                          "valid_from": "2030-01-01T00:00",
                                          "valid_to": "2031-01-01T00:00"})
    assert not TrainingRecord.objects.filter(person=comp, course="自学").exists()


# --- M4: documents a query request names ---------------------------------------------------------


def test_a_query_request_naming_an_unknown_document_is_refused_on_page_and_api(firm):
    client = firm["client"]
    c = verified_client(firm["acct"])
    r = c.post(f"/api/v1/clients/{client.pk}/query-requests",
               {"scope": {"levels": ["internal"], "document_ids": [987654]}, "purpose": "核对",
                "valid_from": _when(0), "valid_to": _when(3)}, content_type="application/json")
    assert r.status_code == 422
    assert r.json()["code"] == "scope_unknown_document"
    assert r.json()["detail"]["fields"]["scope"]
    now = timezone.localtime()
    page = c.post(f"/access/clients/{client.pk}/request/", {
        "levels": ["internal"], "document_ids": ["987654"], "purpose_other": "核对",
        "valid_from": now.strftime("%Y-%m-%dT%H:%M"),
        "valid_to": (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")})
    assert page.status_code == 400
    assert not QueryRequest.objects.exists()
    assert LedgerEntry.objects.filter(action="query_request.create", decision="refused",
                                      reason="scope_unknown_document").count() == 2


# --- L2: the break-glass post-review --------------------------------------------------------------


def test_the_review_page_needs_a_note_and_reviews_once(firm, make_user):
    item = services.break_glass_opened(actor=firm["manager"], client_id=firm["client"].pk,
                                       document_id=firm["doc"].pk, reason="系统故障")
    c = verified_client(firm["compliance"])
    page = c.get("/access/break-glass/").content.decode()
    assert 'name="note" maxlength="500" required' in page
    assert c.post("/access/break-glass/", {"item": item.pk, "note": " \u200b"}).status_code == 302
    item.refresh_from_db()
    assert item.reviewed_at is None
    assert refused("break_glass.review", "note_required")
    c.post("/access/break-glass/", {"item": item.pk, "note": "已核实"})
    other = verified_client(make_user("comp2", role=Role.COMPLIANCE, clearance=Level.SECRET))
    other.post("/access/break-glass/", {"item": item.pk, "note": "改写"})
    item.refresh_from_db()
    assert (item.reviewed_by_id, item.review_note) == (firm["compliance"].pk, "已核实")
    assert refused("break_glass.review", "review_not_pending")


# --- L5 and L4: approvals -------------------------------------------------------------------------


def test_approving_a_request_whose_window_has_ended_is_409(firm):
    now = timezone.now()
    row = services.request_create(actor=firm["acct"], client=firm["client"],
                                  scope=services.ScopeInput(["internal"]), purpose="对账",
                                  valid_from=now - timedelta(days=10),
                                  valid_to=now - timedelta(days=9))
    r = verified_client(firm["manager"]).post(f"/api/v1/query-requests/{row.pk}/approve", {},
                                               content_type="application/json")
    assert r.status_code == 409 and r.json()["code"] == "request_expired"
    row.refresh_from_db()
    assert row.status == "pending"


def test_the_approvals_list_matches_what_the_api_approves(firm, make_user):
    low = make_user("mgr3", role=Role.MANAGER, department="一部", clearance=Level.CONFIDENTIAL)
    secret = services.request_create(actor=firm["acct2"], client=firm["client"],
                                     scope=services.ScopeInput(["secret"]), purpose="审计",
                                     **period(3))
    c = verified_client(low)
    listed = {r["id"] for r in c.get("/api/v1/query-requests").json()}
    assert secret.pk not in listed
    assert secret not in c.get("/access/").context["to_decide"]
    r = c.post(f"/api/v1/query-requests/{secret.pk}/approve", {},
               content_type="application/json")
    assert r.status_code == 403
    manager = verified_client(firm["manager"])
    assert secret.pk in {r["id"] for r in manager.get("/api/v1/query-requests").json()}


# --- L1: the emergency read is a POST -------------------------------------------------------------


def test_a_link_cannot_make_an_emergency_read(firm):
    mgr2 = _second_manager(firm)
    doc = firm["doc"]
    url = f"/api/v1/documents/{doc.pk}/break-glass"
    body = {"reason": "系统故障紧急核对", "purpose": "审计"}
    # A link (GET) does nothing.
    c = verified_client(mgr2)
    assert c.get(url, body).status_code == 405
    # A cross-site form post from the manager's browser has no CSRF token: refused.
    browser = verified_client(mgr2, enforce_csrf_checks=True)
    r = browser.post(url, body, content_type="application/json")
    assert r.status_code == 403
    assert not BreakGlassRead.objects.exists()
    assert not LedgerEntry.objects.filter(action="break_glass.read").exists()
    # With an API token the emergency read is made and reviewed afterwards.
    token = account_services.token_create(user=mgr2).plaintext
    api = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    r = api.post(url, body, content_type="application/json")
    assert r.status_code == 200, r.content
    assert b"".join(r.streaming_content if r.streaming else [r.content]) == b"internal content"
    assert BreakGlassRead.objects.get().actor_id == mgr2.pk
    # Unknown fields are refused (the body is strict).
    r = api.post(url, {**body, "extra": 1}, content_type="application/json")
    assert r.status_code == 422


def test_the_break_glass_page_still_reads(firm):
    mgr2 = _second_manager(firm)
    c = verified_client(mgr2)
    page = f"/access/documents/{firm['doc'].pk}/break-glass/"
    assert c.get(page).status_code == 200
    r = c.post(page, {"reason": "系统故障紧急核对", "purpose": "审计"})
    assert r.status_code == 200
    assert BreakGlassRead.objects.get().actor_id == mgr2.pk


# --- M3: what a partner sees of a client's access ----------------------------------------------


def test_a_partner_sees_only_their_authorizations_and_no_staff(firm):
    client = firm["client"]
    org2 = PartnerOrganisation.objects.create(name="另一家合作方")
    mine = services.authorization_grant(actor=firm["portal"], client=client,
                                        grantee_org=firm["org"],
                                        scope=services.ScopeInput(["internal"]), **period(30))
    services.authorization_grant(actor=firm["portal"], client=client, grantee_org=org2,
                                 scope=services.ScopeInput(["confidential"]), **period(30))
    c = verified_client(firm["partner"])
    r = c.get(f"/api/v1/clients/{client.pk}/authorizations")
    assert r.status_code == 200
    assert [a["id"] for a in r.json()] == [mine.pk]
    page = c.get(f"/access/clients/{client.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "另一家合作方" not in html
    assert list(page.context["authorizations"]) == [mine]
    assert not page.context["staff"] and not page.context["assignees"]
    assert not page.context["orgs"]
    assert 'id="assignments"' not in html
    assert firm["acct"].username not in html and firm["manager"].username not in html
    # Staff who grant still see everything.
    staff_page = verified_client(firm["manager"]).get(f"/access/clients/{client.pk}/")
    assert len(staff_page.context["authorizations"]) == 2
    assert firm["acct"] in staff_page.context["staff"]


def test_the_portal_user_picks_partners_only(firm):
    page = verified_client(firm["portal"]).get(f"/access/clients/{firm['client'].pk}/")
    assert page.status_code == 200
    assert list(page.context["grantees"]) == [firm["partner"]]
    assert not page.context["staff"]  # the assignment pick-list: a portal user assigns none
    assert firm["org"] in page.context["orgs"]
