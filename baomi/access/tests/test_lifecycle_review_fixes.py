"""Staff lifecycle and partners: defects an adversarial review found (2026-11-25), each
held fixed."""

from __future__ import annotations

from typing import Any

import pytest

from baomi.access import services
from baomi.access.models import ClientAuthorization
from baomi.access.tests.test_lifecycle_fixes import _api
from baomi.access.tests.test_services import _read, firm, period
from baomi.accounts import services as account_services
from baomi.accounts.models import User
from baomi.audit.models import LedgerEntry
from baomi.errors import AccessDenied, Conflict, ValidationFailed

pytestmark = pytest.mark.django_db
__all__ = ["firm"]


def _fresh(user: Any) -> User:
    return User.objects.get(pk=user.pk)


def test_org_deactivation_ends_an_inactive_members_own_authorization(firm):
    """Deactivating an organisation ends the own authorizations of every member, also of
    one whose account was deactivated at that moment (it would come back with the
    account)."""
    partner, org = firm["partner"], firm["org"]
    auth = services.authorization_grant(
        actor=firm["portal"], client=firm["client"], grantee_user=partner,
        scope=services.ScopeInput(["internal"]), **period(30))
    assert _read(partner, firm["doc"]) == b"internal content"
    # An administrator suspends the partner's account for a while (PATCH is_active=false).
    account_services.user_deactivate(user=partner, actor=firm["admin"])
    # The firm ends the partnership.
    services.partner_org_deactivate(actor=firm["compliance"], org=org)
    org.refresh_from_db()
    assert not org.active
    # Every authorization reaching the org's people must be ended now.
    assert ClientAuthorization.objects.get(pk=auth.pk).revoked_at is not None


def test_member_of_deactivated_org_is_not_reactivated_and_reads_nothing(firm):
    """End to end: once the organisation is deactivated, its member's account cannot be
    reactivated (409 `partner_inactive`, recorded), and even set active behind the
    application's back it reads nothing."""
    partner, org = firm["partner"], firm["org"]
    services.authorization_grant(
        actor=firm["portal"], client=firm["client"], grantee_user=partner,
        scope=services.ScopeInput(["internal"]), **period(30))
    r = _api(firm["admin"]).patch(f"/api/v1/staff/{partner.pk}", {"is_active": False},
                                  content_type="application/json")
    assert r.status_code == 200, r.content
    services.partner_org_deactivate(actor=firm["compliance"], org=org)
    r = _api(firm["admin"]).patch(f"/api/v1/staff/{partner.pk}", {"is_active": True},
                                  content_type="application/json")
    # The account stays deactivated while its organisation is (recorded) ...
    assert r.status_code == 409 and r.json()["code"] == "partner_inactive", r.content
    assert not _fresh(partner).is_active
    assert LedgerEntry.objects.filter(action="staff.reactivate", decision="refused",
                                      reason="partner_inactive").exists()
    # ... and even an account set active behind the application's back reads nothing:
    # its authorization ended with the organisation.
    User.objects.filter(pk=partner.pk).update(is_active=True)
    org.refresh_from_db()
    assert not org.active
    with pytest.raises(AccessDenied):
        _read(_fresh(partner), firm["doc"])


def test_new_authorization_for_member_of_deactivated_org_is_refused(firm):
    """A person of a deactivated organisation cannot be named in a new authorization
    (`partner_inactive`), as the organisation itself cannot."""
    partner, org = firm["partner"], firm["org"]
    services.partner_org_deactivate(actor=firm["compliance"], org=org)
    # Reactivating the account is refused (see above); set active behind the
    # application's back, the person still cannot be named.
    with pytest.raises(Conflict):
        account_services.user_reactivate(user=_fresh(partner), actor=firm["admin"])
    User.objects.filter(pk=partner.pk).update(is_active=True)
    partner = _fresh(partner)
    assert partner.is_active
    with pytest.raises(ValidationFailed):
        services.authorization_grant(
            actor=firm["portal"], client=firm["client"], grantee_user=partner,
            scope=services.ScopeInput(["internal"]), **period(30))


@pytest.mark.parametrize(("method", "path"), [
    ("post", "/api/v1/staff/{big}/leave"),
    ("post", "/api/v1/authorizations/{big}/revoke"),
    ("delete", "/api/v1/clients/{client}/assignments/{big}"),
    ("get", "/api/v1/clients/{big}/authorizations"),
    ("post", "/api/v1/staff/{big}/handover"),
])
def test_huge_ids_in_paths_are_not_server_errors(firm, method, path):
    api = _api(firm["admin"])
    url = path.format(big=2**64 + 5, client=firm["client"].pk)
    body = {"to_user_id": firm["acct"].pk} if "handover" in path else {}
    r = getattr(api, method)(url, body, content_type="application/json")
    assert r.status_code < 500, (r.status_code, r.content[:300])


def test_lifecycle_api_does_not_reveal_which_user_ids_exist(firm):
    """A partner (no `staff.view`) gets the same answer for an account id that exists and
    for one that does not: ids cannot be probed."""
    api = _api(firm["partner"])
    existing = firm["acct"].pk
    missing = User.objects.order_by("-pk").first().pk + 1000
    answers = {}
    for uid in (existing, missing):
        r = api.post(f"/api/v1/staff/{uid}/leave", {}, content_type="application/json")
        answers[uid] = r.status_code
    assert answers[existing] == answers[missing], answers


def test_tokens_ended_by_leave_are_each_recorded(firm):
    """Tokens ended by a departure are each recorded (`token.revoke`, naming the prefix),
    like every other grant that ends (docs/access.md, F06)."""
    from baomi.audit.models import LedgerEntry

    acct = firm["acct"]
    issued = account_services.token_create(user=acct, actor=firm["admin"])
    prefix = issued.token.prefix
    ended = services.staff_leave(actor=firm["admin"], user=acct)
    assert ended["tokens"] == 1
    assert LedgerEntry.objects.filter(object_id=prefix).exclude(action="token.create").exists()


def test_refused_self_deactivation_changes_nothing_else(firm):
    """A refused self-deactivation (403 `self_deactivation`) changes nothing else the same
    PATCH asked for."""
    admin = firm["admin"]
    before = _fresh(admin).display_name
    r = _api(admin).patch(f"/api/v1/staff/{admin.pk}",
                          {"display_name": "Changed by refused request", "is_active": False},
                          content_type="application/json")
    assert r.status_code == 403 and r.json()["code"] == "self_deactivation"
    assert _fresh(admin).display_name == before


def test_transfer_decided_on_a_stale_user_row_keeps_a_departure(firm):
    """Race: a transfer decided on a copy of the person loaded before a 离职 committed
    leaves them departed: the transfer works on the row as locked, and writes only the
    fields it changes."""
    manager = firm["manager"]
    stale = User.objects.get(pk=manager.pk)       # loaded by the transfer request
    services.staff_leave(actor=firm["admin"], user=_fresh(manager))  # commits first
    assert _fresh(manager).status == "left"
    services.staff_transfer(actor=firm["admin"], user=stale,
                            department=stale.department, post="会计主管")
    after = _fresh(manager)
    assert after.status == "left" and not after.is_active, (after.status, after.is_active)


def test_profile_edit_on_a_stale_user_row_keeps_a_departure(firm):
    """Same with a plain profile edit: `user_update` writes only the fields it is given, so
    a departure committed meanwhile stays."""
    acct = firm["acct"]
    stale = User.objects.get(pk=acct.pk)          # loaded by the edit request
    services.staff_leave(actor=firm["admin"], user=_fresh(acct))
    account_services.staff_change(actor=firm["admin"], user=stale, display_name="李四")
    after = _fresh(acct)
    assert after.status == "left" and not after.is_active, (after.status, after.is_active)


def test_departure_committed_during_an_api_transfer_stays_end_to_end(firm, monkeypatch):
    """The same interleaving over HTTP: a 离职 committed while POST
    /api/v1/staff/{id}/transfer runs (after it loaded the person, before its transaction)
    stays: the manager stays departed and reads nothing."""
    manager = firm["manager"]
    real_check = services.staff_manage_check

    def check_then_other_admin_marks_left(**kw):
        real_check(**kw)
        services.staff_leave(actor=firm["admin"], user=_fresh(manager))

    monkeypatch.setattr(services, "staff_manage_check", check_then_other_admin_marks_left)
    r = _api(firm["admin"]).post(f"/api/v1/staff/{manager.pk}/transfer",
                                 {"department": "一部", "post": "主管"},
                                 content_type="application/json")
    assert r.status_code == 200, r.content
    monkeypatch.setattr(services, "staff_manage_check", real_check)
    after = _fresh(manager)
    # Expected: still departed, reading nothing.
    with pytest.raises(AccessDenied):
        _read(after, firm["doc"])
