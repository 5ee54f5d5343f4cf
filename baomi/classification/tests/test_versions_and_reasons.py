"""A new version is scanned and compared with the label (review queue when the findings
call for more); suggestion reasons are shown in the reader's language with stable codes."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import translation

from baomi.accounts import services as account_services
from baomi.audit.models import LedgerEntry
from baomi.classification import services
from baomi.classification.models import DocumentLabel, ReviewItem, ReviewReason, ReviewStatus
from baomi.vault import services as vault_services
from baomi.vault.models import Document
from baomi.vault.tests.conftest import sealed_upload
from conftest import verified_client

pytestmark = pytest.mark.django_db

ID = "11010519491231002X"
CARD = "6222021234567890128"
PAYROLL = f"工资表\n姓名 张三 身份证号 {ID} 工资卡号 {CARD}\n".encode()
NOTES = "会议纪要：下季度工作安排。\n".encode()


def _file(data: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


def _document(firm: dict[str, Any], data: bytes, level: str = "internal") -> Document:
    upload = sealed_upload(actor=firm["acct"], client=firm["client"], data=data, filename="a.txt")
    document = vault_services.document_upload(
        actor=firm["acct"],
        client=firm["client"],
        upload=upload,
        title="纪要.txt",
        level=level,
        category="other",
    )
    services.upload_suggest(actor=firm["acct"], document=document, upload=upload)
    return document


def _api(user: Any, language: str = "en") -> HttpClient:
    token = account_services.token_create(user=user).plaintext
    return HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE=language)


def test_a_new_version_with_more_sensitive_content_is_queued_for_review(firm):
    doc = _document(firm, NOTES)
    assert DocumentLabel.objects.get(document=doc).suggested_level == "internal"
    api = _api(firm["acct"])
    r = api.post(f"/api/v1/documents/{doc.pk}/versions", {"file": _file(PAYROLL, "v2.txt")})
    assert r.status_code == 201, r.content
    doc.refresh_from_db()
    assert doc.level == "internal"  # uploading a version does not relabel the document
    label = DocumentLabel.objects.get(document=doc)
    assert label.version_id == doc.current_version_id and doc.current_version.number == 2
    assert (label.suggested_level, label.suggested_category) == ("secret", "personal")
    assert label.findings_summary == {"cn_resident_id": 1, "bank_card": 1}
    item = ReviewItem.objects.get(document=doc, status=ReviewStatus.OPEN)
    assert item.reason == ReviewReason.DISAGREES
    assert "suggested=secret/personal" in item.detail and "label=internal/other" in item.detail
    entry = LedgerEntry.objects.filter(action="classification.review.queue").last()
    assert entry is not None and f"review={item.pk}" in entry.reason
    assert ID not in entry.reason and CARD not in entry.reason
    scan = LedgerEntry.objects.filter(action="document.scan").last()
    assert scan is not None and "suggested=secret/personal" in scan.reason
    # A third version with the same content: still one open review.
    r = api.post(f"/api/v1/documents/{doc.pk}/versions", {"file": _file(PAYROLL, "v3.txt")})
    assert r.status_code == 201
    assert ReviewItem.objects.filter(document=doc, status=ReviewStatus.OPEN).count() == 1
    # The compliance officer sees it in the queue with its reason.
    page = verified_client(firm["compliance"], HTTP_ACCEPT_LANGUAGE="en").get(
        reverse("classification:review")
    )
    assert "Findings disagree with the label" in page.content.decode()


def test_a_new_version_through_the_web_page_is_scanned_too(firm):
    doc = _document(firm, NOTES)
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    r = c.post(reverse("vault:version_upload", args=[doc.pk]), {"file": _file(PAYROLL, "v2.txt")})
    assert r.status_code == 302, r.content
    assert ReviewItem.objects.filter(document=doc, reason=ReviewReason.DISAGREES).exists()
    # The document page says the new content calls for more than its label.
    page = c.get(r["Location"]).content.decode()
    assert 'id="scan-notice"' in page and "Top secret" in page
    assert reverse("classification:confirm", args=[doc.pk]) in page


def test_a_new_version_within_the_label_is_not_queued(firm):
    doc = _document(firm, PAYROLL, level="confidential")
    # 机密 needs a two-factor session: the web page with a verified sign-in.
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    r = c.post(reverse("vault:version_upload", args=[doc.pk]), {"file": _file(NOTES, "v2.txt")})
    assert r.status_code == 302, r.content
    label = DocumentLabel.objects.get(document=doc)
    assert label.suggested_level == "internal" and label.findings_summary == {}
    assert not ReviewItem.objects.filter(document=doc).exists()
    assert not LedgerEntry.objects.filter(action="classification.review.queue").exists()
    assert 'id="scan-notice"' not in c.get(r["Location"]).content.decode()


def test_an_unreadable_new_version_is_recorded_and_not_queued(firm):
    doc = _document(firm, NOTES)
    r = _api(firm["acct"]).post(
        f"/api/v1/documents/{doc.pk}/versions", {"file": _file(b"PK\x03\x04broken", "v2.xlsx")}
    )
    assert r.status_code == 201
    label = DocumentLabel.objects.get(document=doc)
    assert label.scan_error.startswith("malformed_xlsx") and label.suggested_level == ""
    assert not ReviewItem.objects.filter(document=doc).exists()


def test_reasons_have_stable_codes_and_follow_the_language(firm):
    doc = _document(firm, "股权转让协议\n".encode() + PAYROLL)
    url = f"/api/v1/documents/{doc.pk}/classification"
    en = _api(firm["acct"], "en").get(url).json()
    zh = _api(firm["acct"], "zh-hans").get(url).json()
    codes = ["found", "bulk_personal", "keywords"]
    assert [d["reason_code"] for d in en["reason_details"]] == codes
    assert [d["reason_code"] for d in zh["reason_details"]] == codes
    assert en["reason_details"][0]["params"] == {"counts": {"bank_card": 1, "cn_resident_id": 1}}
    assert en["reasons"] == [d["reason"] for d in en["reason_details"]]
    # Level and category names come from the catalogue of each language.
    assert "Top secret" in en["reasons"][1] and "绝密" in zh["reasons"][1]
    assert "Trade secret" in en["reasons"][2] and "股权转让" in en["reasons"][2]
    assert "绝密" not in en["reasons"][1]
    with translation.override("zh-hans"):
        from baomi.classification.reasons import reason_text

        expected = [reason_text(d["reason_code"], d["params"]) for d in en["reason_details"]]
    assert zh["reasons"] == expected
    body = str(en) + str(zh)
    assert ID not in body and CARD not in body


def test_the_confirmation_page_shows_localized_reasons(firm):
    doc = _document(firm, PAYROLL)
    url = reverse("classification:confirm", args=[doc.pk])
    en = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en").get(url).content.decode()
    assert 'data-reason-code="bulk_personal"' in en
    assert "identity fraud" in en and "resident ID numbers" in en
    zh = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="zh-hans").get(url).content.decode()
    assert 'data-reason-code="bulk_personal"' in zh and "绝密" in zh
    assert ID not in en + zh


def test_suggestions_stored_before_reason_codes_are_shown_as_written(firm):
    doc = _document(firm, PAYROLL)
    DocumentLabel.objects.filter(document=doc).update(
        reason_codes=[], reasons=["old English reason"]
    )
    body = _api(firm["acct"]).get(f"/api/v1/documents/{doc.pk}/classification").json()
    assert body["reasons"] == ["old English reason"]
    assert body["reason_details"] == [
        {"reason_code": "text", "reason": "old English reason", "params": {}}
    ]
