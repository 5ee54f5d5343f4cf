"""The REST API: authentication, visibility, validation and the error contract."""

from __future__ import annotations

import json

import pytest
from django.test import Client as HttpClient

from baomi.accounts import services
from baomi.accounts.models import Role
from baomi.audit.models import LedgerEntry
from baomi.clients.models import Client
from conftest import PASSWORD, verified_client

pytestmark = pytest.mark.django_db
VALID = "91350100M000100Y43"


@pytest.fixture
def firm(make_user, make_client):
    admin = make_user("admin", role=Role.ADMIN)
    a1 = make_user("acct1")
    a2 = make_user("acct2")
    c1 = make_client(a1, name="甲公司")
    c2 = make_client(a2, name="乙公司")
    return {"admin": admin, "a1": a1, "a2": a2, "c1": c1, "c2": c2}


def bearer(user) -> HttpClient:
    token = services.token_create(user=user).plaintext
    return HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "detail"}
    assert body["code"] == code
    assert body["message"]
    return body


def test_healthz():
    r = HttpClient().get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["version"]


def test_openapi_schema_lists_endpoints():
    r = HttpClient().get("/api/v1/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for p in (
        "/api/v1/clients",
        "/api/v1/clients/{client_id}",
        "/api/v1/staff",
        "/api/v1/staff/{user_id}",
        "/api/v1/staff/me",
    ):
        assert p in paths
    assert HttpClient().get("/api/v1/docs").status_code == 200


@pytest.mark.parametrize(("lang", "text"), [("en", "Not found."), ("zh-hans", "未找到。")])
def test_unknown_api_paths_are_json_404(lang, text):
    for path in ("/api/v1/no-such-thing", "/api/v1/staff/abc", "/api/v2/clients"):
        r = HttpClient(HTTP_ACCEPT_LANGUAGE=lang).get(path)
        assert r.status_code == 404 and r["Content-Type"].startswith("application/json")
        assert r.json() == {"code": "not_found", "message": text, "detail": {}}
    page = HttpClient().get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_a_server_error_under_the_api_is_json():
    from django.test import RequestFactory
    from django.utils import translation

    from baomi.core.views import error_500

    with translation.override("zh-hans"):
        r = error_500(RequestFactory().get("/api/v1/clients"))
    body = json.loads(r.content)
    assert r.status_code == 500 and body["code"] == "server_error"
    assert "数据没有改变" in body["message"] and body["detail"] == {}
    assert error_500(RequestFactory().get("/clients/"))["Content-Type"].startswith("text/html")


def test_anonymous_is_401_json():
    assert_error(HttpClient().get("/api/v1/clients"), 401, "unauthenticated")


@pytest.mark.parametrize(
    "header",
    ["Bearer bm_deadbeef0000_forged", "Bearer nonsense", "Basic YWRtaW46YWRtaW4=", "Bearer "],
)
def test_forged_tokens_are_401(firm, header):
    r = HttpClient(HTTP_AUTHORIZATION=header).get("/api/v1/clients")
    assert_error(r, 401, "unauthenticated")


def test_revoked_and_deactivated_tokens_are_401(firm):
    issued = services.token_create(user=firm["a1"])
    c = HttpClient(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    assert c.get("/api/v1/clients").status_code == 200
    services.token_revoke(prefix=issued.token.prefix)
    # The holder of a real token is told why it stopped working.
    body = assert_error(c.get("/api/v1/clients"), 401, "token_refused")
    assert body["detail"] == {"reason": "revoked"}
    other = services.token_create(user=firm["a1"]).plaintext
    services.user_deactivate(user=firm["a1"])  # revokes the person's tokens too
    r = HttpClient(HTTP_AUTHORIZATION=f"Bearer {other}").get("/api/v1/clients")
    assert assert_error(r, 401, "token_refused")["detail"] == {"reason": "revoked"}
    # A made-up token learns nothing.
    r = HttpClient(HTTP_AUTHORIZATION="Bearer bm_0123456789ab_x").get("/api/v1/clients")
    assert_error(r, 401, "unauthenticated")


def test_accountant_sees_only_assigned_clients(firm):
    r = bearer(firm["a1"]).get("/api/v1/clients")
    assert r.status_code == 200
    names = [c["name"] for c in r.json()["items"]]
    assert names == ["甲公司"]
    assert r.json()["count"] == 1
    # Someone else's client is indistinguishable from a missing one.
    r = bearer(firm["a1"]).get(f"/api/v1/clients/{firm['c2'].pk}")
    assert_error(r, 404, "client_not_found")
    r = bearer(firm["admin"]).get("/api/v1/clients")
    assert r.json()["count"] == 2


def test_create_client_and_validation_errors_name_the_field(firm):
    c = bearer(firm["admin"])
    r = c.post(
        "/api/v1/clients",
        {
            "name": "丙公司",
            "uscc": VALID,
            "legal_representative": "丙",
            "service_types": ["bookkeeping"],
        },
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["uscc"] == VALID and r.json()["service_types"] == ["bookkeeping"]
    # Duplicate USCC
    r = c.post(
        "/api/v1/clients",
        {"name": "丁公司", "uscc": VALID, "legal_representative": "丁"},
        content_type="application/json",
    )
    assert_error(r, 409, "uscc_taken")
    # Bad check character
    r = c.post(
        "/api/v1/clients",
        {"name": "戊公司", "uscc": VALID[:-1] + "4", "legal_representative": "戊"},
        content_type="application/json",
    )
    body = assert_error(r, 422, "validation_error")
    assert "uscc" in body["detail"]["fields"]
    # Invalid date
    r = c.post(
        "/api/v1/clients",
        {
            "name": "己公司",
            "uscc": "91110000600037341L",
            "legal_representative": "己",
            "service_started_on": "2024-02-30",
        },
        content_type="application/json",
    )
    body = assert_error(r, 422, "validation_error")
    assert "service_started_on" in body["detail"]["fields"]
    assert Client.objects.filter(name__in=["丁公司", "戊公司", "己公司"]).count() == 0


def test_unknown_fields_and_wrong_types_are_refused(firm):
    c = bearer(firm["admin"])
    r = c.post(
        "/api/v1/clients",
        {"name": "丙", "uscc": VALID, "legal_representative": "丙", "is_admin": True},
        content_type="application/json",
    )
    body = assert_error(r, 422, "validation_error")
    assert "is_admin" in body["detail"]["fields"]
    r = c.post(
        "/api/v1/clients",
        {"name": ["x"], "uscc": 5, "legal_representative": "丙"},
        content_type="application/json",
    )
    body = assert_error(r, 422, "validation_error")
    assert {"name", "uscc"} <= set(body["detail"]["fields"])


def test_malformed_json_is_400(firm):
    r = bearer(firm["admin"]).post("/api/v1/clients", "{not json", content_type="application/json")
    assert_error(r, 400, "malformed_json")


def test_oversized_body_is_413(firm, settings):
    big = json.dumps(
        {
            "name": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10),
            "uscc": VALID,
            "legal_representative": "x",
        }
    )
    r = bearer(firm["admin"]).post("/api/v1/clients", big, content_type="application/json")
    assert_error(r, 413, "request_too_large")
    assert Client.objects.count() == 2


def test_patch_client(firm):
    c = bearer(firm["a1"])
    url = f"/api/v1/clients/{firm['c1'].pk}"
    r = c.patch(
        url,
        {"status": "service_ended", "service_ended_on": "2025-06-30"},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "service_ended"
    r = c.patch(f"/api/v1/clients/{firm['c2'].pk}", {"name": "x"}, content_type="application/json")
    assert_error(r, 404, "client_not_found")
    r = c.patch(url, {"status": "deregistered"}, content_type="application/json")
    assert_error(r, 422, "validation_error")


def test_session_auth_requires_csrf_for_writes(firm):
    c = HttpClient(enforce_csrf_checks=True)
    assert (
        c.post("/accounts/login/", {"username": "acct1", "password": PASSWORD}).status_code == 403
    )
    c.get("/accounts/login/")
    token = c.cookies["baomi_csrftoken"].value
    r = c.post(
        "/accounts/login/",
        {"username": "acct1", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert r.status_code == 302
    assert c.get("/api/v1/clients").status_code == 200
    # A write the accountant may make (their assigned client): only the CSRF header differs.
    payload = {"legal_representative": "庚"}
    url = f"/api/v1/clients/{firm['c1'].pk}"
    r = c.patch(url, payload, content_type="application/json")
    assert r.status_code in (401, 403)
    r = c.patch(
        url,
        payload,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=c.cookies["baomi_csrftoken"].value,
    )
    assert r.status_code == 200, r.content


def test_staff_endpoints(firm, make_user):
    admin = bearer(firm["admin"])
    r = admin.get("/api/v1/staff?q=acct")
    assert r.status_code == 200 and r.json()["count"] == 2
    r = admin.post(
        "/api/v1/staff",
        {
            "username": "NewHire",
            "password": "A-long-enough-pw-9",
            "role": "accountant",
            "department": "记账三部",
        },
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    new = r.json()
    assert new["username"] == "newhire" and new["department"] == "记账三部"
    r = admin.post(
        "/api/v1/staff",
        {"username": "x", "password": "123", "role": "accountant"},
        content_type="application/json",
    )
    assert "password" in assert_error(r, 422, "validation_error")["detail"]["fields"]
    r = admin.post(
        "/api/v1/staff",
        {"username": "y", "password": "A-long-enough-pw-9", "role": "wizard"},
        content_type="application/json",
    )
    assert "role" in assert_error(r, 422, "validation_error")["detail"]["fields"]
    # Accountants may neither read the staff directory (the matrix gives `staff.view` to
    # administrators, managers, compliance and internal auditors) nor change it.
    acct = bearer(firm["a1"])
    body = assert_error(acct.get("/api/v1/staff"), 403, "access_denied")
    assert body["detail"]["rule"] == "role_not_permitted"
    assert_error(acct.get(f"/api/v1/staff/{new['id']}"), 403, "access_denied")
    r = acct.patch(f"/api/v1/staff/{new['id']}", {"post": "x"}, content_type="application/json")
    assert assert_error(r, 403, "access_denied")["detail"]["rule"] == "role_not_permitted"
    assert LedgerEntry.objects.filter(action="staff.update", actor=firm["a1"].username,
                                      decision="refused").exists()
    refused = LedgerEntry.objects.filter(action="staff.view", actor=firm["a1"].username)
    assert refused.count() == 2 and {e.decision for e in refused} == {"refused"}
    # A manager may read it.
    manager = make_user("mgr_staff", role=Role.MANAGER)
    assert bearer(manager).get("/api/v1/staff").status_code == 200
    # Deactivation through the API revokes the person's tokens at once.
    victim_token = services.token_create(user=firm["a2"]).plaintext
    r = admin.patch(
        f"/api/v1/staff/{firm['a2'].pk}", {"is_active": False}, content_type="application/json"
    )
    assert r.status_code == 200 and r.json()["is_active"] is False
    r = HttpClient(HTTP_AUTHORIZATION=f"Bearer {victim_token}").get("/api/v1/clients")
    assert r.status_code == 401


def test_partner_and_client_users_cannot_list_staff(firm, make_user):
    partner = make_user("pp", role=Role.PARTNER)
    assert_error(bearer(partner).get("/api/v1/staff"), 403, "access_denied")
    company = Client.objects.create(name="门户公司", uscc="91350100M000100Y43")
    client_user = make_user("cc_staff", role=Role.CLIENT, portal_client_id=company.pk)
    assert_error(bearer(client_user).get("/api/v1/staff"), 403, "access_denied")
    # Nor may a portal user read their account as staff: they are not staff.
    assert_error(bearer(client_user).get("/api/v1/staff/me"), 403, "access_denied")
    r = bearer(client_user).get(f"/api/v1/staff/{client_user.pk}")
    assert_error(r, 403, "access_denied")


@pytest.mark.parametrize("role", [r for r in Role if r != Role.CLIENT])
def test_every_staff_role_reads_its_own_account(firm, make_user, role):
    me = make_user(f"self_{role}", role=role, department="记账一部")
    api = bearer(me)
    for path in ("/api/v1/staff/me", f"/api/v1/staff/{me.pk}"):
        r = api.get(path)
        assert r.status_code == 200, r.content
        body = r.json()
        assert (body["id"], body["username"], body["role"]) == (me.pk, me.username, role)
        assert body["department"] == "记账一部"
    other = api.get(f"/api/v1/staff/{firm['a2'].pk}")
    if role in (Role.ADMIN, Role.MANAGER, Role.COMPLIANCE, Role.INTERNAL_AUDITOR):
        assert other.status_code == 200  # `staff.view` in the matrix
    else:  # only their own
        assert_error(other, 403, "access_denied")
    assert_error(api.get("/api/v1/staff/abc"), 404, "not_found")


def test_localized_error_messages(firm):
    zh = HttpClient(HTTP_ACCEPT_LANGUAGE="zh-hans")
    body = zh.get("/api/v1/clients").json()
    assert body["code"] == "unauthenticated"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])


def test_the_whole_audit_log_follows_the_access_matrix(firm, make_user):
    """`ledger.view`: administrators, compliance and internal auditors. An external
    auditor reads only the access history of the clients of their engagement."""
    from django.utils import translation

    allowed = make_user("ia_log", role=Role.INTERNAL_AUDITOR)
    assert bearer(allowed).get("/api/v1/ledger/entries").status_code == 200
    outsider = make_user("ea_log", role=Role.EXTERNAL_AUDITOR)
    with translation.override("en"):
        body = assert_error(bearer(outsider).get("/api/v1/ledger/entries"), 403,
                            "access_denied")
    assert body["detail"]["rule"] == "role_not_permitted"
    assert "may not view the audit log" in body["message"]
    refused = LedgerEntry.objects.filter(action="ledger.view", actor="ea_log").last()
    assert refused is not None and refused.decision == "refused"
    assert refused.reason == "role_not_permitted"
    web = verified_client(outsider)
    assert 'href="/audit/' not in web.get("/").content.decode()
    page = web.get("/audit/")
    assert page.status_code == 403 and "不允许查看审计日志" in page.content.decode()
