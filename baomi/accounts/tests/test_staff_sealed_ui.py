"""Staff accounts' sealed mobile and ID number in the web UI: create and edit pages for
those who may manage staff, masked by default, revealed only through the vault door with
a purpose, validated without echoing sealed input."""

from __future__ import annotations

import pytest

from baomi.accounts.models import Level, Role, User
from baomi.audit.models import LedgerEntry
from baomi.vault import door
from conftest import verified_client

pytestmark = pytest.mark.django_db

ID = "11010519491231002X"
ID_BAD_CHECK = "110105194912310021"
MOBILE = "13912345678"


@pytest.fixture
def admin(make_user):
    return make_user("boss_t", role=Role.ADMIN, clearance=Level.CONFIDENTIAL)


@pytest.fixture
def web(admin):
    return verified_client(admin, HTTP_ACCEPT_LANGUAGE="en")


def _new(c, **extra):
    data = {"username": "new.person", "password": "Tall-Ships-Sail-93", "display_name": "新同事",
            "role": "accountant", "clearance": "internal", "department": "记账二部",
            "post": "会计", **extra}
    return c.post("/accounts/staff/new/", data)


def test_admin_creates_staff_with_sealed_mobile_and_id_number(admin, web):
    page = web.get("/accounts/staff/new/").content.decode()
    assert 'name="mobile"' in page and 'name="id_number"' in page
    r = _new(web, mobile="+86 139-1234-5678", id_number="110105 19491231 002x")
    assert r.status_code == 302, r.content.decode()
    person = User.objects.get(username="new.person")
    assert person.department.name == "记账二部" and person.check_password("Tall-Ships-Sail-93")
    assert MOBILE.encode() not in bytes(person.mobile_sealed)
    assert ID.encode() not in bytes(person.id_number_sealed)
    assert person.mobile_bidx and person.id_number_bidx
    assert door.record_read(actor=admin, obj=person, fields=["mobile", "id_number"],
                            purpose="核对") == {"mobile": MOBILE, "id_number": ID}
    write = LedgerEntry.objects.filter(action="staff.manage", object_id=str(person.pk)).last()
    assert write is not None and write.decision == "allowed"
    # The staff list links the account to its edit page for administrators.
    listing = web.get("/staff/").content.decode()
    assert f"/accounts/staff/{person.pk}/edit/" in listing


def test_only_staff_managers_get_the_pages(make_user, admin):
    person = make_user("plain_t")
    for role in (Role.MANAGER, Role.ACCOUNTANT, Role.COMPLIANCE):
        user = make_user(f"u_{role}_t", role=role, clearance=Level.CONFIDENTIAL)
        c = verified_client(user, HTTP_ACCEPT_LANGUAGE="en")
        assert c.get("/accounts/staff/new/").status_code == 403
        assert c.get(f"/accounts/staff/{person.pk}/edit/").status_code == 403
        assert c.get(f"/accounts/staff/{person.pk}/edit/", {"purpose": "x"}).status_code == 403
        assert _new(c, mobile=MOBILE).status_code == 403
        assert f"/accounts/staff/{person.pk}/edit/" not in c.get("/staff/").content.decode()
    assert not User.objects.filter(username="new.person").exists()
    assert not LedgerEntry.objects.filter(action="staff.sensitive.read").exists()


def test_bad_input_is_refused_localized_keeps_other_input_and_echoes_no_sealed_value(web):
    r = _new(web, mobile="12345678901", id_number=ID_BAD_CHECK)
    assert r.status_code == 400
    body = r.content.decode()
    assert "not a mobile number in the mainland number plan" in body
    assert "check character (last character) of this ID number is wrong" in body
    assert "新同事" in body and "记账二部" in body and "new.person" in body
    assert "12345678901" not in body and ID_BAD_CHECK not in body
    assert "Tall-Ships-Sail-93" not in body  # nor the password
    assert "enter them again" in body
    assert not User.objects.filter(username="new.person").exists()
    zh = verified_client(User.objects.get(username="boss_t"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    r = _new(zh, mobile="138")
    assert r.status_code == 400 and 'lang="zh-CN"' in r.content.decode()
    assert "新同事" in r.content.decode()


@pytest.fixture
def person(admin, web):
    assert _new(web, mobile=MOBILE, id_number=ID).status_code == 302
    return User.objects.get(username="new.person")


def test_edit_masks_and_reveals_only_with_a_recorded_purpose(admin, web, person):
    url = f"/accounts/staff/{person.pk}/edit/"
    body = web.get(url).content.decode()
    assert MOBILE not in body and ID not in body and body.count("••••••") == 2
    assert f'method="post" action="{url}"' in body
    before = LedgerEntry.objects.filter(action="staff.sensitive.read").count()
    # A blank purpose reveals nothing and asks the door for nothing.
    body = web.get(url, {"purpose": "   "}).content.decode()
    assert MOBILE not in body
    assert LedgerEntry.objects.filter(action="staff.sensitive.read").count() == before
    body = web.get(url, {"purpose": "社保登记"}).content.decode()
    assert MOBILE in body and ID in body
    read = LedgerEntry.objects.filter(action="staff.sensitive.read").last()
    assert read.purpose == "社保登记" and read.decision == "allowed"
    assert read.object_id == str(person.pk) and read.actor == "boss_t"
    assert MOBILE not in read.reason and ID not in read.reason


def test_edit_keeps_replaces_and_clears(admin, web, person):
    url = f"/accounts/staff/{person.pk}/edit/"
    base = {"display_name": "新同事", "role": "accountant", "clearance": "internal",
            "department": "记账二部", "post": "主管会计"}
    assert web.post(url, base).status_code == 302
    person.refresh_from_db()
    assert person.post == "主管会计"
    fields = ["mobile", "id_number"]
    assert door.record_read(actor=admin, obj=person, fields=fields, purpose="x") == {
        "mobile": MOBILE, "id_number": ID}
    assert web.post(url, {**base, "mobile": "138 0013 8000", "clear_id_number": "on"}
                    ).status_code == 302
    person.refresh_from_db()
    assert door.record_read(actor=admin, obj=person, fields=fields, purpose="x") == {
        "mobile": "13800138000", "id_number": ""}
    assert person.id_number_bidx == "" and person.id_number_sealed is None
    # A blank department removes the person from theirs (a recorded permission change).
    assert web.post(url, {**base, "department": ""}).status_code == 302
    person.refresh_from_db()
    assert person.department is None
    change = LedgerEntry.objects.filter(action="permission.change").last()
    assert change.object_id == str(person.pk) and change.reason.startswith("department:")
    # Bad input changes nothing, not even the valid profile fields sent with it.
    r = web.post(url, {**base, "post": "经理", "id_number": "X"})
    assert r.status_code == 400 and "经理" in r.content.decode()
    person.refresh_from_db()
    assert person.post == "主管会计"


def test_nobody_changes_their_own_role(admin, web):
    url = f"/accounts/staff/{admin.pk}/edit/"
    r = web.post(url, {"role": "accountant", "clearance": "confidential"})
    assert r.status_code == 400
    assert "You cannot change your own role." in r.content.decode()
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN
    # The administrator's own sealed data is edited like anyone's.
    r = web.post(url, {"role": "admin", "clearance": "confidential", "mobile": MOBILE})
    assert r.status_code == 302
    admin.refresh_from_db()
    assert door.record_present(admin, "mobile")


# --- the service checks what the form checks (any other caller gets the same refusal) ---


@pytest.mark.parametrize(
    ("field", "value", "zh"),
    [
        ("mobile", "1391234567", "11 位手机号"),
        ("mobile", "12345678901", "号码"),
        ("id_number", ID_BAD_CHECK, "校验码"),
        ("id_number", "not-an-id", "身份证"),
    ],
)
def test_the_staff_service_refuses_what_the_form_refuses(admin, field, value, zh):
    from django.utils import translation

    from baomi.accounts.services import StaffInput, staff_create, staff_update
    from baomi.errors import ValidationFailed

    person = User.objects.create(username="kept.person", role=Role.ACCOUNTANT)
    entries = LedgerEntry.objects.count()
    with translation.override("zh-hans"), pytest.raises(ValidationFailed) as caught:
        staff_create(actor=admin, username="bad.person", password="Tall-Ships-Sail-93",
                     data=StaffInput(display_name="坏数据", **{field: value}))
    message = " ".join(caught.value.detail["fields"][field])
    assert zh in message and value not in message  # localized, the value not echoed
    with pytest.raises(ValidationFailed):
        staff_update(actor=admin, user=person, data=StaffInput(
            display_name="改", role=person.role, **{field: value}))
    assert not User.objects.filter(username="bad.person").exists()
    person.refresh_from_db()
    assert person.display_name == "" and not person.mobile_sealed and not person.id_number_sealed
    assert LedgerEntry.objects.count() == entries  # nothing happened, nothing recorded


def test_the_staff_service_stores_values_normalized(admin):
    from baomi.accounts.services import StaffInput, staff_create

    data = StaffInput(mobile="+86 139-1234-5678", id_number="110105 19491231 002x")
    person = staff_create(actor=admin, username="norm.person", password="Tall-Ships-Sail-93",
                          data=data)
    assert door.record_read(actor=admin, obj=person, fields=["mobile", "id_number"],
                            purpose="核对") == {"mobile": MOBILE, "id_number": ID}
