"""The client's authorization form must be the form Baomi issued, signed electronically
(review finding: the form as downloaded, or another PDF carrying its copied code, was
accepted). Real PDFs, real PAdES signatures (pyHanko), real certificates."""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from baomi.access import exports, services
from baomi.access.models import AuthorizationForm, ClientAuthorization, Notification
from baomi.access.tests.test_services import _terms, firm, refused
from baomi.audit.models import LedgerEntry
from baomi.errors import ValidationFailed
from baomi.testing.pdfsign import identity, sign_pdf
from baomi.vault.models import Document
from conftest import verified_client

pytestmark = pytest.mark.django_db
__all__ = ["firm"]  # the fixture, shared with test_services


def _issue(firm: dict[str, Any], terms: Any = None) -> tuple[Any, bytes]:
    terms = terms or _terms(firm)
    return terms, services.authorization_form_pdf(terms, client_name="恒信", grantee="华信",
                                                  issued_by=firm["manager"])


def _grant(firm: dict[str, Any], terms: Any, form: bytes) -> ClientAuthorization:
    return services.authorization_grant(
        actor=firm["manager"], client=firm["client"], grantee_org=firm["org"],
        scope=terms.scope, valid_from=terms.valid_from, valid_to=terms.valid_to, form=form)


def _refused_as(firm: dict[str, Any], terms: Any, form: bytes, code: str) -> None:
    documents = Document.objects.count()
    with pytest.raises(ValidationFailed) as info:
        _grant(firm, terms, form)
    assert info.value.code == code
    assert refused("authorization.grant", code)
    assert not ClientAuthorization.objects.exists()
    assert Document.objects.count() == documents  # the refused form is not kept


def _incremental(data: bytes, change: Any) -> bytes:
    """`data` with `change(writer)` appended as an incremental update (as a PDF editor
    saving in place does)."""
    from pypdf import PdfWriter

    writer = PdfWriter(io.BytesIO(data), incremental=True)
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_electronically_signed_form_grants_and_records_its_signer(firm):
    terms, form = _issue(firm)
    issued = AuthorizationForm.objects.get()
    assert issued.client == firm["client"] and issued.issued_by == firm["manager"]
    assert issued.size == len(form)
    signer = identity("恒信贸易有限公司")
    auth = _grant(firm, terms, sign_pdf(form, signer))
    assert auth.form_signer_sha256 == signer.sha256
    assert not auth.form_signer_trusted  # no trust roots configured
    entry = LedgerEntry.objects.filter(action="authorization.grant", decision="allowed").get()
    assert f"signer={signer.sha256[:16]} trusted=0" in entry.reason
    assert "恒信" not in entry.reason  # no names in the ledger
    # The client's portal user hears of it, so a form they never signed is noticed.
    note = Notification.objects.get(user=firm["portal"], kind="authorization_recorded")
    to = timezone.localtime(terms.valid_to).date().isoformat()
    assert note.params == {"id": auth.pk, "grantee": "华信税务师事务所", "to": to}
    page = verified_client(firm["portal"], HTTP_ACCEPT_LANGUAGE="en").get("/access/")
    assert (f"Authorization #{auth.pk} for 华信税务师事务所, until {to}, was recorded"
            in page.content.decode())
    staff_page = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en").get(
        f"/access/clients/{firm['client'].pk}/").content.decode()
    assert signer.sha256[:16] in staff_page
    assert "not checked against a trust list" in staff_page


def test_the_issued_form_uploaded_unsigned_is_refused(firm):
    terms, form = _issue(firm)
    _refused_as(firm, terms, form, "form_unsigned")
    # Saved again in place by a PDF editor, still nobody signed it.
    resaved = _incremental(form, lambda w: w.add_metadata({"/Producer": "编辑器"}))
    assert resaved.startswith(form) and len(resaved) > len(form)
    _refused_as(firm, terms, resaved, "form_unsigned")
    # …and the form can still be used once the client has signed it.
    assert _grant(firm, terms, sign_pdf(form)).revoked_at is None


def test_another_pdf_carrying_the_copied_code_is_refused_even_signed(firm):
    terms, form = _issue(firm)
    code = exports.form_token(form)
    assert code
    # A different visible text (another grantee, a longer period) with the code copied
    # into its metadata: the code matches the terms, the content is not what was issued.
    longer = services.AuthorizationTerms(terms.client_id, None, terms.grantee_org_id,
                                         terms.scope, terms.valid_from,
                                         terms.valid_to + timedelta(days=3650))
    forged = exports.authorization_form(longer, code, client_name="恒信", grantee="任何人")
    assert exports.form_token(forged) == code
    _refused_as(firm, terms, forged, "form_tampered")
    _refused_as(firm, terms, sign_pdf(forged), "form_tampered")
    # The issued form rewritten whole by an editor (not appended to) is not the issued
    # form either, though it shows the same.
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(form)))
    writer.add_metadata({"/Title": "客户授权书"})
    for page in writer.pages:
        page.compress_content_streams()
    out = io.BytesIO()
    writer.write(out)
    assert not out.getvalue().startswith(form)
    _refused_as(firm, terms, sign_pdf(out.getvalue()), "form_tampered")


def _overlay(data: bytes) -> bytes:
    """Other text drawn over the form's page, in an appended revision."""
    from pypdf import PdfReader

    other = exports.authorization_form(
        services.AuthorizationTerms(1, None, 1, services.ScopeInput(["secret"]),
                                    timezone.now(), timezone.now() + timedelta(days=9999)),
        "x", client_name="别的公司", grantee="别人")

    def change(writer: Any) -> None:
        writer.pages[0].merge_page(PdfReader(io.BytesIO(other)).pages[0])

    return _incremental(data, change)


def _annotated(data: bytes) -> bytes:
    """A free-text annotation laid over the terms, in an appended revision."""
    from pypdf.annotations import FreeText

    def change(writer: Any) -> None:
        writer.add_annotation(0, FreeText(text="有效期至 2099-12-31", rect=(50, 500, 400, 540)))

    return _incremental(data, change)


@pytest.mark.parametrize("edit", [_overlay, _annotated], ids=["content", "annotation"])
def test_a_form_changed_before_or_after_signing_is_refused(firm, edit):
    terms, form = _issue(firm)
    # Changed, then signed: the signer signed what they saw, but it is not the terms.
    _refused_as(firm, terms, sign_pdf(edit(form)), "form_tampered")
    # Signed, then changed: the signature no longer covers what the form shows.
    _refused_as(firm, terms, edit(sign_pdf(form)), "form_signature_invalid")


def test_a_broken_or_expired_signature_is_refused(firm):
    terms, form = _issue(firm)
    signed = sign_pdf(form)
    at = len(form) + 20  # inside the signed revision, outside the signature value
    broken = signed[:at] + bytes([signed[at] ^ 1]) + signed[at + 1:]
    _refused_as(firm, terms, broken, "form_signature_invalid")
    expired = identity(not_before=timezone.now() - timedelta(days=400), days=30)
    _refused_as(firm, terms, sign_pdf(form, expired), "form_signature_invalid")
    # Bytes appended that are no PDF update: unreadable, or readable and unsigned.
    _refused_as(firm, terms, form + b"\n%%EOF garbage", "form_tampered")
    _refused_as(firm, terms, form + b"\x00" * 64, "form_unsigned")


def test_two_signatures_company_and_legal_representative(firm):
    terms, form = _issue(firm)
    company, person = identity("恒信贸易有限公司"), identity("张三")
    both = sign_pdf(sign_pdf(form, company, field="公司"), person, field="法定代表人")
    auth = _grant(firm, terms, both)
    assert auth.form_signer_sha256 == company.sha256


def test_with_trust_roots_only_a_certificate_from_them_is_accepted(firm, settings, tmp_path):
    ca = identity("示例电子认证中心", ca=True)
    roots = tmp_path / "roots.pem"
    roots.write_bytes(ca.pem())
    settings.BAOMI_FORM_TRUST_ROOTS = [str(roots)]
    terms, form = _issue(firm)
    uscc = firm["client"].uscc
    _refused_as(firm, terms, sign_pdf(form, identity("自签名", uscc=uscc)),
                "form_signer_untrusted")
    # A certificate from a trusted CA, but not the client's: the firm's own, or another
    # client's, does not sign for this client.
    firm_own = identity("宝密会计师事务所", issuer=ca, uscc="91110000000000000X")
    _refused_as(firm, terms, sign_pdf(form, firm_own, chain=(ca,)), "form_signer_not_client")
    issued_by_ca = identity("恒信贸易有限公司", issuer=ca, uscc=uscc)
    auth = _grant(firm, terms, sign_pdf(form, issued_by_ca, chain=(ca,)))
    assert auth.form_signer_trusted and auth.form_signer_sha256 == issued_by_ca.sha256
    assert "trusted=1" in LedgerEntry.objects.get(action="authorization.grant",
                                                  decision="allowed").reason


def test_a_signed_form_of_one_client_does_not_grant_for_another(firm):
    terms, form = _issue(firm)
    issued = AuthorizationForm.objects.get()
    issued.client = firm["other"]  # as if issued for the other client
    issued.save()
    _refused_as(firm, terms, sign_pdf(form), "form_outdated")


@pytest.mark.parametrize(("lang", "text"),
                         [("en", "electronic signature"), ("zh-hans", "电子签名")])
def test_api_refuses_an_unsigned_form_with_a_localized_reason(firm, lang, text):
    terms, form = _issue(firm)
    http = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE=lang)
    body = {"grantee_org_id": firm["org"].pk, "scope": {"levels": ["internal"]},
            "valid_from": terms.valid_from.isoformat(), "valid_to": terms.valid_to.isoformat()}
    url = f"/api/v1/clients/{firm['client'].pk}/authorizations"
    r = http.post(url, {**body, "form_base64": base64.b64encode(form).decode()},
                  content_type="application/json")
    assert r.status_code == 422, r.content
    assert r.json()["code"] == "form_unsigned" and text in r.json()["message"]
    r = http.post(url, {**body, "form_base64": base64.b64encode(sign_pdf(form)).decode()},
                  content_type="application/json")
    assert r.status_code == 201, r.content


def test_no_form_is_issued_for_terms_a_grant_would_refuse(firm):
    """A form for a period longer than the cap, or naming a non-partner, would only be
    refused once signed: it is refused before the client is asked to sign."""
    now = timezone.now()
    scope = services.ScopeInput(["internal"])
    for kw, code in (
        ({"grantee_user_id": None, "grantee_org_id": firm["org"].pk,
          "valid_to": now + timedelta(days=services.authorization_max_days() + 1)},
         "period_too_long"),
        ({"grantee_user_id": firm["acct"].pk, "grantee_org_id": None,
          "valid_to": now + timedelta(days=30)}, "grantee_not_partner"),
    ):
        with pytest.raises(ValidationFailed) as info:
            services.authorization_form_issue(actor=firm["manager"], client=firm["client"],
                                              scope=scope, valid_from=now, **kw)
        assert info.value.code == code
        assert refused("authorization.form", code)
    assert not AuthorizationForm.objects.exists()


def _box(data: bytes) -> tuple[int, list[float]]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    for n, page in enumerate(reader.pages):
        for ref in page.get("/Annots") or ():
            annot = ref.get_object()
            if annot.get("/T") == exports.SIGNATURE_FIELD:
                return n, [float(v) for v in annot["/Rect"]]
    raise AssertionError("no signature box")


def test_a_visible_signature_or_seal_goes_in_the_forms_box(firm):
    """The form carries an empty signature field, bottom right, clear of all text: a
    visible signature (the company's e-seal) there is accepted."""
    from pypdf import PdfReader

    terms, form = _issue(firm)
    page_no, box = _box(form)
    assert page_no == 0 and box[1] >= 40 and box[3] - box[1] >= 100
    assert exports._lowest_text(PdfReader(io.BytesIO(form)).pages[0]) > box[3]
    signed = sign_pdf(form, identity("恒信贸易有限公司"), field=exports.SIGNATURE_FIELD)
    assert _box(signed)[1] == box
    assert _grant(firm, terms, signed).form_signer_sha256


def test_a_long_form_gets_its_signature_box_on_a_page_of_its_own(firm):
    """Text never runs under the box: a form whose terms reach the bottom gets a page
    for the signature."""
    from pypdf import PdfReader

    long_scope = services.ScopeInput(["internal"], document_ids=list(range(1, 2500)))
    terms = services.AuthorizationTerms(firm["client"].pk, None, firm["org"].pk, long_scope,
                                        timezone.now(), timezone.now() + timedelta(days=9))
    form = exports.authorization_form(terms, "code", client_name="恒信", grantee="华信")
    reader = PdfReader(io.BytesIO(form))
    page_no, box = _box(form)
    assert page_no == len(reader.pages) - 1
    assert exports._lowest_text(reader.pages[page_no]) > box[3]


def test_the_signed_form_uploaded_as_a_document_of_the_client_grants(firm):
    """The page's way: staff upload the signed PDF into the vault, then pick it. The
    vault keeps the bytes as signed (sealed, not rewritten), so the check sees them."""
    from baomi.vault import services as vault_services
    from baomi.vault.tests.conftest import sealed_upload

    terms, form = _issue(firm)
    signed = sign_pdf(form)
    up = sealed_upload(actor=firm["manager"], client=firm["client"], data=signed,
                       filename="授权书.pdf", content_type="application/pdf")
    doc = vault_services.document_upload(actor=firm["manager"], client=firm["client"],
                                         upload=up, title="客户授权书（已签）",
                                         level="confidential", category="other")
    auth = services.authorization_grant(
        actor=firm["manager"], client=firm["client"], grantee_org=firm["org"],
        scope=terms.scope, valid_from=terms.valid_from, valid_to=terms.valid_to,
        form_document=doc)
    assert auth.form_document == doc and auth.form_signer_sha256


def test_an_unreadable_trust_list_is_a_system_check_error(settings, tmp_path):
    from django.core.checks import run_checks

    assert not [m for m in run_checks() if m.id == "baomi.E001"]
    bad = tmp_path / "roots.pem"
    bad.write_bytes(b"not a certificate")
    for path in ("/nonexistent/roots.pem", str(bad)):
        settings.BAOMI_FORM_TRUST_ROOTS = [path]
        assert [m.id for m in run_checks() if m.id == "baomi.E001"] == ["baomi.E001"]
