"""Real-browser checks: Playwright driving Debian's Chromium against a live server."""

from __future__ import annotations

import pytest

from baomi.accounts.models import Level, Role
from conftest import PASSWORD
from tests.browser import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_with_2fa_create_client_and_see_it_listed(page, live_server, make_user, enrol_totp):
    ARTIFACTS.mkdir(exist_ok=True)
    user = make_user("manager", role=Role.MANAGER, clearance=Level.CONFIDENTIAL,
                     department="记账一部", display_name="周主管")
    device = enrol_totp(user)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.screenshot(path=str(ARTIFACTS / "login-1280.png"))
    sign_in(page, live_server.url, "manager", device)
    assert page.locator("h1").first.inner_text() == "工作台"

    page.click("nav >> text=客户")
    page.click("text=新建客户")
    page.fill("input[name=name]", "浏览器测试有限公司")
    page.fill("input[name=uscc]", "91350100M000100Y43")
    page.fill("input[name=legal_representative]", "钱八")
    page.select_option("select[name=status]", "active")
    page.check("input[value=bookkeeping]")
    page.click("button:has-text('保存')")
    page.wait_for_selector("text=已新建客户")
    assert "浏览器测试有限公司" in page.locator("h1").inner_text()

    page.click("nav >> text=客户")
    page.fill("input[name=q]", "浏览器")
    page.wait_for_function(
        "document.querySelectorAll('#client-table tbody tr').length === 1"
        " && document.querySelector('#client-table').innerText.includes('浏览器测试有限公司')"
    )
    page.screenshot(path=str(ARTIFACTS / "clients-1280.png"), full_page=True)

    # Phone width: the navigation collapses behind the menu button and still works.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/clients/")
    assert not page.locator("#sidenav").is_visible()
    page.click("[data-menu-toggle]")
    assert page.locator("#sidenav").is_visible()
    page.screenshot(path=str(ARTIFACTS / "clients-390.png"), full_page=True)
    # No horizontal scrolling at phone width.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1


def test_csp_allows_the_page_scripts(page, live_server, make_user):
    """htmx and app.js load under the strict CSP: no violations are reported."""
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    make_user("acct1")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "acct1")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/clients/")
    assert page.evaluate("typeof htmx") == "object"
    assert violations == []
