"""Review fixes at the vault door: uploads decided at the level they are filed at,
blind-index searches decided at the searched field's level, and purposes that state
nothing (invisible or control characters only) refused and recorded as such."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from baomi import policy
from baomi.accounts import services as account_services
from baomi.accounts.models import Level, Role
from baomi.audit.models import LedgerEntry
from baomi.clients.models import Assignment, Contact
from baomi.clients.services import contact_add
from baomi.errors import AccessDenied
from baomi.vault import door, selectors, services
from baomi.vault.models import Document, DocumentVersion, Watermark
from baomi.vault.tests.conftest import sealed_upload
from conftest import verified_client

pytestmark = pytest.mark.django_db

ID = "11010519491231002X"
# Nothing visible is left of these (`baomi.policy.text.stated`). An escape sequence such
# as "\x1b[2J" loses its escape and keeps "[2J", which is visible and recorded as such.
SILENT = ["\u200b", "\u200b\u200c\u2060", "\ufeff", "\x00", "\x1b", "\x1b\x07\u202e",
          " \u3000\t"]


def _bearer(user: Any) -> HttpClient:
    token = account_services.token_create(user=user).plaintext
    return HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")


def _file(data: bytes = b"hello world", name: str = "a.txt") -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


def _post(c: HttpClient, client_id: int, level: str, category: str = "other") -> Any:
    return c.post(
        f"/api/v1/clients/{client_id}/documents",
        {"file": _file(), "level": level, "category": category, "title": "t"},
    )


def _blobs(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _last(action: str, **kw: Any) -> LedgerEntry:
    entry = LedgerEntry.objects.filter(action=action, **kw).order_by("-seq").first()
    assert entry is not None, list(LedgerEntry.objects.values_list("action", "reason"))
    return entry


def _refused_upload(r: Any, blob_dir: Path, rule: str, level: str) -> None:
    """The upload was refused with `rule`, nothing of it is kept, the refusal is recorded."""
    assert r.status_code == 403, r.content
    assert r.json()["detail"]["rule"] == rule
    assert not Document.objects.exists()
    assert not DocumentVersion.objects.exists()
    assert _blobs(blob_dir) == []
    entry = _last("document.upload", decision="refused")
    assert entry.reason == f"{rule} level={level}"


# --- 2. Uploads are decided at the level they are filed at -------------------------------


def test_unassigned_admin_cannot_file_a_secret_document(make_user, make_client, blob_dir):
    assert policy.cell(policy.Role.ADMIN, policy.Action.DOCUMENT_UPLOAD, policy.Level.SECRET) \
        is policy.Req.ASSIGNED
    admin = make_user("adm", Role.ADMIN, clearance=Level.SECRET)
    client = make_client(admin)  # created by the admin, not assigned to them
    c = verified_client(admin, HTTP_ACCEPT_LANGUAGE="en")
    _refused_upload(_post(c, client.pk, "secret"), blob_dir, "not_assigned", "secret")
    # Internal is the admin's on any client (matrix: firm): the same upload goes through.
    r = _post(c, client.pk, "internal")
    assert r.status_code == 201, r.content
    assert _last("document.upload", decision="allowed").reason == "allow_firm level=internal"


def test_internal_clearance_cannot_file_above_it(make_user, make_client, blob_dir):
    acct = make_user("acc", clearance=Level.INTERNAL)
    client = make_client(acct)  # assigned
    c = verified_client(acct, HTTP_ACCEPT_LANGUAGE="en")
    r = _post(c, client.pk, "secret")
    _refused_upload(r, blob_dir, "clearance_insufficient", "secret")
    assert "Clearance 'secret' is required" in r.json()["message"]
    _refused_upload(_post(c, client.pk, "confidential"), blob_dir, "clearance_insufficient",
                    "confidential")


def test_a_token_cannot_file_a_confidential_document(make_user, make_client, blob_dir):
    acct = make_user("acc", clearance=Level.SECRET)
    client = make_client(acct)
    c = _bearer(acct)  # an API token is never a second factor
    _refused_upload(_post(c, client.pk, "confidential"), blob_dir, "mfa_required", "confidential")
    assert _post(c, client.pk, "internal").status_code == 201


def test_partner_files_only_inside_the_authorization(make_user, make_client, blob_dir):
    from baomi.access.models import ClientAuthorization, PartnerOrganisation

    admin = make_user("adm", Role.ADMIN, clearance=Level.SECRET)
    client = make_client(admin)
    org = PartnerOrganisation.objects.create(name="伙伴")
    partner = make_user("p1", Role.PARTNER, clearance=Level.SECRET)
    partner.partner_org = org
    partner.save()
    now = timezone.now()
    ClientAuthorization.objects.create(
        client=client, grantee_org=org, scope_levels=["internal"],
        valid_from=now - timedelta(days=1), valid_to=now + timedelta(days=30), via="portal")
    c = verified_client(partner, HTTP_ACCEPT_LANGUAGE="en")
    # Matrix: a partner never touches 绝密.
    _refused_upload(_post(c, client.pk, "secret"), blob_dir, "role_not_permitted", "secret")
    # Filed as a document, the authorization's scope applies (not only "some
    # authorization of this client").
    _refused_upload(_post(c, client.pk, "confidential"), blob_dir,
                    "outside_authorization_scope", "confidential")
    r = _post(c, client.pk, "internal")
    assert r.status_code == 201, r.content


def test_the_service_aborts_a_begun_upload_when_filing_is_refused(firm, blob_dir):
    """Any caller of `document_upload` (the web form, the API, imports, authorization
    forms): refused before anything is stored, the begun session's blob deleted."""
    entries = LedgerEntry.objects.count()
    up = sealed_upload(actor=firm["admin"], client=firm["client"], data=b"payroll")
    assert _blobs(blob_dir)  # sealed while it arrived, not yet visible
    with pytest.raises(AccessDenied) as exc:
        services.document_upload(actor=firm["admin"], client=firm["client"], upload=up,
                                 title="t", level="confidential", category="financial")
    assert exc.value.detail["rule"] == "not_assigned"
    assert up.session.state == "aborted"
    assert _blobs(blob_dir) == []
    assert not Document.objects.exists()
    decisions = list(
        LedgerEntry.objects.filter(seq__gte=entries, action="document.upload")
        .values_list("object_id", "decision", "reason")
    )
    # The begin decision (the client) and the refused filing (the level).
    assert decisions == [("new", "allowed", "allow_firm"),
                         ("new", "refused", "not_assigned level=confidential")]


def test_assigned_staff_still_file_what_they_may(firm, blob_dir):
    up = sealed_upload(actor=firm["acct"], client=firm["client"], data=b"ledger")
    doc = services.document_upload(actor=firm["acct"], client=firm["client"], upload=up,
                                   title="t", level="confidential", category="financial")
    assert doc.level == "confidential" and len(_blobs(blob_dir)) == 1
    entry = _last("document.upload", decision="allowed")
    assert entry.reason == "allow_assigned level=confidential"


def test_a_version_is_decided_again_when_the_document_was_relabelled(firm, blob_dir):
    up = sealed_upload(actor=firm["acct"], client=firm["client"], data=b"v1")
    doc = services.document_upload(actor=firm["acct"], client=firm["client"], upload=up,
                                   title="t", level="internal", category="financial")
    # A version begun at 内部 (decided there) …
    up2 = sealed_upload(actor=firm["acct"], client=firm["client"], data=b"v2", document=doc)
    # … of a document raised to 绝密 meanwhile, above the accountant's clearance.
    Document.objects.filter(pk=doc.pk).update(level="secret")
    with pytest.raises(AccessDenied) as exc:
        services.document_version_add(actor=firm["acct"], document=doc, upload=up2)
    assert exc.value.detail["rule"] == "clearance_insufficient"
    assert DocumentVersion.objects.filter(document=doc).count() == 1
    assert len(_blobs(blob_dir)) == 1 and up2.session.state == "aborted"
    assert _last("document.version", decision="refused").reason == (
        "clearance_insufficient level=secret")
    # Unchanged label: decided once, when the upload began.
    Document.objects.filter(pk=doc.pk).update(level="internal")
    doc.refresh_from_db()
    before = LedgerEntry.objects.filter(action="document.version").count()
    up3 = sealed_upload(actor=firm["acct"], client=firm["client"], data=b"v3", document=doc)
    assert services.document_version_add(actor=firm["acct"], document=doc, upload=up3).number == 2
    assert LedgerEntry.objects.filter(action="document.version").count() == before + 1


def test_an_import_cannot_file_above_the_importers_clearance(firm, make_user, blob_dir):
    from baomi.imports import services as imports

    low = make_user("low", clearance=Level.INTERNAL)
    Assignment.objects.create(client=firm["client"], user=low)
    sources = [imports.Source(name="名单.txt", data=f"姓名 张三 身份证号 {ID}\n".encode()),
               imports.Source(name="纪要.txt", data="会议纪要，无敏感信息。".encode())]
    job = imports.documents_import(actor=low, client=firm["client"], sources=sources,
                                   source_name="x.zip", sha256="x")
    assert job.created == 1  # the minutes (internal); the list is 机密
    assert [e["code"] for e in job.errors] == ["access_denied"]
    assert list(Document.objects.values_list("title", flat=True)) == ["纪要.txt"]
    assert len(_blobs(blob_dir)) == 1
    assert _last("document.upload", decision="refused").reason == (
        "clearance_insufficient level=confidential")


# --- 3. Blind-index searches are decided at the searched field's level --------------------


@pytest.fixture
def contact(firm: dict[str, Any]) -> Contact:
    return contact_add(actor=firm["acct"], client=firm["client"],
                       data={"name": "王五", "mobile": "13800138000", "id_number": ID})


def test_a_search_does_not_confirm_what_a_read_refuses(firm, contact, make_user):
    low = make_user("low", clearance=Level.INTERNAL)
    Assignment.objects.create(client=firm["client"], user=low)
    c = _bearer(low)
    read = c.get(f"/api/v1/clients/{firm['client'].pk}/contacts", {"purpose": "记账"})
    assert read.status_code == 403  # id number: 机密, above clearance, and no second factor
    r = c.get("/api/v1/contacts/search", {"id_number": ID, "purpose": "核对"})
    assert r.status_code == 403, r.content
    body = r.json()
    assert body["detail"]["rule"] == "clearance_insufficient"
    assert "two-factor" in body["message"]  # every failed condition is named
    entry = _last("record.search", decision="refused")
    assert entry.reason == "clearance_insufficient level=confidential"
    assert ID not in entry.reason and entry.object_id == "id_number"
    # The internal-level mobile is theirs to read, so theirs to search.
    r = c.get("/api/v1/contacts/search", {"mobile": "13800138000", "purpose": "核对"})
    assert r.status_code == 200 and [x["id"] for x in r.json()] == [contact.pk]


def test_a_search_needs_the_second_factor_for_confidential_fields(firm, contact):
    r = _bearer(firm["acct"]).get("/api/v1/contacts/search", {"id_number": ID, "purpose": "核对"})
    assert r.status_code == 403 and r.json()["detail"]["rule"] == "mfa_required"
    r = verified_client(firm["acct"]).get("/api/v1/contacts/search",
                                          {"id_number": ID, "purpose": "核对"})
    assert r.status_code == 200 and [x["id"] for x in r.json()] == [contact.pk]
    assert _last("record.search", decision="allowed").reason == "search level=confidential"


def test_a_search_needs_agreement_and_training(firm, contact):
    from baomi.access.models import ConfidentialityAgreement

    ConfidentialityAgreement.objects.filter(person=firm["acct"]).update(
        valid_to=timezone.now() - timedelta(days=1))
    with pytest.raises(AccessDenied) as exc:
        selectors.contact_find(actor=firm["acct"], mobile="13800138000", purpose="核对")
    assert exc.value.detail["rule"] == "agreement_missing"


def test_the_client_list_search_reports_the_refusal(firm, contact, make_user):
    from baomi.access.context import session_facts
    from baomi.clients.selectors import protected_search

    with session_facts(mfa_verified=False):
        found = protected_search(actor=firm["acct"], term=ID, purpose="核对")
    assert found.contacts == [] and "双因素" in found.refused
    assert protected_search(actor=firm["acct"], term=ID, purpose="核对").contacts == [contact]


@pytest.mark.parametrize("purpose", SILENT)
def test_a_search_purpose_that_states_nothing_is_refused(firm, contact, purpose):
    with pytest.raises(AccessDenied) as exc:
        door.search_token(actor=firm["acct"], model=Contact, field_name="id_number", value=ID,
                          purpose=purpose)
    assert exc.value.code == "purpose_required"
    entry = _last("record.search", decision="refused")
    assert (entry.reason, entry.purpose) == ("purpose_required level=confidential", "")


def test_a_stated_search_purpose_is_recorded_clean(firm, contact):
    token = door.search_token(actor=firm["acct"], model=Contact, field_name="id_number",
                              value=ID, purpose=" 核对\u200b 身份\x1b ")
    assert Contact.objects.filter(id_number_bidx=token).get() == contact
    assert _last("record.search", decision="allowed").purpose == "核对 身份"


def test_other_roles_still_may_not_search(firm, contact):
    with pytest.raises(AccessDenied) as exc:
        selectors.contact_find(actor=firm["compliance"], mobile="13800138000", purpose="核对")
    assert exc.value.detail["rule"] == "search"


# --- 4. A purpose of invisible or control characters states nothing ----------------------


@pytest.fixture
def internal_doc(firm: dict[str, Any]) -> Document:
    up = sealed_upload(actor=firm["acct"], client=firm["client"], data=b"hello")
    return services.document_upload(actor=firm["acct"], client=firm["client"], upload=up,
                                     title="t", level="internal", category="other")


@pytest.mark.parametrize("purpose", SILENT)
def test_a_silent_purpose_is_refused_and_recorded(firm, internal_doc, purpose):
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    entries = LedgerEntry.objects.count()
    r = c.get(f"/api/v1/documents/{internal_doc.pk}/content", {"purpose": purpose})
    assert r.status_code == 403, r.content
    assert r.json()["code"] == "purpose_required"
    entry = LedgerEntry.objects.get(seq__gte=entries, action="document.download")
    assert (entry.decision, entry.reason, entry.purpose) == (
        "refused", "purpose_required level=internal", "")
    assert not Watermark.objects.exists()


@pytest.mark.parametrize("purpose", SILENT)
def test_a_silent_purpose_opens_no_protected_field(firm, contact, purpose):
    with pytest.raises(AccessDenied) as exc:
        door.record_read(actor=firm["acct"], obj=contact, fields=["mobile"], purpose=purpose)
    assert exc.value.code == "purpose_required"


def test_the_purpose_is_recorded_and_watermarked_as_stated(firm, internal_doc):
    dl = services.document_download(actor=firm["acct"], document=internal_doc,
                                    purpose="\u202e月度\u200b  记账\x00")
    dl.close()
    entry = _last("document.download", decision="allowed")
    assert entry.purpose == "月度 记账"
    assert Watermark.objects.get().purpose == "月度 记账"
    c = verified_client(firm["acct"])
    r = c.get(f"/api/v1/documents/{internal_doc.pk}/content", {"purpose": "\x1b[2J"})
    assert r.status_code == 200
    assert _last("document.download", decision="allowed").purpose == "[2J"


@pytest.mark.parametrize("purpose", SILENT)
def test_the_policy_refuses_a_silent_purpose_and_break_glass_reason(purpose):
    now = timezone.now()
    window = policy.Window(now - timedelta(days=1), now + timedelta(days=1))
    actor = policy.Actor(user_id=1, role=policy.Role.MANAGER, clearance=policy.Level.SECRET,
                         mfa_verified=True)
    doc = policy.Resource(kind=policy.ObjectKind.DOCUMENT, id=1, client_id=9,
                          level=policy.Level.INTERNAL)
    facts = policy.Facts(assigned_client_ids=frozenset({9}), agreements=(window,),
                         trainings=(window,))
    read = policy.decide(actor, policy.Action.DOCUMENT_READ, doc, purpose, now, facts)
    assert not read.allowed and read.rule is policy.Rule.PURPOSE_REQUIRED
    assert policy.decide(actor, policy.Action.DOCUMENT_READ, doc, "记账", now, facts).allowed
    glass = policy.Facts(agreements=(window,), trainings=(window,), break_glass=True,
                         break_glass_reason=purpose)
    emergency = policy.decide(actor, policy.Action.DOCUMENT_READ, doc, "记账", now, glass)
    assert not emergency.allowed
    assert emergency.rule is policy.Rule.BREAK_GLASS_REASON_REQUIRED
    stated = policy.Facts(agreements=(window,), trainings=(window,), break_glass=True,
                          break_glass_reason="\u200b系统故障\u200b")
    assert policy.decide(actor, policy.Action.DOCUMENT_READ, doc, "记账", now, stated).allowed


def test_a_search_shows_a_match_only_where_its_field_may_be_read(firm, contact):
    """An administrator reads 机密 only of the clients assigned to them: a search across
    every client they can see confirms a 机密 value nowhere else, while the 内部 mobile,
    which they may read firm-wide, is still found."""
    from baomi.clients.selectors import protected_search

    admin, client = firm["admin"], firm["client"]
    web = verified_client(admin)
    assert not Assignment.objects.filter(user=admin, client=client).exists()
    r = web.get("/api/v1/contacts/search", {"id_number": ID, "purpose": "核对"})
    assert r.status_code == 200 and r.json() == []
    r = web.get("/api/v1/contacts/search", {"mobile": "13800138000", "purpose": "核对"})
    assert [x["id"] for x in r.json()] == [contact.pk]
    assert protected_search(actor=admin, term=ID, purpose="核对").contacts == []
    client.legal_rep_id_number = ID
    door.record_write(actor=firm["acct"], obj=client, values={"legal_rep_id_number": ID})
    assert list(selectors.client_find_by_legal_rep_id(actor=admin, id_number=ID,
                                                      purpose="核对")) == []
    # Assigned, the same administrator finds both.
    Assignment.objects.create(client=client, user=admin)
    r = web.get("/api/v1/contacts/search", {"id_number": ID, "purpose": "核对"})
    assert [x["id"] for x in r.json()] == [contact.pk]
    assert list(selectors.client_find_by_legal_rep_id(actor=admin, id_number=ID,
                                                      purpose="核对")) == [client]
    assert protected_search(actor=admin, term=ID, purpose="核对").contacts == [contact]
