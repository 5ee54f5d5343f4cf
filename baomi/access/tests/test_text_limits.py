"""Typed purposes, reasons and notes are refused when too long, never cut: a purpose
approved in one form must be restatable on every read (`purpose_not_approved`); form
refusal messages come from `formsig.MESSAGES`; scopes show the levels' and categories'
labels, not their stored values."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone, translation

from baomi.access import exports, formsig, selectors, services
from baomi.access.models import (
    AuthorizationForm,
    BreakGlassRead,
    ClientAuthorization,
    QueryRequest,
    ReviewItem,
)
from baomi.access.tests.test_services import _read, _second_manager, _terms, firm, period
from baomi.audit import services as audit_services
from baomi.audit.models import LedgerEntry
from baomi.errors import ValidationFailed
from baomi.policy.text import PURPOSE_LIMIT, REASON_LIMIT
from baomi.testing.pdfsign import sign_pdf
from baomi.vault import door
from conftest import verified_client

pytestmark = pytest.mark.django_db
__all__ = ["firm"]  # the fixture, shared with test_services

LONG_PURPOSE = "核" * (PURPOSE_LIMIT + 1)
LONG_REASON = "因" * (REASON_LIMIT + 1)


def _refusal(action: str, reason: str) -> LedgerEntry:
    entry = LedgerEntry.objects.filter(action=action, decision="refused",
                                       reason__startswith=reason).order_by("-seq").first()
    assert entry is not None, (action, reason)
    return entry


def _too_long(err: ValidationFailed, code: str, field: str, limit: int) -> None:
    assert err.code == code
    assert err.detail["fields"] == {field: [str(err.message)]}
    assert err.detail["max_length"] == limit
    assert str(limit) in str(err.message)


# --- Purposes: one limit for the request and the read ------------------------------------


def test_the_limits_fit_the_columns_and_the_ledger():
    assert audit_services.MAX_TEXT >= PURPOSE_LIMIT
    assert LedgerEntry._meta.get_field("purpose").max_length >= PURPOSE_LIMIT
    assert QueryRequest._meta.get_field("purpose").max_length == PURPOSE_LIMIT
    # A review item shows a request's purpose whole.
    assert ReviewItem._meta.get_field("description").max_length >= PURPOSE_LIMIT
    assert QueryRequest._meta.get_field("decision_note").max_length == REASON_LIMIT
    assert ClientAuthorization._meta.get_field("revoke_reason").max_length == REASON_LIMIT
    for name in ("reason", "review_note"):
        assert BreakGlassRead._meta.get_field(name).max_length == REASON_LIMIT


def test_an_over_long_request_purpose_is_refused_not_cut(firm):
    with pytest.raises(ValidationFailed) as info:
        services.request_create(actor=firm["acct"], client=firm["client"],
                                scope=services.ScopeInput(["internal"]),
                                purpose=LONG_PURPOSE, **period())
    _too_long(info.value, "purpose_too_long", "purpose", PURPOSE_LIMIT)
    assert not QueryRequest.objects.exists()
    assert _refusal("query_request.create", "purpose_too_long").purpose == ""


def test_a_purpose_at_the_limit_is_approved_and_restated_whole(firm):
    """The longest purpose a request may carry is read under it, and recorded whole."""
    secret = firm["secret"]
    said = "审" * (PURPOSE_LIMIT - 1) + "计"
    start = timezone.now()
    # Spacing and invisible characters around it are no part of the statement: they do
    # not count, over the API as anywhere.
    r = verified_client(firm["compliance"]).post(
        f"/api/v1/clients/{firm['client'].pk}/query-requests",
        {"scope": {"document_ids": [secret.pk]}, "purpose": f"  {said}\u200b  ",
         "valid_from": start.isoformat(), "valid_to": (start + timedelta(days=3)).isoformat()},
        content_type="application/json")
    assert r.status_code == 201, r.content
    row = QueryRequest.objects.get(pk=r.json()["id"])
    assert row.purpose == said
    services.request_approve(actor=firm["manager"], request=row)
    obj = selectors.document_resource(secret)
    assert selectors.approved_purposes(firm["compliance"], obj) == [said]
    opened = door.document_open(actor=firm["compliance"], version=secret.current_version,
                                purpose=said)
    assert b"".join(opened.chunks()) == b"secret content"
    entry = LedgerEntry.objects.filter(action="document.read", decision="allowed").latest("seq")
    assert entry.purpose == said


def test_an_over_long_read_purpose_is_refused_and_recorded_without_it(firm):
    with pytest.raises(ValidationFailed) as info:
        _read(firm["acct"], firm["doc"], purpose=LONG_PURPOSE)
    _too_long(info.value, "purpose_too_long", "purpose", PURPOSE_LIMIT)
    entry = _refusal("document.download", "purpose_too_long")
    assert entry.purpose == ""
    assert not LedgerEntry.objects.filter(action="document.download",
                                          decision="allowed").exists()


def test_the_api_refuses_an_over_long_purpose_with_its_own_code(firm):
    http = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    start = timezone.now()
    body: dict[str, Any] = {"scope": {"levels": ["internal"]}, "purpose": LONG_PURPOSE,
                            "valid_from": start.isoformat(),
                            "valid_to": (start + timedelta(days=3)).isoformat()}
    url = f"/api/v1/clients/{firm['client'].pk}/query-requests"
    r = http.post(url, body, content_type="application/json")
    assert r.status_code == 422, r.content
    got = r.json()
    assert got["code"] == "purpose_too_long"
    assert got["message"] == f"A purpose may have at most {PURPOSE_LIMIT} characters."
    assert got["detail"]["fields"] == {"purpose": [got["message"]]}
    assert got["detail"]["max_length"] == PURPOSE_LIMIT
    assert not QueryRequest.objects.exists()
    # The limit counts the purpose as stated: spacing beyond it is not refused.
    said = "审" * PURPOSE_LIMIT
    r = http.post(url, {**body, "purpose": f"{said}      "}, content_type="application/json")
    assert r.status_code == 201, r.content
    assert r.json()["purpose"] == said
    # A read over the API is held to the same limit.
    r = http.get(f"/api/v1/documents/{firm['doc'].pk}/content", {"purpose": LONG_PURPOSE})
    assert r.status_code == 422, r.content
    assert r.json()["code"] == "purpose_too_long"


def test_the_request_page_refuses_an_over_long_purpose(firm):
    http = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    now = timezone.localtime()
    r = http.post(f"/access/clients/{firm['client'].pk}/request/", {
        "levels": "internal", "purpose_other": LONG_PURPOSE,
        "valid_from": now.strftime("%Y-%m-%dT%H:%M"),
        "valid_to": (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")})
    assert r.status_code == 400
    assert f"A purpose may have at most {PURPOSE_LIMIT} characters." in r.content.decode()
    assert not QueryRequest.objects.exists()


def test_read_pages_refuse_an_over_long_purpose(firm):
    http = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    message = f"A purpose may have at most {PURPOSE_LIMIT} characters."
    r = http.get(f"/vault/documents/{firm['doc'].pk}/download/", {"purpose": LONG_PURPOSE})
    assert r.status_code == 422
    assert message in r.content.decode()
    # Protected fields stay masked, with the reason.
    r = http.get(f"/clients/{firm['client'].pk}/", {"purpose": LONG_PURPOSE})
    assert r.status_code == 200 and message in r.content.decode()
    # A search of protected fields is a read too: not searched, with the reason.
    r = http.get("/clients/", {"q": "110101199003071234", "purpose": LONG_PURPOSE})
    assert r.status_code == 200 and message in r.content.decode()
    assert not LedgerEntry.objects.filter(action="record.search", decision="allowed").exists()
    assert _refusal("record.search", "purpose_too_long").purpose == ""


# --- Reasons and notes ------------------------------------------------------------------


def test_an_over_long_break_glass_reason_is_refused_and_nothing_opened(firm):
    mgr2 = _second_manager(firm)
    with pytest.raises(ValidationFailed) as info:
        services.break_glass_download(actor=mgr2, document=firm["doc"], reason=LONG_REASON,
                                      purpose="客户请求")
    _too_long(info.value, "reason_too_long", "reason", REASON_LIMIT)
    assert not BreakGlassRead.objects.exists()
    assert not LedgerEntry.objects.filter(action="document.download",
                                          decision="allowed").exists()
    _refusal("break_glass.read", "reason_too_long")
    reason = "因" * REASON_LIMIT
    services.break_glass_download(actor=mgr2, document=firm["doc"], reason=reason,
                                  purpose="客户请求").close()
    item = BreakGlassRead.objects.get()
    assert item.reason == reason
    with pytest.raises(ValidationFailed) as review:
        services.break_glass_review(actor=firm["compliance"], item=item, note=LONG_REASON)
    _too_long(review.value, "note_too_long", "note", REASON_LIMIT)
    assert BreakGlassRead.objects.get().reviewed_at is None
    _refusal("break_glass.review", "note_too_long")


def test_decision_notes_and_revocation_reasons_are_kept_whole_or_refused(firm):
    row = services.request_create(actor=firm["acct"], client=firm["client"],
                                  scope=services.ScopeInput(["internal"]), purpose="对账",
                                  **period())
    with pytest.raises(ValidationFailed) as info:
        services.request_approve(actor=firm["manager"], request=row, note=LONG_REASON)
    _too_long(info.value, "note_too_long", "note", REASON_LIMIT)
    assert QueryRequest.objects.get(pk=row.pk).status == "pending"
    _refusal("query_request.approve", "note_too_long")
    note = "注" * 400  # longer than the 300 characters once kept
    services.request_approve(actor=firm["manager"], request=row, note=note)
    assert QueryRequest.objects.get(pk=row.pk).decision_note == note

    terms = _terms(firm)
    form = sign_pdf(services.authorization_form_pdf(terms, client_name="恒信", grantee="华信"))
    auth = services.authorization_grant(
        actor=firm["manager"], client=firm["client"], grantee_org=firm["org"],
        scope=terms.scope, valid_from=terms.valid_from, valid_to=terms.valid_to, form=form)
    with pytest.raises(ValidationFailed) as revoke:
        services.authorization_revoke(actor=firm["portal"], authorization=auth,
                                      reason=LONG_REASON)
    _too_long(revoke.value, "reason_too_long", "reason", REASON_LIMIT)
    assert ClientAuthorization.objects.get(pk=auth.pk).revoked_at is None
    _refusal("authorization.revoke", "reason_too_long")
    reason = "终" * 400
    services.authorization_revoke(actor=firm["portal"], authorization=auth, reason=reason)
    assert ClientAuthorization.objects.get(pk=auth.pk).revoke_reason == reason


def test_an_access_review_shows_a_requests_purpose_whole(firm):
    said = "审" * 400
    row = services.request_create(actor=firm["acct"], client=firm["client"],
                                  scope=services.ScopeInput(["internal"]), purpose=said,
                                  **period())
    services.request_approve(actor=firm["manager"], request=row)
    campaign = services.review_campaign_create(actor=firm["compliance"], name="季度审查",
                                               deadline=timezone.now() + timedelta(days=1))
    assert campaign.items.get(grant_id=row.pk, grant_kind="query_request").description == said


# --- Form refusal messages: one place ---------------------------------------------------


@pytest.mark.parametrize(("lang", "outdated", "reused"), [
    ("en", "This form was issued before signed forms were checked.",
     "This signed form has already been used for an authorization."),
    ("zh-hans", "这份授权书出具于系统核验电子签名之前", "这份已签署的授权书已经用过一次"),
])
def test_form_refusals_take_their_messages_from_formsig(firm, lang, outdated, reused):
    terms = _terms(firm)

    def grant(form: bytes) -> Any:
        return services.authorization_grant(
            actor=firm["manager"], client=firm["client"], grantee_org=firm["org"],
            scope=terms.scope, valid_from=terms.valid_from, valid_to=terms.valid_to,
            form=form)

    with translation.override(lang):
        signed = sign_pdf(services.authorization_form_pdf(terms, client_name="恒信",
                                                          grantee="华信"))
        issued = AuthorizationForm.objects.get()
        AuthorizationForm.objects.filter(pk=issued.pk).delete()
        with pytest.raises(ValidationFailed) as info:
            grant(signed)
        assert info.value.code == "form_outdated"
        assert info.value.message == str(formsig.MESSAGES["form_outdated"])
        assert str(info.value.message).startswith(outdated)
        assert info.value.detail["fields"] == {"form": [info.value.message]}
        again = sign_pdf(services.authorization_form_pdf(terms, client_name="恒信",
                                                         grantee="华信"))
        services.authorization_revoke(actor=firm["portal"], authorization=grant(again))
        with pytest.raises(ValidationFailed) as reuse:
            grant(again)
        assert reuse.value.code == "form_reused"
        assert reuse.value.message == str(formsig.MESSAGES["form_reused"])
        assert str(reuse.value.message).startswith(reused)


# --- Scopes show labels -----------------------------------------------------------------


def test_scope_labels_follow_the_model_choices_in_both_languages():
    with translation.override("zh-hans"):
        assert selectors.scope_labels(["secret", "internal"], ["financial", "other"]) == (
            ["内部", "绝密"], ["财务数据", "其他"])
        assert selectors.scope_text(["public"], ["personal"], [7, 9]) == "公开 · 个人信息 · #7, #9"
    with translation.override("en"):
        assert selectors.scope_text(["confidential", "internal"], ["financial"]) == (
            "Internal, Confidential · Financial data")
        # A value no choice has is shown as stored, not dropped.
        assert selectors.scope_text(["bogus"], []) == "bogus"
    assert selectors.scope_text([], []) == ""


def _scope_cell(page: str) -> str:
    table = page.split('id="authorizations"', 1)[1].split("</table>", 1)[0]
    return table.split("<tbody>", 1)[1].split("</td><td>", 2)[1].split("</td>", 1)[0]


@pytest.mark.parametrize(("lang", "levels", "categories"), [
    ("zh-hans", "内部", "财务数据"), ("en", "Internal", "Financial data")])
def test_the_client_access_page_shows_scope_labels(firm, lang, levels, categories):
    p = period(30)
    ClientAuthorization.objects.create(
        client=firm["client"], grantee_org=firm["org"], scope_levels=["internal"],
        scope_categories=["financial"], scope_document_ids=[firm["doc"].pk], via="portal",
        valid_from=p["valid_from"], valid_to=p["valid_to"], recorded_by=firm["portal"])
    http = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE=lang)
    page = http.get(f"/access/clients/{firm['client'].pk}/").content.decode()
    assert _scope_cell(page) == f"{levels} · {categories} · #{firm['doc'].pk}"
    # The scope checkboxes, here and on a query request, are labelled too.
    assert f'value="internal"> {levels}</label>' in page
    assert f'value="financial"> {categories}</label>' in page
    page = http.get(f"/access/clients/{firm['client'].pk}/request/").content.decode()
    assert f'value="internal"> {levels}</label>' in page
    assert f'value="financial"> {categories}</label>' in page


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
def test_the_authorization_form_names_levels_by_label(firm, lang):
    from pypdf import PdfReader

    with translation.override(lang):
        pdf = services.authorization_form_pdf(_terms(firm), client_name="恒信",
                                              grantee="华信")
    text = " ".join("".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
                    .replace("\x00", "").split())
    assert "internal" not in text
    if lang == "en":  # Chinese text reads back only where the CJK font is installed
        assert "Levels Internal" in text
    assert exports.form_token(pdf)
