"""Staff lifecycle and access governance, four defects (F06): a handover after 离职 found
nothing to move, a role change through the API was no transfer, a new department was not
recorded, and a review item whose reviewer had left could be decided by nobody.

Each test runs on the real database and fails on the code before the fix."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from baomi.access import selectors, services
from baomi.access.models import (
    ClientAuthorization,
    EndedAssignment,
    GrantKind,
    Notification,
    QueryRequest,
    ReviewDecision,
    ReviewItem,
)
from baomi.access.tests.test_services import _read, firm, period, refused
from baomi.accounts import services as account_services
from baomi.accounts.models import ApiToken, Department, Level, Role, StaffStatus, UserSession
from baomi.audit.models import LedgerEntry
from baomi.audit.services import LedgerUnavailable
from baomi.clients.models import Assignment
from baomi.errors import AccessDenied, Conflict, ValidationFailed
from conftest import verified_client

pytestmark = pytest.mark.django_db
__all__ = ["firm"]  # the fixture, shared with test_services


def _api(user: Any, **kw: Any) -> HttpClient:
    token = account_services.token_create(user=user).plaintext
    return HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}", **kw)


def _entries(action: str, **kw: Any) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(action=action, decision="allowed", **kw)
                .order_by("seq"))


def _live_grants(user: Any) -> dict[str, int]:
    return {
        "assignments": Assignment.objects.filter(user=user).count(),
        "tokens": ApiToken.objects.filter(user=user, revoked_at__isnull=True).count(),
        "requests": QueryRequest.objects.filter(
            requester=user, status__in=["pending", "approved"]).count(),
        "authorizations": ClientAuthorization.objects.filter(
            grantee_user=user, revoked_at__isnull=True).count(),
        "sessions": UserSession.objects.filter(user=user).count(),
    }


def _with_every_grant(firm: dict[str, Any], user: Any) -> HttpClient:
    """Give `user` a pending and an approved query request, a client authorization, an
    API token and a signed-in session (besides their assignment); returns the session."""
    services.request_create(actor=user, client=firm["client"],
                            scope=services.ScopeInput(["confidential"]), purpose="月结",
                            **period())
    approved = services.request_create(actor=user, client=firm["client"],
                                       scope=services.ScopeInput(["internal"]),
                                       purpose="报税", **period(3))
    services.request_approve(actor=firm["manager"], request=approved)
    # An authorization naming a member of staff is refused now (`grantee_not_partner`), but
    # one recorded before that may still be live, and leaving or a transfer ends it too.
    ClientAuthorization.objects.create(client=firm["client"], grantee_user=user,
                                       scope_levels=["internal"], via="portal", **period(30))
    account_services.token_create(user=user)
    web = verified_client(user)
    assert web.get("/clients/").status_code == 200
    assert _live_grants(user) == {"assignments": 1, "tokens": 1, "requests": 2,
                                  "authorizations": 1, "sessions": 1}
    return web


# --- 1. A handover after 离职 moves the clients the departed person served -----------------


def test_a_handover_after_leaving_moves_exactly_the_departed_persons_clients(firm, make_user):
    acct, admin = firm["acct"], firm["admin"]
    services.assignment_add(actor=admin, client=firm["other"], user=acct)
    successor = make_user("acct3", department="一部", clearance=Level.CONFIDENTIAL)
    token = account_services.token_create(user=acct).plaintext
    ended = services.staff_leave(actor=admin, user=acct)
    assert ended["assignments"] == 2
    # Access ends at once: no assignment, no client, no document, no token.
    acct.refresh_from_db()
    assert acct.status == StaffStatus.LEFT and not acct.is_active
    assert not Assignment.objects.filter(user=acct).exists()
    assert not selectors.clients_visible_to(acct).exists()
    with pytest.raises(AccessDenied) as info:
        _read(acct, firm["doc"])
    assert info.value.detail["rule"] == "actor_departed"
    assert HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}").get(
        "/api/v1/clients").status_code == 401
    # … but which clients were theirs is kept, and the handover moves exactly those.
    moved = services.staff_handover(actor=admin, from_user=acct, to_user=successor)
    assert moved == 2
    assert set(EndedAssignment.objects.filter(user=acct).values_list("reason", flat=True)) == {
        "left"}
    assert set(Assignment.objects.filter(user=successor).values_list("client_id", flat=True)) == {
        firm["client"].pk, firm["other"].pk}
    assert _read(successor, firm["doc"]) == b"internal content"
    # Recorded: the handover and one assignment.add per client, in one step.
    handover = _entries("staff.handover", object_id=str(acct.pk))
    assert [e.reason for e in handover] == [f"to={successor.pk} clients=2"]
    adds = _entries("assignment.add", object_id=str(successor.pk), reason="handover")
    assert {e.client_id for e in adds} == {str(firm["client"].pk), str(firm["other"].pk)}
    assert all(e.seq > handover[0].seq for e in adds)
    assert set(EndedAssignment.objects.filter(user=acct).values_list(
        "handed_over_to_id", flat=True)) == {successor.pk}
    assert Notification.objects.filter(user=successor, kind="handover",
                                       params__count=2).exists()
    # Handed over once: nothing is left to move, and the departed person still has nothing.
    assert selectors.handover_clients(acct) == []
    assert services.staff_handover(actor=admin, from_user=acct, to_user=firm["acct2"]) == 0
    assert not Assignment.objects.filter(user=acct).exists()


def test_the_kept_record_grants_nothing_even_if_the_person_comes_back(firm):
    acct = firm["acct"]
    services.staff_leave(actor=firm["admin"], user=acct)
    account_services.user_reactivate(user=acct, actor=firm["admin"])
    acct.refresh_from_db()
    assert acct.is_active and EndedAssignment.objects.filter(user=acct).exists()
    assert not selectors.clients_visible_to(acct).exists()
    with pytest.raises(AccessDenied):
        _read(acct, firm["doc"])


def test_a_transfer_keeps_the_record_too_and_the_handover_moves_old_and_new(firm, make_user):
    acct = firm["acct"]
    services.staff_transfer(actor=firm["admin"], user=acct, department=None)
    assert not Assignment.objects.filter(user=acct).exists()
    assert EndedAssignment.objects.get(user=acct).reason == "transferred"
    # Their new post's client is theirs as well; a handover moves both.
    services.assignment_add(actor=firm["admin"], client=firm["other"], user=acct)
    successor = make_user("acct3", department="一部")
    assert services.staff_handover(actor=firm["admin"], from_user=acct, to_user=successor) == 2
    assert not Assignment.objects.filter(user=acct).exists()
    assert _entries("assignment.remove", object_id=str(acct.pk), reason="handover")[0].client_id \
        == str(firm["other"].pk)


def test_handing_over_a_departed_persons_clients_over_the_api(firm, make_user):
    acct = firm["acct"]
    successor = make_user("acct3", department="一部")
    api = _api(firm["admin"])
    r = api.post(f"/api/v1/staff/{acct.pk}/leave", content_type="application/json")
    assert r.status_code == 200, r.content
    assert r.json()["detail"]["assignments"] == 1
    assert not Assignment.objects.filter(user=acct).exists()
    # Only those who manage staff may hand over (refused and recorded, with the reason).
    r = _api(firm["manager"]).post(f"/api/v1/staff/{acct.pk}/handover",
                                   {"to_user_id": successor.pk},
                                   content_type="application/json")
    assert r.status_code == 403 and r.json()["message"]
    assert refused("staff.handover").actor == "manager"
    assert [c.pk for c in selectors.handover_clients(acct)] == [firm["client"].pk]
    r = api.post(f"/api/v1/staff/{acct.pk}/handover", {"to_user_id": successor.pk},
                 content_type="application/json")
    assert r.status_code == 200, r.content
    assert r.json()["detail"] == {"moved": 1}
    assert Assignment.objects.filter(user=successor, client=firm["client"]).exists()
    assert selectors.handover_clients(acct) == []


def test_the_staff_page_offers_the_handover_of_a_departed_person(firm, make_user):
    acct = firm["acct"]
    successor = make_user("acct3", department="一部")
    services.staff_leave(actor=firm["admin"], user=acct)
    web = verified_client(firm["admin"], HTTP_ACCEPT_LANGUAGE="en")
    body = web.get(f"/access/staff/{acct.pk}/").content.decode()
    assert firm["client"].name in body and "1 client to hand over." in body
    assert 'value="handover"' in body and f'value="{successor.pk}"' in body
    # Someone who has left cannot be made to leave or be transferred again.
    assert 'value="leave"' not in body and 'value="transfer"' not in body
    # Only colleagues a handover may name are offered (no compliance officer).
    assert f'value="{firm["compliance"].pk}"' not in body
    r = web.post(f"/access/staff/{acct.pk}/", {"what": "handover", "to_user": successor.pk})
    assert r.status_code == 302
    assert Assignment.objects.filter(user=successor, client=firm["client"]).exists()
    body = web.get(f"/access/staff/{acct.pk}/").content.decode()
    assert "0 clients to hand over." in body and 'value="handover"' not in body


# --- 2. A new role or department through PATCH /api/v1/staff/{id} is a transfer --------------


def test_a_role_change_over_the_api_is_a_transfer(firm):
    acct = firm["acct"]
    web = _with_every_grant(firm, acct)
    r = _api(firm["admin"]).patch(f"/api/v1/staff/{acct.pk}", {"role": "manager"},
                                  content_type="application/json")
    assert r.status_code == 200, r.content
    assert r.json()["role"] == "manager"
    acct.refresh_from_db()
    assert acct.role == Role.MANAGER and acct.department.name == "一部"
    assert _live_grants(acct) == {"assignments": 0, "tokens": 0, "requests": 0,
                                  "authorizations": 0, "sessions": 0}
    assert set(QueryRequest.objects.filter(requester=acct).values_list("status", flat=True)) == {
        "cancelled", "revoked"}
    assert web.get("/clients/").status_code == 302  # the session has ended
    transfer = _entries("staff.transfer", object_id=str(acct.pk))
    assert len(transfer) == 1 and "role=manager" in transfer[0].reason
    assert any("role:accountant->manager" in e.reason
               for e in _entries("permission.change", object_id=str(acct.pk)))
    assert _entries("query_request.cancel", reason="transferred")
    assert _entries("query_request.revoke", reason="transferred")
    assert _entries("authorization.revoke", reason="transferred")
    assert _entries("assignment.remove", object_id=str(acct.pk), reason="transferred")
    assert EndedAssignment.objects.filter(user=acct, reason="transferred").exists()


def test_a_role_change_on_the_staff_page_is_a_transfer(firm):
    acct2 = firm["acct2"]
    token = account_services.token_create(user=acct2).plaintext
    account_services.staff_update(actor=firm["admin"], user=acct2, data=account_services.StaffInput(
        display_name="会计二", role=Role.MANAGER, department="一部", clearance=acct2.clearance))
    acct2.refresh_from_db()
    assert acct2.role == Role.MANAGER
    assert not Assignment.objects.filter(user=acct2).exists()
    assert HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}").get(
        "/api/v1/clients").status_code == 401
    assert _entries("staff.transfer", object_id=str(acct2.pk))


def test_a_null_department_over_the_api_takes_the_person_out_of_theirs(firm):
    acct = firm["acct"]
    r = _api(firm["admin"]).patch(f"/api/v1/staff/{acct.pk}", {"department": None},
                                  content_type="application/json")
    assert r.status_code == 200, r.content
    acct.refresh_from_db()
    assert acct.department is None and not Assignment.objects.filter(user=acct).exists()
    assert _entries("staff.transfer", object_id=str(acct.pk))


def test_an_edit_that_keeps_role_and_department_is_no_transfer(firm):
    acct = firm["acct"]
    token = account_services.token_create(user=acct).plaintext
    r = _api(firm["admin"]).patch(
        f"/api/v1/staff/{acct.pk}",
        {"role": "accountant", "department": "一部", "display_name": "会计一", "post": "记账"},
        content_type="application/json")
    assert r.status_code == 200, r.content
    assert Assignment.objects.filter(user=acct).exists()
    assert HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}").get(
        "/api/v1/clients").status_code == 200
    assert not _entries("staff.transfer", object_id=str(acct.pk))
    # A clearance change is recorded as a permission change, and ends nothing.
    r = _api(firm["admin"]).patch(f"/api/v1/staff/{acct.pk}", {"clearance": "secret"},
                                  content_type="application/json")
    assert r.status_code == 200
    assert Assignment.objects.filter(user=acct).exists()
    assert _entries("permission.change", object_id=str(acct.pk))[-1].reason == \
        "clearance:confidential->secret"


def test_nobody_changes_their_own_role_over_the_api(firm):
    admin = firm["admin"]
    r = _api(admin).patch(f"/api/v1/staff/{admin.pk}", {"role": "accountant"},
                          content_type="application/json")
    assert r.status_code == 422, r.content
    assert r.json()["code"] == "validation_error" and "role" in r.json()["detail"]["fields"]
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN
    # Nor transfers themselves: refused, with the entry kept, and no department made.
    admin.department = Department.objects.get(name="一部")
    admin.save()
    r = _api(admin).patch(f"/api/v1/staff/{admin.pk}", {"department": "行政"},
                          content_type="application/json")
    assert (r.status_code, r.json()["code"]) == (403, "self_action")
    assert refused("staff.transfer", "self").actor == "admin"
    assert not Department.objects.filter(name="行政").exists()
    admin.refresh_from_db()
    assert admin.department.name == "一部"


# --- 3. Every new department is in the ledger -------------------------------------------------


def test_creating_a_department_is_recorded_once(firm):
    dept = account_services.department_get_or_create(name=" 三部 ", actor=firm["admin"])
    assert dept.name == "三部"
    entries = _entries("department.create")
    assert [(e.actor, e.object_type, e.object_id) for e in entries if e.object_id == str(
        dept.pk)] == [("admin", "department", str(dept.pk))]
    # An existing department is found, not created again, and not recorded again.
    assert account_services.department_get_or_create(name="三部", actor=firm["admin"]) == dept
    assert len(_entries("department.create", object_id=str(dept.pk))) == 1


def test_departments_created_through_the_api_and_the_pages_are_recorded(firm):
    api = _api(firm["admin"])
    r = api.post("/api/v1/staff", {"username": "newhire", "password": "Tall-Ships-Sail-93",
                                   "role": "accountant", "department": "四部"},
                 content_type="application/json")
    assert r.status_code == 201, r.content
    r = api.patch(f"/api/v1/staff/{firm['acct'].pk}", {"department": "五部"},
                  content_type="application/json")
    assert r.status_code == 200, r.content
    r = api.post(f"/api/v1/staff/{firm['acct2'].pk}/transfer", {"department": "六部"},
                 content_type="application/json")
    assert r.status_code == 200, r.content
    account_services.staff_create(actor=firm["admin"], username="hire2",
                                  password="Tall-Ships-Sail-93",
                                  data=account_services.StaffInput(department="七部"))
    for name in ("四部", "五部", "六部", "七部"):
        dept = Department.objects.get(name=name)
        entry = _entries("department.create", object_id=str(dept.pk))
        assert [(e.actor, e.object_type) for e in entry] == [("admin", "department")], name


def test_no_department_without_its_entry(firm):
    from baomi.testing.ledger_faults import inject_ledger_faults

    inject_ledger_faults(100)
    with pytest.raises(LedgerUnavailable):
        account_services.department_get_or_create(name="八部", actor=firm["admin"])
    assert not Department.objects.filter(name="八部").exists()


# --- 4. A review item whose reviewer has gone is decided by compliance ------------------------


def _campaign(firm: dict[str, Any]) -> Any:
    return services.review_campaign_create(actor=firm["compliance"], name="第四季度审查",
                                           deadline=timezone.now() + timedelta(days=3))


def _assignment_item(campaign: Any, holder: Any) -> ReviewItem:
    return ReviewItem.objects.select_related("reviewer").get(
        campaign=campaign, grant_kind=GrantKind.ASSIGNMENT, holder=str(holder))


def test_compliance_decides_an_item_whose_reviewer_left(firm):
    campaign = _campaign(firm)
    item = _assignment_item(campaign, firm["acct"])
    assert item.reviewer_id == firm["manager"].pk and not item.flagged
    # Before the reviewer leaves, compliance may not decide in their place.
    with pytest.raises(AccessDenied) as info:
        services.review_decide(actor=firm["compliance"], item=item, confirm=True)
    assert info.value.code == "not_reviewer"
    services.staff_leave(actor=firm["admin"], user=firm["manager"])
    item = _assignment_item(campaign, firm["acct"])
    # Flagged to compliance at once, recorded, compliance notified.
    assert item.flagged and services.review_orphaned(item)
    assert _entries("access_review.flag", object_id=str(campaign.pk))[-1].reason == \
        f"reviewer_gone={firm['manager'].pk} items=2"
    assert Notification.objects.filter(user=firm["compliance"], kind="review_reviewer_gone",
                                       params__count=2).exists()
    # Nobody but compliance decides it; compliance decides it once.
    with pytest.raises(AccessDenied):
        services.review_decide(actor=firm["acct2"], item=item, confirm=True)
    assert refused("access_review.confirm", "not_reviewer").actor == "acct2"
    services.review_decide(actor=firm["compliance"], item=item, confirm=False)
    item.refresh_from_db()
    assert item.decision == ReviewDecision.REVOKED and item.decided_by_id == firm["compliance"].pk
    assert not Assignment.objects.filter(pk=item.grant_id).exists()
    entry = _entries("access_review.revoke", object_id=str(item.pk))[-1]
    assert entry.actor == "compliance" and f"in_place_of={firm['manager'].pk}" in entry.reason
    with pytest.raises(Conflict):
        services.review_decide(actor=firm["compliance"], item=item, confirm=True)
    assert refused("access_review.confirm", "review_not_pending")


def test_compliance_never_decides_its_own_grant(firm, make_user):
    row = services.request_create(actor=firm["compliance"], client=firm["client"],
                                  scope=services.ScopeInput(["internal"]), purpose="审计",
                                  **period(3))
    services.request_approve(actor=firm["manager"], request=row)
    campaign = _campaign(firm)
    item = ReviewItem.objects.get(campaign=campaign, grant_kind=GrantKind.QUERY_REQUEST)
    assert item.reviewer_id == firm["manager"].pk
    services.staff_leave(actor=firm["admin"], user=firm["manager"])
    item.refresh_from_db()
    with pytest.raises(AccessDenied) as info:
        services.review_decide(actor=firm["compliance"], item=item, confirm=True)
    assert info.value.code == "self_review"
    assert refused("access_review.confirm", "self_review")
    # Another compliance officer decides it.
    other = make_user("compliance2", role=Role.COMPLIANCE, clearance=Level.SECRET)
    services.review_decide(actor=other, item=item, confirm=True)
    assert ReviewItem.objects.get(pk=item.pk).decision == ReviewDecision.CONFIRMED


def test_an_item_without_a_reviewer_is_flagged_at_once_and_decided_by_compliance(
        firm, make_user):
    # Compliance's own request on a client without a department: the only candidate
    # reviewer (the sole compliance officer) holds it, so nobody could be chosen.
    row = services.request_create(actor=firm["compliance"], client=firm["other"],
                                  scope=services.ScopeInput(["internal"]), purpose="审计",
                                  **period(3))
    # Nobody else may approve it (no department manager; compliance not its own), so
    # it is set up as approved directly.
    QueryRequest.objects.filter(pk=row.pk).update(status="approved")
    campaign = _campaign(firm)
    item = ReviewItem.objects.select_related("reviewer").get(
        campaign=campaign, grant_kind=GrantKind.QUERY_REQUEST)
    assert item.reviewer is None and item.flagged
    assert _entries("access_review.flag", object_id=str(campaign.pk))[-1].reason == \
        "no_reviewer=1"
    assert Notification.objects.filter(kind="review_no_reviewer").exists()
    newcomer = make_user("compliance2", role=Role.COMPLIANCE, clearance=Level.SECRET)
    services.review_decide(actor=newcomer, item=item, confirm=False)
    assert QueryRequest.objects.get(pk=row.pk).status == "revoked"


def test_a_deactivated_reviewer_passes_their_items_to_compliance_over_the_api(firm):
    campaign = _campaign(firm)
    item = _assignment_item(campaign, firm["acct"])
    comp_api = _api(firm["compliance"])
    r = comp_api.post(f"/api/v1/access-review-items/{item.pk}", {"confirm": True},
                      content_type="application/json")
    assert r.status_code == 404  # still the manager's
    r = _api(firm["admin"]).patch(f"/api/v1/staff/{firm['manager'].pk}", {"is_active": False},
                                  content_type="application/json")
    assert r.status_code == 200, r.content
    assert ReviewItem.objects.get(pk=item.pk).flagged
    r = comp_api.post(f"/api/v1/access-review-items/{item.pk}", {"confirm": True},
                      content_type="application/json")
    assert r.status_code == 200, r.content
    assert r.json()["decision"] == "confirmed"
    r = comp_api.post(f"/api/v1/access-review-items/{item.pk}", {"confirm": False},
                      content_type="application/json")
    assert r.status_code == 409 and r.json()["code"] == "review_not_pending"
    # Someone else still gets nothing.
    r = _api(firm["acct2"]).post(f"/api/v1/access-review-items/{item.pk}", {"confirm": True},
                                 content_type="application/json")
    assert r.status_code == 404


def test_the_review_page_lets_compliance_decide_for_a_departed_reviewer(firm):
    campaign = _campaign(firm)
    item = _assignment_item(campaign, firm["acct"])
    web = verified_client(firm["compliance"], HTTP_ACCEPT_LANGUAGE="en")
    url = f"/access/reviews/{campaign.pk}/"
    assert f'name="item" value="{item.pk}"' not in web.get(url).content.decode()
    services.staff_leave(actor=firm["admin"], user=firm["manager"])
    body = web.get(url).content.decode()
    assert f'name="item" value="{item.pk}"' in body
    assert "Reviewer gone: compliance decides" in body
    r = web.post(url, {"item": item.pk, "decision": "confirm"})
    assert r.status_code == 302
    assert ReviewItem.objects.get(pk=item.pk).decision == ReviewDecision.CONFIRMED


def test_overdue_flagging_counts_items_already_passed_to_compliance(firm):
    campaign = _campaign(firm)
    services.staff_leave(actor=firm["admin"], user=firm["manager"])
    pending = campaign.items.filter(decision=ReviewDecision.PENDING).count()
    assert pending and campaign.items.filter(flagged=True).count() == pending
    campaign.deadline = timezone.now()
    campaign.save()
    assert services.reviews_flag_overdue() == pending
    assert _entries("access_review.flag", object_id=str(campaign.pk))[-1].reason == \
        f"unreviewed={pending}"


def test_an_unknown_role_is_refused_before_anything_changes(firm):
    acct = firm["acct"]
    with pytest.raises(ValidationFailed):
        account_services.staff_change(actor=firm["admin"], user=acct, role="boss")
    assert Assignment.objects.filter(user=acct).exists()
    assert not _entries("staff.transfer", object_id=str(acct.pk))
