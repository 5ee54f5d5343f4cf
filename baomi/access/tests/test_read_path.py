"""The door-checked document read over the API (`GET /api/v1/documents/{id}`), the hot
path the HTTP benchmark measures: token lookup, document, facts and versions are read
with raw SQL (`baomi.core.rawrows`), so these tests hold it to what the ORM would give,
to its few queries, and to revocations taking effect on the very next request."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from baomi.access import services
from baomi.access.models import ConfidentialityAgreement, TrainingRecord
from baomi.accounts import services as account_services
from baomi.accounts.models import ApiToken, Level, StaffStatus, User
from baomi.audit.models import LedgerEntry
from baomi.vault import selectors as vault_selectors
from baomi.vault import services as vault_services
from baomi.vault.models import Document, DocumentVersion
from baomi.vault.tests.conftest import sealed_upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(make_user, make_client) -> dict[str, Any]:
    manager = make_user("rp_manager", role="manager", department="一部",
                        clearance=Level.SECRET)
    acct = make_user("rp_acct", department="一部", display_name="会计甲",
                     clearance=Level.CONFIDENTIAL)
    other = make_user("rp_other", department="一部", clearance=Level.CONFIDENTIAL)
    client = make_client(manager, name="恒信贸易有限公司")
    services.assignment_add(actor=manager, client=client, user=acct)
    up = sealed_upload(actor=acct, client=client, data=b"v1", filename="a.txt")
    doc = vault_services.document_upload(actor=acct, client=client, upload=up,
                                         title="凭证", level="internal", category="financial")
    up2 = sealed_upload(actor=manager, client=client, data=b"v2 longer", filename="b.txt",
                        document=doc)
    vault_services.document_version_add(actor=manager, document=doc, upload=up2)
    token = account_services.token_create(user=acct).plaintext
    return {"manager": manager, "acct": acct, "other": other, "client": client,
            "doc": doc, "token": token,
            "http": HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}")}


def _fields(obj: Any) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_document_get_gives_what_the_orm_gives(setup):
    got = vault_selectors.document_get(actor=setup["acct"], document_id=setup["doc"].pk)
    want = Document.objects.select_related("created_by", "current_version").get(
        pk=setup["doc"].pk)
    assert _fields(got) == _fields(want)
    assert got.created_at.tzinfo is not None
    assert got.created_by is not None and _fields(got.created_by) == _fields(want.created_by)
    assert got.current_version is not None
    assert _fields(got.current_version) == _fields(want.current_version)
    versions = vault_selectors.document_versions(document=got)
    orm = list(DocumentVersion.objects.filter(document=want).order_by("-number"))
    assert [_fields(v) for v in versions] == [_fields(v) for v in orm]
    assert [v.number for v in versions] == [2, 1]
    assert [v.created_by.username for v in versions if v.created_by] == [
        "rp_manager", "rp_acct"]
    assert isinstance(versions[0].wrapped_data_key, bytes | memoryview)
    assert str(versions[0].uid) == str(orm[0].uid)
    # The client is not read on the hot path, but is there for callers that use it.
    assert got.client.name == "恒信贸易有限公司"


def test_versions_are_read_again_once_a_version_is_added(setup):
    doc = vault_selectors.document_get(actor=setup["acct"], document_id=setup["doc"].pk)
    assert len(vault_selectors.document_versions(document=doc)) == 2
    up = sealed_upload(actor=setup["acct"], client=setup["client"], data=b"v3",
                       document=doc)
    vault_services.document_version_add(actor=setup["acct"], document=doc, upload=up)
    assert [v.number for v in vault_selectors.document_versions(document=doc)] == [3, 2, 1]


def test_metadata_read_over_the_api(setup):
    http, doc = setup["http"], setup["doc"]
    before = LedgerEntry.objects.filter(action="document.metadata").count()
    r = http.get(f"/api/v1/documents/{doc.pk}", HTTP_HOST="127.0.0.1")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["id"] == doc.pk and body["title"] == "凭证" and body["level"] == "internal"
    assert body["created_by"] == "rp_acct"
    assert body["current_version"]["number"] == 2
    assert body["current_version"]["created_by"] == "rp_manager"
    assert [v["number"] for v in body["versions"]] == [2, 1]
    assert [v["original_filename"] for v in body["versions"]] == ["b.txt", "a.txt"]
    assert body["versions"][1]["size"] == 2
    # Recorded before the answer: one allowed document.metadata entry per read.
    entries = LedgerEntry.objects.filter(action="document.metadata").order_by("-seq")
    assert entries.count() == before + 1
    assert entries[0].decision == "allowed" and entries[0].actor == "rp_acct"
    assert entries[0].object_id == str(doc.pk)


def test_metadata_read_queries_are_few(setup):
    http, doc = setup["http"], setup["doc"]
    assert http.get(f"/api/v1/documents/{doc.pk}", HTTP_HOST="127.0.0.1").status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        r = http.get(f"/api/v1/documents/{doc.pk}", HTTP_HOST="127.0.0.1")
    assert r.status_code == 200
    reads = [q["sql"] for q in ctx.captured_queries
             if "audit_ledgerentry" not in q["sql"]
             and not q["sql"].lstrip().upper().startswith(
                 ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK", "SELECT PG_ADVISORY"))]
    # Token with its user; document with its creator; assignments and gates in one
    # UNION ALL; versions with their creators. No N+1 over versions.
    assert len(reads) == 4, reads


def test_revocations_take_effect_on_the_next_request(setup):
    http, doc, acct = setup["http"], setup["doc"], setup["acct"]
    url = f"/api/v1/documents/{doc.pk}"

    def status() -> int:
        return int(http.get(url, HTTP_HOST="127.0.0.1").status_code)

    assert status() == 200
    services.assignment_remove(actor=setup["manager"], client=setup["client"], user=acct)
    assert status() == 404  # reach: the document's existence is not revealed
    services.assignment_add(actor=setup["manager"], client=setup["client"], user=acct)
    assert status() == 200
    ConfidentialityAgreement.objects.filter(person=acct).update(
        ended_at=timezone.now())
    r = http.get(url, HTTP_HOST="127.0.0.1")
    assert r.status_code == 403 and r.json()["detail"]["rule"] == "agreement_missing"
    ConfidentialityAgreement.objects.filter(person=acct).update(ended_at=None)
    TrainingRecord.objects.filter(person=acct).update(
        valid_to=timezone.now() - timedelta(seconds=1))
    r = http.get(url, HTTP_HOST="127.0.0.1")
    assert r.status_code == 403 and r.json()["detail"]["rule"] == "training_lapsed"
    TrainingRecord.objects.filter(person=acct).update(
        valid_to=timezone.now() + timedelta(days=30))
    assert status() == 200
    prefix = ApiToken.objects.get(user=acct).prefix
    account_services.token_revoke(prefix=prefix)
    assert status() == 401


def test_a_deactivated_or_departed_users_token_is_refused_at_once(setup):
    http, doc, acct = setup["http"], setup["doc"], setup["acct"]
    url = f"/api/v1/documents/{doc.pk}"
    assert http.get(url, HTTP_HOST="127.0.0.1").status_code == 200
    User.objects.filter(pk=acct.pk).update(is_active=False)
    assert http.get(url, HTTP_HOST="127.0.0.1").status_code == 401
    User.objects.filter(pk=acct.pk).update(is_active=True)
    assert http.get(url, HTTP_HOST="127.0.0.1").status_code == 200
    User.objects.filter(pk=acct.pk).update(status=StaffStatus.LEFT)
    assert http.get(url, HTTP_HOST="127.0.0.1").status_code == 401


def test_another_staff_members_token_does_not_reach_the_document(setup):
    token = account_services.token_create(user=setup["other"]).plaintext
    r = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}").get(
        f"/api/v1/documents/{setup['doc'].pk}", HTTP_HOST="127.0.0.1")
    assert r.status_code == 404
    r = HttpClient(HTTP_AUTHORIZATION="Bearer bm_nope_nope").get(
        f"/api/v1/documents/{setup['doc'].pk}", HTTP_HOST="127.0.0.1")
    assert r.status_code == 401
