"""Actions the ledger review found unrecorded or acting before their entry: each now
writes its entry first (or in the same transaction), and fails closed without it."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from baomi.access import services as access
from baomi.access.models import ClientAuthorization, PartnerOrganisation
from baomi.accounts import services as accounts
from baomi.accounts.models import Level, RecoveryCode, Role
from baomi.audit.models import LedgerEntry
from baomi.clients import services as clients
from baomi.errors import AccessDenied
from baomi.testing.ledger_faults import clear_ledger_faults, inject_ledger_faults
from conftest import PASSWORD, totp_now, verified_client

pytestmark = pytest.mark.django_db


def _last(action: str) -> LedgerEntry:
    entry = LedgerEntry.objects.filter(action=action).order_by("-seq").first()
    assert entry is not None, (action, list(LedgerEntry.objects.values_list("action", flat=True)))
    return entry


@pytest.fixture
def review(make_user, make_client):
    compliance = make_user("comp", role=Role.COMPLIANCE, clearance=Level.SECRET)
    manager = make_user("mgr", role=Role.MANAGER, department="一部")
    acct = make_user("acct1", department="一部")
    client = make_client(manager, name="恒信贸易有限公司")
    access.assignment_add(actor=manager, client=client, user=acct)
    campaign = access.review_campaign_create(actor=compliance, name="第四季度审查",
                                             deadline=timezone.now() + timedelta(days=3))
    return {"compliance": compliance, "manager": manager, "campaign": campaign}


@pytest.mark.parametrize("fmt", ["xlsx", "pdf"])
def test_access_review_export_is_recorded_first_web_and_api(review, fmt):
    campaign = review["campaign"]
    web = verified_client(review["compliance"])
    r = web.get(f"/access/reviews/{campaign.pk}/export.{fmt}")
    assert r.status_code == 200 and len(r.content) > 100
    entry = _last("access_review.export")
    assert (entry.actor, entry.object_id, entry.reason) == ("comp", str(campaign.pk),
                                                            f"format={fmt}")
    token = accounts.token_create(user=review["compliance"]).plaintext
    api = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    before = LedgerEntry.objects.filter(action="access_review.export").count()
    r = api.get(f"/api/v1/access-reviews/{campaign.pk}/export", {"format": fmt})
    assert r.status_code == 200 and r["Content-Type"].startswith(
        "application/pdf" if fmt == "pdf" else "application/vnd.openxmlformats")
    assert f"access-review-{campaign.pk}.{fmt}" in r["Content-Disposition"]
    assert LedgerEntry.objects.filter(action="access_review.export").count() == before + 1
    # Without its entry there is no file.
    inject_ledger_faults(100)
    assert web.get(f"/access/reviews/{campaign.pk}/export.{fmt}").status_code == 503
    r = api.get(f"/api/v1/access-reviews/{campaign.pk}/export", {"format": fmt})
    assert r.status_code == 503 and r.json()["code"] == "ledger_unavailable"


def test_access_review_export_refuses_unknown_formats_and_reviewers(review):
    campaign = review["campaign"]
    token = accounts.token_create(user=review["compliance"]).plaintext
    api = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    r = api.get(f"/api/v1/access-reviews/{campaign.pk}/export", {"format": "exe"})
    assert r.status_code == 422
    web = verified_client(review["compliance"])
    assert web.get(f"/access/reviews/{campaign.pk}/export.exe").status_code == 404
    assert web.get(f'/access/reviews/{campaign.pk}/export.x"y').status_code == 404
    # A reviewer sees their items but may not export the whole campaign.
    assert verified_client(review["manager"]).get(
        f"/access/reviews/{campaign.pk}/export.xlsx").status_code == 404
    with pytest.raises(AccessDenied):
        access.review_export(actor=review["manager"], campaign=campaign, fmt="xlsx")
    refused = _last("access_review.export")
    assert (refused.actor, refused.decision) == ("mgr", "refused")
    assert not LedgerEntry.objects.filter(action="access_review.export",
                                          decision="allowed").exists()


def _signed_in_for_enrolment(user) -> HttpClient:
    c = HttpClient()
    r = c.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert r.status_code == 302
    assert c.get("/accounts/2fa/setup/").status_code == 200
    return c


def test_two_factor_enrolment_is_not_saved_without_its_entry(make_user):
    user = make_user("comp2", role=Role.COMPLIANCE)
    c = _signed_in_for_enrolment(user)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    inject_ledger_faults(100)
    r = c.post("/accounts/2fa/setup/", {"otp_token": totp_now(device)})
    assert r.status_code == 503
    device.refresh_from_db()
    assert not device.confirmed
    assert not RecoveryCode.objects.filter(user=user).exists()
    clear_ledger_faults()
    time.sleep(1.1)  # django-otp throttles the next attempt
    r = c.post("/accounts/2fa/setup/", {"otp_token": totp_now(device, offset_steps=1)})
    assert r.status_code == 200
    device.refresh_from_db()
    assert device.confirmed and RecoveryCode.objects.filter(user=user).count() == 10
    assert _last("auth.2fa_enrolled").actor == "comp2"


def test_a_recovery_code_is_not_used_up_by_a_refused_sign_in(make_user, enrol_totp):
    user = make_user("mgr3", role=Role.MANAGER)
    enrol_totp(user)
    codes = accounts.recovery_codes_regenerate(user=user)
    c = HttpClient()
    c.post("/accounts/login/", {"username": "mgr3", "password": PASSWORD})
    inject_ledger_faults(100)
    assert c.post("/accounts/login/verify/", {"otp_token": codes[0]}).status_code == 503
    assert RecoveryCode.objects.filter(user=user, used_at__isnull=True).count() == 10
    assert c.get("/").status_code == 302
    clear_ledger_faults()
    assert c.post("/accounts/login/verify/", {"otp_token": codes[0]}).status_code == 302
    assert RecoveryCode.objects.filter(user=user, used_at__isnull=True).count() == 9
    entry = _last("auth.2fa")
    assert (entry.actor, entry.decision, entry.reason) == ("mgr3", "allowed", "recovery_code")
    # A wrong code is refused, recorded once.
    c2 = HttpClient()
    c2.post("/accounts/login/", {"username": "mgr3", "password": PASSWORD})
    before = LedgerEntry.objects.filter(action="auth.2fa").count()
    assert c2.post("/accounts/login/verify/", {"otp_token": codes[0]}).status_code == 400
    assert LedgerEntry.objects.filter(action="auth.2fa").count() == before + 1
    assert _last("auth.2fa").reason == "wrong_code"


def test_the_typed_revocation_reason_stays_out_of_the_ledger(make_user, make_client):
    manager = make_user("mgr", role=Role.MANAGER, department="一部")
    client = make_client(manager, name="恒信贸易有限公司")
    partner = make_user("partner1", role=Role.PARTNER, clearance=Level.CONFIDENTIAL)
    partner.partner_org = PartnerOrganisation.objects.create(name="华信税务师事务所")
    partner.save()
    portal = make_user("client1", role=Role.CLIENT, portal_client_id=client.pk)
    now = timezone.now()
    auth = access.authorization_grant(
        actor=portal, client=client, grantee_user=partner,
        scope=access.ScopeInput(["internal"]), valid_from=now,
        valid_to=now + timedelta(days=30))
    typed = "法人身份证110101199003078515已泄露"
    access.authorization_revoke(actor=portal, authorization=auth, reason=typed)
    assert ClientAuthorization.objects.get(pk=auth.pk).revoke_reason == typed
    entry = _last("authorization.revoke")
    assert entry.reason == "by_request"
    assert "110101199003078515" not in bytes(entry.data).decode()


def test_refused_contact_add_is_recorded(make_user, make_client):
    manager = make_user("mgr", role=Role.MANAGER, department="一部")
    client = make_client(manager, name="恒信贸易有限公司")
    compliance = make_user("comp", role=Role.COMPLIANCE, clearance=Level.SECRET)
    with pytest.raises(AccessDenied):
        clients.contact_add(actor=compliance, client=client, data={"name": "钱七"})
    entry = _last("client.update")
    assert (entry.actor, entry.decision, entry.object_type, entry.client_id) == (
        "comp", "refused", "contact", str(client.pk))
    assert not client.contacts.exists()


def test_the_dashboard_list_and_the_break_glass_form_are_recorded(make_user, make_client):
    manager = make_user("mgr", role=Role.MANAGER, department="一部")
    other_manager = make_user("mgr2", role=Role.MANAGER, department="二部")
    client = make_client(manager, name="恒信贸易有限公司")
    from baomi.vault import services as vault
    from baomi.vault.tests.conftest import sealed_upload

    doc = vault.document_upload(actor=manager, client=client,
                                upload=sealed_upload(actor=manager, client=client, data=b"x"),
                                title="股权转让协议", level="internal", category="financial")
    web = verified_client(manager)
    assert "恒信贸易有限公司" in web.get("/").content.decode()
    entry = _last("client.list")
    assert (entry.actor, entry.reason) == ("mgr", "dashboard")
    page = verified_client(other_manager).get(f"/access/documents/{doc.pk}/break-glass/")
    assert page.status_code == 200
    entry = _last("break_glass.form")
    assert (entry.actor, entry.object_id, entry.client_id) == ("mgr2", str(doc.pk),
                                                               str(client.pk))
    inject_ledger_faults(100)
    assert verified_client(other_manager).get(
        f"/access/documents/{doc.pk}/break-glass/").status_code == 503


@pytest.mark.parametrize("fault", [False, True])
def test_a_session_the_system_ends_is_recorded_and_always_ends(make_user, settings, fault):
    make_user("acct3", clearance=Level.INTERNAL)
    c = HttpClient()
    c.post("/accounts/login/", {"username": "acct3", "password": PASSWORD})
    assert c.get("/").status_code == 200
    session = c.session
    session["_baomi_last_seen"] = int(time.time()) - settings.SESSION_IDLE_SECONDS - 5
    session.save()
    if fault:
        inject_ledger_faults(100)
        assert c.get("/").status_code == 503
        clear_ledger_faults()
    else:
        assert c.get("/").status_code == 302
        entry = _last("auth.logout")
        assert (entry.actor, entry.reason) == ("acct3", "expired")
    # Ended either way: taking access away is never refused.
    r = c.get("/")
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_the_classification_review_queue_is_recorded_web_and_api(make_user):
    compliance = make_user("comp", role=Role.COMPLIANCE, clearance=Level.SECRET)
    acct = make_user("acct1")
    assert verified_client(compliance).get("/classification/review/").status_code == 200
    assert _last("classification.review.list").actor == "comp"
    token = accounts.token_create(user=compliance).plaintext
    r = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/classification/review")
    assert r.status_code == 200
    assert LedgerEntry.objects.filter(action="classification.review.list",
                                      decision="allowed").count() == 2
    assert verified_client(acct).get("/classification/review/").status_code == 403
    token = accounts.token_create(user=acct).plaintext
    r = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/classification/review")
    assert r.status_code == 403
    refusals = LedgerEntry.objects.filter(action="classification.review.list", actor="acct1")
    assert [e.decision for e in refusals] == ["refused", "refused"]


def test_the_audit_log_says_what_a_refusal_rule_means(make_user):
    admin = make_user("boss", role=Role.ADMIN, clearance=Level.SECRET)
    acct = make_user("acct1")
    assert verified_client(acct).get("/staff/").status_code == 403  # role_not_permitted
    page = verified_client(admin).get("/audit/", {"actor": "acct1"}).content.decode()
    assert "角色无此权限" in page and "role_not_permitted" in page
    page = verified_client(admin, HTTP_ACCEPT_LANGUAGE="en").get(
        "/audit/", {"actor": "acct1"}).content.decode()
    assert "role not permitted" in page
