"""Review fix: relabelling a document is the access matrix's ``document.classify``,
decided through the vault door at the higher of the old and the new level, from every
way in (the API, the confirmation page, the import confirmation, the review queue)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client as HttpClient

from baomi import policy
from baomi.accounts import services as account_services
from baomi.accounts.models import Level, Role
from baomi.audit.models import LedgerEntry
from baomi.classification import services
from baomi.classification.models import ReviewItem, ReviewReason
from baomi.errors import AccessDenied
from baomi.vault import services as vault_services
from baomi.vault.models import Document
from baomi.vault.tests.conftest import sealed_upload
from conftest import verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user, make_client) -> dict[str, Any]:
    acct = make_user("acc", clearance=Level.SECRET, department="一部")
    client = make_client(acct)  # assigned to the accountant
    return {
        "acct": acct,
        "client": client,
        "admin": make_user("adm", Role.ADMIN, clearance=Level.SECRET),  # not assigned
        "manager": make_user("mgr", Role.MANAGER, clearance=Level.SECRET, department="一部"),
        "compliance": make_user("comp", Role.COMPLIANCE, clearance=Level.SECRET),
    }


def _doc(p: dict[str, Any], level: str, category: str = "trade_secret") -> Document:
    up = sealed_upload(actor=p["acct"], client=p["client"], data=b"TOP SECRET PLAN")
    return vault_services.document_upload(actor=p["acct"], client=p["client"], upload=up,
                                          title="t", level=level, category=category)


def _relabel(c: HttpClient, doc: Document, level: str, category: str = "other") -> Any:
    return c.post(f"/api/v1/documents/{doc.pk}/classification",
                  json.dumps({"level": level, "category": category}),
                  content_type="application/json")


def _unchanged(doc: Document, level: str, category: str = "trade_secret") -> None:
    doc.refresh_from_db()
    assert (doc.level, doc.category) == (level, category)


def _refusal(rule: str, level: str) -> LedgerEntry:
    entry = LedgerEntry.objects.filter(action="document.classify").order_by("-seq").first()
    assert entry is not None
    assert (entry.decision, entry.reason) == ("refused", f"{rule} level={level}")
    return entry


def test_unassigned_admin_cannot_relabel_secret_to_public_and_read_it(people):
    doc = _doc(people, "secret")
    c = verified_client(people["admin"], HTTP_ACCEPT_LANGUAGE="en")
    assert c.get(f"/api/v1/documents/{doc.pk}/content", {"purpose": "审计"}).status_code == 403
    r = _relabel(c, doc, "public")
    assert r.status_code == 403, r.content
    assert r.json()["code"] == "access_denied"
    assert r.json()["detail"]["rule"] == "not_assigned"
    assert "not assigned to you" in r.json()["message"]
    _unchanged(doc, "secret")
    _refusal("not_assigned", "secret")
    r = c.get(f"/api/v1/documents/{doc.pk}/content", {"purpose": "审计"})
    assert r.status_code == 403


def test_assigned_accountant_cannot_lower_secret_to_skip_the_query_request(people):
    assert policy.cell(policy.Role.ACCOUNTANT, policy.Action.DOCUMENT_CLASSIFY,
                       policy.Level.SECRET) is policy.Req.DENY
    doc = _doc(people, "secret")
    c = verified_client(people["acct"], HTTP_ACCEPT_LANGUAGE="en")
    assert c.get(f"/api/v1/documents/{doc.pk}/content", {"purpose": "记账"}).status_code == 403
    r = _relabel(c, doc, "internal")
    assert r.status_code == 403 and r.json()["detail"]["rule"] == "role_not_permitted"
    _unchanged(doc, "secret")
    _refusal("role_not_permitted", "secret")
    assert c.get(f"/api/v1/documents/{doc.pk}/content", {"purpose": "记账"}).status_code == 403


def test_nobody_raises_a_label_above_what_they_may_touch(people, make_user):
    doc = _doc(people, "internal")
    # An accountant may not label 绝密 (the matrix), whatever their clearance.
    with pytest.raises(AccessDenied) as exc:
        services.document_classify(actor=people["acct"], document=doc, level="secret",
                                   category="other")
    assert exc.value.detail["rule"] == "role_not_permitted"
    _refusal("role_not_permitted", "secret")
    # Decided at the new level: clearance and the second factor of 机密 apply.
    low = make_user("low", clearance=Level.INTERNAL)
    from baomi.clients.models import Assignment

    Assignment.objects.create(client=people["client"], user=low)
    with pytest.raises(AccessDenied) as exc:
        services.document_classify(actor=low, document=doc, level="confidential",
                                   category="other")
    assert exc.value.detail["rule"] == "clearance_insufficient"
    token = account_services.token_create(user=people["acct"]).plaintext
    api = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    r = _relabel(api, doc, "confidential")
    assert r.status_code == 403 and r.json()["detail"]["rule"] == "mfa_required"
    _unchanged(doc, "internal")


def test_the_confirmation_page_is_decided_the_same_way(people):
    doc = _doc(people, "secret")
    c = verified_client(people["admin"], HTTP_ACCEPT_LANGUAGE="en")
    r = c.post(f"/classification/documents/{doc.pk}/", {"level": "public", "category": "other"})
    assert r.status_code == 403
    _unchanged(doc, "secret")
    _refusal("not_assigned", "secret")


def test_the_import_confirmation_is_decided_the_same_way(people):
    from baomi.imports import services as imports
    from baomi.imports.models import ImportedDocument

    job = imports.documents_import(
        actor=people["acct"], client=people["client"], source_name="x.zip", sha256="x",
        sources=[imports.Source(name="纪要.txt", data="会议纪要，无敏感信息。".encode())])
    doc = ImportedDocument.objects.get(job=job).document
    Document.objects.filter(pk=doc.pk).update(level="secret")
    with pytest.raises(AccessDenied) as exc:
        imports.documents_confirm(actor=people["acct"], job=job,
                                  choices={doc.pk: ("public", "other")})
    assert exc.value.detail["rule"] == "role_not_permitted"
    doc.refresh_from_db()
    assert doc.level == "secret"
    _refusal("role_not_permitted", "secret")


def test_the_review_queue_is_no_way_round_it(people):
    doc = _doc(people, "secret")
    item = ReviewItem.objects.create(document=doc, reason=ReviewReason.AGE, detail="",
                                     level_at_entry="secret", created_at=doc.created_at)
    with pytest.raises(AccessDenied) as exc:
        services.review_resolve(actor=people["admin"], item=item, level="public",
                                category="other")
    assert exc.value.detail["rule"] == "not_assigned"
    _unchanged(doc, "secret")
    _refusal("not_assigned", "secret")
    item.refresh_from_db()
    assert item.status == "open"
    # Reviewing labels stays the compliance officer's duty (F05): the matrix lets them
    # relabel any document (decided and recorded like every relabel).
    done = services.review_resolve(actor=people["compliance"], item=item, level="confidential",
                                   category="trade_secret")
    assert done.status == "relabelled"
    _unchanged(doc, "confidential")


def test_those_the_matrix_allows_still_relabel(people):
    acct, admin, manager = people["acct"], people["admin"], people["manager"]
    doc = _doc(people, "internal", "other")
    # The assigned accountant, up to 机密 (decided at the higher level).
    label = services.document_classify(actor=acct, document=doc, level="confidential",
                                       category="financial")
    assert label.labelled_by == acct
    _unchanged(doc, "confidential", "financial")
    door_entry, service_entry = LedgerEntry.objects.filter(
        action="document.classify").order_by("-seq")[:2][::-1]
    assert (door_entry.decision, door_entry.reason) == (
        "allowed", "allow_assigned level=confidential")
    assert service_entry.reason.startswith("suggested=")
    assert "previous=internal/other" in service_entry.reason
    # The department's manager, 绝密 included.
    people["client"].department = manager.department
    people["client"].save()
    services.document_classify(actor=manager, document=doc, level="secret", category="financial")
    _unchanged(doc, "secret", "financial")
    services.document_classify(actor=manager, document=doc, level="internal",
                               category="financial")
    _unchanged(doc, "internal", "financial")
    # Any administrator up to 内部; from 机密 up once the client is assigned to them.
    c = verified_client(admin)
    r = _relabel(c, doc, "public")
    assert r.status_code == 200, r.content
    assert r.json()["level"] == "public"
    assert _relabel(c, doc, "confidential").status_code == 403
    from baomi.clients.models import Assignment

    Assignment.objects.create(client=people["client"], user=admin)
    assert _relabel(c, doc, "secret").status_code == 200
    _unchanged(doc, "secret", "other")
