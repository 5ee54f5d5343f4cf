"""Ledger visibility and access reviews: defects an adversarial review found (2026-11-25),
each held fixed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from baomi.access import services
from baomi.access.models import ReviewItem
from baomi.accounts.models import Level, Role
from baomi.audit.models import LedgerEntry
from conftest import verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def firm(make_user: Any, make_client: Any) -> dict[str, Any]:
    admin = make_user("admin", role=Role.ADMIN, clearance=Level.SECRET)
    manager = make_user("manager", role=Role.MANAGER, department="一部", clearance=Level.SECRET)
    manager2 = make_user("manager2", role=Role.MANAGER, department="二部", clearance=Level.SECRET)
    acct = make_user("acct", department="一部", clearance=Level.SECRET)
    acct2 = make_user("acct2", department="二部", clearance=Level.SECRET)
    compliance = make_user("compliance", role=Role.COMPLIANCE, clearance=Level.SECRET)
    client = make_client(manager, name="甲客户有限公司")
    other = make_client(manager2, name="乙客户有限公司")
    services.assignment_add(actor=manager, client=client, user=acct)
    services.assignment_add(actor=manager2, client=other, user=acct2)
    portal = make_user("portal", role=Role.CLIENT, portal_client_id=client.pk)
    return {"admin": admin, "manager": manager, "manager2": manager2, "acct": acct,
            "acct2": acct2, "compliance": compliance, "client": client, "other": other,
            "portal": portal}


def test_reading_a_clients_access_history_is_recorded_as_a_ledger_read(firm):
    """Reading the ledger is itself recorded (`ledger.view` for the audit page and
    `/ledger/entries`); a client's access history is a ledger read too: an allowed read,
    through the API or on the client page (portal included), is recorded as
    `ledger.view_client` with that client."""
    client = firm["client"]
    for viewer in (firm["portal"], firm["manager"], firm["compliance"]):
        c = verified_client(viewer)
        before = LedgerEntry.objects.order_by("-seq").values_list("seq", flat=True).first()
        r = c.get(f"/api/v1/clients/{client.pk}/access-history")
        assert r.status_code == 200
        seen = LedgerEntry.objects.filter(seq__gt=before, actor=viewer.username,
                                          action="ledger.view_client", decision="allowed",
                                          client_id=str(client.pk))
        assert seen.exists(), (viewer.username, list(LedgerEntry.objects.filter(
            seq__gt=before).values_list("action", flat=True)))
        before = LedgerEntry.objects.order_by("-seq").values_list("seq", flat=True).first()
        page = c.get(f"/clients/{client.pk}/")
        assert page.context["history"] is not None  # the history was read and shown
        seen = LedgerEntry.objects.filter(seq__gt=before, actor=viewer.username,
                                          action="ledger.view_client", decision="allowed")
        assert seen.exists(), viewer.username


def test_a_review_item_whose_grant_was_replaced_is_closed_as_ended(firm):
    """An item is tied to the grant row's id. When the assignment under review was
    removed and made again (a new row), a "revoke" would delete nothing: the item is
    closed as `ended` (recorded as `access_review.close`), never read as revoked while the
    holder keeps the access."""
    from baomi.access.models import ReviewDecision
    from baomi.clients.models import Assignment

    client, acct, manager = firm["client"], firm["acct"], firm["manager"]
    campaign = services.review_campaign_create(actor=firm["compliance"], name="Q4",
                                               deadline=timezone.now() + timedelta(days=7))
    item = ReviewItem.objects.get(campaign=campaign, grant_kind="assignment",
                                  holder=str(acct), client=client)
    assert item.reviewer_id == manager.pk
    services.assignment_remove(actor=manager, client=client, user=acct)
    services.assignment_add(actor=manager, client=client, user=acct)
    services.review_decide(actor=manager, item=item, confirm=False)
    item.refresh_from_db()
    still = Assignment.objects.filter(client=client, user=acct).exists()
    assert not (item.decision == ReviewDecision.REVOKED and still), (
        "item reads revoked while the holder is still assigned")
    # It says what happened: the grant under review had ended (the new assignment is
    # another grant), recorded as such.
    assert item.decision == ReviewDecision.ENDED
    entry = LedgerEntry.objects.filter(action="access_review.close").get()
    assert entry.reason.endswith("grant_ended")


FUZZ = ["%", "_", "%25", "\x01", "\x7f", "\u202e", "1" * 70, "9" * 30, "-1", "1e9",
        "0001-01-01", "9999-12-31", "2024-02-30", "0000-00-00", "１２", "' OR 1=1 --", "\\"]


def test_ledger_filters_never_answer_500(firm):
    c = verified_client(firm["compliance"], raise_request_exception=False)
    bad = []
    for v in FUZZ:
        for name in ("client", "actor", "action", "since", "until", "decision", "page"):
            r = c.get("/audit/", {name: v})
            if r.status_code >= 500:
                bad.append(("page", name, v, r.status_code))
        for name in ("client", "actor", "action", "since", "until", "decision", "offset", "limit"):
            r = c.get("/api/v1/ledger/entries", {name: v})
            if r.status_code >= 500:
                bad.append(("api", name, v, r.status_code))
        for name in ("offset", "limit"):
            r = c.get(f"/api/v1/clients/{firm['client'].pk}/access-history", {name: v})
            if r.status_code >= 500:
                bad.append(("hist", name, v, r.status_code))
    for v in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
              "9999-12-31T23:59:59", "0001-01-01", "9999-12-31", "2024-01-01T00:00:00+99:00",
              "1e20", "99999999999", "-99999999999", "2024-01-01T24:00:00"):
        for name in ("since", "until"):
            r = c.get("/api/v1/ledger/entries", {name: v})
            if r.status_code >= 500:
                bad.append(("api", name, v, r.status_code))
    for v in ("-1", "0", "99999999999999999999", str(2**63), str(2**64)):
        for path in (f"/api/v1/ledger/proof/{v}", f"/api/v1/ledger/verify/{v}"):
            r = c.get(path)
            if r.status_code >= 500:
                bad.append(("path", path, r.status_code))
    print(bad)
    assert not bad


def test_a_manager_moved_out_of_the_department_no_longer_reads_its_review_items(firm):
    """After 调岗 the former manager may no longer decide the department's items (they
    passed to compliance), and neither the review page nor the API shows them: client
    names, holders and query-request purposes of a department they no longer belong to."""
    from baomi.accounts.models import Department

    client = firm["client"]
    now = timezone.now()
    row = services.request_create(
        actor=firm["acct"], client=client, scope=services.ScopeInput(levels=["internal"]),
        purpose="核对甲公司并购对价-保密", valid_from=now, valid_to=now + timedelta(days=5))
    services.request_approve(actor=firm["manager"], request=row)
    campaign = services.review_campaign_create(actor=firm["compliance"], name="Q3",
                                               deadline=now + timedelta(days=7))
    assert ReviewItem.objects.filter(campaign=campaign, reviewer=firm["manager"]).exists()
    services.staff_transfer(actor=firm["admin"], user=firm["manager"],
                            department=Department.objects.get(name="二部"))
    firm["manager"].refresh_from_db()
    # The items passed to compliance: the former manager decides none of them.
    assert not any(services.review_may_decide(firm["manager"], i)
                   for i in ReviewItem.objects.filter(campaign=campaign))
    c = verified_client(firm["manager"])
    page = c.get(f"/access/reviews/{campaign.pk}/")
    api = c.get(f"/api/v1/access-reviews/{campaign.pk}")
    html = page.content.decode()
    # Expected: not found (as for a campaign with no item of theirs); they see nothing
    # of a department they have left.
    assert page.status_code == 404, ("甲客户有限公司" in html, "核对甲公司并购对价-保密" in html)
    assert api.status_code == 404, api.json()


def test_an_expired_query_request_under_review_is_closed_as_ended(firm):
    """Confirming a query request whose window has ended would say a grant is confirmed
    that grants nothing: over the API the item comes back `ended`."""
    from baomi.access.models import QueryRequest

    now = timezone.now()
    row = services.request_create(
        actor=firm["acct"], client=firm["client"], scope=services.ScopeInput(levels=["internal"]),
        purpose="对账", valid_from=now, valid_to=now + timedelta(days=2))
    services.request_approve(actor=firm["manager"], request=row)
    campaign = services.review_campaign_create(actor=firm["compliance"], name="Q1",
                                               deadline=now + timedelta(days=7))
    item = ReviewItem.objects.get(campaign=campaign, grant_kind="query_request")
    QueryRequest.objects.filter(pk=row.pk).update(valid_from=now - timedelta(days=2),
                                                  valid_to=now - timedelta(minutes=1))
    r = verified_client(firm["manager"]).post(f"/api/v1/access-review-items/{item.pk}",
                                              {"confirm": True}, content_type="application/json")
    assert r.status_code == 200 and r.json()["decision"] == "ended", r.content
    page = verified_client(firm["compliance"]).get(f"/access/reviews/{campaign.pk}/")
    assert "授权已结束" in page.content.decode()


def test_the_portal_history_does_not_show_the_firms_addresses(firm):
    """A portal user sees who read the company's data, when and why, but not the staff's
    IP addresses and browsers; compliance still does."""
    client = firm["client"]
    verified_client(firm["acct"], REMOTE_ADDR="10.9.8.7").get(f"/clients/{client.pk}/")
    portal = verified_client(firm["portal"]).get(f"/api/v1/clients/{client.pk}/access-history")
    assert portal.status_code == 200
    items = portal.json()["items"]
    assert items and all(i["request"] == {} for i in items)
    assert "10.9.8.7" not in portal.content.decode()
    staff = verified_client(firm["compliance"]).get(
        f"/api/v1/clients/{client.pk}/access-history")
    assert any(i["request"].get("ip") == "10.9.8.7" for i in staff.json()["items"])
