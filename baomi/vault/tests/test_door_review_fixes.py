"""The vault door and documents: defects an adversarial review found (2026-11-25), each
held fixed: the classification review queue past the door, PDFs with bytes before their
header, an Office file too large to mark under another name."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from baomi.accounts import services as account_services
from baomi.classification import services as classification
from baomi.vault import services as vault_services
from baomi.vault.tests.conftest import sealed_upload
from conftest import verified_client

pytestmark = pytest.mark.django_db


def bearer(user: Any) -> HttpClient:
    token = account_services.token_create(user=user).plaintext
    return HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")


def _doc(firm: dict[str, Any], *, level: str, title: str, data: bytes = b"x" * 10,
         name: str = "a.txt", category: str = "personal") -> Any:
    upload = sealed_upload(actor=firm["acct"], client=firm["client"], data=data, filename=name)
    return vault_services.document_upload(
        actor=firm["acct"], client=firm["client"], upload=upload, title=title,
        level=level, category=category,
    )


def test_review_queue_hides_titles_the_door_refuses(firm):
    """The compliance officer (clearance 内部) may not see a 机密 document's metadata
    (the door refuses `document.metadata`), so the review queue does not list it."""
    secret_title = "张三身份证复印件及工资卡"
    doc = _doc(firm, level="confidential", title=secret_title)
    classification.review_fill(now=timezone.now() + dt.timedelta(days=3650))
    c = verified_client(firm["compliance"], HTTP_ACCEPT_LANGUAGE="en")
    # The door refuses the metadata to this person...
    r = c.get(f"/api/v1/documents/{doc.pk}")
    assert r.status_code in (403, 404), r.content
    # ...so no other listing may show it.
    r = c.get("/api/v1/classification/review")
    assert r.status_code == 200
    assert all(item["document_title"] != secret_title for item in r.json()), r.json()


HUGE = 2**64


@pytest.mark.parametrize("path", [
    f"/api/v1/documents/{HUGE}",
    f"/api/v1/documents/{HUGE}/content?purpose=x",
    f"/api/v1/documents/{HUGE}/classification",
    f"/api/v1/clients/{HUGE}/documents",
    f"/api/v1/clients/{HUGE}/contacts",
    f"/api/v1/clients/{HUGE}/sensitive?purpose=x",
    f"/vault/documents/{HUGE}/",
    f"/vault/documents/{HUGE}/download/?purpose=x",
    f"/vault/clients/{HUGE}/upload/",
    f"/classification/documents/{HUGE}/",
])
def test_huge_ids_get(firm, path):
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    r = c.get(path)
    assert r.status_code in (404, 422, 400), (path, r.status_code, r.content[:300])


@pytest.mark.parametrize("path", [
    f"/api/v1/clients/{HUGE}/documents",
    f"/vault/clients/{HUGE}/documents/",
    f"/vault/documents/{HUGE}/versions/",
])
def test_huge_ids_upload(firm, path):
    c = bearer(firm["acct"]) if path.startswith("/api") else verified_client(firm["acct"])
    f = io.BytesIO(b"hello")
    f.name = "a.txt"
    r = c.post(path, {"file": f, "level": "internal", "category": "other"})
    assert r.status_code in (404, 422, 400), (path, r.status_code, r.content[:300])


def test_huge_version_number(firm):
    doc = _doc(firm, level="internal", title="t")
    c = bearer(firm["acct"])
    for v in (HUGE, 2**63, 10**30):
        r = c.get(f"/api/v1/documents/{doc.pk}/content", {"purpose": "月度记账", "version": v})
        assert r.status_code in (404, 422), (v, r.status_code, r.content[:300])
    w = verified_client(firm["acct"])
    r = w.get(f"/vault/documents/{doc.pk}/download/", {"purpose": "月度记账", "version": HUGE})
    assert r.status_code == 404


def _wm_upload(firm: dict[str, Any], data: bytes, name: str) -> Any:
    up = sealed_upload(actor=firm["acct"], client=firm["client"], data=data, filename=name)
    return vault_services.document_upload(
        actor=firm["acct"], client=firm["client"], upload=up, title=name,
        level="confidential", category="financial",
    )


@pytest.mark.parametrize("lead", [b"\n", b"\xef\xbb\xbf", b" " * 1000])
def test_pdf_with_bytes_before_its_header_is_watermarked(firm, lead, tmp_path):
    """PDF readers (PDFium/Chrome, pdf.js, Acrobat) accept bytes before ``%PDF-`` within
    the first 1024, and pypdf parses such a file too: it is a PDF, and leaves only
    watermarked (F11)."""
    from pypdf import PdfReader

    from baomi.vault.tests.test_watermark import make_pdf

    pdf = lead + make_pdf()
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 2  # a PDF for every reader
    doc = _wm_upload(firm, pdf, "报表.pdf")
    dl = vault_services.document_download(actor=firm["acct"], document=doc, purpose="年度审计")
    try:
        body = dl.file.read() if dl.file is not None else b"".join(dl.chunks or [])
    finally:
        dl.close()
    assert dl.watermarked, "a PDF downloaded without a watermark"
    out = tmp_path / "out.pdf"
    out.write_bytes(body)
    from baomi.vault import watermark

    assert watermark.extract_id(out) == dl.watermark_id


def test_a_pdf_stored_before_it_was_recognised_is_watermarked(firm, tmp_path):
    """A version stored as kind "other" (sniffed before bytes ahead of the header were
    looked past) is told again from its plaintext when downloaded."""
    from baomi.vault import watermark
    from baomi.vault.models import DocumentVersion
    from baomi.vault.tests.test_watermark import make_pdf

    doc = _wm_upload(firm, b"\r\n" + make_pdf(), "旧报表.pdf")
    DocumentVersion.objects.filter(document=doc).update(kind="other")
    doc.refresh_from_db()
    dl = vault_services.document_download(actor=firm["acct"], document=doc, purpose="年度审计")
    try:
        assert dl.watermarked and dl.file is not None
        out = tmp_path / "old.pdf"
        out.write_bytes(dl.file.read())
    finally:
        dl.close()
    assert watermark.extract_id(out) == dl.watermark_id


def test_text_that_is_no_pdf_still_streams(firm):
    """A plain file is still streamed unchanged (no header within its first 1024 bytes)."""
    doc = _wm_upload(firm, b"x" * 1024 + b"%PDF-1.4 mentioned later", "note.txt")
    dl = vault_services.document_download(actor=firm["acct"], document=doc, purpose="审计")
    try:
        assert not dl.watermarked and dl.chunks is not None
        assert b"".join(dl.chunks).endswith(b"mentioned later")
    finally:
        dl.close()


def test_large_docx_without_office_extension_is_refused_too(firm, settings):
    """A .docx too large to watermark is refused, and so are the same bytes named without
    an Office extension: whether an archive is one is told by its parts. A large plain
    archive still streams."""
    from baomi.vault.errors import WatermarkTooLarge
    from baomi.vault.tests.test_watermark import make_docx

    data = make_docx()
    named = _wm_upload(firm, data, "协议.docx")
    bare = _wm_upload(firm, data, "协议")
    settings.BAOMI_WATERMARK_MAX_BYTES = 1000
    with pytest.raises(WatermarkTooLarge):
        vault_services.document_download(actor=firm["acct"], document=named, purpose="审计")
    with pytest.raises(WatermarkTooLarge):
        vault_services.document_download(actor=firm["acct"], document=bare, purpose="审计")
    buf = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("scans/a.txt", "x" * 5000)
    plain = _wm_upload(firm, buf.getvalue(), "扫描件.zip")
    dl = vault_services.document_download(actor=firm["acct"], document=plain, purpose="审计")
    dl.close()
    assert not dl.watermarked


def test_review_confirm_is_decided_by_the_door(firm):
    """A reviewer the door refuses the document cannot 'confirm' its label through the
    queue either: confirming is a classification, decided as one."""
    from baomi.classification.models import DocumentLabel, ReviewItem

    doc = _doc(firm, level="confidential", title="董事会决议")
    classification.review_fill(now=timezone.now() + dt.timedelta(days=3650))
    item = ReviewItem.objects.get(document=doc)
    c = verified_client(firm["compliance"], HTTP_ACCEPT_LANGUAGE="en")
    assert c.get(f"/api/v1/documents/{doc.pk}").status_code in (403, 404)
    r = c.post(f"/api/v1/classification/review/{item.pk}",
               {"level": "confidential", "category": "personal"}, content_type="application/json")
    assert r.status_code in (403, 404), (r.status_code, r.content)
    assert not DocumentLabel.objects.filter(document=doc, labelled_by=firm["compliance"]).exists()
