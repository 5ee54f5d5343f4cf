"""The vault API over Django's test client: multipart uploads through the sealing
handler, listing, versions, content with purpose, contacts, stable error codes."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client as HttpClient

from baomi.accounts import services as account_services
from baomi.vault.models import Document
from conftest import verified_client

pytestmark = pytest.mark.django_db


def bearer(user: Any) -> HttpClient:
    token = account_services.token_create(user=user).plaintext
    return HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")


def _file(data: bytes, name: str = "凭证.txt") -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


def _post_doc(c: HttpClient, client_id: int, data: bytes = b"ledger lines", **fields: Any) -> Any:
    # Internal by default: an API token is not a two-factor session, and the policy
    # needs one for anything confidential (baomi/access/tests cover that refusal).
    body = {
        "file": _file(data, fields.pop("name", "凭证.txt")),
        "level": "internal",
        "category": "financial",
        "title": "十月凭证",
    }
    body.update(fields)
    return c.post(f"/api/v1/clients/{client_id}/documents", body)


def test_upload_list_get_version_content(firm):
    c = bearer(firm["acct"])
    cid = firm["client"].pk
    r = _post_doc(c, cid, b"first version")
    assert r.status_code == 201, r.content
    doc_id = r.json()["id"]
    assert r.json()["level"] == "internal" and r.json()["category"] == "financial"
    assert r.json()["current_version"]["original_filename"] == "凭证.txt"
    r = c.get(f"/api/v1/clients/{cid}/documents")
    assert [d["id"] for d in r.json()] == [doc_id]
    r = c.post(f"/api/v1/documents/{doc_id}/versions", {"file": _file(b"second version")})
    assert r.status_code == 201 and r.json()["number"] == 2
    r = c.get(f"/api/v1/documents/{doc_id}")
    assert [v["number"] for v in r.json()["versions"]] == [2, 1]
    r = c.get(f"/api/v1/documents/{doc_id}/content", {"purpose": "月度记账"})
    assert r.status_code == 200
    assert b"".join(r.streaming_content) == b"second version"
    assert r["Content-Length"] == str(len(b"second version"))
    assert r["X-Baomi-Watermark"].startswith("BMW-")
    assert "filename*=utf-8''" in r["Content-Disposition"]
    r = c.get(f"/api/v1/documents/{doc_id}/content", {"purpose": "查旧版", "version": 1})
    assert b"".join(r.streaming_content) == b"first version"


def test_errors_have_stable_codes(firm, settings):
    c = bearer(firm["acct"])
    cid = firm["client"].pk
    doc_id = _post_doc(c, cid).json()["id"]
    r = c.get(f"/api/v1/documents/{doc_id}/content")
    assert (r.status_code, r.json()["code"]) == (403, "purpose_required")
    r = _post_doc(c, cid, b"")
    assert (r.status_code, r.json()["code"]) == (400, "empty_file")
    r = c.post(f"/api/v1/clients/{cid}/documents", {"level": "internal", "category": "other"})
    assert (r.status_code, r.json()["code"]) == (400, "file_missing")
    r = _post_doc(c, cid, level="top")
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    assert "level" in r.json()["detail"]["fields"]
    settings.BAOMI_MAX_UPLOAD_BYTES = 1000
    r = _post_doc(c, cid, b"x" * 200_000)
    assert (r.status_code, r.json()["code"]) == (413, "upload_too_large")
    settings.BAOMI_MAX_UPLOAD_BYTES = 10**9
    # Other people's objects are not found (their existence is not revealed)…
    other = bearer(firm["other"])
    assert other.get(f"/api/v1/documents/{doc_id}").json()["code"] == "document_not_found"
    r = _post_doc(other, cid)
    assert (r.status_code, r.json()["code"]) == (404, "client_not_found")
    # …while content a person may see listed but not read is refused with the reason.
    comp = bearer(firm["compliance"])
    r = comp.get(f"/api/v1/documents/{doc_id}/content", {"purpose": "检查"})
    assert r.status_code == 403 and r.json()["code"] == "access_denied"
    assert r.json()["message"]
    assert Document.objects.count() == 1


def test_a_file_sent_to_any_other_endpoint_is_refused(firm):
    c = bearer(firm["admin"])
    r = c.post("/api/v1/clients", {"file": _file(b"sneaky"), "name": "x"})
    assert r.status_code in {400, 422}
    assert "upload_not_accepted" in r.content.decode() or r.json()["code"] != "created"


def test_session_upload_with_csrf_header(firm):
    """Browser sessions: ninja's CSRF check reads the body before the endpoint runs; the
    handler finds the target from the URL and still seals the file."""
    c = verified_client(firm["acct"], enforce_csrf_checks=True)
    c.get("/clients/")
    token = c.cookies["baomi_csrftoken"].value
    r = c.post(
        f"/api/v1/clients/{firm['client'].pk}/documents",
        {"file": _file(b"from the browser"), "level": "internal", "category": "other"},
        HTTP_X_CSRFTOKEN=token,
    )
    assert r.status_code == 201, r.content
    r = c.post(
        f"/api/v1/clients/{firm['client'].pk}/documents",
        {"file": _file(b"no token"), "level": "internal", "category": "other"},
    )
    assert r.status_code == 403
    assert Document.objects.count() == 1


def test_contacts_masked_then_revealed_with_purpose(firm):
    # Revealing opens the confidential ID number: that needs a two-factor session.
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    cid = firm["client"].pk
    r = c.post(
        f"/api/v1/clients/{cid}/contacts",
        {
            "name": "钱七",
            "mobile": "13912345678",
            "id_number": "11010519491231002X",
            "email": "qian@example.cn",
        },
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["mobile"] == "••••••" and r.json()["address"] == ""
    r = c.get(f"/api/v1/clients/{cid}/contacts")
    assert r.json()[0]["mobile"] == "••••••" and not r.json()[0]["revealed"]
    r = c.get(f"/api/v1/clients/{cid}/contacts", {"purpose": "电话核对"})
    assert r.json()[0]["mobile"] == "13912345678" and r.json()[0]["revealed"]
    r = c.get("/api/v1/contacts/search", {"id_number": "11010519491231002X", "purpose": "核对"})
    assert [x["name"] for x in r.json()] == ["钱七"]
    r = bearer(firm["other"]).get(f"/api/v1/clients/{cid}/contacts", {"purpose": "x"})
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("id_number", "110105194912310028", "check character"),  # last character wrong
        ("id_number", "110105194913310021", "region or birth date"),  # month 13
        ("id_number", "身份证", "resident ID number"),
        ("mobile", "1391234567", "11-digit"),
        ("mobile", "12912345678", "number plan"),
        ("email", "qian at example.cn", "e-mail"),
    ],
)
def test_contact_values_are_checked_as_the_form_checks_them(firm, field, value, needle):
    from baomi.audit.models import LedgerEntry
    from baomi.clients.models import Contact

    c = bearer(firm["acct"])
    cid = firm["client"].pk
    entries = LedgerEntry.objects.count()
    r = c.post(
        f"/api/v1/clients/{cid}/contacts",
        {"name": "钱七", field: value},
        content_type="application/json",
    )
    assert r.status_code == 422, r.content
    body = r.json()
    assert body["code"] == "validation_error"
    assert needle in " ".join(body["detail"]["fields"][field])
    assert value not in r.content.decode()  # the refused value is not echoed
    assert Contact.objects.count() == 0
    # The client was read (recorded); nothing was written or sealed.
    after = LedgerEntry.objects.filter(seq__gte=entries)
    assert set(after.values_list("action", flat=True)) == {"client.read"}


def test_contact_values_are_stored_normalized_and_found(firm):
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="zh-hans")
    cid = firm["client"].pk
    r = c.post(
        f"/api/v1/clients/{cid}/contacts",
        {"name": "钱七", "mobile": "+86 139-1234-5678", "id_number": "11010519491231002x"},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    contact_id = r.json()["id"]
    r = c.get(f"/api/v1/clients/{cid}/contacts", {"purpose": "电话核对"})
    assert r.json()[0]["mobile"] == "13912345678"
    assert r.json()[0]["id_number"] == "11010519491231002X"
    r = c.get("/api/v1/contacts/search", {"mobile": "139 1234 5678", "purpose": "核对"})
    assert [x["id"] for x in r.json()] == [contact_id]
    # Localized: the problem in Chinese for a Chinese caller.
    r = c.post(
        f"/api/v1/clients/{cid}/contacts",
        {"name": "孙八", "id_number": "110105194912310028"},
        content_type="application/json",
    )
    assert r.status_code == 422
    assert "校验码" in " ".join(r.json()["detail"]["fields"]["id_number"])


def test_client_sealed_values_are_checked_and_nothing_changes(firm):
    from baomi.clients.models import Client

    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    cid = firm["client"].pk
    r = c.patch(
        f"/api/v1/clients/{cid}",
        {"bank_account": "6222 0212 3456 7890", "legal_rep_id_number": "11010519491231002X"},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    for payload, field in [
        ({"legal_rep_id_number": "110105194912310028"}, "legal_rep_id_number"),
        ({"bank_account": "12-34"}, "bank_account"),
        ({"bank_account": "6222 0212 3456 7890", "legal_rep_id_number": "X"},
         "legal_rep_id_number"),
    ]:
        r = c.patch(f"/api/v1/clients/{cid}", payload, content_type="application/json")
        assert r.status_code == 422, r.content
        assert field in r.json()["detail"]["fields"]
    r = c.get(f"/api/v1/clients/{cid}/sensitive", {"purpose": "开票"})
    assert r.json()["bank_account"] == "6222021234567890"
    assert r.json()["legal_rep_id_number"] == "11010519491231002X"
    before = Client.objects.count()
    r = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en").post(
        "/api/v1/clients",
        {"name": "校验测试有限公司", "uscc": "91350100M000100Y43", "legal_representative": "王五",
         "legal_rep_id_number": "110105194912310028"},
        content_type="application/json",
    )
    assert r.status_code == 422 and "legal_rep_id_number" in r.json()["detail"]["fields"]
    assert Client.objects.count() == before


def test_client_sensitive_fields(firm):
    from baomi.clients.services import ClientInput, client_update

    client_update(
        actor=firm["acct"],
        client=firm["client"],
        data=ClientInput(
            bank_account="6222 0212 3456 7890", legal_rep_id_number="11010519491231002X"
        ),
    )
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    r = c.get(f"/api/v1/clients/{firm['client'].pk}/sensitive", {"purpose": "开票"})
    assert r.json()["bank_account"] == "6222021234567890"  # stored normalized
    r = c.get(f"/api/v1/clients/{firm['client'].pk}/sensitive")
    assert r.json()["code"] == "purpose_required"


def _seal_client(firm: dict[str, Any]) -> None:
    from baomi.clients.services import ClientInput, client_update

    client_update(
        actor=firm["acct"],
        client=firm["client"],
        data=ClientInput(
            bank_account="6222 0212 3456 7890",
            legal_rep_id_number="11010519491231002X",
            address="上海市浦东新区世纪大道100号",
        ),
    )


def _entries(action: str) -> list[Any]:
    from baomi.audit.models import LedgerEntry

    return list(LedgerEntry.objects.filter(action=action).order_by("seq"))


def test_client_sensitive_fields_asked_by_name(firm):
    """Only the named fields are opened; the read is decided at their highest level, so
    a token (no second factor) may open the internal-level address alone."""
    _seal_client(firm)
    cid = firm["client"].pk
    c = bearer(firm["acct"])
    before_reads = len(_entries("client.read"))
    r = c.get(f"/api/v1/clients/{cid}/sensitive", {"purpose": "月度记账", "fields": "address"})
    assert r.status_code == 200, r.content
    assert r.json() == {
        "notes": None,
        "address": "上海市浦东新区世纪大道100号",
        "bank_account": None,
        "legal_rep_id_number": None,
    }
    # One decision, one entry: the sealed read names the client and the purpose.
    last = _entries("client.sensitive.read")[-1]
    assert (last.decision, last.client_id, last.purpose) == ("allowed", str(cid), "月度记账")
    assert len(_entries("client.read")) == before_reads
    # A confidential field needs a second-factor session, which a token is not.
    r = c.get(f"/api/v1/clients/{cid}/sensitive",
              {"purpose": "月度记账", "fields": "address,bank_account"})
    assert r.status_code == 403, r.content
    assert "6222" not in r.content.decode()
    assert _entries("client.sensitive.read")[-1].decision == "refused"
    # In a verified session both open, in the model's order whatever the order asked.
    v = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    r = v.get(f"/api/v1/clients/{cid}/sensitive",
              {"purpose": "开票", "fields": " bank_account , address "})
    assert r.status_code == 200, r.content
    assert r.json()["bank_account"] == "6222021234567890"
    assert r.json()["address"] == "上海市浦东新区世纪大道100号"
    assert r.json()["legal_rep_id_number"] is None


@pytest.mark.parametrize("fields", ["address,password", "notes_sealed", "地址", ",,x"])
def test_client_sensitive_unknown_field_is_refused_before_anything_opens(firm, fields):
    _seal_client(firm)
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    before = len(_entries("client.sensitive.read"))
    r = c.get(f"/api/v1/clients/{firm['client'].pk}/sensitive",
              {"purpose": "开票", "fields": fields})
    assert r.status_code == 422, r.content
    body = r.json()
    assert body["code"] == "validation_error"
    assert "Unknown sealed field" in body["detail"]["fields"]["fields"][0]
    assert "上海" not in r.content.decode()
    assert len(_entries("client.sensitive.read")) == before


def test_client_sensitive_overlong_fields_value_is_refused(firm):
    _seal_client(firm)
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    before = len(_entries("client.sensitive.read"))
    r = c.get(f"/api/v1/clients/{firm['client'].pk}/sensitive",
              {"purpose": "开票", "fields": "address," * 40})
    assert r.status_code == 422, r.content
    assert r.json()["code"] == "validation_error"
    assert "上海" not in r.content.decode()
    assert len(_entries("client.sensitive.read")) == before


def test_client_sensitive_unknown_field_message_is_localized(firm):
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="zh-hans")
    r = c.get(f"/api/v1/clients/{firm['client'].pk}/sensitive",
              {"purpose": "开票", "fields": "password"})
    assert r.status_code == 422
    assert "未知的加密字段" in r.json()["detail"]["fields"]["fields"][0]


def test_client_sensitive_hides_clients_out_of_reach(firm):
    """A client that does not exist and one out of the actor's reach answer alike (404,
    refused and recorded); a client the actor may see but not open gives the reason."""
    _seal_client(firm)
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    missing = c.get("/api/v1/clients/999999/sensitive", {"purpose": "开票"})
    assert missing.status_code == 404 and missing.json()["code"] == "client_not_found"
    assert _entries("client.sensitive.read")[-1].reason == "not_found"
    hidden = c.get(f"/api/v1/clients/{firm['other_client'].pk}/sensitive", {"purpose": "开票"})
    assert hidden.status_code == 404 and hidden.json()["code"] == "client_not_found"
    last = _entries("client.sensitive.read")[-1]
    assert (last.decision, last.client_id) == ("refused", str(firm["other_client"].pk))
    # Visible (assigned), but no purpose stated: the reason, not a 404.
    r = c.get(f"/api/v1/clients/{firm['client'].pk}/sensitive")
    assert r.status_code == 403 and r.json()["code"] == "purpose_required"
    # The department's manager sees the client; whatever the policy then says of the
    # sealed read, it is never hidden as "not found".
    m = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en")
    r = m.get(f"/api/v1/clients/{firm['client'].pk}/sensitive", {"purpose": "复核"})
    assert r.status_code in (200, 403), r.content
    assert m.get(f"/api/v1/clients/{firm['client'].pk}").status_code == 200


def test_client_sensitive_entry_names_the_fields_never_the_values(firm):
    _seal_client(firm)
    v = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    r = v.get(f"/api/v1/clients/{firm['client'].pk}/sensitive",
              {"purpose": "开票", "fields": "notes,bank_account"})
    assert r.status_code == 200, r.content
    # A field asked for but never stored is "" (opened, empty); one not asked is null.
    assert r.json()["notes"] == "" and r.json()["address"] is None
    last = _entries("client.sensitive.read")[-1]
    assert last.reason.endswith(" fields=notes,bank_account"), last.reason
    assert "6222" not in last.reason and "6222" not in bytes(last.data).decode()


@pytest.mark.parametrize("client_id", ["9223372036854775808", "99999999999999999999999"])
def test_sealed_and_document_reads_of_ids_beyond_64_bits_are_not_found(firm, client_id):
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    r = c.get(f"/api/v1/clients/{client_id}/sensitive", {"purpose": "开票"})
    assert r.status_code == 404 and r.json()["code"] == "client_not_found"
    last = _entries("client.sensitive.read")[-1]
    assert (last.decision, last.reason, last.purpose) == ("refused", "not_found", "开票")
    r = c.get(f"/api/v1/documents/{client_id}")
    assert r.status_code == 404 and r.json()["code"] == "document_not_found"


def test_client_sensitive_out_of_reach_is_hidden_whatever_is_asked(firm):
    """No purpose, or confidential fields by token: still 404 for a client the actor
    cannot see, never a reason that would confirm it exists."""
    _seal_client(firm)
    other = firm["other_client"].pk
    t = bearer(firm["acct"])
    for params in ({}, {"purpose": "开票", "fields": "bank_account"}):
        r = t.get(f"/api/v1/clients/{other}/sensitive", params)
        assert r.status_code == 404 and r.json()["code"] == "client_not_found", params


def test_client_sealed_fields_through_the_clients_api(firm):
    from baomi.clients.models import Client

    # Managers create clients (accountants may not, docs/access-matrix.md); confidential
    # fields are read back in a two-factor session.
    c = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en")
    r = c.post(
        "/api/v1/clients",
        {
            "name": "新客户有限公司",
            "uscc": "91310115945807305X",
            "legal_representative": "李四",
            "notes": "只在备注里",
            "bank_account": "6222021234567890",
        },
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    cid = r.json()["id"]
    assert "notes" not in r.json()
    row = Client.objects.get(pk=cid)
    assert bytes(row.notes_sealed)[:3] == b"BMV"
    r = c.patch(
        f"/api/v1/clients/{cid}", {"address": "上海市浦东新区"}, content_type="application/json"
    )
    assert r.status_code == 200, r.content
    r = c.get(f"/api/v1/clients/{cid}/sensitive", {"purpose": "建账"})
    assert r.json() == {
        "notes": "只在备注里",
        "address": "上海市浦东新区",
        "bank_account": "6222021234567890",
        "legal_rep_id_number": "",
    }
