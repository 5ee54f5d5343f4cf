"""A grant that names documents one by one covers those documents only (F07, F08).

Review finding: `Scope.covers` matched a listed id against any object's id, so a client
authorization or query request naming document #N also opened the sealed fields of the
client record (or contact) whose primary key was N, with no level or category check.
Ids of different tables all run 1, 2, 3…, so this happened routinely.
"""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from baomi.access import services
from baomi.access.tests.test_services import _doc, _read, firm, period
from baomi.accounts import services as account_services
from baomi.audit.models import LedgerEntry
from baomi.clients.services import ClientInput, client_update
from baomi.errors import AccessDenied
from baomi.vault import door

# Sequences start again at 1 for each test, so that a document and its client share an
# id as they do in a young database (PostgreSQL does not reset them otherwise).
pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)
__all__ = ["firm"]  # the fixture, shared with test_services

ID_NUMBER = "110101199003074514"
ACCOUNT = "6222021234567890123"
ADDRESS = "上海市浦东新区世纪大道100号"


def _document_numbered_like(firm, client):
    """A document of `client` whose id is the client's own id."""
    doc = firm["doc"]
    while doc.pk < client.pk:
        doc = _doc(firm["acct"], client, "public")
    assert doc.pk == client.pk
    return doc


def _seal(firm, client) -> None:
    client_update(actor=firm["manager"], client=client,
                  data=ClientInput(legal_rep_id_number=ID_NUMBER, bank_account=ACCOUNT,
                                   address=ADDRESS))


def test_an_authorization_for_one_document_does_not_open_the_client_record(firm):
    client, partner = firm["client"], firm["partner"]
    _seal(firm, client)
    doc = _document_numbered_like(firm, client)
    services.authorization_grant(actor=firm["portal"], client=client, grantee_org=firm["org"],
                                 scope=services.ScopeInput(document_ids=[doc.pk]), **period(30))
    with pytest.raises(AccessDenied):
        door.record_read(actor=partner, obj=client, fields=["legal_rep_id_number"],
                         purpose="核对")
    refused = LedgerEntry.objects.filter(action="client.sensitive.read", decision="refused",
                                         actor=partner.username)
    assert refused.exists()
    # The document it names is still the partner's to read.
    assert _read(partner, doc) == f"{doc.level} content".encode()


def test_over_http_the_partner_gets_no_sealed_field(firm):
    client, partner = firm["client"], firm["partner"]
    _seal(firm, client)
    doc = _document_numbered_like(firm, client)
    services.authorization_grant(actor=firm["portal"], client=client, grantee_org=firm["org"],
                                 scope=services.ScopeInput(document_ids=[doc.pk]), **period(30))
    # A bearer token has no second factor: the 内部 address is what it could have opened.
    token = account_services.token_create(user=partner).plaintext
    http = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    r = http.get(f"/api/v1/clients/{client.pk}/sensitive", {"purpose": "核对", "fields": "address"})
    assert r.status_code in (403, 404), r.content
    assert ADDRESS not in r.content.decode()
    assert r.json()["code"] in ("access_denied", "client_not_found")


def test_a_query_request_for_one_document_does_not_open_the_client_record(firm):
    client, compliance = firm["client"], firm["compliance"]
    _seal(firm, client)
    doc = _document_numbered_like(firm, client)
    row = services.request_create(actor=compliance, client=client,
                                  scope=services.ScopeInput(document_ids=[doc.pk]),
                                  purpose="核对一份文件", **period(3))
    services.request_approve(actor=firm["manager"], request=row)
    with pytest.raises(AccessDenied):
        door.record_read(actor=compliance, obj=client, fields=["bank_account"], purpose="核对")
