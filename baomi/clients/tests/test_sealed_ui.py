"""Sealed client fields in the web UI: create and edit forms, masked display, reveal
through the vault door, validation without echoing sealed input, and exact-match search
through the blind indexes."""

from __future__ import annotations

import pytest

from baomi.accounts.models import Level, Role
from baomi.audit.models import LedgerEntry
from baomi.clients.models import Assignment, Client, Contact
from baomi.clients.services import contact_add
from baomi.vault import door
from conftest import verified_client

pytestmark = pytest.mark.django_db

ID = "11010519491231002X"  # a valid GB 11643 resident ID (check character X)
ID_BAD_CHECK = "110105194912310021"
ACCOUNT = "6222 0212 3456 7890"
USCC = "91350100M000100Y43"


def _post_new(c, **extra):
    data = {
        "name": "密封测试有限公司",
        "uscc": USCC,
        "legal_representative": "赵六",
        "status": "active",
        **extra,
    }
    return c.post("/clients/new/", data)


@pytest.fixture
def mgr(make_user):
    return make_user("mgr_s", role=Role.MANAGER, department="一部", clearance=Level.CONFIDENTIAL)


@pytest.fixture
def web(mgr):
    return verified_client(mgr, HTTP_ACCEPT_LANGUAGE="zh-hans")


def test_create_form_offers_and_seals_every_sealed_field(mgr, web):
    page = web.get("/clients/new/").content.decode()
    for name in ("legal_rep_id_number", "bank_account", "address", "notes"):
        assert f'name="{name}"' in page
    r = _post_new(
        web,
        legal_rep_id_number="110105 19491231 002x",
        bank_account=ACCOUNT,
        address="福州市鼓楼区某路1号",
        notes="年审注意事项",
    )
    assert r.status_code == 302, r.content.decode()
    client = Client.objects.get(name="密封测试有限公司")
    # Stored only as ciphertext; the ID number is stored normalized (no spaces, upper X).
    for column in ("legal_rep_id_number_sealed", "bank_account_sealed", "address_sealed",
                   "notes_sealed"):
        blob = bytes(getattr(client, column))
        assert ID.encode() not in blob and "年审".encode() not in blob
    opened = door.record_read(actor=mgr, obj=client, fields=["legal_rep_id_number",
                              "bank_account", "address", "notes"], purpose="核对")
    assert opened == {"legal_rep_id_number": ID, "bank_account": "6222021234567890",
                      "address": "福州市鼓楼区某路1号", "notes": "年审注意事项"}
    assert client.legal_rep_id_number_bidx and client.bank_account_bidx
    write = LedgerEntry.objects.filter(action="client.update", client_id=str(client.pk)).last()
    assert write is not None and write.decision == "allowed"
    # The detail page shows them masked until a purpose is stated.
    detail = web.get(f"/clients/{client.pk}/").content.decode()
    assert ID not in detail and "年审注意事项" not in detail and "••••••" in detail


def test_bad_sealed_input_is_refused_localized_and_never_echoed(mgr, web):
    r = _post_new(web, legal_rep_id_number=ID_BAD_CHECK, bank_account="12",
                  address="保密地址甲")
    assert r.status_code == 400
    body = r.content.decode()
    assert "密封测试有限公司" in body and "赵六" in body  # the other input is kept
    assert ID_BAD_CHECK not in body and "保密地址甲" not in body  # sealed input is not
    assert body.count('class="field-error"') == 2  # the ID number and the bank account
    assert not Client.objects.exists()
    en = verified_client(mgr, HTTP_ACCEPT_LANGUAGE="en")
    body = _post_new(en, legal_rep_id_number=ID_BAD_CHECK, notes="机密备注").content.decode()
    assert "The check character (last character) of this ID number is wrong" in body
    assert "enter them again" in body and "机密备注" not in body
    body = _post_new(en, legal_rep_id_number="not-an-id").content.decode()
    assert "Enter an 18-character resident ID number" in body
    body = _post_new(en, bank_account="12").content.decode()
    assert "8 to 32 digits or letters" in body
    assert not Client.objects.exists()


@pytest.fixture
def stored(mgr, web):
    r = _post_new(web, legal_rep_id_number=ID, bank_account=ACCOUNT, notes="备注内容")
    assert r.status_code == 302
    return Client.objects.get(name="密封测试有限公司")


def test_edit_page_masks_then_reveals_through_the_door(mgr, web, stored):
    url = f"/clients/{stored.pk}/edit/"
    body = web.get(url).content.decode()
    assert ID not in body and "备注内容" not in body and "6222021234567890" not in body
    assert body.count("••••••") >= 3  # three stored values, masked
    assert 'form="reveal-form"' in body
    # The save form posts to the bare URL, so a revealing query string never rides along.
    assert f'method="post" action="{url}"' in body
    before = LedgerEntry.objects.filter(action="client.sensitive.read").count()
    body = web.get(url, {"purpose": "年度核对"}).content.decode()
    assert ID in body and "备注内容" in body and "6222021234567890" in body
    read = LedgerEntry.objects.filter(action="client.sensitive.read").last()
    assert LedgerEntry.objects.filter(action="client.sensitive.read").count() == before + 1
    assert read.purpose == "年度核对" and read.decision == "allowed"
    assert ID not in read.reason and ID not in read.purpose


def test_reveal_refused_by_the_policy_stays_masked_with_the_reason(make_user, stored):
    # An administrator who is not assigned may edit but not read 机密 fields (matrix).
    admin = make_user("boss_s", role=Role.ADMIN, clearance=Level.SECRET)
    c = verified_client(admin, HTTP_ACCEPT_LANGUAGE="en")
    r = c.get(f"/clients/{stored.pk}/edit/", {"purpose": "curious"})
    assert r.status_code == 200
    body = r.content.decode()
    assert ID not in body and "备注内容" not in body
    assert 'class="error-text" role="alert"' in body
    refusal = LedgerEntry.objects.filter(action="client.sensitive.read").last()
    assert refusal.decision == "refused" and refusal.actor == "boss_s"


def test_edit_keeps_replaces_and_clears_sealed_values(mgr, web, stored):
    url = f"/clients/{stored.pk}/edit/"
    base = {"name": stored.name, "uscc": stored.uscc, "legal_representative": "赵六",
            "status": "active"}
    # Blank keeps the stored values.
    assert web.post(url, base).status_code == 302
    stored.refresh_from_db()
    fields = ["legal_rep_id_number", "bank_account", "notes", "address"]
    assert door.record_read(actor=mgr, obj=stored, fields=fields, purpose="x") == {
        "legal_rep_id_number": ID, "bank_account": "6222021234567890", "notes": "备注内容",
        "address": ""}
    # A value replaces, the box clears; the ledger names fields, never values.
    r = web.post(url, {**base, "address": "新地址", "clear_notes": "on"})
    assert r.status_code == 302
    stored.refresh_from_db()
    assert door.record_read(actor=mgr, obj=stored, fields=fields, purpose="x") == {
        "legal_rep_id_number": ID, "bank_account": "6222021234567890", "notes": "",
        "address": "新地址"}
    update = LedgerEntry.objects.filter(action="client.update", client_id=str(stored.pk)).last()
    assert "address" in update.reason and "notes" in update.reason
    assert "新地址" not in update.reason
    # A bad value is refused and nothing changes, including the other fields.
    r = web.post(url, {**base, "name": "改名有限公司", "legal_rep_id_number": ID_BAD_CHECK})
    assert r.status_code == 400
    assert "改名有限公司" in r.content.decode() and ID_BAD_CHECK not in r.content.decode()
    stored.refresh_from_db()
    assert stored.name == "密封测试有限公司"


@pytest.fixture
def people(make_user, make_client, mgr, stored):
    acct = make_user("acct_s", clearance=Level.CONFIDENTIAL)
    Assignment.objects.create(client=stored, user=acct)
    contact = contact_add(actor=mgr, client=stored, data={
        "name": "钱七", "mobile": "+86 139-1234-5678", "id_number": "11010519491231002x"})
    other = make_user("acct_o")
    hidden = make_client(other, name="别家有限公司")
    contact_add(actor=other, client=hidden, data={"name": "孙八", "mobile": "13912345678"})
    return {"acct": acct, "contact": contact, "hidden": hidden}


def test_search_by_sealed_fields_through_blind_indexes(people, stored):
    c = verified_client(people["acct"], HTTP_ACCEPT_LANGUAGE="zh-hans")
    # The legal representative's ID number, typed with a lower-case x and spaces.
    body = c.get("/clients/", {"q": "110105 19491231 002x", "purpose": "核对"}).content.decode()
    assert "密封测试有限公司" in body
    assert "钱七" in body  # the contact with the same ID number is listed too
    # A contact's mobile, full-width digits: its client is found, the value stays masked.
    r = c.get("/clients/", {"q": "１３９１２３４５６７８", "purpose": "核对"},
              HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert "密封测试有限公司" in body and "钱七" in body
    assert "别家有限公司" not in body and "孙八" not in body  # not visible to this accountant
    assert "••••••" in body
    # The bank account.
    body = c.get("/clients/", {"q": ACCOUNT, "purpose": "核对"}).content.decode()
    assert "密封测试有限公司" in body
    # A near miss finds nothing.
    body = c.get("/clients/", {"q": "13912345679", "purpose": "核对"}).content.decode()
    assert "密封测试有限公司" not in body
    searches = LedgerEntry.objects.filter(action="record.search")
    assert {s.object_id for s in searches} >= {"legal_rep_id_number", "id_number", "mobile",
                                               "bank_account"}
    for s in searches:
        assert "13912345678" not in s.reason + s.purpose + s.object_id
        assert ID not in s.reason + s.purpose + s.object_id
    # An ordinary name search looks nothing up in the blind indexes.
    n = searches.count()
    c.get("/clients/", {"q": "密封"})
    assert LedgerEntry.objects.filter(action="record.search").count() == n


def test_search_by_uscc_still_works_and_roles_without_search_are_told(make_user, people,
                                                                     stored):
    c = verified_client(people["acct"], HTTP_ACCEPT_LANGUAGE="en")
    assert "密封测试有限公司" in c.get("/clients/", {"q": USCC.lower()}).content.decode()
    comp = make_user("comp_s", role=Role.COMPLIANCE)
    c = verified_client(comp, HTTP_ACCEPT_LANGUAGE="en")
    r = c.get("/clients/", {"q": "13912345678"})
    assert r.status_code == 200
    body = r.content.decode()
    assert 'id="protected-search-refused"' in body and "钱七" not in body
    refusal = LedgerEntry.objects.filter(action="record.search").last()
    assert refusal.decision == "refused" and refusal.actor == "comp_s"


def test_contact_rows_link_to_a_visible_client_only(people, stored):
    assert Contact.objects.filter(client=people["hidden"]).exists()
    c = verified_client(people["acct"], HTTP_ACCEPT_LANGUAGE="zh-hans")
    body = c.get("/clients/", {"q": "13912345678", "purpose": "核对"}).content.decode()
    assert f"/clients/{people['hidden'].pk}/" not in body
    assert f"/clients/{stored.pk}/#contacts" in body


def test_contact_edit_masks_reveals_validates_and_changes_through_the_door(people, stored):
    contact = people["contact"]
    c = verified_client(people["acct"], HTTP_ACCEPT_LANGUAGE="en")
    detail = c.get(f"/clients/{stored.pk}/").content.decode()
    url = f"/clients/{stored.pk}/contacts/"
    assert f"{url}?contact={contact.pk}" in detail
    assert c.get(url).status_code == 200
    body = c.get(url, {"contact": contact.pk}).content.decode()
    assert "139-1234-5678" not in body and "002x" not in body and body.count("••••••") >= 2
    # Stored normalized by the service (as a form would send it); shown once revealed.
    body = c.get(url, {"contact": contact.pk, "purpose": "回访"}).content.decode()
    assert "13912345678" in body and "11010519491231002X" in body
    read = LedgerEntry.objects.filter(action="client.sensitive.read").last()
    assert read.purpose == "回访" and read.object_type == "contact"
    # Bad input: refused with the reason, the name kept, the sealed input not echoed.
    r = c.post(url, {"contact": contact.pk, "name": "钱七七", "mobile": "12345678901",
                     "id_number": ID_BAD_CHECK})
    assert r.status_code == 400
    body = r.content.decode()
    assert "not a mobile number in the mainland number plan" in body
    assert "check character" in body and "钱七七" in body
    assert "12345678901" not in body and ID_BAD_CHECK not in body
    contact.refresh_from_db()
    assert contact.name == "钱七"
    # A new mobile replaces the old one (and its blind index), the ID number is cleared.
    r = c.post(url, {"contact": contact.pk, "name": "钱七七", "title": "财务",
                     "mobile": "138-0013-8000", "clear_id_number": "on"})
    assert r.status_code == 302
    contact.refresh_from_db()
    assert contact.name == "钱七七" and contact.title == "财务"
    assert door.record_read(actor=people["acct"], obj=contact,
                            fields=["mobile", "id_number", "email"], purpose="x") == {
        "mobile": "13800138000", "id_number": "", "email": ""}
    assert contact.id_number_bidx == ""
    entry = LedgerEntry.objects.filter(action="client.update", object_type="contact").last()
    assert entry.reason == "id_number mobile name title"
    found = c.get("/clients/", {"q": "13800138000"}).content.decode()
    assert "钱七七" in found
    assert "钱七七" not in c.get("/clients/", {"q": "13912345678"}).content.decode()


def test_contact_pages_are_for_editors_of_that_client_only(make_user, people, stored):
    contact = people["contact"]
    url = f"/clients/{stored.pk}/contacts/"
    comp = verified_client(make_user("comp_c", role=Role.COMPLIANCE))
    assert comp.get(url).status_code == 403  # may view the client, not edit it
    assert comp.post(url, {"contact": contact.pk, "name": "x"}).status_code == 403
    other = verified_client(make_user("acct_c"))
    assert other.get(url, {"contact": contact.pk}).status_code == 404  # not assigned
    # A contact of another client is not reachable through this client's page.
    hidden = Contact.objects.get(client=people["hidden"])
    c = verified_client(people["acct"])
    assert c.get(url, {"contact": hidden.pk}).status_code == 404
    assert c.post(url, {"contact": hidden.pk, "name": "改"}).status_code == 404
    hidden.refresh_from_db()
    assert hidden.name == "孙八"


def test_add_contact_validates_and_keeps_the_other_input(people, stored):
    c = verified_client(people["acct"], HTTP_ACCEPT_LANGUAGE="en")
    url = f"/clients/{stored.pk}/contacts/"
    detail = c.get(f"/clients/{stored.pk}/").content.decode()
    assert f'action="{url}"' in detail and 'name="contact" value="new"' in detail
    assert c.get(url, {"contact": "new"}).status_code == 200
    r = c.post(url, {"contact": "new", "name": "周十", "title": "出纳", "mobile": "1380013800",
                     "email": "zhou@example.cn", "is_primary": "on"})
    assert r.status_code == 400
    body = r.content.decode()
    assert "Enter an 11-digit mobile number" in body
    assert "周十" in body and "出纳" in body and "zhou@example.cn" not in body
    assert not Contact.objects.filter(name="周十").exists()
    r = c.post(url, {"contact": "new", "name": "周十", "title": "出纳",
                     "mobile": "+86 138 0013 8000", "email": "zhou@example.cn",
                     "is_primary": "on"})
    assert r.status_code == 302 and r["Location"].endswith(f"/clients/{stored.pk}/#contacts")
    added = Contact.objects.get(name="周十")
    assert added.is_primary and added.client_id == stored.pk
    assert door.record_read(actor=people["acct"], obj=added, fields=["mobile", "email"],
                            purpose="x") == {"mobile": "13800138000", "email": "zhou@example.cn"}
    assert added.mobile_bidx
