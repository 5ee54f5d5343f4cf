"""Raising a document's label ends the grants that named it one by one (F07, F08).

Review finding: a query request the client approved for an internal document went on
covering it after a manager raised it to 绝密, so the requester read 绝密 content on an
approval only valid for 内部 (`baomi.access.relabel`).
"""

from __future__ import annotations

import pytest

from baomi.access import services
from baomi.access.models import ClientAuthorization, Notification, QueryRequest, RequestStatus
from baomi.access.tests.test_services import _read, firm, period
from baomi.audit.models import LedgerEntry
from baomi.classification.services import document_classify
from baomi.errors import AccessDenied

pytestmark = pytest.mark.django_db
__all__ = ["firm"]  # the fixture, shared with test_services


def _request_for(firm, doc, **scope):
    row = services.request_create(actor=firm["acct2"], client=firm["client"],
                                  scope=services.ScopeInput(document_ids=[doc.pk], **scope),
                                  purpose="对账", **period(3))
    return row


def test_a_client_approved_request_ends_when_its_document_is_raised(firm, settings):
    settings.BAOMI_CLIENT_APPROVES_LEVELS = "internal"
    doc, acct2 = firm["doc"], firm["acct2"]
    row = _request_for(firm, doc)
    assert services.request_level(row) == "internal"
    services.request_approve(actor=firm["portal"], request=row)
    document_classify(actor=firm["manager"], document=doc, level="secret",
                      category="trade_secret")
    row.refresh_from_db()
    assert row.status == RequestStatus.REVOKED
    entry = LedgerEntry.objects.get(action="query_request.revoke", object_id=str(row.pk))
    assert entry.reason == f"document_relabelled doc={doc.pk}" and entry.actor == "manager"
    assert Notification.objects.filter(user=acct2, kind="request_relabelled").exists()
    doc.refresh_from_db()
    with pytest.raises(AccessDenied):
        _read(acct2, doc)


def test_a_request_whose_labels_cover_the_new_label_goes_on(firm):
    doc = firm["doc"]
    row = _request_for(firm, doc, levels=["internal", "secret"])
    services.request_approve(actor=firm["manager"], request=row)
    document_classify(actor=firm["manager"], document=doc, level="secret",
                      category="financial")
    row.refresh_from_db()
    assert row.status == RequestStatus.APPROVED
    assert not LedgerEntry.objects.filter(action="query_request.revoke").exists()


def test_lowering_a_label_ends_nothing(firm):
    secret = firm["secret"]
    row = _request_for(firm, secret)
    services.request_approve(actor=firm["manager"], request=row)
    document_classify(actor=firm["manager"], document=secret, level="internal",
                      category="trade_secret")
    assert QueryRequest.objects.get(pk=row.pk).status == RequestStatus.APPROVED


def test_an_authorization_naming_the_document_is_revoked(firm):
    doc, partner = firm["doc"], firm["partner"]
    auth = services.authorization_grant(actor=firm["portal"], client=firm["client"],
                                        grantee_org=firm["org"],
                                        scope=services.ScopeInput(document_ids=[doc.pk]),
                                        **period(30))
    assert _read(partner, doc) == b"internal content"
    document_classify(actor=firm["manager"], document=doc, level="confidential",
                      category="financial")
    auth = ClientAuthorization.objects.get(pk=auth.pk)
    assert auth.revoked_at is not None and auth.revoke_reason == f"document_relabelled doc={doc.pk}"
    assert LedgerEntry.objects.filter(action="authorization.revoke", object_id=str(auth.pk),
                                      reason=f"document_relabelled doc={doc.pk}").exists()
    doc.refresh_from_db()
    with pytest.raises(AccessDenied):
        _read(partner, doc)
