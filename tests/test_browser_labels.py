"""Real-browser check of the pages that name ledger actions and matrix cells: the access
matrix and the audit log, at desktop and phone width (screenshots in
$BAOMI_TEST_ARTIFACTS)."""

from __future__ import annotations

import pytest

from baomi.accounts.models import Level, Role
from baomi.audit.events import record
from tests.browser import ARTIFACTS, no_horizontal_scroll, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_matrix_and_audit_log_name_actions(page, live_server, make_user, enrol_totp):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    officer = make_user("compliance", role=Role.COMPLIANCE, clearance=Level.SECRET,
                        display_name="孙保密")
    device = enrol_totp(officer)
    record(officer, "document.download", object_type="document", object_id=1,
           purpose="月度记账")
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server.url, officer.username, device)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/access/matrix/")
        assert page.locator("#role-accountant th:has-text('绝密')").count() == 1
        assert page.locator("#role-accountant td:has-text('负责的客户')").count() > 0
        no_horizontal_scroll(page)
        shot(page, f"access-matrix-{width}.png")
        page.goto(f"{live_server.url}/audit/?action=document.download")
        assert page.locator("td:has-text('下载文件')").count() == 1
        no_horizontal_scroll(page)
        shot(page, f"audit-log-labels-{width}.png")
