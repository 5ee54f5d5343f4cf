"""Bad input found on review of issue 5: a signed form replayed after the client revoked
it, a transfer made by editing the department, ineligible handover and grant targets,
dates that are no dates, and refusals that gave no entry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from baomi.access import services
from baomi.access.models import BreakGlassRead, ClientAuthorization, QueryRequest
from baomi.access.tests.test_services import _terms, firm, period, refused
from baomi.accounts import services as account_services
from baomi.accounts.models import ApiToken, Department, StaffStatus
from baomi.audit.models import LedgerEntry
from baomi.clients.models import Assignment
from baomi.errors import AccessDenied, ValidationFailed
from baomi.testing.pdfsign import sign_pdf
from conftest import verified_client

pytestmark = pytest.mark.django_db
__all__ = ["firm"]  # the fixture, shared with test_services


def _grant_with(firm, form: bytes, terms=None):
    terms = terms or _terms(firm)
    return services.authorization_grant(
        actor=firm["manager"], client=firm["client"], grantee_org=firm["org"],
        scope=terms.scope, valid_from=terms.valid_from, valid_to=terms.valid_to, form=form)


def test_a_signed_form_grants_once_so_a_revocation_sticks(firm):
    terms = _terms(firm)
    form = sign_pdf(services.authorization_form_pdf(terms, client_name="恒信", grantee="华信"))
    auth = _grant_with(firm, form, terms)
    services.authorization_revoke(actor=firm["portal"], authorization=auth, reason="结束合作")
    with pytest.raises(ValidationFailed) as info:
        _grant_with(firm, form, terms)
    assert info.value.code == "form_reused"
    assert refused("authorization.grant", "form_reused")
    assert ClientAuthorization.objects.filter(revoked_at__isnull=True).count() == 0
    # A new form for the very same terms is a new code: the client signs again.
    again = sign_pdf(services.authorization_form_pdf(terms, client_name="恒信",
                                                     grantee="华信"))
    assert again != form
    assert _grant_with(firm, again, terms).revoked_at is None


def test_two_forms_for_the_same_terms_carry_different_codes(firm):
    from baomi.access import exports

    terms = _terms(firm)
    codes = {exports.form_token(services.authorization_form_pdf(
        terms, client_name="恒信", grantee="华信")) for _ in range(3)}
    assert len(codes) == 3 and None not in codes


def _has_grants(user) -> dict[str, int]:
    return {
        "assignments": Assignment.objects.filter(user=user).count(),
        "tokens": ApiToken.objects.filter(user=user, revoked_at__isnull=True).count(),
        "requests": QueryRequest.objects.filter(requester=user,
                                                status__in=["pending", "approved"]).count(),
    }


def test_changing_the_department_is_a_transfer_everywhere(firm):
    acct = firm["acct"]
    services.request_create(actor=acct, client=firm["client"],
                            scope=services.ScopeInput(["confidential"]), purpose="月结",
                            **period())
    token = account_services.token_create(user=acct).plaintext
    assert _has_grants(acct) == {"assignments": 1, "tokens": 1, "requests": 1}
    # The API's PATCH with a new department …
    admin_token = account_services.token_create(user=firm["admin"]).plaintext
    api = HttpClient(HTTP_AUTHORIZATION=f"Bearer {admin_token}")
    r = api.patch(f"/api/v1/staff/{acct.pk}", {"department": "二部"},
                  content_type="application/json")
    assert r.status_code == 200, r.content
    acct.refresh_from_db()
    assert acct.department.name == "二部"
    assert _has_grants(acct) == {"assignments": 0, "tokens": 0, "requests": 0}
    assert HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}").get(
        "/api/v1/clients").status_code == 401
    assert LedgerEntry.objects.filter(action="staff.transfer", object_id=str(acct.pk)).exists()
    # … and the staff page's edit (here: out of any department) end the grants too.
    acct2 = firm["acct2"]
    assert Assignment.objects.filter(user=acct2).exists()
    account_services.staff_update(actor=firm["admin"], user=acct2, data=account_services.StaffInput(
        display_name="会计二", role=acct2.role, department="", clearance=acct2.clearance))
    acct2.refresh_from_db()
    assert acct2.department is None and not Assignment.objects.filter(user=acct2).exists()
    # Giving a department to someone without one is not a transfer: nothing else ends.
    services.assignment_add(actor=firm["manager"], client=firm["client"], user=acct2)
    account_services.staff_update(actor=firm["admin"], user=acct2, data=account_services.StaffInput(
        display_name="会计二", role=acct2.role, department="一部", clearance=acct2.clearance))
    acct2.refresh_from_db()
    assert acct2.department.name == "一部" and Assignment.objects.filter(user=acct2).exists()


def test_a_transfer_with_a_blank_department_leaves_the_department(firm):
    admin_token = account_services.token_create(user=firm["admin"]).plaintext
    api = HttpClient(HTTP_AUTHORIZATION=f"Bearer {admin_token}")
    r = api.post(f"/api/v1/staff/{firm['acct'].pk}/transfer", {"department": "   "},
                 content_type="application/json")
    assert r.status_code == 200, r.content
    firm["acct"].refresh_from_db()
    assert firm["acct"].department is None
    assert not Department.objects.filter(name="-").exists()


def test_handover_and_grant_targets_must_be_eligible(firm):
    with pytest.raises(ValidationFailed) as info:
        services.staff_handover(actor=firm["admin"], from_user=firm["acct"],
                                to_user=firm["partner"])
    assert info.value.code == "handover_target_invalid"
    assert refused("staff.handover", "handover_target_invalid")
    assert Assignment.objects.filter(user=firm["acct"]).exists()
    assert not Assignment.objects.filter(user=firm["partner"]).exists()
    # No authorization names someone who has left (it would wake if they came back).
    services.staff_leave(actor=firm["admin"], user=firm["acct2"])
    firm["acct2"].refresh_from_db()
    assert firm["acct2"].status == StaffStatus.LEFT
    with pytest.raises(ValidationFailed) as info2:
        services.authorization_grant(actor=firm["portal"], client=firm["client"],
                                     grantee_user=firm["acct2"],
                                     scope=services.ScopeInput(["internal"]), **period(30))
    assert info2.value.code == "grantee_inactive"
    assert refused("authorization.grant", "grantee_inactive")


def test_the_form_endpoint_refuses_bad_dates_clearly_and_records_refusals(firm):
    manager_token = account_services.token_create(user=firm["manager"]).plaintext
    api = HttpClient(HTTP_AUTHORIZATION=f"Bearer {manager_token}")
    url = f"/api/v1/clients/{firm['client'].pk}/authorization-form"
    body = {"grantee_org_id": firm["org"].pk, "scope": {"levels": ["internal"]},
            "valid_from": "2026-12-01T00:00:00", "valid_to": "2027-01-01T00:00:00"}
    r = api.post(url, body, content_type="application/json")
    assert r.status_code == 422 and r.json()["code"] == "period_naive", r.content
    assert refused("authorization.form", "period_naive")
    body |= {"valid_from": "2026-12-01T00:00:00+08:00", "valid_to": "2027-01-01T00:00:00+08:00"}
    r = api.post(url, body, content_type="application/json")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert LedgerEntry.objects.filter(action="authorization.form", decision="allowed").exists()
    # Someone who may see the client but not record authorizations: refused, recorded.
    acct_token = account_services.token_create(user=firm["acct"]).plaintext
    r = HttpClient(HTTP_AUTHORIZATION=f"Bearer {acct_token}").post(
        url, body, content_type="application/json")
    assert r.status_code == 403 and r.json()["code"] == "access_denied"
    assert refused("authorization.form").actor == "acct1"
    # The web form: a date that does not exist is a message, not a server error.
    web = verified_client(firm["manager"])
    r = web.post(f"/access/clients/{firm['client'].pk}/authorizations/",
                 {"form_only": "1", "grantee_org": firm["org"].pk, "levels": "internal",
                  "valid_from": "2026-02-30T10:00", "valid_to": "2026-03-30T10:00"})
    assert r.status_code == 302


def test_reviewing_ones_own_emergency_read_is_refused_and_recorded(firm, make_user):
    from baomi.accounts.models import Role

    compliance = firm["compliance"]
    row = BreakGlassRead.objects.create(actor=compliance, client_id=firm["client"].pk,
                                        reason="紧急")
    with pytest.raises(AccessDenied):
        services.break_glass_review(actor=compliance, item=row, note="ok")
    entry = refused("break_glass.review", "self_review")
    assert entry.actor == compliance.username
    other = make_user("comp2", role=Role.COMPLIANCE)
    services.break_glass_review(actor=other, item=row, note="已核实")
    row.refresh_from_db()
    assert row.reviewed_by == other and row.reviewed_at <= timezone.now() + timedelta(seconds=1)


def test_deciding_a_decided_request_leaves_its_refusal_in_the_ledger(firm):
    from baomi.errors import InvalidInput

    row = services.request_create(actor=firm["acct"], client=firm["client"],
                                  scope=services.ScopeInput(["confidential"]), purpose="月结",
                                  **period())
    services.request_approve(actor=firm["manager"], request=row)
    with pytest.raises(InvalidInput) as info:
        services.request_reject(actor=firm["manager"], request=row, note="再议")
    assert info.value.code == "not_pending"
    entry = refused("query_request.reject", "not_pending")
    assert entry.object_id == str(row.pk)
    row.refresh_from_db()
    assert row.status == "approved"


def test_the_access_page_lists_only_documents_the_viewer_may_see(firm):
    services.authorization_grant(actor=firm["portal"], client=firm["client"],
                                 grantee_org=firm["org"],
                                 scope=services.ScopeInput(["internal"]), **period(30))
    url = f"/access/clients/{firm['client'].pk}/"
    page = verified_client(firm["partner"]).get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "secret file" not in body and "internal file" not in body  # partners record no forms
    body = verified_client(firm["manager"]).get(url).content.decode()
    assert "secret file" in body and "internal file" in body


def test_a_departed_persons_old_session_is_refused_with_the_reason(firm):
    web = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    api_cookie = verified_client(firm["acct2"])
    assert web.get("/clients/").status_code == 200
    assert api_cookie.get("/api/v1/clients").status_code == 200
    services.staff_leave(actor=firm["admin"], user=firm["acct"])
    services.staff_transfer(actor=firm["admin"], user=firm["acct2"], department=None)
    r = web.get("/clients/", follow=True)
    assert "Your access has ended because you left the firm." in r.content.decode()
    entry = refused("auth.session", "session_ended:left")
    assert entry.actor == "acct1"
    r = api_cookie.get("/api/v1/clients")
    assert r.status_code == 401
    assert r.json()["code"] == "session_ended" and r.json()["detail"]["reason"] == "transferred"
    assert refused("auth.session", "session_ended:transferred").actor == "acct2"
    # Said once: the next request is an ordinary signed-out one.
    before = LedgerEntry.objects.filter(action="auth.session").count()
    assert web.get("/clients/").status_code == 302
    assert LedgerEntry.objects.filter(action="auth.session").count() == before


@pytest.mark.django_db(transaction=True)
def test_simultaneous_overlapping_grants_store_one(firm):
    """Two grants for the same grantee and period, submitted at once: both pass the
    first overlap check; the second to hold the client's registry finds the first and is
    refused (recorded). PostgreSQL only: SQLite's single writer cannot be held here while
    the two requests still write their ledger entries."""
    import threading

    from django.db import connection, connections, transaction

    from baomi.clients.models import Client

    if connection.vendor != "postgresql":
        pytest.skip("needs row locks (PostgreSQL)")
    outcomes: list[str] = []
    started = threading.Barrier(3)

    def grant() -> None:
        try:
            started.wait()
            services.authorization_grant(actor=firm["portal"], client=firm["client"],
                                         grantee_org=firm["org"],
                                         scope=services.ScopeInput(["internal"]),
                                         **window)
            outcomes.append("granted")
        except ValidationFailed as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    window = period(30)
    threads = [threading.Thread(target=grant) for _ in range(2)]
    with transaction.atomic():
        # Hold the client's registry until both requests have passed the first check.
        Client.objects.select_for_update().filter(pk=firm["client"].pk).first()
        for t in threads:
            t.start()
        started.wait()
        import time

        time.sleep(0.5)
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["granted", "period_overlaps"]
    assert ClientAuthorization.objects.filter(client=firm["client"]).count() == 1
    assert refused("authorization.grant", "period_overlaps")


def test_a_form_printed_before_forms_were_registered_is_refused(firm):
    """Forms printed by earlier releases (a code without a nonce, or with one but never
    registered) cannot have their signature checked: the client signs a new form."""
    from django.core import signing

    from baomi.access import exports
    from baomi.access.models import AuthorizationForm

    terms = _terms(firm)
    legacy_code = signing.dumps(terms.payload(), salt=services.FORM_SALT, compress=True)
    legacy = exports.authorization_form(terms, legacy_code, client_name="恒信", grantee="华信")
    unregistered = services.authorization_form_pdf(terms, client_name="恒信", grantee="华信")
    AuthorizationForm.objects.all().delete()
    for form in (legacy, unregistered):
        with pytest.raises(ValidationFailed) as info:
            _grant_with(firm, sign_pdf(form), terms)
        assert info.value.code == "form_outdated"
    assert refused("authorization.grant", "form_outdated")
    assert not ClientAuthorization.objects.exists()


def test_transferring_oneself_on_the_staff_page_is_refused_and_recorded(firm):
    admin = firm["admin"]
    admin.department = Department.objects.get_or_create(name="行政")[0]
    admin.save()
    with pytest.raises(AccessDenied):
        account_services.staff_update(actor=admin, user=admin, data=account_services.StaffInput(
            display_name="管理员", role=admin.role, department="一部",
            clearance=admin.clearance))
    entry = refused("staff.transfer", "self")
    assert entry.actor == "admin"
    admin.refresh_from_db()
    assert admin.department.name == "行政"
    # One entry for giving a first department (no transfer, no extra entries).
    acct2 = firm["acct2"]
    acct2.department = None
    acct2.save()
    before = LedgerEntry.objects.count()
    account_services.staff_update(actor=admin, user=acct2, data=account_services.StaffInput(
        display_name="会计二", role=acct2.role, department="一部", clearance=acct2.clearance))
    added = list(LedgerEntry.objects.filter(seq__gte=before).values_list("action", "reason"))
    assert [a for a, _ in added] == ["permission.change"]
    assert "department:None->" in added[0][1]


def test_a_stale_cookie_does_not_swallow_a_sign_in_or_a_token_request(firm):
    from conftest import PASSWORD

    web, other = verified_client(firm["acct2"]), verified_client(firm["acct2"])
    services.staff_transfer(actor=firm["admin"], user=firm["acct2"], department=None)
    token = account_services.token_create(user=firm["acct2"]).plaintext
    # A token request carrying an old cookie is decided by its token alone.
    r = other.get("/api/v1/clients", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 200
    # Signing in again with the old cookie still set goes straight ahead (recorded once).
    r = web.post("/accounts/login/", {"username": "acct2", "password": PASSWORD})
    assert r.status_code == 302 and "next=/accounts/login/" not in r["Location"]
    assert refused("auth.session", "session_ended:transferred").actor == "acct2"
    assert LedgerEntry.objects.filter(action="auth.password_ok", actor="acct2").exists()
