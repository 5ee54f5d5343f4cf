"""The agreement registry records only the type that serves the person's role, always
with its signed scan (page, API and service alike); issued authorization forms expire
after `BAOMI_AUTHORIZATION_FORM_DAYS` and the scheduler deletes the unused ones."""

from __future__ import annotations

import base64
import importlib
import io
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from baomi.access import services
from baomi.access.models import AuthorizationForm, ClientAuthorization, ConfidentialityAgreement
from baomi.access.tests.test_services import _terms, firm, period, refused
from baomi.accounts.models import Role
from baomi.audit.models import LedgerEntry
from baomi.core import scheduler
from baomi.errors import ValidationFailed
from baomi.testing.pdfsign import sign_pdf
from conftest import AGREEMENT_SCAN, agreement_scan, agreement_scan_b64, verified_client

pytestmark = pytest.mark.django_db
__all__ = ["firm"]  # the fixture, shared with test_services


@pytest.fixture(autouse=True)
def _restore_language():
    """Requests here ask for English; LocaleMiddleware leaves it active in the thread."""
    before = translation.get_language()
    yield
    translation.activate(before)


def _record(firm: dict[str, Any], person: Any, kind: str, **kw: Any) -> Any:
    args = {**period(365, start=400), **agreement_scan(), **kw}
    return services.agreement_record(actor=firm["compliance"], person=person, kind=kind,
                                     **args)


# --- Gap 1: the type must serve the person's role ------------------------------------------


def test_a_type_that_does_not_serve_the_role_is_refused_and_recorded(firm, make_user):
    auditor = make_user("ext1", role=Role.EXTERNAL_AUDITOR, compliant=False)
    cases = [(firm["acct"], "auditor", "employee"), (firm["acct"], "client", "employee"),
             (firm["partner"], "employee", "partner"), (auditor, "employee", "auditor"),
             (firm["portal"], "employee", "client")]
    for person, kind, fitting in cases:
        with pytest.raises(ValidationFailed) as info:
            _record(firm, person, kind)
        assert info.value.code == "agreement_kind_mismatch", (person.role, kind)
        assert info.value.detail["allowed_kinds"] == [fitting]
        assert info.value.detail["fields"].keys() == {"kind"}
        entry = refused("agreement.record", "agreement_kind_mismatch")
        assert entry.object_id == str(person.pk)
    assert not ConfidentialityAgreement.objects.filter(valid_from__gt=timezone.now()).exists()
    # The fitting type is recorded, a client agreement for a client's portal user too.
    for person, kind in ((firm["acct"], "employee"), (firm["partner"], "partner"),
                         (auditor, "auditor"), (firm["portal"], "client")):
        assert _record(firm, person, kind).kind == kind


def test_renewing_a_row_of_the_wrong_type_is_refused(firm):
    # A row recorded before the check (an auditor agreement for an accountant) opened
    # nothing, and renewing it would record another that opens nothing.
    now = timezone.now()
    old = ConfidentialityAgreement.objects.create(
        person=firm["acct"], kind="auditor", valid_from=now - timedelta(days=400),
        valid_to=now - timedelta(days=1))
    with pytest.raises(ValidationFailed) as info:
        services.agreement_renew(actor=firm["compliance"], agreement=old,
                                 valid_to=now + timedelta(days=365), **agreement_scan())
    assert info.value.code == "agreement_kind_mismatch"


def test_the_api_refuses_a_mismatched_type_and_takes_the_fitting_one_when_omitted(firm):
    http = verified_client(firm["compliance"], HTTP_ACCEPT_LANGUAGE="en")
    url = f"/api/v1/staff/{firm['partner'].pk}/agreements"
    body = {**{k: v.isoformat() for k, v in period(365, start=400).items()},
            **agreement_scan_b64()}
    r = http.post(url, {**body, "kind": "employee"}, content_type="application/json")
    assert r.status_code == 422, r.content
    err = r.json()
    assert err["code"] == "agreement_kind_mismatch"
    assert "Partner confidentiality agreement" in err["message"]
    assert err["detail"]["allowed_kinds"] == ["partner"]
    r = http.post(url, body, content_type="application/json")
    assert r.status_code == 201, r.content
    row = ConfidentialityAgreement.objects.get(pk=r.json()["detail"]["id"])
    assert row.kind == "partner" and row.scan_size == len(AGREEMENT_SCAN)


def test_the_register_page_offers_only_the_fitting_type(firm):
    http = verified_client(firm["compliance"], HTTP_ACCEPT_LANGUAGE="en")
    page = http.get(f"/access/agreements/?person={firm['partner'].pk}")
    kinds = page.context["form"].fields["kind"].widget.choices
    assert [v for v, _label in kinds] == ["partner"]
    assert page.context["form"]["kind"].value() == "partner"
    html = page.content.decode()
    assert 'value="partner"' in html and 'value="employee"' not in html
    assert 'hx-select="#kind-field"' in html
    # A client's portal user can be picked, and is offered the client agreement.
    people = page.context["form"].fields["person"].queryset
    assert firm["portal"] in people
    page = http.get(f"/access/agreements/?person={firm['portal'].pk}")
    assert [v for v, _label in page.context["form"].fields["kind"].widget.choices] == [
        "client"]
    # A mismatched type posted anyway is refused on the type, with the service's reason.
    start = timezone.localdate() + timedelta(days=400)
    r = http.post("/access/agreements/", {
        "person": firm["acct"].pk, "kind": "auditor", "valid_from": start.isoformat(),
        "valid_to": (start + timedelta(days=365)).isoformat(),
        "file": SimpleUploadedFile("a.pdf", AGREEMENT_SCAN)})
    assert r.status_code == 422
    errors = r.context["form"].errors["kind"]
    assert errors and "Employee confidentiality agreement" in errors[0]
    assert refused("agreement.record", "agreement_kind_mismatch")
    assert not ConfidentialityAgreement.objects.filter(person=firm["acct"],
                                                       kind="auditor").exists()


# --- Gap 2: a scan is required everywhere --------------------------------------------------


def test_the_api_refuses_an_agreement_without_a_scan(firm, make_user):
    person = make_user("newcomer", compliant=False)
    http = verified_client(firm["admin"], HTTP_ACCEPT_LANGUAGE="en")
    url = f"/api/v1/staff/{person.pk}/agreements"
    body = {"kind": "employee", **{k: v.isoformat() for k, v in period(365).items()}}
    r = http.post(url, body, content_type="application/json")
    assert r.status_code == 422, r.content
    assert r.json()["code"] == "scan_required"
    assert r.json()["detail"]["fields"]["scan"] == ["Attach the signed scan (PDF or image)."]
    assert refused("agreement.record", "scan_required").object_id == str(person.pk)
    assert not ConfidentialityAgreement.objects.filter(person=person).exists()
    # The scan's own checks stay: not a PDF or image, then a good one.
    bad = {"scan_base64": base64.b64encode(b"just text").decode(), "scan_name": "a.txt"}
    r = http.post(url, {**body, **bad}, content_type="application/json")
    assert (r.status_code, r.json()["code"]) == (422, "scan_type")
    r = http.post(url, {**body, **agreement_scan_b64()}, content_type="application/json")
    assert r.status_code == 201, r.content
    assert ConfidentialityAgreement.objects.get(person=person).scan_size == len(AGREEMENT_SCAN)


def test_the_service_and_the_staff_page_need_a_scan_too(firm, make_user):
    person = make_user("newcomer", compliant=False)
    with pytest.raises(ValidationFailed) as info:
        services.agreement_record(actor=firm["compliance"], person=person, kind="employee",
                                  **period(365))
    assert info.value.code == "scan_required"
    row = services.agreement_record(actor=firm["compliance"], person=person,
                                    kind="employee", **period(30), **agreement_scan())
    with pytest.raises(ValidationFailed) as info:
        services.agreement_renew(actor=firm["compliance"], agreement=row,
                                 valid_to=timezone.now() + timedelta(days=400))
    assert info.value.code == "scan_required"
    # The staff page no longer offers registering without a scan; a stale form is
    # refused and recorded.
    http = verified_client(firm["admin"], HTTP_ACCEPT_LANGUAGE="en")
    page = http.get(f"/access/staff/{person.pk}/").content.decode()
    assert 'value="agreement"' not in page and f"?person={person.pk}#register" in page
    http.post(f"/access/staff/{person.pk}/", {"what": "agreement", "kind": "employee",
                                              "valid_from": "2030-01-01T00:00",
                                              "valid_to": "2031-01-01T00:00"})
    assert ConfidentialityAgreement.objects.filter(person=person).count() == 1
    assert LedgerEntry.objects.filter(action="agreement.record", decision="refused",
                                      reason="scan_required", actor="admin").exists()


# --- Gap 3: issued forms expire ------------------------------------------------------------


def _issue(firm: dict[str, Any], *, days_ago: float = 0) -> tuple[Any, bytes]:
    terms = _terms(firm)
    pdf = services.authorization_form_pdf(
        terms, client_name="恒信", grantee="华信", issued_by=firm["manager"],
        issued_at=timezone.now() - timedelta(days=days_ago))
    return terms, pdf


def _grant(firm: dict[str, Any], terms: Any, form: bytes) -> ClientAuthorization:
    return services.authorization_grant(
        actor=firm["manager"], client=firm["client"], grantee_org=firm["org"],
        scope=terms.scope, valid_from=terms.valid_from, valid_to=terms.valid_to, form=form)


def test_a_form_past_its_validity_is_refused_as_expired(firm, settings):
    terms, form = _issue(firm, days_ago=91)
    signed = sign_pdf(form)
    with pytest.raises(ValidationFailed) as info:
        _grant(firm, terms, signed)
    assert info.value.code == "form_expired"
    assert info.value.detail["fields"]["form"]
    assert "过期" in str(info.value.message)  # the default language's message
    assert refused("authorization.grant", "form_expired")
    assert not ClientAuthorization.objects.exists()
    # The validity is the setting: at 120 days the same form is still good.
    settings.BAOMI_AUTHORIZATION_FORM_DAYS = 120
    auth = _grant(firm, terms, signed)
    assert AuthorizationForm.objects.get().used_at == auth.created_at


def test_the_form_prints_its_validity_end(firm, settings):
    from pypdf import PdfReader

    settings.BAOMI_AUTHORIZATION_FORM_DAYS = 30
    issued = timezone.now() - timedelta(days=2)
    terms = _terms(firm)
    pdf = services.authorization_form_pdf(terms, client_name="恒信", grantee="华信",
                                          issued_at=issued)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    end = timezone.localtime(issued + timedelta(days=30)).strftime("%Y-%m-%d %H:%M")
    # Some pypdf/font pairs extract each Latin glyph with a NUL before it.
    assert end in text.replace("\x00", "")
    assert services.authorization_form_expiry(issued) == (
        issued.replace(microsecond=0) + timedelta(days=30))


def test_the_client_page_shows_until_when_a_form_downloaded_now_is_valid(firm):
    http = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en")
    page = http.get(f"/access/clients/{firm['client'].pk}/")
    html = page.content.decode()
    end = timezone.localtime(page.context["form_expires"])
    assert end - timezone.now() > timedelta(days=89, hours=23)
    assert 'id="form-validity"' in html and end.strftime("%Y-%m-%d %H:%M") in html
    assert "valid for 90 days" in html


def test_the_scheduler_deletes_expired_unused_forms_and_keeps_used_ones(firm):
    now = timezone.now()
    used_terms, used_form = _issue(firm, days_ago=10)
    used_signed = sign_pdf(used_form)
    used = _grant(firm, used_terms, used_signed)
    # Revoked by the client: the form stays used (a form grants once).
    services.authorization_revoke(actor=firm["portal"], authorization=used, reason="结束合作")
    _issue(firm, days_ago=10)  # never used
    _issue(firm)  # recent, never used
    stale_terms, stale_form = _issue(firm, days_ago=100)  # expired, never used
    assert AuthorizationForm.objects.count() == 4
    assert "authorization_forms_expire" in {j.name for j in scheduler.jobs()}
    scheduler._authorization_forms_expire()
    assert AuthorizationForm.objects.count() == 3
    entry = LedgerEntry.objects.get(action="authorization.form_expire")
    assert (entry.actor, entry.client_id, entry.reason) == (
        "scheduler", str(firm["client"].pk), "count=1")
    # 85 days on, the unused one issued 10 days ago has expired too; the used one stays.
    assert services.authorization_forms_expire(now=now + timedelta(days=85)) == 1
    left = AuthorizationForm.objects.all()
    assert len(left) == 2 and sum(f.used_at is not None for f in left) == 1
    assert services.authorization_forms_expire(now=now + timedelta(days=85)) == 0
    # A deleted expired form is still refused as expired, not as unknown.
    with pytest.raises(ValidationFailed) as info:
        _grant(firm, stale_terms, sign_pdf(stale_form))
    assert info.value.code == "form_expired"
    # Reuse is known from the authorization, also once its form's registration is gone.
    AuthorizationForm.objects.filter(used_at__isnull=False).delete()
    with pytest.raises(ValidationFailed) as info:
        _grant(firm, used_terms, used_signed)
    assert info.value.code == "form_reused"


def test_the_migration_keeps_forms_that_may_have_been_used(firm):
    """Forms registered before `used_at` existed: those of a client with an authorization
    recorded from a form after they were issued are kept as possibly used."""
    migration = importlib.import_module(
        "baomi.access.migrations.0007_authorization_form_used")
    terms, form = _issue(firm, days_ago=5)
    auth = _grant(firm, terms, sign_pdf(form))
    _issue(firm)  # issued after the only authorization: never used
    other = services.authorization_form_pdf(
        services.AuthorizationTerms(firm["other"].pk, None, firm["org"].pk,
                                    services.ScopeInput(["internal"]), terms.valid_from,
                                    terms.valid_to),
        client_name="明远", grantee="华信", issued_at=timezone.now() - timedelta(days=9))
    assert other
    AuthorizationForm.objects.update(used_at=None)
    migration.mark_possibly_used(apps, None)
    kept = {(f.client_id, f.used_at) for f in AuthorizationForm.objects.exclude(used_at=None)}
    assert kept == {(firm["client"].pk, auth.created_at)}
