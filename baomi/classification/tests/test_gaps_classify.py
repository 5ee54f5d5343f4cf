"""Gap fixes: (3) a relabel from the classification review queue is the access matrix's
``document.classify`` for everyone, the compliance officer included, decided through the
vault door at the higher of the old and the new level, refused with the reason and
recorded; (4) the confirmation page, the review queue and the API offer only the levels
the matrix lets the person set for that document, and a forged choice is still refused."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client as HttpClient

from baomi.accounts import services as account_services
from baomi.accounts.models import Level, Role
from baomi.audit.models import LedgerEntry
from baomi.classification import services
from baomi.classification.models import ReviewItem, ReviewReason
from baomi.classification.tests.test_review_fixes import people
from baomi.clients.models import Assignment
from baomi.errors import AccessDenied
from baomi.vault import services as vault_services
from baomi.vault.models import Document
from baomi.vault.tests.conftest import sealed_upload
from conftest import verified_client

pytestmark = pytest.mark.django_db
__all__ = ["people"]  # the fixture, shared with test_review_fixes

ID = "11010519491231002X"
CARD = "6222021234567890128"
PAYROLL = f"工资表\n姓名 张三 身份证号 {ID} 工资卡号 {CARD}\n".encode()
ALL = ["public", "internal", "confidential", "secret"]


def _doc(p: dict[str, Any], level: str, data: bytes = b"plain notes",
         category: str = "other") -> Document:
    up = sealed_upload(actor=p["acct"], client=p["client"], data=data)
    doc = vault_services.document_upload(actor=p["acct"], client=p["client"], upload=up,
                                         title="t", level=level, category=category)
    services.upload_suggest(actor=p["acct"], document=doc, upload=up)
    return doc


def _item(doc: Document) -> ReviewItem:
    return ReviewItem.objects.create(document=doc, reason=ReviewReason.AGE, detail="",
                                     level_at_entry=doc.level, created_at=doc.created_at)


def _label(doc: Document) -> tuple[str, str]:
    doc.refresh_from_db()
    return doc.level, doc.category


def _last_classify() -> LedgerEntry:
    entry = LedgerEntry.objects.filter(action="document.classify").order_by("-seq").first()
    assert entry is not None
    return entry


def _options(html: str, name: str, index: int = 0) -> tuple[list[str], str | None]:
    """The option values of the `index`-th select named `name`, and the selected one."""
    selects = re.findall(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    body = selects[index]
    values = re.findall(r'<option value="([^"]*)"', body)
    chosen = re.search(r'<option value="([^"]*)" selected', body)
    return values, chosen.group(1) if chosen else None


# --- 3. Review-queue relabels are decided by the matrix, for compliance too ---------------


@pytest.mark.parametrize(("old", "new", "at"), [
    ("internal", "secret", "secret"),  # raising: decided at the new level
    ("secret", "public", "secret"),  # lowering: decided at the old one
])
def test_a_compliance_relabel_is_decided_at_the_higher_level_and_recorded(
    people, old, new, at, make_user
):
    doc = _doc(people, old)
    # The matrix gives compliance `document.classify` firm-wide (定密/解密), but the
    # decision's other gates still hold: clearance for the level it is decided at.
    cleared_internal = make_user("comp2", Role.COMPLIANCE, clearance=Level.INTERNAL)
    with pytest.raises(AccessDenied) as exc:
        services.review_resolve(actor=cleared_internal, item=_item(doc), level=new,
                                category="other")
    assert exc.value.message  # the reason, for the person
    assert _label(doc) == (old, "other")
    entry = _last_classify()
    assert (entry.decision, entry.actor) == ("refused", "comp2")
    assert entry.reason.endswith(f"level={at}")
    item = ReviewItem.objects.get(document=doc)
    assert item.status == "open"
    done = services.review_resolve(actor=people["compliance"], item=item, level=new,
                                   category="other")
    assert done.status == "relabelled" and _label(doc) == (new, "other")
    entry = _last_classify()
    assert (entry.decision, entry.actor) == ("allowed", "comp")


def test_a_compliance_category_change_is_a_relabel_too(people, make_user):
    doc = _doc(people, "confidential")
    cleared_internal = make_user("comp2", Role.COMPLIANCE, clearance=Level.INTERNAL)
    with pytest.raises(AccessDenied):
        services.review_resolve(actor=cleared_internal, item=_item(doc),
                                level="confidential", category="financial")
    assert _label(doc) == ("confidential", "other")
    assert _last_classify().decision == "refused"


def test_compliance_still_confirms_a_label(people):
    doc = _doc(people, "secret")
    item = _item(doc)
    done = services.review_resolve(actor=people["compliance"], item=item, level="secret",
                                   category="other")
    assert done.status == "confirmed"
    entry = _last_classify()
    assert entry.decision == "allowed" and f"review={item.pk}" in entry.reason


def test_the_review_page_and_api_decide_a_compliance_relabel(people):
    doc = _doc(people, "internal")
    item = _item(doc)
    # Over the API a bearer token is no second factor: 机密 is not theirs to set with it.
    token = account_services.token_create(user=people["compliance"]).plaintext
    api = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")
    r = api.post(f"/api/v1/classification/review/{item.pk}",
                 json.dumps({"level": "confidential", "category": "other"}),
                 content_type="application/json")
    assert r.status_code == 403, r.content
    body = r.json()
    assert (body["code"], body["detail"]["rule"]) == ("access_denied", "mfa_required")
    assert body["message"]
    assert _last_classify().reason.endswith("level=confidential")
    assert _label(doc) == ("internal", "other")
    # In a session verified with the second factor the same relabel is allowed.
    web = verified_client(people["compliance"], HTTP_ACCEPT_LANGUAGE="en")
    r = web.post(f"/classification/review/{item.pk}/",
                 {"level": "confidential", "category": "other"})
    assert r.status_code == 302
    assert _label(doc) == ("confidential", "other")
    assert _last_classify().decision == "allowed"


def test_a_reviewer_the_matrix_allows_relabels_from_the_queue(people):
    admin = people["admin"]
    doc = _doc(people, "confidential")
    item = _item(doc)
    # Unassigned: an administrator reaches 机密 only of assigned clients, so lowering it
    # to 公开 is decided at 机密 and refused.
    with pytest.raises(AccessDenied) as exc:
        services.review_resolve(actor=admin, item=item, level="public", category="other")
    assert exc.value.detail["rule"] == "not_assigned"
    assert _last_classify().reason == "not_assigned level=confidential"
    Assignment.objects.create(client=people["client"], user=admin)
    done = services.review_resolve(actor=admin, item=item, level="public", category="other")
    assert done.status == "relabelled"
    assert _label(doc) == ("public", "other")


# --- 4. Only the levels the matrix lets the person set are offered ------------------------


def test_the_confirmation_page_offers_only_settable_levels(people):
    doc = _doc(people, "internal")
    # The assigned accountant: up to 机密 (the matrix never lets an accountant label 绝密).
    page = verified_client(people["acct"], HTTP_ACCEPT_LANGUAGE="en").get(
        f"/classification/documents/{doc.pk}/").content.decode()
    assert _options(page, "level")[0] == ["public", "internal", "confidential"]
    # An unassigned administrator: 公开 and 内部 only (机密 and up need the assignment).
    admin = verified_client(people["admin"], HTTP_ACCEPT_LANGUAGE="en")
    page = admin.get(f"/classification/documents/{doc.pk}/").content.decode()
    assert _options(page, "level")[0] == ["public", "internal"]
    Assignment.objects.create(client=people["client"], user=people["admin"])
    page = admin.get(f"/classification/documents/{doc.pk}/").content.decode()
    assert _options(page, "level")[0] == ALL
    # Nothing in the page records a decision.
    assert not LedgerEntry.objects.filter(action="document.classify").exists()


def test_a_document_the_person_may_not_relabel_offers_no_form(people):
    doc = _doc(people, "confidential")
    page = verified_client(people["admin"], HTTP_ACCEPT_LANGUAGE="en").get(
        f"/classification/documents/{doc.pk}/").content.decode()
    assert 'id="classify-not-allowed"' in page
    assert 'name="level"' not in page


def test_a_suggestion_the_person_may_not_set_is_not_preselected(people):
    doc = _doc(people, "internal", PAYROLL)
    assert services.label_get(document=doc).suggested_level == "secret"
    page = verified_client(people["acct"], HTTP_ACCEPT_LANGUAGE="en").get(
        f"/classification/documents/{doc.pk}/").content.decode()
    values, chosen = _options(page, "level")
    assert "secret" not in values and chosen == "internal"
    assert 'id="suggestion-not-settable"' in page


def test_a_forged_level_is_still_refused_and_recorded(people):
    doc = _doc(people, "internal")
    c = verified_client(people["acct"], HTTP_ACCEPT_LANGUAGE="en")
    r = c.post(f"/classification/documents/{doc.pk}/", {"level": "secret", "category": "other"})
    assert r.status_code == 403
    assert _label(doc) == ("internal", "other")
    entry = _last_classify()
    assert (entry.decision, entry.reason) == ("refused", "role_not_permitted level=secret")


def test_the_api_says_which_levels_may_be_set(people):
    doc = _doc(people, "internal")
    token = account_services.token_create(user=people["acct"]).plaintext
    api = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    r = api.get(f"/api/v1/documents/{doc.pk}/classification")
    assert r.status_code == 200
    # A bearer token is no second factor: 机密 is not theirs to set through it.
    assert r.json()["settable_levels"] == ["public", "internal"]
    r = api.post(f"/api/v1/documents/{doc.pk}/classification",
                 json.dumps({"level": "confidential", "category": "other"}),
                 content_type="application/json")
    assert r.status_code == 403 and r.json()["detail"]["rule"] == "mfa_required"
    web = verified_client(people["acct"])
    r = web.get(f"/api/v1/documents/{doc.pk}/classification")
    assert r.json()["settable_levels"] == ["public", "internal", "confidential"]
    r = web.post(f"/api/v1/documents/{doc.pk}/classification",
                 json.dumps({"level": "confidential", "category": "other"}),
                 content_type="application/json")
    assert r.status_code == 200 and r.json()["level"] == "confidential"
    assert r.json()["settable_levels"] == ["public", "internal", "confidential"]
    schema = HttpClient().get("/api/v1/openapi.json").json()
    assert "settable_levels" in schema["components"]["schemas"]["ClassificationOut"][
        "properties"]


def test_the_review_queue_offers_each_reviewer_what_they_may_choose(people):
    doc = _doc(people, "internal")
    _item(doc)
    admin = people["admin"]
    doc.level = "confidential"
    doc.save(update_fields=["level"])
    page = verified_client(admin, HTTP_ACCEPT_LANGUAGE="en").get(
        "/classification/review/").content.decode()
    # An unassigned administrator may not relabel 机密: they may confirm it only.
    assert _options(page, "level") == (["confidential"], "confidential")
    assert _options(page, "category") == (["other"], "other")
    assert "data-confirm-only" in page
    page = verified_client(people["compliance"], HTTP_ACCEPT_LANGUAGE="en").get(
        "/classification/review/").content.decode()
    assert _options(page, "level") == (ALL, "confidential")
    assert "data-confirm-only" not in page
    doc.level = "internal"
    doc.save(update_fields=["level"])
    Assignment.objects.create(client=people["client"], user=admin)
    page = verified_client(admin, HTTP_ACCEPT_LANGUAGE="en").get(
        "/classification/review/").content.decode()
    assert _options(page, "level") == (ALL, "internal")
    assert len(_options(page, "category")[0]) > 1
    assert "data-confirm-only" not in page
    choices = services.review_choices(actor=admin, items=services.review_open())
    [choice] = choices.values()
    assert choice.levels == tuple(ALL) and choice.relabel


def test_the_import_confirmation_offers_only_settable_levels_per_document(people):
    from baomi.imports import services as imports
    from baomi.imports.models import ImportedDocument

    job = imports.documents_import(
        actor=people["acct"], client=people["client"], source_name="x.zip", sha256="x",
        sources=[imports.Source(name="纪要.txt", data="会议纪要，无敏感信息。".encode()),
                 imports.Source(name="备忘.txt", data="备忘录，无敏感信息。".encode())])
    docs = {d.document.title: d.document for d in ImportedDocument.objects.filter(job=job)}
    locked, open_ = docs["纪要.txt"], docs["备忘.txt"]
    Document.objects.filter(pk=locked.pk).update(level="secret")
    page = verified_client(people["acct"], HTTP_ACCEPT_LANGUAGE="en").get(
        f"/imports/jobs/{job.pk}/documents/").content.decode()
    values, chosen = _options(page, f"level_{open_.pk}")
    assert values == ["public", "internal", "confidential"] and chosen == open_.level
    # A 绝密 document the accountant may not relabel: its label is shown, not offered.
    assert f'name="level_{locked.pk}"' not in page
    assert f'name="doc" value="{locked.pk}"' not in page
