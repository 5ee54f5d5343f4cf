"""Real-browser check of an access review campaign's page: each grant's details and
scope are shown, at desktop and phone width (screenshots in $BAOMI_TEST_ARTIFACTS)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from baomi.access import services
from baomi.access.models import AuthorizationVia, ClientAuthorization
from baomi.accounts.models import Level, Role
from tests.browser import ARTIFACTS, no_horizontal_scroll, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_review_page_shows_what_each_grant_covers(page, live_server, make_user, make_client,
                                                  enrol_totp):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    manager = make_user("manager", role=Role.MANAGER, department="一部", clearance=Level.SECRET)
    officer = make_user("compliance", role=Role.COMPLIANCE, clearance=Level.SECRET,
                        display_name="孙保密")
    partner = make_user("partner", role=Role.PARTNER, clearance=Level.CONFIDENTIAL)
    client = make_client(manager, name="恒信贸易有限公司")
    now = timezone.now()
    ClientAuthorization.objects.create(
        client=client, grantee_user=partner, scope_levels=["internal", "confidential"],
        scope_categories=["financial"], valid_from=now, valid_to=now + timedelta(days=30),
        via=AuthorizationVia.PORTAL)
    campaign = services.review_campaign_create(actor=officer, name="第四季度权限审查",
                                               deadline=now + timedelta(days=7))
    device = enrol_totp(officer)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server.url, officer.username, device)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/access/reviews/{campaign.pk}/")
        row = page.locator("tr", has_text="partner")
        assert row.locator("td", has_text="内部, 机密 · 财务数据").count() == 1
        if width == 1280:  # the period (the phone layout leaves it out)
            assert row.locator("td", has_text=str(now.date())).count() == 1
        no_horizontal_scroll(page)
        shot(page, f"access-review-scope-{width}.png")
