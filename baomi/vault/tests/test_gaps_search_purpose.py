"""Gap fix (F08): a blind-index search confirms a protected value, so it is a read of that
value and needs a stated purpose, recorded with it. The API (`GET /api/v1/contacts/search`),
the client list's search and the selectors all go through `door.search_token` with the
caller's purpose; a blank one is refused (`purpose_required`) and the refusal recorded."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client as HttpClient

from baomi.accounts import services as account_services
from baomi.audit.models import LedgerEntry
from baomi.clients.models import Contact
from baomi.clients.selectors import protected_search
from baomi.clients.services import contact_add
from baomi.errors import AccessDenied
from baomi.vault import door, selectors
from conftest import verified_client

pytestmark = pytest.mark.django_db

ID = "11010519491231002X"
MOBILE = "13800138000"


@pytest.fixture
def contact(firm: dict[str, Any]) -> Contact:
    return contact_add(actor=firm["acct"], client=firm["client"],
                       data={"name": "王五", "mobile": MOBILE, "id_number": ID})


def _bearer(user: Any) -> HttpClient:
    token = account_services.token_create(user=user).plaintext
    return HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")


def _searches(since: int) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(seq__gte=since, action="record.search")
                .order_by("seq"))


def _next_seq() -> int:
    last = LedgerEntry.objects.order_by("-seq").values_list("seq", flat=True).first()
    return (last or 0) + 1


@pytest.mark.parametrize("purpose", [None, "", "   ", "\u200b\u3000"])
def test_the_api_search_without_a_purpose_is_refused_and_recorded(firm, contact, purpose):
    since = _next_seq()
    query = {"mobile": MOBILE}
    if purpose is not None:
        query["purpose"] = purpose
    r = _bearer(firm["acct"]).get("/api/v1/contacts/search", query)
    assert r.status_code == 403, r.content
    body = r.json()
    assert set(body) == {"code", "message", "detail"}
    assert body["code"] == "purpose_required"
    assert body["detail"]["rule"] == "purpose_required"
    assert MOBILE not in r.content.decode()
    [entry] = _searches(since)
    assert (entry.decision, entry.reason, entry.purpose, entry.object_id) == (
        "refused", "purpose_required level=internal", "", "mobile")
    assert MOBILE not in entry.reason + entry.purpose + entry.object_id


def test_the_api_search_of_an_id_number_needs_a_purpose_too(firm, contact):
    since = _next_seq()
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    r = c.get("/api/v1/contacts/search", {"id_number": ID})
    assert r.status_code == 403 and r.json()["code"] == "purpose_required"
    assert _searches(since)[-1].reason == "purpose_required level=confidential"


def test_the_api_search_with_a_purpose_finds_and_records_it(firm, contact):
    since = _next_seq()
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    r = c.get("/api/v1/contacts/search",
              {"mobile": MOBILE, "id_number": ID, "purpose": " 核对\u200b联系人 "})
    assert r.status_code == 200, r.content
    assert [x["id"] for x in r.json()] == [contact.pk]
    assert r.json()[0]["mobile"] == "••••••"  # a search opens nothing
    entries = _searches(since)
    assert [(e.object_id, e.decision, e.purpose) for e in entries] == [
        ("mobile", "allowed", "核对联系人"), ("id_number", "allowed", "核对联系人")]
    for e in entries:
        assert MOBILE not in e.reason + e.purpose and ID not in e.reason + e.purpose


def test_a_missing_term_is_still_an_input_error_and_searches_nothing(firm, contact):
    since = _next_seq()
    r = _bearer(firm["acct"]).get("/api/v1/contacts/search", {"purpose": "核对"})
    assert r.status_code in (400, 422) and r.json()["code"] == "search_term_missing"
    assert _searches(since) == []


def test_the_openapi_schema_documents_the_purpose():
    schema = HttpClient().get("/api/v1/openapi.json").json()
    params = {p["name"]: p for p in schema["paths"]["/api/v1/contacts/search"]["get"]
              ["parameters"]}
    assert "purpose" in params
    assert "purpose_required" in params["purpose"]["schema"].get(
        "description", params["purpose"].get("description", ""))


def test_the_selectors_need_a_purpose(firm, contact):
    for purpose in ("", " "):
        with pytest.raises(AccessDenied) as exc:
            selectors.contact_find(actor=firm["acct"], mobile=MOBILE, purpose=purpose)
        assert exc.value.code == "purpose_required"
        with pytest.raises(AccessDenied) as exc:
            selectors.client_find_by_legal_rep_id(actor=firm["acct"], id_number=ID,
                                                  purpose=purpose)
        assert exc.value.code == "purpose_required"
    found = selectors.contact_find(actor=firm["acct"], mobile=MOBILE, purpose="核对")
    assert list(found) == [contact]
    assert LedgerEntry.objects.filter(action="record.search", decision="allowed",
                                      purpose="核对").exists()
    # The door's own refusal, as before, for a purpose that states nothing.
    with pytest.raises(AccessDenied):
        door.search_token(actor=firm["acct"], model=Contact, field_name="mobile",
                          value=MOBILE, purpose="")


def test_the_client_list_search_asks_for_a_purpose(firm, contact):
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    page = c.get("/clients/").content.decode()
    # The same purpose field as the other reads, with the configured purposes offered.
    assert 'name="purpose"' in page and 'list="search-purposes"' in page
    assert "<option value=\"" in page.split('id="search-purposes"', 1)[1].split("</datalist>")[0]
    since = _next_seq()
    body = c.get("/clients/", {"q": MOBILE}).content.decode()
    assert 'id="protected-search-refused"' in body
    assert "purpose" in body.split('id="protected-search-refused"', 1)[1].split("</p>")[0]
    assert 'id="contact-matches"' not in body and "王五" not in body
    [entry] = _searches(since)
    assert (entry.decision, entry.reason) == ("refused", "purpose_required level=internal")
    since = _next_seq()
    body = c.get("/clients/", {"q": MOBILE, "purpose": "核对联系人"}).content.decode()
    assert "王五" in body and 'id="protected-search-refused"' not in body
    assert 'value="核对联系人"' in body  # kept in the field
    [entry] = _searches(since)
    assert (entry.decision, entry.purpose) == ("allowed", "核对联系人")
    # htmx: the rows come back for a search with a purpose, too.
    r = c.get("/clients/", {"q": MOBILE, "purpose": "核对"}, HTTP_HX_REQUEST="true")
    assert "王五" in r.content.decode()


def test_the_client_list_search_keeps_the_purpose_across_pages(firm, contact, make_client):
    for n in range(21):
        make_client(firm["acct"], name=f"翻页测试{n:02d}有限公司")
    c = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    body = c.get("/clients/", {"q": "有限公司", "purpose": "核对"}).content.decode()
    assert "purpose=%E6%A0%B8%E5%AF%B9&amp;page=2" in body


def test_protected_search_returns_the_refusal(firm, contact):
    found = protected_search(actor=firm["acct"], term=ID, purpose="")
    assert found.contacts == [] and found.refused
    assert protected_search(actor=firm["acct"], term=ID, purpose="核对").contacts == [contact]
