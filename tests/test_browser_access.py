"""Real-browser checks of the governance registers: Playwright driving Debian's Chromium
against a live server. A compliance officer signs in with a second factor, registers a
signed agreement with its scan, sees the expiry states, registers a partner
organisation (a duplicate name is refused on the page), orders the purpose list, and
the pages hold at phone width. Screenshots go to $BAOMI_TEST_ARTIFACTS."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from baomi.access import services
from baomi.access.models import ConfidentialityAgreement, PartnerOrganisation, Purpose
from baomi.accounts.models import Level, Role
from tests.browser import ARTIFACTS, no_horizontal_scroll, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PDF = b"%PDF-1.4\n% signed agreement\n%%EOF\n"






def test_governance_registers_in_a_browser(page, live_server, make_user, enrol_totp,
                                           tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    officer = make_user("compliance", role=Role.COMPLIANCE, clearance=Level.SECRET,
                        display_name="孙保密")
    device = enrol_totp(officer)
    acct = make_user("acct1", department="记账一部", display_name="李会计", compliant=False)
    lapsed = make_user("acct2", department="记账一部", display_name="王会计",
                       compliant=False)
    now = timezone.now()
    services.agreement_record(actor=officer, person=lapsed, kind="employee",
                              valid_from=now - timedelta(days=400),
                              valid_to=now - timedelta(days=3), scan=PDF, scan_name="旧协议.pdf")
    services.partner_org_create(actor=officer, name="华信税务师事务所")
    scan = tmp_path / "保密协议.pdf"
    scan.write_bytes(PDF)

    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server.url, officer.username, device)
    page.click('nav >> a[href="/access/agreements/"]')
    page.wait_for_url("**/access/agreements/")
    assert page.locator("#agreement-list .state-expired").count() == 1

    # Register acct1's signed agreement with its scan.
    page.select_option("select[name=person]", str(acct.pk))
    # Choosing the person narrows the types to the one their role can hold (htmx swap).
    page.wait_for_function(
        "() => [...document.querySelectorAll('select[name=kind] option')]"
        ".filter(o => o.value).map(o => o.value).join() === 'employee'")
    page.select_option("select[name=kind]", "employee")
    page.set_input_files("input[name=file]", str(scan))
    page.click("#register button[type=submit]")
    page.wait_for_selector(".alert-success")
    row = ConfidentialityAgreement.objects.get(person=acct)
    assert row.scan_size == len(PDF)
    assert page.locator(f'a[href="/access/agreements/{row.pk}/scan/"]').count() == 1
    assert page.locator(f'tr:has(a[href="/access/agreements/{row.pk}/scan/"]) .state-valid'
                        ).count() == 1
    page.screenshot(path=str(ARTIFACTS / "agreements-1280.png"), full_page=True)

    # A file that is not a PDF or an image is refused on the page; nothing is stored.
    bad = tmp_path / "scan.txt"
    bad.write_bytes(b"just text")
    page.select_option("select[name=person]", str(lapsed.pk))
    page.fill("input[name=valid_from]", (timezone.localdate() + timedelta(days=1)).isoformat())
    page.set_input_files("input[name=file]", str(bad))
    page.click("#register button[type=submit]")
    page.wait_for_selector("#register .alert-error")
    assert ConfidentialityAgreement.objects.filter(person=lapsed).count() == 1

    # The scan comes back through the door as a download.
    with page.expect_download() as info:
        page.click(f'a[href="/access/agreements/{row.pk}/scan/"]')
    assert Path(info.value.path()).read_bytes() == PDF

    # Partner organisations: a duplicate name is refused, a new one registered.
    page.click('a[href="/access/partners/"]')
    page.fill("input[name=name]", "华信税务师事务所")
    page.click("#register button[type=submit]")
    page.wait_for_selector("#register .field-error")
    page.fill("input[name=name]", "立信会计师事务所")
    page.click("#register button[type=submit]")
    page.wait_for_url("**/access/partners/*/")
    assert PartnerOrganisation.objects.filter(name="立信会计师事务所").exists()
    page.screenshot(path=str(ARTIFACTS / "partner-1280.png"), full_page=True)

    # Purposes: add one and move it up a place.
    page.click('a[href="/access/purposes/"]')
    page.fill("input[name=new-text]", "年度审计")
    page.click("#add button[type=submit]")
    page.wait_for_selector(".alert-success")
    added = Purpose.objects.get(text="年度审计")
    page.click(f"#purpose-{added.pk} button[value=up]")
    page.wait_for_selector(f"#purpose-{added.pk}")
    texts = list(Purpose.objects.order_by("position", "id").values_list("text", flat=True))
    assert texts.index("年度审计") == len(texts) - 2
    page.screenshot(path=str(ARTIFACTS / "purposes-1280.png"), full_page=True)

    # Phone width: every register fits without horizontal scrolling, menu included.
    page.set_viewport_size({"width": 390, "height": 844})
    for name, path in (("agreements", "/access/agreements/"), ("trainings", "/access/trainings/"),
                       ("partners", "/access/partners/"), ("purposes", "/access/purposes/")):
        page.goto(f"{live_server.url}{path}")
        no_horizontal_scroll(page)
        page.screenshot(path=str(ARTIFACTS / f"{name}-390.png"), full_page=True)
    page.click("[data-menu-toggle]")
    assert page.locator('#sidenav a[href="/access/agreements/"]').is_visible()
    page.screenshot(path=str(ARTIFACTS / "menu-390.png"))


def test_a_refused_page_says_why_in_a_browser(page, live_server, make_user, enrol_totp):
    """An accountant who opens the staff directory or the audit log by its address gets
    the refusal page with the policy's reason, readable at 1280 px and at phone width."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    acct = make_user("acct_refused", department="记账一部", display_name="周会计")
    device = enrol_totp(acct)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server.url, acct.username, device)
    assert page.locator('nav >> a[href="/staff/"]').count() == 0
    assert page.locator('nav >> a[href="/audit/"]').count() == 0
    for path, reason in (("/staff/", "角色“会计”不允许查看员工名录。"),
                         ("/audit/", "角色“会计”不允许查看审计日志。")):
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.status == 403
        assert page.locator('[role="alert"]').inner_text() == reason
    page.screenshot(path=str(ARTIFACTS / "refused-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.locator('[role="alert"]').is_visible()
    no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "refused-390.png"), full_page=True)
