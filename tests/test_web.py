"""Server-rendered pages: visibility, forms, search, pagination, headers, CSP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client as HttpClient

from baomi.accounts.models import Role
from baomi.clients.models import Client
from conftest import PASSWORD, verified_client

pytestmark = pytest.mark.django_db
TEMPLATES = Path(__file__).resolve().parent.parent / "baomi" / "templates"


def signed_in(username: str, lang: str = "zh-hans") -> HttpClient:
    c = HttpClient(HTTP_ACCEPT_LANGUAGE=lang)
    r = c.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert r.status_code == 302, r.content
    return c


def test_client_list_shows_only_assigned_clients(make_user, make_client):
    a1, a2 = make_user("acct1"), make_user("acct2")
    make_client(a1, name="可见有限公司")
    hidden = make_client(a2, name="不可见有限公司")
    c = signed_in("acct1")
    body = c.get("/clients/").content.decode()
    assert "可见有限公司" in body and "不可见有限公司" not in body
    assert c.get(f"/clients/{hidden.pk}/").status_code == 404
    assert c.get(f"/clients/{hidden.pk}/edit/").status_code == 404


def test_search_and_htmx_partial_and_pagination(make_user, make_client):
    admin = make_user("boss", role=Role.ACCOUNTANT)
    for i in range(25):
        make_client(admin, name=f"分页测试{i:02d}有限公司")
    target = make_client(admin, name="独一无二有限公司")
    c = signed_in("boss")
    page1 = c.get("/clients/").content.decode()
    assert "第 1 页，共 2 页" in page1
    r = c.get("/clients/", {"q": "独一无二"}, HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert "独一无二有限公司" in body and "<html" not in body
    r = c.get("/clients/", {"q": target.uscc})
    assert "独一无二有限公司" in r.content.decode()


def test_create_client_through_the_form(make_user):
    # Managers create clients (not accountants: docs/access-matrix.md), with 2FA.
    c = verified_client(make_user("mgr3", role=Role.MANAGER), HTTP_ACCEPT_LANGUAGE="zh-hans")
    r = c.post(
        "/clients/new/",
        {
            "name": "表单测试有限公司",
            "uscc": "91350100M000100Y43",
            "legal_representative": "赵六",
            "status": "active",
            "service_types": ["bookkeeping"],
        },
    )
    assert r.status_code == 302
    client = Client.objects.get(name="表单测试有限公司")
    assert list(client.service_types.values_list("code", flat=True)) == ["bookkeeping"]
    detail = c.get(r["Location"]).content.decode()
    assert "表单测试有限公司" in detail and "已新建客户" in detail


def test_form_errors_are_localized_and_keep_input(make_user):
    mgr = make_user("mgr4", role=Role.MANAGER)
    c = verified_client(mgr, HTTP_ACCEPT_LANGUAGE="zh-hans")
    r = c.post(
        "/clients/new/",
        {
            "name": "错误有限公司",
            "uscc": "91350100M000100Y44",
            "legal_representative": "孙七",
            "status": "active",
        },
    )
    assert r.status_code == 400
    body = r.content.decode()
    assert "统一社会信用代码" in body and "错误有限公司" in body
    assert not Client.objects.exists()
    c_en = verified_client(mgr, HTTP_ACCEPT_LANGUAGE="en")
    r = c_en.post(
        "/clients/new/",
        {
            "name": "x",
            "uscc": "bad",
            "legal_representative": "y",
            "status": "active",
            "service_started_on": "2024-13-01",
        },
    )
    body = r.content.decode()
    assert "Not a valid unified social credit code" in body
    assert "Enter a valid date" in body


def test_edit_client(make_user, make_client):
    a = make_user("acct5")
    client = make_client(a, name="旧名称有限公司")
    c = signed_in("acct5")
    form = c.get(f"/clients/{client.pk}/edit/")
    assert "旧名称有限公司" in form.content.decode()
    r = c.post(
        f"/clients/{client.pk}/edit/",
        {
            "name": "新名称有限公司",
            "uscc": client.uscc,
            "legal_representative": "张三",
            "status": "active",
        },
    )
    assert r.status_code == 302
    client.refresh_from_db()
    assert client.name == "新名称有限公司"


def test_read_only_roles_cannot_create(make_user):
    from baomi.audit.models import LedgerEntry

    make_user("audit1", role=Role.INTERNAL_AUDITOR)
    c = signed_in("audit1")
    refused = c.get("/clients/new/")
    assert refused.status_code == 403
    # The page says why, and the refusal is recorded, as the API's would be.
    assert 'role="alert">角色“内部审计”不允许新建客户。<' in refused.content.decode()
    entry = LedgerEntry.objects.filter(action="client.create", actor="audit1").last()
    assert entry is not None and entry.decision == "refused"
    assert entry.reason == "role_not_permitted"
    assert "新建客户" not in c.get("/clients/").content.decode()


def test_staff_list(make_user):
    make_user("acct6", display_name="钱会计", department="记账一部")
    manager = make_user("mgr6", role=Role.MANAGER)
    c = verified_client(manager, HTTP_ACCEPT_LANGUAGE="zh-hans")
    body = c.get("/staff/").content.decode()
    assert "钱会计" in body and "记账一部" in body
    assert 'href="/staff/"' in body
    en = verified_client(manager, HTTP_ACCEPT_LANGUAGE="en").get("/staff/").content.decode()
    assert "<h1>Staff</h1>" in en and "Search name, department or post" in en
    # The matrix does not give accountants or partners `staff.view`: no menu entry, and
    # the page itself is refused.
    acct = signed_in("acct6")
    assert 'href="/staff/"' not in acct.get("/").content.decode()
    refused = acct.get("/staff/")
    assert refused.status_code == 403
    # The page gives the policy's reason, as the API's error does.
    assert 'role="alert">角色“会计”不允许查看员工名录。<' in refused.content.decode()
    partner = make_user("partner9", role=Role.PARTNER)
    assert partner
    assert signed_in("partner9").get("/staff/").status_code == 403


def test_english_is_complete_for_main_pages(make_user, make_client):
    a = make_user("acct7")
    client = make_client(a)
    c = signed_in("acct7", lang="en")
    for url in [
        "/",
        "/clients/",
        f"/clients/{client.pk}/",
        "/clients/new/",
        "/staff/",
        "/accounts/security/",
    ]:
        body = c.get(url).content.decode()
        # Strip data the user entered (company names are Chinese) and check the chrome.
        chrome = re.sub(
            r"<td.*?</td>|<dd>.*?</dd>|<h1>.*?</h1>|<title>.*?</title>|value=\"[^\"]*\"|"
            r"<span class=\"brand-mark[^>]*>.*?</span>",
            "",
            body,
            flags=re.S,
        )
        chrome = chrome.replace("中文", "").replace("简体中文", "")
        leftovers = re.findall(r"[\u4e00-\u9fff]+", chrome)
        assert not leftovers, (url, leftovers[:10])


def test_language_switch(make_user):
    make_user("acct8")
    c = signed_in("acct8")
    assert "客户" in c.get("/clients/").content.decode()
    c.post("/i18n/setlang/", {"language": "en", "next": "/clients/"})
    assert "Clients" in c.get("/clients/").content.decode()


def test_security_headers(make_user):
    r = HttpClient().get("/accounts/login/")
    csp = r["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r["X-Frame-Options"] == "DENY"
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r.cookies["baomi_csrftoken"]["samesite"] == "Lax"
    make_user("acct9")
    c = HttpClient()
    r = c.post("/accounts/login/", {"username": "acct9", "password": PASSWORD})
    cookie = r.cookies["baomi_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def test_no_inline_script_or_handlers_in_templates():
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, (path, tag)
        assert not re.search(r"\son[a-z]+\s*=", text), path
        assert "hx-on" not in text, path


def test_https_settings_when_enabled():
    import os
    import subprocess
    import sys

    code = (
        "import django,os;os.environ['DJANGO_SETTINGS_MODULE']='baomi.settings';django.setup();"
        "from django.conf import settings as s;"
        "print(s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_SSL_REDIRECT)"
    )
    env = dict(os.environ, BAOMI_HTTPS="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["31536000", "True", "True", "True"]
