"""An access review shows what each grant covers: the levels, categories and listed
documents of a client authorization or query request (kept on the review item, so the
export still says it after the grant is gone), and "by role and clearance" for an
assignment; on the page, in the XLSX and in the PDF, in the reader's language."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from baomi.access import exports, services
from baomi.access.models import (
    AuthorizationVia,
    ClientAuthorization,
    GrantKind,
    ReviewItem,
)
from baomi.accounts.models import Level, Role
from conftest import verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(make_user: Any, make_client: Any) -> Any:
    manager = make_user("manager", role=Role.MANAGER, department="一部", clearance=Level.SECRET)
    acct = make_user("acct", department="一部", clearance=Level.SECRET)
    compliance = make_user("compliance", role=Role.COMPLIANCE, clearance=Level.SECRET)
    partner = make_user("partner", role=Role.PARTNER, clearance=Level.CONFIDENTIAL)
    client = make_client(manager, name="恒信贸易有限公司")
    services.assignment_add(actor=manager, client=client, user=acct)
    now = timezone.now()
    ClientAuthorization.objects.create(
        client=client, grantee_user=partner, scope_levels=["confidential", "internal"],
        scope_categories=["personal"], scope_document_ids=[41], valid_from=now,
        valid_to=now + timedelta(days=30), via=AuthorizationVia.PORTAL)
    request = services.request_create(
        actor=acct, client=client,
        scope=services.ScopeInput(levels=["secret"], categories=["financial"]),
        purpose="年度审计", valid_from=now, valid_to=now + timedelta(days=3))
    services.request_approve(actor=manager, request=request)
    made = services.review_campaign_create(actor=compliance, name="第四季度审查",
                                           deadline=now + timedelta(days=7))
    return {"campaign": made, "compliance": compliance, "manager": manager}


def _item(campaign: Any, kind: str) -> ReviewItem:
    return ReviewItem.objects.get(campaign=campaign, grant_kind=kind)


def test_review_items_keep_the_scope_of_their_grant(campaign):
    made = campaign["campaign"]
    auth = _item(made, GrantKind.AUTHORIZATION)
    assert (auth.scope_levels, auth.scope_categories, auth.scope_document_ids) == (
        ["confidential", "internal"], ["personal"], [41])
    query = _item(made, GrantKind.QUERY_REQUEST)
    assert (query.scope_levels, query.scope_categories) == (["secret"], ["financial"])
    # Kept as it was: a later change to the grant does not rewrite what was reviewed.
    ClientAuthorization.objects.update(scope_levels=["public"])
    auth.refresh_from_db()
    assert auth.scope_levels == ["confidential", "internal"]


def test_the_review_page_shows_details_and_scope_in_the_readers_language(campaign):
    made = campaign["campaign"]
    c = verified_client(campaign["compliance"])
    body = c.get(f"/access/reviews/{made.pk}/").content.decode()
    assert "范围" in body and "详情" in body
    assert "内部, 机密 · 个人信息 · #41" in body  # levels in rank order, then categories
    assert "绝密 · 财务数据" in body and "年度审计" in body
    assert "按岗位和密级授权" in body
    c = verified_client(campaign["compliance"], HTTP_ACCEPT_LANGUAGE="en")
    body = c.get(f"/access/reviews/{made.pk}/").content.decode()
    assert "Internal, Confidential · Personal information · #41" in body
    assert "By role and clearance" in body


def test_the_exports_have_a_scope_column(campaign):
    import openpyxl
    from pypdf import PdfReader

    made = campaign["campaign"]
    ws = openpyxl.load_workbook(io.BytesIO(exports.review_xlsx(made))).active
    assert ws is not None
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    column = rows[1].index("范围")
    assert rows[1][column - 1] == "详情"
    scopes = {row[column] for row in rows[2:]}
    assert {"内部, 机密 · 个人信息 · #41", "绝密 · 财务数据", "按岗位和密级授权"} <= scopes
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(exports.review_pdf(made))).pages)
    assert "个人信息" in text and "财务数据" in text


def test_an_item_from_before_scopes_were_kept_shows_none(campaign):
    made = campaign["campaign"]
    item = _item(made, GrantKind.AUTHORIZATION)
    ReviewItem.objects.filter(pk=item.pk).update(scope_levels=[], scope_categories=[],
                                                 scope_document_ids=[])
    from baomi.access.selectors import review_item_scope

    item.refresh_from_db()
    assert review_item_scope(item) == ""
    c = verified_client(campaign["compliance"])
    assert c.get(f"/access/reviews/{made.pk}/").status_code == 200


def test_the_migration_gives_earlier_items_the_scope_of_their_grant(campaign):
    """Items made before scopes were kept get their grant's scope where the grant still
    exists; an item whose grant is gone stays empty (its scope is not known)."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("baomi.access.migrations.0009_review_item_scope")
    made = campaign["campaign"]
    gone = ReviewItem.objects.create(campaign=made, grant_kind=GrantKind.QUERY_REQUEST,
                                     grant_id=987654, holder="x", client_name="x")
    ReviewItem.objects.update(scope_levels=[], scope_categories=[], scope_document_ids=[])
    migration.fill_scopes(apps, None)
    auth = _item(made, GrantKind.AUTHORIZATION)
    assert (auth.scope_levels, auth.scope_categories, auth.scope_document_ids) == (
        ["confidential", "internal"], ["personal"], [41])
    query = ReviewItem.objects.get(campaign=made, grant_kind=GrantKind.QUERY_REQUEST,
                                   holder="acct")
    assert query.scope_levels == ["secret"]
    gone.refresh_from_db()
    assert (gone.scope_levels, gone.scope_categories, gone.scope_document_ids) == ([], [], [])
    assert _item(made, GrantKind.ASSIGNMENT).scope_levels == []


def test_the_api_gives_each_items_scope(campaign):
    from django.test import Client as HttpClient

    from baomi.accounts import services as accounts

    made = campaign["campaign"]
    token = accounts.token_create(user=campaign["compliance"]).plaintext
    api = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = api.get(f"/api/v1/access-reviews/{made.pk}").json()
    items = {i["grant_kind"]: i for i in body["items"]}
    assert items["authorization"]["scope_levels"] == ["confidential", "internal"]
    assert items["authorization"]["scope_document_ids"] == [41]
    assert items["query_request"]["scope_categories"] == ["financial"]
    assert items["query_request"]["description"] == "年度审计"
    assert items["assignment"]["scope_levels"] == []
