"""Suggested classification at upload (web and API), confirm/override, review queue."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.utils import timezone

from baomi.accounts import services as account_services
from baomi.audit.models import LedgerEntry
from baomi.classification import services
from baomi.classification.models import DocumentLabel, ReviewItem, ReviewReason
from baomi.errors import AccessDenied
from baomi.vault import services as vault_services
from baomi.vault.models import Document
from baomi.vault.tests.conftest import sealed_upload
from conftest import verified_client

pytestmark = pytest.mark.django_db

ID = "11010519491231002X"
CARD = "6222021234567890128"
PAYROLL = f"工资表\n姓名 张三 身份证号 {ID} 工资卡号 {CARD}\n".encode()


def _file(data: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


def _upload(
    firm: dict[str, Any], data: bytes, level: str = "internal", name: str = "a.txt"
) -> Document:
    upload = sealed_upload(actor=firm["acct"], client=firm["client"], data=data, filename=name)
    document = vault_services.document_upload(
        actor=firm["acct"],
        client=firm["client"],
        upload=upload,
        title=name,
        level=level,
        category="other",
    )
    services.upload_suggest(actor=firm["acct"], document=document, upload=upload)
    return document


def test_api_upload_returns_the_suggestion_without_values(firm):
    token = account_services.token_create(user=firm["acct"]).plaintext
    from django.test import Client as HttpClient

    c = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")
    r = c.post(
        f"/api/v1/clients/{firm['client'].pk}/documents",
        {"file": _file(PAYROLL, "工资表.txt"), "level": "internal", "category": "other"},
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["suggested_level"] == "secret"
    assert body["suggested_category"] == "personal"
    assert body["findings_summary"] == {"cn_resident_id": 1, "bank_card": 1}
    assert ID not in r.content.decode() and CARD not in r.content.decode()
    scan = LedgerEntry.objects.filter(action="document.scan").last()
    assert scan is not None and "suggested=secret/personal" in scan.reason
    assert ID not in scan.reason


def test_web_upload_leads_to_confirmation_and_an_override_is_recorded(firm):
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    from django.urls import reverse

    url = reverse("vault:upload", args=[firm["client"].pk])
    r = c.post(
        url, {"file": _file(PAYROLL, "工资表.txt"), "level": "internal", "category": "other"}
    )
    assert r.status_code == 302, r.content
    doc = Document.objects.get(title="工资表.txt")
    assert r["Location"] == reverse("classification:confirm", args=[doc.pk])
    page = c.get(r["Location"])
    text = page.content.decode()
    assert page.status_code == 200
    assert "cn_resident_id" in text and ID not in text and CARD not in text
    # The person keeps 机密 instead of the suggested 绝密: an override.
    r = c.post(r["Location"], {"level": "confidential", "category": "personal"})
    assert r.status_code == 302
    doc.refresh_from_db()
    assert (doc.level, doc.category) == ("confidential", "personal")
    label = DocumentLabel.objects.get(document=doc)
    assert label.overridden and label.source == "overridden"
    entry = LedgerEntry.objects.filter(action="document.classify").last()
    assert entry is not None
    assert "suggested=secret/personal" in entry.reason
    assert "chosen=confidential/personal" in entry.reason and "override" in entry.reason


def test_confirming_the_suggestion_is_not_an_override(firm):
    doc = _upload(firm, PAYROLL)
    # 绝密 is labelled by a manager cleared for it (the matrix gives accountants no
    # document.classify at that level).
    manager = firm["manager"]
    manager.clearance = "secret"
    manager.save(update_fields=["clearance"])
    label = services.document_classify(
        actor=manager, document=doc, level="secret", category="personal"
    )
    assert not label.overridden and label.source == "suggested"
    assert "confirm" in LedgerEntry.objects.filter(action="document.classify").last().reason


def test_someone_without_edit_rights_cannot_relabel(firm):
    doc = _upload(firm, PAYROLL)
    with pytest.raises(AccessDenied):
        services.document_classify(
            actor=firm["other"], document=doc, level="public", category="other"
        )
    assert LedgerEntry.objects.filter(action="document.classify", decision="refused").exists()


@pytest.mark.parametrize(
    ("data", "name", "code"),
    [
        (b"\x00\x01\x02junk" * 100, "junk.bin", "binary_file"),
        (b"PK\x03\x04not really a zip", "broken.xlsx", "malformed_xlsx"),
        (b"%PDF-1.7\nbroken", "broken.pdf", "malformed_pdf"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptionInfo".encode("utf-16-le"),
            "locked.docx",
            "encrypted_document",
        ),
    ],
)
def test_bad_files_are_stored_with_a_clear_scan_error(firm, data, name, code):
    doc = _upload(firm, data, name=name)
    label = DocumentLabel.objects.get(document=doc)
    assert label.scan_error.startswith(code), label.scan_error
    assert label.suggested_level == ""
    assert Document.objects.filter(pk=doc.pk).exists()  # the document itself is kept


def test_a_large_single_line_file_is_scanned_from_the_tap(firm, settings):
    line = ("合同编号ABC " * 200_000 + f" 身份证 {ID} ").encode()  # ~2.6 MB, one line
    doc = _upload(firm, line)
    label = DocumentLabel.objects.get(document=doc)
    assert label.findings_summary == {"cn_resident_id": 1}


def test_over_the_scan_limit_a_text_file_is_scanned_streaming(firm, settings):
    # Text past the in-memory limit is scanned piece by piece (test_scan_streaming.py);
    # formats whose readers need the whole file stay unscanned (too_large) there.
    settings.BAOMI_SCAN_MAX_BYTES = 1000
    doc = _upload(firm, PAYROLL * 100)
    label = DocumentLabel.objects.get(document=doc)
    assert label.scan_error == ""
    assert label.findings_summary == {"cn_resident_id": 100, "bank_card": 100}
    assert label.suggested_level == "secret"


def test_review_queue_fills_idempotently_and_compliance_resolves(firm):
    under = _upload(firm, PAYROLL, level="internal")  # findings call for 绝密
    old = _upload(firm, b"meeting notes", level="internal")
    services.document_classify(
        actor=firm["acct"],
        document=old,
        level="internal",
        category="other",
        now=timezone.now() - dt.timedelta(days=400),
    )
    fresh = _upload(firm, b"nothing here", level="internal")
    services.document_classify(
        actor=firm["acct"], document=fresh, level="internal", category="other"
    )
    assert services.review_fill() == 2
    assert services.review_fill() == 0  # a second run queues nothing new
    items = {i.document_id: i for i in ReviewItem.objects.all()}
    assert items[under.pk].reason == ReviewReason.DISAGREES
    assert items[old.pk].reason == ReviewReason.AGE
    assert fresh.pk not in items
    with pytest.raises(AccessDenied):
        services.review_resolve(
            actor=firm["acct"], item=items[under.pk], level="secret", category="personal"
        )
    # Relabelling is decided like any other (at 绝密 here: the clearance for it).
    firm["compliance"].clearance = "secret"
    firm["compliance"].save(update_fields=["clearance"])
    done = services.review_resolve(
        actor=firm["compliance"], item=items[under.pk], level="secret", category="personal"
    )
    assert done.status == "relabelled"
    under.refresh_from_db()
    assert under.level == "secret"
    kept = services.review_resolve(
        actor=firm["compliance"], item=items[old.pk], level="internal", category="other"
    )
    assert kept.status == "confirmed"
    reasons = [e.reason for e in LedgerEntry.objects.filter(action="document.classify")]
    assert any("review=" in r and "relabelled" in r for r in reasons)


def test_review_pages_and_api(firm):
    doc = _upload(firm, PAYROLL, level="internal")
    services.review_fill()
    c = verified_client(firm["compliance"], HTTP_ACCEPT_LANGUAGE="en")
    page = c.get("/classification/review/")
    assert page.status_code == 200 and doc.title in page.content.decode()
    item = ReviewItem.objects.get(document=doc)
    # Compliance confirms the label (relabelling is the matrix's `document.classify`).
    r = c.post(f"/classification/review/{item.pk}/", {"level": "internal", "category": "other"})
    assert r.status_code == 302
    assert verified_client(firm["acct"]).get("/classification/review/").status_code == 403
    token = account_services.token_create(user=firm["compliance"]).plaintext
    from django.test import Client as HttpClient

    api = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/classification/review").json() == []
