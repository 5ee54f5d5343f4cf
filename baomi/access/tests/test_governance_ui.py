"""The governance register pages over real HTTP, database, vault door and ledger:
confidentiality agreements with sealed scans (F23), training (F24), partner
organisations (F25) and the purpose list (F08). Who may see and change them, the
states shown, and the bad input each page must refuse without losing what is stored.
Messages are checked in English (`Accept-Language: en`); codes come from the ledger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from baomi.access import services
from baomi.access.models import (
    ClientAuthorization,
    ConfidentialityAgreement,
    PartnerOrganisation,
    Purpose,
    TrainingRecord,
)
from baomi.accounts.models import Level, Role, User
from baomi.audit.models import LedgerEntry
from baomi.errors import ValidationFailed
from baomi.testing.pdfsign import sign_pdf
from conftest import verified_client

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\n% signed agreement scan\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def refused(action: str, reason: str) -> LedgerEntry:
    entry = (LedgerEntry.objects.filter(action=action, decision="refused", reason=reason)
             .order_by("-seq").first())
    assert entry is not None, (action, reason, list(
        LedgerEntry.objects.filter(decision="refused").values_list("action", "reason")))
    return entry


def day(offset: int) -> str:
    return (timezone.localdate() + timedelta(days=offset)).isoformat()


@pytest.fixture(autouse=True)
def _restore_language():
    """Requests here ask for English; LocaleMiddleware leaves it active in the thread,
    so put back what later tests expect."""
    before = translation.get_language()
    yield
    translation.activate(before)


@pytest.fixture
def people(make_user, make_client) -> dict[str, Any]:
    admin = make_user("admin", role=Role.ADMIN, clearance=Level.CONFIDENTIAL)
    compliance = make_user("compliance", role=Role.COMPLIANCE, clearance=Level.SECRET)
    manager = make_user("manager", role=Role.MANAGER, department="一部",
                        clearance=Level.SECRET)
    acct = make_user("acct1", department="一部", clearance=Level.CONFIDENTIAL,
                     compliant=False)
    auditor = make_user("iaudit", role=Role.INTERNAL_AUDITOR)
    org = services.partner_org_create(actor=compliance, name="华信税务师事务所")
    partner = make_user("partner1", role=Role.PARTNER, clearance=Level.CONFIDENTIAL)
    partner.partner_org = org
    partner.save(update_fields=["partner_org"])
    client = make_client(manager, name="恒信贸易有限公司")
    http = {u.username: verified_client(u, HTTP_ACCEPT_LANGUAGE="en")
            for u in (admin, compliance, manager, acct, auditor, partner)}
    return {"admin": admin, "compliance": compliance, "manager": manager, "acct": acct,
            "auditor": auditor, "partner": partner, "org": org, "client": client,
            "http": http}


def _register(http: Any, person: User, *, scan: bytes | None = PDF, name: str = "协议.pdf",
              kind: str = "employee", start: int = -1, end: int = 700) -> Any:
    data: dict[str, Any] = {"person": person.pk, "kind": kind, "valid_from": day(start),
                            "valid_to": day(end)}
    if scan is not None:
        data["file"] = SimpleUploadedFile(name, scan)
    return http.post("/access/agreements/", data)


# --- Who sees what -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/access/agreements/", "/access/trainings/",
                                  "/access/partners/", "/access/purposes/"])
def test_registers_are_refused_with_a_reason_to_roles_without_staff_view(people, path):
    for who in ("acct1", "partner1"):
        r = people["http"][who].get(path)
        assert r.status_code == 403
        assert "may not view the staff directory" in r.content.decode()
    assert LedgerEntry.objects.filter(decision="refused", reason="role_not_permitted",
                                      action__endswith=".view").count() == 2
    for who in ("admin", "compliance", "manager", "iaudit"):
        assert people["http"][who].get(path).status_code == 200


def test_menu_entry_only_for_those_who_may_look(people):
    assert b'href="/access/agreements/"' in people["http"]["manager"].get("/access/").content
    assert b'href="/access/agreements/"' in people["http"]["admin"].get("/access/").content
    assert b'href="/access/agreements/"' not in people["http"]["acct1"].get("/access/").content


def test_readers_get_no_forms_and_their_posts_are_refused_and_recorded(people):
    page = people["http"]["manager"].get("/access/agreements/").content.decode()
    assert 'id="register"' not in page and "/renew/" not in page
    r = _register(people["http"]["manager"], people["acct"])
    assert r.status_code == 403
    assert "may not change this register" in r.content.decode()
    refused("agreement.record", "role_not_permitted")
    assert not ConfidentialityAgreement.objects.filter(person=people["acct"]).exists()
    agreement = ConfidentialityAgreement.objects.filter(person=people["manager"]).first()
    assert agreement is not None
    r = people["http"]["manager"].get(f"/access/agreements/{agreement.pk}/renew/")
    assert r.status_code == 403 and "may not change this register" in r.content.decode()
    training = TrainingRecord.objects.filter(person=people["manager"]).first()
    assert training is not None
    r = people["http"]["iaudit"].post(f"/access/trainings/{training.pk}/renew/",
                                      {"valid_to": day(900)})
    assert r.status_code == 403
    refused("training.record", "role_not_permitted")
    assert TrainingRecord.objects.filter(person=people["manager"]).count() == 1
    r = people["http"]["iaudit"].post("/access/purposes/", {"what": "add", "new-text": "X"})
    assert r.status_code == 403
    refused("purpose.create", "role_not_permitted")
    r = people["http"]["manager"].post("/access/partners/", {"name": "新机构"})
    assert r.status_code == 403
    assert not PartnerOrganisation.objects.filter(name="新机构").exists()


# --- Agreements (F23) --------------------------------------------------------------------


def test_register_with_scan_sealed_and_read_back_through_the_door(people):
    http = people["http"]["compliance"]
    r = _register(http, people["acct"])
    assert r.status_code == 302, r.content.decode()[-2000:]
    row = ConfidentialityAgreement.objects.get(person=people["acct"])
    assert row.scan_name == "协议.pdf" and row.scan_size == len(PDF)
    assert PDF not in bytes(row.scan_sealed) and bytes(row.scan_sealed)[:3] == b"BMV"
    assert LedgerEntry.objects.filter(action="sealed_file.write", decision="allowed").exists()

    page = http.get("/access/agreements/").content.decode()
    assert f"/access/agreements/{row.pk}/scan/" in page
    r = http.get(f"/access/agreements/{row.pk}/scan/")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert r.content == PDF and r["Cache-Control"] == "no-store"
    read = LedgerEntry.objects.filter(action="sealed_file.read", decision="allowed").last()
    assert read is not None and read.purpose == "核验保密协议"

    # A reader of the register is not offered the scan, and the door refuses it.
    assert f"/access/agreements/{row.pk}/scan/" not in (
        people["http"]["manager"].get("/access/agreements/").content.decode())
    r = people["http"]["manager"].get(f"/access/agreements/{row.pk}/scan/")
    assert r.status_code == 403
    assert LedgerEntry.objects.filter(action="sealed_file.read", decision="refused").exists()


@pytest.mark.parametrize(("scan", "name", "code"), [
    (b"MZ\x90\x00 not a scan", "scan.exe", "scan_type"),
    (b"<html>", "scan.pdf", "scan_type"),
    (b"%PDF-" + b"0" * services.MAX_SCAN_BYTES, "big.pdf", "scan_too_large"),
])
def test_bad_scans_are_refused_and_recorded(people, scan, name, code):
    r = _register(people["http"]["compliance"], people["acct"], scan=scan, name=name)
    assert r.status_code == 422
    assert {"scan_type": "must be a PDF or an image",
            "scan_too_large": "larger than 10 MiB"}[code] in r.content.decode()
    refused("agreement.record", code)
    assert not ConfidentialityAgreement.objects.filter(person=people["acct"]).exists()


def test_date_inputs_carry_iso_dates_in_every_language(people):
    # <input type=date> shows nothing for a value in the locale's format (2026/11/23).
    for lang in ("zh-hans", "en"):
        http = verified_client(people["compliance"], HTTP_ACCEPT_LANGUAGE=lang)
        page = http.get("/access/agreements/").content.decode()
        assert f'name="valid_from" value="{day(0)}"' in page


def test_an_image_scan_is_accepted(people):
    r = _register(people["http"]["compliance"], people["acct"], scan=PNG, name="scan.png")
    assert r.status_code == 302
    row = ConfidentialityAgreement.objects.get(person=people["acct"])
    r = people["http"]["admin"].get(f"/access/agreements/{row.pk}/scan/")
    assert r.status_code == 200 and r["Content-Type"] == "image/png" and r.content == PNG


def test_a_body_far_over_the_limit_is_refused_unread(people):
    from baomi.access import views

    r = people["http"]["compliance"].post(
        "/access/agreements/", data=b"x", content_type="multipart/form-data; boundary=zz",
        CONTENT_LENGTH=str(views.SCAN_BODY_LIMIT + 1))
    assert r.status_code == 413
    assert "larger than 10 MiB" in r.content.decode()


def test_missing_scan_inverted_and_overlapping_periods(people):
    http = people["http"]["compliance"]
    r = _register(http, people["acct"], scan=None)
    assert r.status_code == 422 and "Attach the signed scan" in r.content.decode()
    r = _register(http, people["acct"], start=10, end=5)
    assert r.status_code == 422 and "ends before it starts" in r.content.decode()
    assert _register(http, people["acct"]).status_code == 302
    r = _register(http, people["acct"], start=100, end=900)
    assert r.status_code == 422 and "overlaps another agreement" in r.content.decode()
    refused("agreement.record", "period_overlaps")
    assert ConfidentialityAgreement.objects.filter(person=people["acct"]).count() == 1
    # The person entered is kept on the form, so nothing typed is lost.
    assert f'<option value="{people["acct"].pk}" selected' in r.content.decode()


def test_states_expired_expiring_renewed_and_people_without(people, make_user):
    comp = people["compliance"]
    now = timezone.now()
    lapsed = make_user("lapsed", compliant=False)
    soon = make_user("soon", compliant=False)
    services.agreement_record(actor=comp, person=lapsed, kind="employee",
                              valid_from=now - timedelta(days=400),
                              valid_to=now - timedelta(days=2), scan=PDF)
    services.agreement_record(actor=comp, person=soon, kind="employee",
                              valid_from=now - timedelta(days=300),
                              valid_to=now + timedelta(days=12, hours=1), scan=PDF)
    page = people["http"]["manager"].get("/access/agreements/").content.decode()
    assert 'class="badge badge-bad state-expired"' in page
    assert "Expires in 12 days" in page
    without = page[page.index('id="without"'):]
    assert "lapsed" in without and "soon" not in without and "acct1" in without

    expired = people["http"]["manager"].get("/access/agreements/?state=expired").content
    assert b"lapsed" in expired.split(b'id="without"')[0]
    assert b"soon" not in expired.split(b'id="without"')[0]

    # Renewing the lapsed one: it runs from now, with a newly signed scan; the old row is
    # then shown as renewed and may not be renewed a second time.
    old = ConfidentialityAgreement.objects.get(person=lapsed)
    http = people["http"]["compliance"]
    assert http.get(f"/access/agreements/{old.pk}/renew/").status_code == 200
    r = http.post(f"/access/agreements/{old.pk}/renew/",
                  {"valid_to": day(365), "file": SimpleUploadedFile("r.pdf", PDF)})
    assert r.status_code == 302, r.content.decode()[-1500:]
    new = ConfidentialityAgreement.objects.filter(person=lapsed).order_by("-valid_to").first()
    assert new is not None and new.pk != old.pk and new.scan_size == len(PDF)
    assert abs((new.valid_from - timezone.now()).total_seconds()) < 60
    page = http.get("/access/agreements/").content.decode()
    assert "state-renewed" in page
    assert f"/access/agreements/{old.pk}/renew/" not in page
    r = http.post(f"/access/agreements/{old.pk}/renew/",
                  {"valid_to": day(800), "file": SimpleUploadedFile("r.pdf", PDF)})
    assert r.status_code == 422
    refused("agreement.record", "not_latest")

    # Renewing the one about to expire: it runs on from the old end, without a gap.
    cur = ConfidentialityAgreement.objects.get(person=soon)
    r = http.post(f"/access/agreements/{cur.pk}/renew/",
                  {"valid_to": day(5), "file": SimpleUploadedFile("r.pdf", PDF)})
    assert r.status_code == 422 and "new end must be after" in r.content.decode()
    r = http.post(f"/access/agreements/{cur.pk}/renew/",
                  {"valid_to": day(400), "file": SimpleUploadedFile("r.pdf", PDF)})
    assert r.status_code == 302
    nxt = ConfidentialityAgreement.objects.filter(person=soon).order_by("-valid_to").first()
    assert nxt is not None and nxt.valid_from == cur.valid_to


# --- Training (F24) ----------------------------------------------------------------------


def test_training_register_renew_and_bad_input(people):
    http = people["http"]["admin"]
    acct = people["acct"]
    base = {"person": acct.pk, "valid_from": day(-1), "valid_to": day(20)}
    r = http.post("/access/trainings/", {**base, "course": "   "})
    assert r.status_code == 422 and "This field is required" in r.content.decode()
    r = http.post("/access/trainings/", {**base, "course": "保密培训", "valid_to": day(-5)})
    assert r.status_code == 422 and "ends before it starts" in r.content.decode()
    assert http.post("/access/trainings/", {**base, "course": "保密培训"}).status_code == 302
    r = http.post("/access/trainings/", {**base, "course": "保密培训"})
    assert r.status_code == 422 and "overlaps another record" in r.content.decode()
    refused("training.record", "period_overlaps")
    page = http.get("/access/trainings/").content.decode()
    assert "state-expiring" in page
    row = TrainingRecord.objects.get(person=acct)
    assert http.post(f"/access/trainings/{row.pk}/renew/",
                     {"valid_to": day(400)}).status_code == 302
    assert TrainingRecord.objects.filter(person=acct).count() == 2
    assert TrainingRecord.objects.filter(person=acct, valid_from=row.valid_to).exists()
    assert "state-renewed" in http.get("/access/trainings/").content.decode()
    assert LedgerEntry.objects.filter(action="training.record", decision="allowed").count() == 2


# --- Partner organisations (F25) ---------------------------------------------------------


def test_partner_create_duplicate_and_blank_names(people):
    http = people["http"]["compliance"]
    r = http.post("/access/partners/", {"name": "   "})
    assert r.status_code == 422 and "This field is required" in r.content.decode()
    r = http.post("/access/partners/", {"name": " 华信税务师事务所 "})
    assert r.status_code == 422 and "already exists" in r.content.decode()
    refused("partner.create", "name_taken")
    r = http.post("/access/partners/", {"name": "立信  会计", "registration_no": "91310000X",
                                        "vetted_on": day(-3)})
    assert r.status_code == 302
    org = PartnerOrganisation.objects.get(name="立信 会计")
    assert org.registration_no == "91310000X" and org.active
    r = http.post("/access/partners/", {"name": "立信 会计", "vetted_on": "not a date"})
    assert r.status_code == 422
    assert PartnerOrganisation.objects.filter(name__startswith="立信").count() == 1


def test_partner_edit_lists_people_and_refuses_a_taken_name(people):
    http = people["http"]["admin"]
    org = people["org"]
    other = services.partner_org_create(actor=people["admin"], name="明达咨询")
    page = http.get(f"/access/partners/{org.pk}/").content.decode()
    assert "partner1" in page
    r = http.post(f"/access/partners/{org.pk}/", {"what": "update", "name": "明达咨询"})
    assert r.status_code == 422 and "already exists" in r.content.decode()
    refused("partner.update", "name_taken")
    org.refresh_from_db()
    assert org.name == "华信税务师事务所"
    r = http.post(f"/access/partners/{org.pk}/", {"what": "update", "name": "华信税务",
                                                 "registration_no": "R-1"})
    assert r.status_code == 302
    org.refresh_from_db()
    assert (org.name, org.registration_no) == ("华信税务", "R-1")
    assert LedgerEntry.objects.filter(action="partner.update", object_id=str(org.pk),
                                      decision="allowed").exists()
    assert other.name == "明达咨询"
    assert people["http"]["manager"].get(f"/access/partners/{org.pk}/").status_code == 200
    assert b'name="what" value="update"' not in (
        people["http"]["manager"].get(f"/access/partners/{org.pk}/").content)
    assert http.get("/access/partners/999999/").status_code == 404


def test_partner_deactivate_revokes_and_locks_out_then_reactivate(people):
    org, client = people["org"], people["client"]
    now = timezone.now()
    auth = services.authorization_grant(
        actor=people["manager"], client=client,
        grantee_org=org, scope=services.ScopeInput(levels=["internal"]),
        valid_from=now, valid_to=now + timedelta(days=30),
        form=_form(client, org, now))
    http = people["http"]["compliance"]
    page = http.get("/access/partners/").content.decode()
    assert "华信税务师事务所" in page
    r = http.post(f"/access/partners/{org.pk}/", {"what": "deactivate"})
    assert r.status_code == 302
    org.refresh_from_db()
    auth.refresh_from_db()
    people["partner"].refresh_from_db()
    assert not org.active and org.deactivated_at is not None
    assert auth.revoked_at is not None and not people["partner"].is_active
    assert LedgerEntry.objects.filter(action="partner.deactivate", decision="allowed").exists()
    assert LedgerEntry.objects.filter(action="authorization.revoke",
                                      object_id=str(auth.pk)).exists()
    # No longer offered for new authorizations, and refused if named anyway.
    page = people["http"]["manager"].get(f"/access/clients/{client.pk}/").content.decode()
    orgs = page[page.index('name="grantee_org"'):]
    orgs = orgs[:orgs.index("</select>")]
    assert f'<option value="{org.pk}">' not in orgs and "华信" not in orgs
    with pytest.raises(ValidationFailed) as exc:
        services.authorization_grant(
            actor=people["manager"], client=client, grantee_org=org,
            scope=services.ScopeInput(levels=["internal"]), valid_from=now + timedelta(days=40),
            valid_to=now + timedelta(days=50), form=b"%PDF-")
    assert exc.value.code == "partner_inactive"
    # Reactivating makes it nameable again; the people stay deactivated.
    assert http.post(f"/access/partners/{org.pk}/", {"what": "reactivate"}).status_code == 302
    org.refresh_from_db()
    people["partner"].refresh_from_db()
    assert org.active and not people["partner"].is_active
    assert ClientAuthorization.objects.get(pk=auth.pk).revoked_at is not None


def _form(client: Any, org: PartnerOrganisation, now: Any) -> bytes:
    terms = services.AuthorizationTerms(client.pk, None, org.pk,
                                        services.ScopeInput(levels=["internal"]), now,
                                        now + timedelta(days=30))
    return sign_pdf(services.authorization_form_pdf(terms, client_name=client.name,
                                                    grantee=org.name))


# --- Purposes (F08) ----------------------------------------------------------------------


def test_purposes_add_rename_retire_restore_and_order(people):
    http = people["http"]["compliance"]
    before = list(Purpose.objects.order_by("position", "id").values_list("text", flat=True))
    assert before == ["记账", "报税", "审计", "工商变更", "客户请求"]

    r = http.post("/access/purposes/", {"what": "add", "new-text": " \u3000 "})
    assert r.status_code == 422
    r = http.post("/access/purposes/", {"what": "add", "new-text": "审计"})
    assert r.status_code == 422 and "already on the list" in r.content.decode()
    refused("purpose.create", "purpose_taken")
    assert http.post("/access/purposes/", {"what": "add",
                                           "new-text": "年度  审计"}).status_code == 302
    new = Purpose.objects.get(text="年度 审计")
    assert list(Purpose.objects.values_list("text", flat=True))[-1] == "年度 审计"

    tax = Purpose.objects.get(text="报税")
    r = http.post("/access/purposes/", {"what": "rename", "purpose": tax.pk,
                                        f"p{tax.pk}-text": "记账"})
    assert r.status_code == 422 and "already on the list" in r.content.decode()
    refused("purpose.rename", "purpose_taken")
    assert http.post("/access/purposes/", {"what": "rename", "purpose": tax.pk,
                                           f"p{tax.pk}-text": "纳税申报"}).status_code == 302
    assert Purpose.objects.filter(pk=tax.pk, text="纳税申报").exists()

    assert http.post("/access/purposes/", {"what": "up", "purpose": new.pk}).status_code == 302
    order = list(Purpose.objects.order_by("position", "id").values_list("text", flat=True))
    assert order == ["记账", "纳税申报", "审计", "工商变更", "年度 审计", "客户请求"]
    assert http.post("/access/purposes/", {"what": "retire", "purpose": new.pk}).status_code == 302
    assert LedgerEntry.objects.filter(action="purpose.retire", object_id=str(new.pk)).exists()

    # The request form offers the active purposes, in order.
    page = people["http"]["manager"].get(
        f"/access/clients/{people['client'].pk}/request/").content.decode()
    assert page.index("纳税申报") < page.index("审计") and "年度 审计" not in page

    assert http.post("/access/purposes/", {"what": "restore",
                                           "purpose": new.pk}).status_code == 302
    assert Purpose.objects.get(pk=new.pk).active


def test_the_last_purpose_cannot_be_retired(people):
    http = people["http"]["admin"]
    rows = list(Purpose.objects.all())
    for p in rows[1:]:
        r = http.post("/access/purposes/", {"what": "retire", "purpose": p.pk})
        assert r.status_code == 302
    r = http.post("/access/purposes/", {"what": "retire", "purpose": rows[0].pk}, follow=True)
    assert "At least one purpose must stay" in r.content.decode()
    refused("purpose.retire", "purpose_last")
    assert Purpose.objects.filter(active=True).count() == 1
