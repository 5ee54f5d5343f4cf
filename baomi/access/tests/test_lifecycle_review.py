"""Staff lifecycle, after review (F06): a transferred reviewer kept deciding their old
department's access-review items; an administrator could hand a departed person's
clients to themselves, assign themselves or raise their own clearance; a NUL in a
staff field was a server error on PostgreSQL; an edit could move staff into the client
or partner role; and a transfer edit wrote an extra, empty `staff.update`.

Each test runs on the real database (also with ``--db=postgres``) and fails on the
code before the fix."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from baomi.access import services
from baomi.access.models import (
    EndedAssignment,
    GrantKind,
    Notification,
    ReviewDecision,
    ReviewItem,
)
from baomi.access.tests.test_lifecycle_fixes import _api, _entries
from baomi.access.tests.test_services import firm, refused
from baomi.accounts import services as account_services
from baomi.accounts.models import Department, Level, Role, User
from baomi.clients.models import Assignment
from baomi.errors import AccessDenied, ValidationFailed
from conftest import verified_client

pytestmark = pytest.mark.django_db
__all__ = ["firm"]  # the fixture, shared with test_services


def _campaign(firm: dict[str, Any]) -> Any:
    return services.review_campaign_create(actor=firm["compliance"], name="年度权限审查",
                                           deadline=timezone.now() + timedelta(days=3))


def _item(campaign: Any, holder: Any) -> ReviewItem:
    return ReviewItem.objects.select_related("reviewer", "client").get(
        campaign=campaign, grant_kind=GrantKind.ASSIGNMENT, holder=str(holder))


def _fresh(user: User) -> User:
    return User.objects.select_related("department").get(pk=user.pk)


# --- 1. A transferred reviewer no longer decides their old department's items ----------------


def test_a_transfer_passes_the_reviewers_items_to_compliance(firm):
    campaign = _campaign(firm)
    item = _item(campaign, firm["acct"])
    manager = firm["manager"]
    assert item.reviewer_id == manager.pk and not item.flagged
    assert services.review_may_decide(manager, item)
    second = Department.objects.create(name="二部")
    services.staff_transfer(actor=firm["admin"], user=manager, department=second)
    manager = _fresh(manager)
    item = _item(campaign, firm["acct"])
    # Flagged at once, recorded, compliance told: as when a reviewer leaves.
    assert item.flagged and services.review_orphaned(item)
    assert campaign.items.filter(reviewer=manager, flagged=True).count() == 2
    assert _entries("access_review.flag", object_id=str(campaign.pk))[-1].reason == \
        f"reviewer_gone={manager.pk} items=2"
    assert Notification.objects.filter(user=firm["compliance"], kind="review_reviewer_gone",
                                       params__count=2).exists()
    # The transferred manager decides nothing of their old department any more …
    assert not services.review_may_decide(manager, item)
    with pytest.raises(AccessDenied) as info:
        services.review_decide(actor=manager, item=item, confirm=True)
    assert info.value.code == "not_reviewer"
    assert refused("access_review.confirm", "not_reviewer").actor == "manager"
    assert ReviewItem.objects.get(pk=item.pk).decision == ReviewDecision.PENDING
    # … compliance does, in their place.
    services.review_decide(actor=firm["compliance"], item=item, confirm=False)
    assert ReviewItem.objects.get(pk=item.pk).decision == ReviewDecision.REVOKED
    entry = _entries("access_review.revoke", object_id=str(item.pk))[-1]
    assert entry.actor == "compliance" and f"in_place_of={manager.pk}" in entry.reason


def test_a_role_change_over_the_api_ends_the_reviewers_power(firm):
    campaign = _campaign(firm)
    item = _item(campaign, firm["acct"])
    manager = firm["manager"]
    r = _api(firm["admin"]).patch(f"/api/v1/staff/{manager.pk}", {"role": "accountant"},
                                  content_type="application/json")
    assert r.status_code == 200, r.content
    assert ReviewItem.objects.get(pk=item.pk).flagged
    # A token issued after the transfer: the old one ended with it.
    r = _api(manager).post(f"/api/v1/access-review-items/{item.pk}", {"confirm": True},
                           content_type="application/json")
    assert r.status_code == 404 and r.json()["code"] == "review_item_not_found"
    r = _api(firm["compliance"]).post(f"/api/v1/access-review-items/{item.pk}",
                                      {"confirm": True}, content_type="application/json")
    assert r.status_code == 200, r.content
    assert r.json()["decision"] == "confirmed"


def test_review_power_follows_the_current_post_whatever_changed_it(firm):
    campaign = _campaign(firm)
    item = _item(campaign, firm["acct"])
    manager = firm["manager"]
    # A department change written past the transfer (a data fix, an old script): the
    # check reads the post the reviewer holds now, not what the item remembers.
    User.objects.filter(pk=manager.pk).update(
        department=Department.objects.create(name="三部"))
    manager = _fresh(manager)
    item = _item(campaign, firm["acct"])
    assert services.review_orphaned(item)
    assert not services.review_may_decide(manager, item)
    assert services.review_may_decide(firm["compliance"], item)
    web = verified_client(manager, HTTP_ACCEPT_LANGUAGE="en")
    url = f"/access/reviews/{campaign.pk}/"
    assert f'name="item" value="{item.pk}"' not in web.get(url).content.decode()
    web.post(url, {"item": item.pk, "decision": "revoke"})
    assert ReviewItem.objects.get(pk=item.pk).decision == ReviewDecision.PENDING
    assert Assignment.objects.filter(pk=item.grant_id).exists()
    body = verified_client(firm["compliance"], HTTP_ACCEPT_LANGUAGE="en").get(url)
    assert f'name="item" value="{item.pk}"' in body.content.decode()


def test_a_transfer_that_keeps_the_manager_in_the_department_keeps_their_items(firm):
    campaign = _campaign(firm)
    manager = firm["manager"]
    services.staff_transfer(actor=firm["admin"], user=manager, department=manager.department,
                            post="审核")
    item = _item(campaign, firm["acct"])
    assert not item.flagged and not services.review_orphaned(item)
    services.review_decide(actor=_fresh(manager), item=item, confirm=True)
    assert ReviewItem.objects.get(pk=item.pk).decision == ReviewDecision.CONFIRMED


# --- 2. Nobody grants themselves clients or clearance -----------------------------------------


def test_an_administrator_cannot_hand_a_departed_persons_clients_to_themselves(firm):
    admin, acct = firm["admin"], firm["acct"]
    services.staff_leave(actor=admin, user=acct)
    with pytest.raises(AccessDenied) as info:
        services.staff_handover(actor=admin, from_user=acct, to_user=admin)
    assert info.value.code == "self_action"
    assert "to_user" in info.value.detail["fields"]
    assert refused("staff.handover", "self").actor == "admin"
    assert not Assignment.objects.filter(user=admin).exists()
    assert EndedAssignment.objects.get(user=acct).handed_over_to is None
    # Over the API: 403 in the JSON error format.
    r = _api(admin).post(f"/api/v1/staff/{acct.pk}/handover", {"to_user_id": admin.pk},
                         content_type="application/json")
    assert (r.status_code, r.json()["code"]) == (403, "self_action"), r.content
    assert r.json()["message"] and r.json()["detail"]["fields"]["to_user"]
    assert not Assignment.objects.filter(user=admin).exists()


def test_the_staff_page_does_not_offer_the_acting_administrator_as_colleague(firm, make_user):
    admin, acct = firm["admin"], firm["acct"]
    successor = make_user("acct3", department="一部")
    services.staff_leave(actor=admin, user=acct)
    web = verified_client(admin, HTTP_ACCEPT_LANGUAGE="en")
    body = web.get(f"/access/staff/{acct.pk}/").content.decode()
    form = re.search(r'value="handover">(.*?)</form>', body, re.S)
    assert form is not None
    offered = set(re.findall(r'<option value="(\d+)"', form.group(1)))
    assert str(successor.pk) in offered and str(admin.pk) not in offered
    # Posting oneself anyway is refused with the reason shown; nothing moves.
    r = web.post(f"/access/staff/{acct.pk}/", {"what": "handover", "to_user": admin.pk},
                 follow=True)
    assert "You cannot hand clients over to yourself." in r.content.decode()
    assert not Assignment.objects.filter(user=admin).exists()


def test_nobody_assigns_themselves_to_a_client(firm):
    admin, manager = firm["admin"], firm["manager"]
    for actor, client in ((admin, firm["other"]), (manager, firm["client"])):
        with pytest.raises(AccessDenied) as info:
            services.assignment_add(actor=actor, client=client, user=actor)
        assert info.value.code == "self_action"
        entry = refused("assignment.add", "self")
        assert (entry.actor, entry.client_id) == (actor.username, str(client.pk))
        assert not Assignment.objects.filter(user=actor).exists()
    r = _api(admin).post(f"/api/v1/clients/{firm['other'].pk}/assignments",
                         {"user_id": admin.pk}, content_type="application/json")
    assert (r.status_code, r.json()["code"]) == (403, "self_action"), r.content
    assert not Assignment.objects.filter(user=admin).exists()
    # Assigning someone else is unchanged.
    services.assignment_add(actor=admin, client=firm["other"], user=firm["acct"])
    assert Assignment.objects.filter(user=firm["acct"], client=firm["other"]).exists()


def test_nobody_changes_their_own_clearance(firm, make_user):
    admin = firm["admin"]
    r = _api(admin).patch(f"/api/v1/staff/{admin.pk}", {"clearance": "secret"},
                          content_type="application/json")
    assert (r.status_code, r.json()["code"]) == (403, "self_action"), r.content
    assert r.json()["detail"]["fields"]["clearance"]
    assert refused("permission.change", "self").actor == "admin"
    assert _fresh(admin).clearance == Level.CONFIDENTIAL
    # Sending one's own clearance unchanged is no change, and is accepted.
    r = _api(admin).patch(f"/api/v1/staff/{admin.pk}",
                          {"clearance": "confidential", "display_name": "管理员"},
                          content_type="application/json")
    assert r.status_code == 200, r.content
    # On the staff page: the error is shown on the field, nothing changes.
    web = verified_client(admin, HTTP_ACCEPT_LANGUAGE="en")
    r = web.post(f"/accounts/staff/{admin.pk}/edit/", {
        "display_name": "管理员", "role": "admin", "clearance": "secret"})
    assert r.status_code == 400
    assert "You cannot change your own clearance." in r.content.decode()
    assert _fresh(admin).clearance == Level.CONFIDENTIAL
    # Another administrator may.
    other = make_user("admin2", role=Role.ADMIN, clearance=Level.CONFIDENTIAL)
    account_services.staff_change(actor=other, user=admin, clearance=Level.SECRET)
    assert _fresh(admin).clearance == Level.SECRET


# --- 3. Staff input: no control characters, no move into client or partner roles --------------


@pytest.mark.parametrize("field", ["department", "display_name", "post", "email"])
def test_control_characters_in_a_staff_patch_are_a_clear_422(firm, field):
    acct = firm["acct"]
    api = _api(firm["admin"], HTTP_ACCEPT_LANGUAGE="en")
    for bad in ("\u0000", "一部\u0000", "a\x1bb", "a\u202eb"):
        r = api.patch(f"/api/v1/staff/{acct.pk}", {field: bad},
                      content_type="application/json")
        assert r.status_code == 422, (bad, r.content)
        body = r.json()
        assert body["code"] == "validation_error" and body["message"]
        assert body["detail"]["fields"][field] == ["Control characters are not allowed."]
    # Localized like every message (zh-Hans is the firm's default).
    r = _api(firm["admin"]).patch(f"/api/v1/staff/{acct.pk}", {field: "\u0000"},
                                  content_type="application/json")
    assert r.json()["detail"]["fields"][field] == ["不允许包含控制字符。"]
    acct = _fresh(acct)
    assert acct.department.name == "一部"
    assert Assignment.objects.filter(user=acct).exists()
    assert not _entries("staff.transfer", object_id=str(acct.pk))
    assert not Department.objects.filter(name__contains="\x1b").exists()


def test_control_characters_are_refused_wherever_staff_text_is_written(firm):
    admin, acct = firm["admin"], firm["acct"]
    api = _api(admin)
    r = api.post("/api/v1/staff", {"username": "newhire", "password": "Tall-Ships-Sail-93",
                                   "role": "accountant", "department": "\u0000"},
                 content_type="application/json")
    assert r.status_code == 422 and "department" in r.json()["detail"]["fields"], r.content
    assert not User.objects.filter(username="newhire").exists()
    r = api.post(f"/api/v1/staff/{acct.pk}/transfer", {"department": "\u0000"},
                 content_type="application/json")
    assert r.status_code == 422 and "department" in r.json()["detail"]["fields"], r.content
    r = api.post(f"/api/v1/staff/{acct.pk}/transfer", {"department": "二部", "post": "x\u0000"},
                 content_type="application/json")
    assert r.status_code == 422 and "post" in r.json()["detail"]["fields"], r.content
    assert Assignment.objects.filter(user=acct).exists()
    assert not _entries("staff.transfer", object_id=str(acct.pk))
    with pytest.raises(ValidationFailed):
        account_services.staff_create(actor=admin, username="hire2",
                                      password="Tall-Ships-Sail-93",
                                      data=account_services.StaffInput(display_name="张\u0000三"))
    assert not User.objects.filter(username="hire2").exists()
    # Ordinary Chinese text with an ideographic space is still fine.
    r = api.patch(f"/api/v1/staff/{acct.pk}", {"display_name": "张\u3000三"},
                  content_type="application/json")
    assert r.status_code == 200, r.content


@pytest.mark.parametrize("role", ["client", "partner"])
def test_staff_are_not_moved_into_the_client_or_partner_role(firm, role):
    acct = firm["acct"]
    r = _api(firm["admin"]).patch(f"/api/v1/staff/{acct.pk}", {"role": role},
                                  content_type="application/json")
    assert r.status_code == 422, r.content
    assert r.json()["code"] == "validation_error" and r.json()["detail"]["fields"]["role"]
    acct = _fresh(acct)
    assert acct.role == Role.ACCOUNTANT
    assert Assignment.objects.filter(user=acct).exists()
    assert not _entries("staff.transfer", object_id=str(acct.pk))
    r = _api(firm["admin"]).get(f"/api/v1/staff/{acct.pk}")
    assert r.status_code == 200 and r.json()["role"] == "accountant"
    # The staff page neither offers the role nor accepts it.
    web = verified_client(firm["admin"], HTTP_ACCEPT_LANGUAGE="en")
    url = f"/accounts/staff/{acct.pk}/edit/"
    assert f'<option value="{role}"' not in web.get(url).content.decode()
    r = web.post(url, {"display_name": "会计一", "role": role, "department": "一部",
                       "clearance": acct.clearance})
    assert r.status_code == 400
    assert _fresh(acct).role == Role.ACCOUNTANT
    with pytest.raises(ValidationFailed):
        account_services.staff_change(actor=firm["admin"], user=acct, role=role)
    assert _fresh(acct).role == Role.ACCOUNTANT


def test_a_partner_keeps_their_role_on_the_staff_page(firm):
    partner = firm["partner"]
    web = verified_client(firm["admin"], HTTP_ACCEPT_LANGUAGE="en")
    body = web.get(f"/accounts/staff/{partner.pk}/edit/").content.decode()
    assert '<option value="partner" selected>' in body and '<option value="client"' not in body


# --- 4. A transfer edit writes no extra, empty entry ------------------------------------------


def test_a_transfer_edit_writes_no_empty_staff_update(firm):
    acct = firm["acct"]
    r = _api(firm["admin"]).patch(f"/api/v1/staff/{acct.pk}", {"department": "二部"},
                                  content_type="application/json")
    assert r.status_code == 200, r.content
    assert len(_entries("staff.transfer", object_id=str(acct.pk))) == 1
    changes = _entries("permission.change", object_id=str(acct.pk))
    assert len(changes) == 1 and changes[0].reason.startswith("department:")
    assert not _entries("staff.update", object_id=str(acct.pk))
    # An edit that changes more than the post still records the rest.
    account_services.staff_change(actor=firm["admin"], user=_fresh(acct), department="一部",
                                  clearance=Level.SECRET)
    changes = _entries("permission.change", object_id=str(acct.pk))
    assert changes[-1].reason == "clearance:confidential->secret"


def test_nobody_records_an_authorization_naming_themselves(firm):
    from baomi.access.tests.test_services import _terms

    manager = firm["manager"]
    terms = _terms(firm)
    form = services.authorization_form_pdf(terms, client_name="恒信", grantee=manager.username)
    with pytest.raises(AccessDenied) as info:
        services.authorization_grant(
            actor=manager, client=firm["client"], grantee_user=manager, scope=terms.scope,
            valid_from=terms.valid_from, valid_to=terms.valid_to, form=form)
    assert info.value.code == "self_action"
    assert refused("authorization.grant", "self").actor == manager.username
    # …and the client's access page does not offer the acting manager as a person.
    page = verified_client(manager).get(f"/access/clients/{firm['client'].pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    people = re.findall(r'<select[^>]*name="(?:grantee_user|user)"[^>]*>(.*?)</select>', html,
                        re.S)
    assert len(people) == 2
    offered = {int(v) for body in people for v in re.findall(r'<option value="(\d+)"', body)}
    assert offered and manager.pk not in offered
