"""Attacks on the signed authorization form check (F07, `formsig`), from a security
review: terms shown otherwise than issued (signature widgets, document-level actions,
portfolios, XFA), a trusted certificate of someone else, and inputs built to make the
check slow. Each test states the secure behaviour; 12 failed on the first version."""

from __future__ import annotations

import io
import signal
from typing import Any

import pytest

from baomi.access import formsig
from baomi.access.models import AuthorizationForm
from baomi.access.tests.test_form_signature import _grant, _incremental, _issue, _refused_as
from baomi.access.tests.test_services import firm
from baomi.testing.pdfsign import identity, pdf_signer, sign_pdf

pytestmark = pytest.mark.django_db
__all__ = ["firm"]


# ---------------------------------------------------------------- helpers

def _n(name: str) -> Any:
    from pypdf.generic import NameObject

    return NameObject(name)


def _helv() -> Any:
    from pypdf.generic import DictionaryObject

    return DictionaryObject({_n("/Type"): _n("/Font"), _n("/Subtype"): _n("/Type1"),
                             _n("/BaseFont"): _n("/Helvetica")})


def _form_xobject(writer: Any, content: bytes, w: float, h: float) -> Any:
    from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, FloatObject

    ap = DecodedStreamObject()
    ap.set_data(content)
    ap.update({_n("/Type"): _n("/XObject"), _n("/Subtype"): _n("/Form"),
               _n("/BBox"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(w),
                                         FloatObject(h)]),
               _n("/Resources"): DictionaryObject(
                   {_n("/Font"): DictionaryObject({_n("/Helv"): _helv()})})})
    return writer._add_object(ap)


def _fake_terms_drawing(w: float, h: float) -> bytes:
    """White out the whole page and print other terms."""
    return (f"1 1 1 rg 0 0 {w} {h} re f 0 0 0 rg BT /Helv 20 Tf 40 {h - 120} Td "
            "(Client authorization) Tj 0 -40 Td (Valid to: 2025-01-31 \\(ONE MONTH\\)) Tj "
            "0 -40 Td (Levels: public only) Tj ET").encode()


def _add_empty_sig_widget(writer: Any, *, name: str = "Overlay") -> None:
    """An unsigned signature field whose widget covers the page with other terms."""
    from pypdf.generic import (
        ArrayObject,
        DictionaryObject,
        FloatObject,
        NumberObject,
        TextStringObject,
    )

    page = writer.pages[0]
    w, h = float(page.mediabox.width), float(page.mediabox.height)
    ap = _form_xobject(writer, _fake_terms_drawing(w, h), w, h)
    widget = DictionaryObject({
        _n("/Type"): _n("/Annot"), _n("/Subtype"): _n("/Widget"), _n("/FT"): _n("/Sig"),
        _n("/T"): TextStringObject(name), _n("/F"): NumberObject(4),
        _n("/Rect"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(w),
                                  FloatObject(h)]),
        _n("/P"): page.indirect_reference,
        _n("/AP"): DictionaryObject({_n("/N"): ap}),
    })
    ref = writer._add_object(widget)
    annots = page.get("/Annots")
    if annots is None:
        page[_n("/Annots")] = ArrayObject([ref])
    else:
        annots.get_object().append(ref)
    root = writer._root_object
    if "/AcroForm" not in root:
        root[_n("/AcroForm")] = DictionaryObject({_n("/Fields"): ArrayObject()})
    root["/AcroForm"].get_object()["/Fields"].append(ref)


def _tmp_pdf(text: str) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject

    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    stream = DecodedStreamObject()
    stream.set_data(f"BT /Helv 20 Tf 40 700 Td ({text}) Tj ET".encode())
    page[_n("/Contents")] = writer._add_object(stream)
    page[_n("/Resources")] = DictionaryObject(
        {_n("/Font"): DictionaryObject({_n("/Helv"): _helv()})})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


class _Hung(BaseException):  # BaseException: formsig's `except Exception` must not eat it
    pass


def _outcome(data: bytes, issued: AuthorizationForm, guard_s: int = 120) -> str | None:
    """The check's refusal code for `data` (None: accepted); a check that runs past
    `guard_s` (a hang, not a timing) fails the test."""
    def on_alarm(*_a: Any) -> None:
        raise _Hung

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(guard_s)
    try:
        formsig.check(data, issued_size=issued.size, issued_sha256=issued.sha256)
    except formsig.FormRefused as exc:
        return exc.code
    except _Hung:
        pytest.fail(f"the check ran for more than {guard_s} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return None


def _issued(firm: Any) -> tuple[Any, bytes, AuthorizationForm]:
    terms, form = _issue(firm)
    return terms, form, AuthorizationForm.objects.get()


# ---------------------------------------------- visible content differs from the terms

def test_unsigned_signature_widget_drawn_over_the_terms_before_signing_is_refused(firm):
    """Staff add an empty signature field whose appearance shows other terms (a month,
    public only); the client signs what it sees; Baomi records the issued terms."""
    terms, form = _issue(firm)
    shown_other = _incremental(form, _add_empty_sig_widget)
    signed = sign_pdf(shown_other, identity("恒信贸易有限公司"))
    _refused_as(firm, terms, signed, "form_tampered")


def test_unsigned_signature_widget_drawn_over_the_terms_after_signing_is_refused(firm):
    terms, form = _issue(firm)
    signed = _incremental(sign_pdf(form), _add_empty_sig_widget)
    _refused_as(firm, terms, signed, "form_tampered")


def test_second_visible_signature_stamped_over_the_terms_is_refused(firm):
    """A second signer (anyone, no trust list) signs with a page-sized appearance."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.stamp import TextStampStyle

    terms, form = _issue(firm)
    client_signed = sign_pdf(form, identity("恒信贸易有限公司"))
    w = IncrementalPdfFileWriter(io.BytesIO(client_signed))
    fields.append_signature_field(w, fields.SigFieldSpec(
        "Stamp", on_page=0, box=(0, 0, 595, 842)))
    out = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Stamp"), signer=pdf_signer(identity("随便谁")),
        stamp_style=TextStampStyle(stamp_text="VALID TO 2025-01-31 ONLY\nLEVELS: PUBLIC",
                                   background=None, border_width=0),
    ).sign_pdf(w)
    _refused_as(firm, terms, out.getvalue(), "form_tampered")


def _xfa(writer: Any) -> None:
    from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject

    xfa = DecodedStreamObject()
    xfa.set_data(b"<xdp:xdp xmlns:xdp='http://ns.adobe.com/xdp/'><template>"
                 b"<subform><draw><value><text>Valid to 2025-01-31</text></value></draw>"
                 b"</subform></template></xdp:xdp>")
    writer._root_object[_n("/AcroForm")] = DictionaryObject(
        {_n("/Fields"): ArrayObject(), _n("/XFA"): writer._add_object(xfa)})


def _open_action_js(writer: Any) -> None:
    from pypdf.generic import DictionaryObject, TextStringObject

    writer._root_object[_n("/OpenAction")] = DictionaryObject({
        _n("/S"): _n("/JavaScript"),
        _n("/JS"): TextStringObject(
            "this.addAnnot({page:0,type:'FreeText',rect:[0,0,595,842],"
            "contents:'Valid to 2025-01-31'});")})


def _portfolio(writer: Any) -> None:
    """A PDF portfolio: Acrobat shows the embedded 'cover' file, not the page."""
    from pypdf.generic import DictionaryObject, TextStringObject

    writer.add_attachment("cover.pdf", _tmp_pdf("Valid to 2025-01-31, public only"))
    writer._root_object[_n("/Collection")] = DictionaryObject(
        {_n("/D"): TextStringObject("cover.pdf"), _n("/View"): _n("/H")})


def _page_open_js(writer: Any) -> None:
    from pypdf.generic import DictionaryObject, TextStringObject

    writer.pages[0][_n("/AA")] = DictionaryObject({_n("/O"): DictionaryObject({
        _n("/S"): _n("/JavaScript"), _n("/JS"): TextStringObject("app.alert('1 month');")})})


def _user_unit(writer: Any) -> None:
    from pypdf.generic import FloatObject

    writer.pages[0][_n("/UserUnit")] = FloatObject(0.1)


@pytest.mark.parametrize("edit", [_xfa, _open_action_js, _portfolio, _page_open_js,
                                  _user_unit],
                         ids=["xfa", "openaction-js", "portfolio", "page-aa-js", "userunit"])
def test_document_level_display_changes_before_signing_are_refused(firm, edit):
    terms, form = _issue(firm)
    signed = sign_pdf(_incremental(form, edit), identity("恒信贸易有限公司"))
    _refused_as(firm, terms, signed, "form_tampered")


# ------------------------------------------------------ a form the client did not sign

def test_trust_list_does_not_bind_the_signer_to_the_client(firm, settings, tmp_path):
    """With BAOMI_FORM_TRUST_ROOTS set, any certificate under the root signs for any
    client: here the firm's own (or another client's) certificate from the same CA."""
    ca = identity("示例电子认证中心", ca=True)
    roots = tmp_path / "roots.pem"
    roots.write_bytes(ca.pem())
    settings.BAOMI_FORM_TRUST_ROOTS = [str(roots)]
    terms, form = _issue(firm)
    not_the_client = identity("宝密会计师事务所（本所）", issuer=ca)
    signed = sign_pdf(form, not_the_client, chain=(ca,))
    _refused_as(firm, terms, signed, "form_signer_not_client")


# -------------------------------------------------------------- ideas expected refused

def test_redefined_font_after_signing_is_refused(firm):
    from pypdf.generic import DictionaryObject

    terms, form = _issue(firm)

    def change(writer: Any) -> None:
        fonts = writer.pages[0]["/Resources"]["/Font"]
        for k in list(fonts):
            fonts[_n(k)] = _helv()
            break
        assert isinstance(fonts, DictionaryObject)

    _refused_as(firm, terms, _incremental(sign_pdf(form), change), "form_signature_invalid")


def test_new_root_with_different_page_after_signing_is_refused(firm):
    terms, form = _issue(firm)
    other = _tmp_pdf("Valid to 2025-01-31")

    def change(writer: Any) -> None:
        from pypdf import PdfReader

        page = writer.pages[0]
        src = PdfReader(io.BytesIO(other)).pages[0]
        page[_n("/Contents")] = writer._add_object(src["/Contents"].get_object())

    _refused_as(firm, terms, _incremental(sign_pdf(form), change), "form_signature_invalid")


def test_signature_byte_range_not_covering_its_revision_is_refused(firm):
    """Sign, then shrink the ByteRange claimed (the value is inside the signed dict, so
    the check must fail either way)."""
    import re

    terms, form = _issue(firm)
    signed = sign_pdf(form)
    m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", signed)
    assert m
    a, b, c, d = (int(x) for x in m.groups())
    old = m.group(0)
    new = f"/ByteRange [{a} {b} {c} {d - 10}]".encode()
    new = new + b" " * (len(old) - len(new))
    _refused_as(firm, terms, signed.replace(old, new), "form_signature_invalid")


def test_garbage_after_final_eof(firm):
    terms, form = _issue(firm)
    signed = sign_pdf(form) + b"\n" + b"A" * 5000 + b"\n"
    _refused_as(firm, terms, signed, "form_tampered")


def test_revision_without_eof_marker_is_seen_by_the_check(firm):
    """An appended revision with `startxref` but no `%%EOF` (many viewers still use it):
    the check must analyse the same last revision a viewer shows."""
    terms, form = _issue(firm)
    signed = sign_pdf(form)
    changed = _incremental(signed, _add_empty_sig_widget)
    tail = changed[len(signed):]
    assert tail.rstrip().endswith(b"%%EOF")
    no_eof = signed + tail.rstrip()[: -len(b"%%EOF")]

    _refused_as(firm, terms, no_eof, "form_tampered")


def test_second_signature_by_other_cert_is_accepted_and_first_recorded(firm):
    terms, form = _issue(firm)
    client, other = identity("恒信"), identity("别人")
    auth = _grant(firm, terms, sign_pdf(sign_pdf(form, client, field="A"), other, field="B"))
    assert auth.form_signer_sha256 == client.sha256


def test_not_yet_valid_certificate_is_refused(firm):
    from datetime import timedelta

    from django.utils import timezone

    terms, form = _issue(firm)
    future = identity(not_before=timezone.now() + timedelta(days=10))
    _refused_as(firm, terms, sign_pdf(form, future), "form_signature_invalid")


def test_trust_roots_leaf_without_embedded_chain_is_refused(firm, settings, tmp_path):
    ca = identity("CA", ca=True)
    inter = identity("Intermediate", issuer=ca, ca=True)
    leaf = identity("恒信", issuer=inter)
    roots = tmp_path / "roots.pem"
    roots.write_bytes(ca.pem())
    settings.BAOMI_FORM_TRUST_ROOTS = [str(roots)]
    terms, form = _issue(firm)
    _refused_as(firm, terms, sign_pdf(form, leaf), "form_signer_untrusted")


def test_ca_certificate_itself_as_signer_with_trust_roots(firm, settings, tmp_path):
    """The root's own key signing (who holds a root key? only the CA) - informational."""
    ca = identity("CA", ca=True)
    roots = tmp_path / "roots.pem"
    roots.write_bytes(ca.pem())
    settings.BAOMI_FORM_TRUST_ROOTS = [str(roots)]
    terms, form = _issue(firm)
    # Only the CA holds its key; its own certificate names no client.
    _refused_as(firm, terms, sign_pdf(form, ca), "form_signer_not_client")


def test_missing_or_corrupt_trust_roots_file_is_a_clean_refusal_not_500(firm, settings,
                                                                        tmp_path):
    terms, form = _issue(firm)
    corrupt = tmp_path / "roots.pem"
    corrupt.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    for path in ("/nonexistent/roots.pem", str(corrupt)):
        settings.BAOMI_FORM_TRUST_ROOTS = [path]
        _refused_as(firm, terms, sign_pdf(form), "form_check_unavailable")


# --------------------------------------------------------------------------- DoS

def _dag_resources(depth: int) -> Any:
    """A resource entry whose object k refers to object k+1 twice: 2**depth paths."""
    def change(writer: Any) -> None:
        from pypdf.generic import ArrayObject, DictionaryObject

        ref = writer._add_object(ArrayObject())
        for _ in range(depth):
            ref = writer._add_object(ArrayObject([ref, ref]))
        res = writer.pages[0]["/Resources"]
        res[_n("/ExtGState")] = DictionaryObject({_n("/GSbomb"): ref})

    return change


def test_shared_objects_are_hashed_once(firm):
    """A chain where each object refers to the next twice has 2**depth paths: each
    object is hashed once, so the check visits about 3 entries per object."""
    from pypdf import PdfReader

    _terms, form, issued = _issued(firm)
    data = _incremental(form, _dag_resources(60))
    shown = formsig._Shown(PdfReader(io.BytesIO(data)))
    shown.digest()
    assert shown.count < 2_000
    # Laid in before signing, it is a change to what the page uses: refused, promptly.
    assert _outcome(sign_pdf(data), issued) == "form_tampered"


def test_too_many_objects_are_refused(firm):
    from pypdf.generic import ArrayObject

    _terms, form, issued = _issued(firm)

    def wide(writer: Any) -> None:
        from pypdf.generic import DictionaryObject

        refs = ArrayObject(writer._add_object(ArrayObject()) for _ in range(60_000))
        writer.pages[0]["/Resources"][_n("/ExtGState")] = DictionaryObject(
            {_n("/Wide"): writer._add_object(refs)})

    assert _outcome(sign_pdf(_incremental(form, wide)), issued) == "form_tampered"


def test_many_revisions_or_signatures_are_refused_before_costly_checks(firm):
    from pypdf.generic import TextStringObject

    _terms, form, issued = _issued(firm)
    data = sign_pdf(form)
    for i in range(formsig.MAX_REVISIONS):
        data = _incremental(data, lambda w, i=i: w.add_metadata(
            {"/Producer": TextStringObject(f"r{i}")}))
    assert _outcome(data, issued) == "form_tampered"
    who, data = identity(), form
    for i in range(formsig.MAX_SIGNATURES + 1):
        data = sign_pdf(data, who, field=f"S{i}")
    assert _outcome(data, issued) == "form_tampered"
    # Up to the limit, several signatures are fine.
    data = form
    for i in range(formsig.MAX_SIGNATURES):
        data = sign_pdf(data, who, field=f"S{i}")
    assert _outcome(data, issued) is None


def test_deeply_nested_array_is_a_clean_refusal(firm):
    """200,000 nested arrays in a new /Info (read by pypdf and pyHanko): refused, no crash."""
    from pypdf import PdfReader

    terms, form = _issue(firm)
    signed = sign_pdf(form)
    r = PdfReader(io.BytesIO(signed))
    size, off = int(r.trailer["/Size"]), len(signed)
    startxref = int(signed.rstrip().rsplit(b"startxref", 1)[1].split()[0])
    body = f"{size} 0 obj\n".encode() + b"[" * 200000 + b"]" * 200000 + b"\nendobj\n"
    info = f"{size + 1} 0 obj\n<< /Deep {size} 0 R >>\nendobj\n".encode()
    xref = (f"xref\n{size} 2\n{off:010d} 00000 n \n{off + len(body):010d} 00000 n \n"
            f"trailer\n<< /Size {size + 2} /Root {r.trailer.raw_get('/Root').idnum} 0 R "
            f"/Info {size + 1} 0 R /Prev {startxref} >>\nstartxref\n"
            f"{off + len(body) + len(info)}\n%%EOF\n")
    _refused_as(firm, terms, signed + body + info + xref.encode(), "form_tampered")


def test_prev_loop_in_xref_is_a_clean_refusal(firm):
    terms, form = _issue(firm)
    signed = sign_pdf(form)
    # Point the final trailer's /Prev at itself.
    startxref = int(signed.rstrip().rsplit(b"startxref", 1)[1].split()[0])
    import re

    tail = signed[startxref:]
    m = re.search(rb"/Prev\s+(\d+)", tail)
    if not m:
        pytest.skip("signature revision uses no /Prev")
    old = m.group(0)
    new = f"/Prev {startxref}".encode()
    new = new.ljust(len(old))
    if len(new) != len(old):
        pytest.skip("cannot patch in place")
    data = signed[:startxref] + tail.replace(old, new, 1)
    _refused_as(firm, terms, data, "form_tampered")


def test_flate_bomb_in_resources_is_refused(firm):
    import zlib

    _terms, form, issued = _issued(firm)
    bomb = zlib.compress(b"\0" * 70_000_000, 9)

    def change(writer: Any) -> None:
        from pypdf.generic import DictionaryObject, StreamObject

        s = StreamObject()
        s._data = bomb
        s[_n("/Filter")] = _n("/FlateDecode")
        ref = writer._add_object(s)
        writer.pages[0]["/Resources"][_n("/ExtGState")] = DictionaryObject(
            {_n("/B"): ref})

    assert _outcome(sign_pdf(_incremental(form, change)), issued) == "form_tampered"
