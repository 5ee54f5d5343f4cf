"""Second security review of the signed authorization form check (`formsig`, F07): a
page pypdf skips but viewers show, compression bombs, a visible signature at the box's
place on another page, a USCC merely contained in a subject, a trust root that is no CA.
Each test states the secure behaviour; 8 failed on the version the review read."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from baomi.access import exports, formsig, services
from baomi.access.models import AuthorizationForm
from baomi.access.tests.test_form_review import _n, _outcome
from baomi.access.tests.test_form_signature import _incremental, _issue, _refused_as
from baomi.access.tests.test_services import firm
from baomi.testing.pdfsign import Identity, identity, pdf_signer, sign_pdf

pytestmark = pytest.mark.django_db
__all__ = ["firm"]


def _visible_sign(data: bytes, who: Identity, *, page: int, box: tuple, text: str,
                  field: str = "Stamp") -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.stamp import TextStampStyle

    w = IncrementalPdfFileWriter(io.BytesIO(data))
    fields.append_signature_field(w, fields.SigFieldSpec(field, on_page=page, box=box))
    out = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name=field), signer=pdf_signer(who),
        stamp_style=TextStampStyle(stamp_text=text, background=None, border_width=0),
    ).sign_pdf(w)
    return out.getvalue()


def _check(data: bytes, form: bytes, uscc: str = "") -> str | None:
    try:
        formsig.check(data, issued_size=len(form),
                      issued_sha256=hashlib.sha256(form).hexdigest(), uscc=uscc)
    except formsig.FormRefused as exc:
        return exc.code
    return None


# ----------------------------------------------------- 1. box on another page


def test_signed_widget_at_box_coordinates_on_another_page_is_refused(firm):
    """A form whose terms reach the bottom (here 100 listed documents) gets its box on a
    page of its own; a signed widget with the box's /Rect on page 0 lies over the terms
    there, and `_inside` compares coordinates only, not the page."""
    from pypdf import PdfReader

    long_scope = services.ScopeInput(["internal"], document_ids=list(range(1000, 1100)))
    terms = services.AuthorizationTerms(firm["client"].pk, None, firm["org"].pk, long_scope,
                                        timezone.now(), timezone.now() + timedelta(days=9))
    form = exports.authorization_form(terms, "code", client_name="恒信", grantee="华信")
    reader = PdfReader(io.BytesIO(form))
    assert len(reader.pages) == 2
    page0 = reader.pages[0]
    assert exports._lowest_text(page0) < 250  # terms reach the box's place on page 0
    box = None
    for ref in reader.pages[1]["/Annots"]:
        box = tuple(float(v) for v in ref.get_object()["/Rect"])
    signed = _visible_sign(form, identity("恒信"), page=0, box=box,
                           text="Documents: NONE\nLevels: public only")
    assert _check(signed, form) == "form_tampered"


# ------------------------------------------------------------ 2. USCC matching


def _cert_with(names: list[tuple[Any, str]], issuer: Identity) -> Identity:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    start = datetime.now(UTC) - timedelta(days=1)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(o, v) for o, v in names]))
            .issuer_name(issuer.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(issuer.key, hashes.SHA256()))
    return Identity(key, cert)


@pytest.mark.parametrize("where", ["email", "cn-longer", "ou-longer"])
def test_uscc_inside_a_longer_subject_value_is_not_the_client(firm, settings, tmp_path,
                                                            where):
    """Someone else's certificate from a trusted CA whose subject merely *contains* the
    client's USCC (an e-mail address, a person's CN, an OU) is not the client's."""
    from cryptography.x509.oid import NameOID

    ca = identity("示例电子认证中心", ca=True)
    roots = tmp_path / "roots.pem"
    roots.write_bytes(ca.pem())
    settings.BAOMI_FORM_TRUST_ROOTS = [str(roots)]
    terms, form = _issue(firm)
    uscc = firm["client"].uscc
    names = {
        "email": [(NameOID.COMMON_NAME, "李四"),
                  (NameOID.EMAIL_ADDRESS, f"{uscc.lower()}@attacker.example")],
        "cn-longer": [(NameOID.COMMON_NAME, f"李四（非{uscc}）")],
        "ou-longer": [(NameOID.COMMON_NAME, "李四"),
                      (NameOID.ORGANIZATIONAL_UNIT_NAME, f"not-{uscc}-at-all")],
    }[where]
    someone = _cert_with(names, ca)
    _refused_as(firm, terms, sign_pdf(form, someone, chain=(ca,)), "form_signer_not_client")


def test_leaf_issued_by_a_non_ca_trusted_leaf_is_untrusted(firm, settings, tmp_path):
    from cryptography.x509.oid import NameOID

    ca = identity("示例电子认证中心", ca=True)
    roots = tmp_path / "roots.pem"
    roots.write_bytes(ca.pem())
    settings.BAOMI_FORM_TRUST_ROOTS = [str(roots)]
    terms, form = _issue(firm)
    mine = identity("宝密会计师事务所", issuer=ca)  # a legitimately issued end-entity cert
    forged = _cert_with([(NameOID.COMMON_NAME, "恒信贸易有限公司"),
                         (NameOID.SERIAL_NUMBER, firm["client"].uscc)], mine)
    _refused_as(firm, terms, sign_pdf(form, forged, chain=(mine, ca)),
                "form_signer_untrusted")


# ------------------------------------------------------------------- 3. DoS


def _bombs(count: int, size: int = 70_000_000, layers: int = 1) -> Any:
    import zlib

    bomb = b"\0" * size
    for _ in range(layers):
        bomb = zlib.compress(bomb, 9)

    def change(writer: Any) -> None:
        from pypdf.generic import ArrayObject, DictionaryObject, StreamObject

        entries = DictionaryObject()
        for i in range(count):
            s = StreamObject()
            s._data = bomb
            s[_n("/Filter")] = ArrayObject([_n("/FlateDecode")] * layers)
            entries[_n(f"/B{i}")] = writer._add_object(s)
        writer.pages[0]["/Resources"][_n("/ExtGState")] = entries

    return change, len(bomb)


@pytest.mark.parametrize(("count", "layers"), [(60, 2)])
def test_many_flate_bombs_do_not_make_the_check_slow(firm, count, layers):
    _terms, form = _issue(firm)
    issued = AuthorizationForm.objects.get()
    change, _each = _bombs(count, layers=layers)
    data = sign_pdf(_incremental(form, change))
    assert len(data) < services.MAX_SCAN_BYTES
    # Stored streams are hashed as stored, never decompressed (a hang guard only).
    assert _outcome(data, issued) == "form_tampered"


# ------------------------------------------- 4. a page pypdf does not count


def _hidden_page(kind: str, count: int | None = None) -> Any:
    """A page-tree leaf that pypdf skips (its /Type is neither /Page nor /Pages) but
    viewers show (pdf.js, PDFium, MuPDF: a kid without /Kids is a page)."""
    def change(writer: Any) -> None:
        from pypdf.generic import (
            ArrayObject,
            DecodedStreamObject,
            DictionaryObject,
            FloatObject,
            NumberObject,
        )

        from baomi.access.tests.test_form_review import _fake_terms_drawing, _helv

        pages = writer._root_object["/Pages"].get_object()
        w, h = 842.0, 595.0
        content = DecodedStreamObject()
        content.set_data(_fake_terms_drawing(w, h))
        fake = DictionaryObject({
            _n("/Type"): _n(kind),
            _n("/Parent"): writer._root_object.raw_get("/Pages"),
            _n("/MediaBox"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(w),
                                          FloatObject(h)]),
            _n("/Contents"): writer._add_object(content),
            _n("/Resources"): DictionaryObject(
                {_n("/Font"): DictionaryObject({_n("/Helv"): _helv()})}),
        })
        kids = pages["/Kids"]
        kids.insert(0, writer._add_object(fake))
        # /Count 1: pdf.js and PDFium show one page, the fake one; pypdf counts the
        # real one (it does not read /Count).
        pages[_n("/Count")] = NumberObject(count or len(kids))

    return change


@pytest.mark.parametrize(("kind", "count"), [("/Template", None), ("/Foo", 1)])
def test_a_page_pypdf_skips_is_refused(firm, kind, count):
    from pypdf import PdfReader

    terms, form = _issue(firm)
    changed = _incremental(form, _hidden_page(kind, count))
    assert len(PdfReader(io.BytesIO(changed)).pages) == 1  # pypdf: one page
    signed = sign_pdf(changed, identity("恒信贸易有限公司"), field=exports.SIGNATURE_FIELD)
    _refused_as(firm, terms, signed, "form_tampered")


# ------------------------------------------------ 5. a trust root that is no CA


def test_a_trust_root_that_is_not_a_ca_does_not_issue(firm, settings, tmp_path):
    """An administrator lists an end-entity certificate (the firm's own) as a root."""
    not_ca = identity("宝密会计师事务所")
    roots = tmp_path / "roots.pem"
    roots.write_bytes(not_ca.pem())
    settings.BAOMI_FORM_TRUST_ROOTS = [str(roots)]
    terms, form = _issue(firm)
    leaf = identity("恒信贸易有限公司", issuer=not_ca, uscc=firm["client"].uscc)
    # The list is refused as a whole (and `baomi.E001` stops the start): no form passes.
    _refused_as(firm, terms, sign_pdf(form, leaf, chain=(not_ca,)), "form_check_unavailable")


# ------------------------------------------------------- ideas found refused


def test_the_skipped_page_added_after_signing_is_refused(firm):
    terms, form = _issue(firm)
    signed = sign_pdf(form, identity("恒信贸易有限公司"))
    _refused_as(firm, terms, _incremental(signed, _hidden_page("/Template", 1)),
                "form_signature_invalid")


def _fake_signed_widget(kid: bool) -> Any:
    def change(writer: Any) -> None:
        from pypdf.generic import (
            ArrayObject,
            DictionaryObject,
            FloatObject,
            NumberObject,
            TextStringObject,
        )

        from baomi.access.tests.test_form_review import _fake_terms_drawing, _form_xobject

        page = writer.pages[0]
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        ap = _form_xobject(writer, _fake_terms_drawing(w, h), w, h)
        widget = DictionaryObject({
            _n("/Type"): _n("/Annot"), _n("/Subtype"): _n("/Widget"),
            _n("/F"): NumberObject(2),  # hidden
            _n("/Rect"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(w),
                                      FloatObject(h)]),
            _n("/AP"): DictionaryObject({_n("/N"): ap}),
        })
        field = {_n("/FT"): _n("/Sig"), _n("/T"): TextStringObject("X"),
                 _n("/V"): DictionaryObject({_n("/Type"): _n("/Sig")})}
        if kid:
            parent = writer._add_object(DictionaryObject(field))
            widget[_n("/Parent")] = parent
        else:
            widget.update(field)
        page["/Annots"].append(writer._add_object(widget))

    return change


@pytest.mark.parametrize("kid", [False, True], ids=["field", "kid"])
def test_hidden_page_sized_signed_widget_is_refused(firm, kid):
    terms, form = _issue(firm)
    signed = sign_pdf(_incremental(form, _fake_signed_widget(kid)), identity("恒信"))
    _refused_as(firm, terms, signed, "form_tampered")
