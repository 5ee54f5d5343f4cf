"""Real-browser checks of the sealed fields: client and staff edit pages (masked, revealed
with a purpose, validation that keeps the other input), and the exact-match search."""

from __future__ import annotations

import pytest

from baomi.accounts.models import Level, Role
from tests.browser import ARTIFACTS, no_horizontal_scroll, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ID = "11010519491231002X"








def test_client_sealed_fields_masked_revealed_and_searched(page, live_server, make_user,
                                                           enrol_totp):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    mgr = make_user("mgr_b", role=Role.MANAGER, clearance=Level.CONFIDENTIAL,
                    department="记账一部", display_name="周主管")
    sign_in(page, live_server.url, "mgr_b", enrol_totp(mgr))
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/clients/new/")
    page.fill("input[name=name]", "密封浏览器有限公司")
    page.fill("input[name=uscc]", "91350100M000100Y43")
    page.fill("input[name=legal_representative]", "钱八")
    page.select_option("select[name=status]", "active")
    page.fill("input[name=legal_rep_id_number]", "110105194912310021")  # wrong check char
    page.fill("input[name=bank_account]", "6222 0212 3456 7890")
    page.click("button:has-text('保存')")
    # Re-shown with the error; the other input kept, the sealed inputs empty.
    page.wait_for_selector("#sealed .field-error")
    assert page.input_value("input[name=name]") == "密封浏览器有限公司"
    assert page.input_value("input[name=legal_rep_id_number]") == ""
    assert page.input_value("input[name=bank_account]") == ""
    assert "6222" not in page.content()
    page.fill("input[name=legal_rep_id_number]", ID)
    page.fill("input[name=bank_account]", "6222 0212 3456 7890")
    page.fill("input[name=address]", "福州市鼓楼区某路1号")
    page.fill("textarea[name=notes]", "年审材料三月底前提交")
    page.click("button:has-text('保存')")
    page.wait_for_selector("text=已新建客户")

    # A contact with a mobile, through the detail page's form.
    page.click("summary")
    page.fill("#c_name", "孙九")
    page.fill("#c_mobile", "139 1234 5678")
    page.click("button:has-text('添加联系人')")
    page.wait_for_selector("#contact-table")
    # Its edit page: masked, revealed with a purpose.
    page.click("#contact-table a:has-text('编辑')")
    page.wait_for_selector("#sealed")
    assert "13912345678" not in page.content()
    page.fill("input[name=purpose]", "回访")
    page.click("#sealed button:has-text('查看明文')")
    page.wait_for_selector("[data-sealed-state=mobile]:has-text('13912345678')")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "contact-edit-revealed-390.png")
    no_horizontal_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("a.btn-ghost")  # Cancel: back to the client

    page.click(".page-head a:has-text('编辑')")
    page.wait_for_selector("#sealed")
    assert ID not in page.content() and "福州市" not in page.content()
    assert page.locator("[data-sealed-state] .masked").count() == 4
    shot(page, "client-edit-masked-1280.png")
    page.fill("input[name=purpose]", "年度核对")
    page.click("#sealed button:has-text('查看明文')")
    page.wait_for_selector(f"[data-sealed-state=legal_rep_id_number]:has-text('{ID}')")
    assert "福州市鼓楼区某路1号" in page.inner_text("[data-sealed-state=address]")
    assert "6222021234567890" in page.inner_text("[data-sealed-state=bank_account]")
    shot(page, "client-edit-revealed-1280.png")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "client-edit-revealed-390.png")
    no_horizontal_scroll(page)

    # Live search by the contact's mobile, typed with a country code.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/clients/")
    page.fill("input[name=purpose]", "核对联系人")  # a search confirms values: F08
    page.fill("input[name=q]", "+86 13912345678")
    page.wait_for_selector("#contact-match-table")
    assert "孙九" in page.inner_text("#contact-match-table")
    assert "13912345678" not in page.inner_text("#rows")
    assert "密封浏览器有限公司" in page.inner_text("#client-table")
    shot(page, "client-search-mobile-1280.png")


def test_staff_sealed_fields_created_masked_and_revealed(page, live_server, make_user,
                                                         enrol_totp):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    admin = make_user("boss_b", role=Role.ADMIN, clearance=Level.CONFIDENTIAL)
    sign_in(page, live_server.url, "boss_b", enrol_totp(admin))
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/staff/")
    page.click("a[href='/accounts/staff/new/']")
    page.fill("input[name=username]", "li.si")
    page.fill("input[name=password]", "Tall-Ships-Sail-93")
    page.fill("input[name=display_name]", "李四")
    page.fill("input[name=department]", "记账二部")
    page.fill("input[name=mobile]", "12345678901")  # not in the number plan
    page.fill("input[name=id_number]", ID)
    page.click("button:has-text('保存')")
    page.wait_for_selector("#sealed .field-error")
    assert page.input_value("input[name=display_name]") == "李四"
    assert page.input_value("input[name=id_number]") == ""
    page.fill("input[name=password]", "Tall-Ships-Sail-93")
    page.fill("input[name=mobile]", "138 0013 8000")
    page.fill("input[name=id_number]", ID)
    page.click("button:has-text('保存')")
    page.wait_for_url(f"{live_server.url}/staff/")

    page.click("a:has-text('李四')")
    page.wait_for_selector("#sealed")
    assert "13800138000" not in page.content() and ID not in page.content()
    shot(page, "staff-edit-masked-1280.png")
    page.fill("input[name=purpose]", "社保登记")
    page.click("#sealed button:has-text('查看明文')")
    page.wait_for_selector("[data-sealed-state=mobile]:has-text('13800138000')")
    assert ID in page.inner_text("[data-sealed-state=id_number]")
    shot(page, "staff-edit-revealed-1280.png")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "staff-edit-revealed-390.png")
    no_horizontal_scroll(page)
