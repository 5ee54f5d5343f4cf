"""Table-driven tests: each rule of the policy, allowed and refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from baomi.policy import (
    Action,
    Actor,
    ActorStatus,
    Category,
    Facts,
    Level,
    ObjectKind,
    Obligation,
    PolicyConfig,
    QueryStatus,
    Resource,
    Role,
    Rule,
    Scope,
    Window,
    decide,
    explain,
    permitted,
    visible_actions,
)
from baomi.policy.tests.builders import (
    CLIENT,
    DAY,
    DEPT,
    ME,
    NOW,
    OTHER_CLIENT,
    PARTNER_ORG,
    SOMEONE_ELSE,
    actor,
    authorization,
    client_obj,
    current,
    doc,
    expired,
    facts,
    inverted,
    not_yet,
    query_request,
)

A = Action
L = Level
R = Role
W = Obligation.WATERMARK
P = Obligation.RECORD_PURPOSE
ALERT = Obligation.ALERT_COMPLIANCE
REVIEW = Obligation.POST_REVIEW

accountant = actor(R.ACCOUNTANT, clearance=L.CONFIDENTIAL)
manager = actor(R.MANAGER)
assigned = facts(assigned_client_ids=[CLIENT])
qr = query_request()


def case(  # noqa: PLR0917 - a table row reads best positionally
    name: str,
    who: Actor,
    action: Action,
    obj: Resource | None,
    the_facts: Facts,
    rule: Rule,
    *,
    purpose: str | None = "记账",
    obligations: frozenset[Obligation] | None = None,
    now: datetime = NOW,
) -> object:
    return pytest.param(who, action, obj, purpose, the_facts, rule, obligations, now, id=name)


CASES = [
    # --- assignment (staff reach only assigned clients) ---
    case("accountant reads assigned confidential", accountant, A.DOCUMENT_READ, doc(),
         assigned, Rule.ALLOW_ASSIGNED, obligations=frozenset({P})),
    case("accountant downloads: watermark", accountant, A.DOCUMENT_DOWNLOAD, doc(),
         assigned, Rule.ALLOW_ASSIGNED, obligations=frozenset({W, P})),
    case("accountant unassigned client", accountant, A.DOCUMENT_READ, doc(client=OTHER_CLIENT),
         assigned, Rule.NOT_ASSIGNED),
    case("accountant metadata assigned", accountant, A.DOCUMENT_METADATA, doc(L.INTERNAL),
         assigned, Rule.ALLOW_ASSIGNED, purpose=None, obligations=frozenset()),
    case("accountant may not create clients", accountant, A.CLIENT_CREATE, None, assigned,
         Rule.ROLE_NOT_PERMITTED),
    case("accountant may not manage staff", accountant, A.STAFF_MANAGE, None, assigned,
         Rule.ROLE_NOT_PERMITTED),
    case("manager reaches department client by fact", actor(R.MANAGER), A.DOCUMENT_READ,
         doc(), facts(department_client_ids=[CLIENT]), Rule.ALLOW_ASSIGNED),
    case("manager reaches department client by label", manager, A.DOCUMENT_READ,
         doc(client_department=DEPT), facts(), Rule.ALLOW_ASSIGNED),
    case("manager other department", manager, A.DOCUMENT_READ,
         doc(client_department="d-south"), facts(), Rule.NOT_ASSIGNED),
    case("accountant not reached by department label", accountant, A.DOCUMENT_READ,
         doc(client_department=DEPT), facts(), Rule.NOT_ASSIGNED),
    case("admin manages any client", actor(R.ADMIN), A.CLIENT_UPDATE, client_obj(),
         facts(), Rule.ALLOW_FIRM),
    case("admin reads internal content of any client", actor(R.ADMIN), A.DOCUMENT_READ,
         doc(L.INTERNAL), facts(), Rule.ALLOW_FIRM),
    case("admin confidential content needs assignment or request", actor(R.ADMIN),
         A.DOCUMENT_READ, doc(), facts(), Rule.APPROVAL_REQUIRED,
         obligations=frozenset({Obligation.APPROVAL_REQUIRED})),
    case("admin confidential content when assigned", actor(R.ADMIN), A.DOCUMENT_READ, doc(),
         assigned, Rule.ALLOW_ASSIGNED),
    case("admin confidential content with request", actor(R.ADMIN), A.DOCUMENT_READ, doc(),
         facts(query_requests=[qr]), Rule.ALLOW_QUERY_REQUEST),
    case("admin does not approve requests", actor(R.ADMIN), A.QUERY_REQUEST_APPROVE,
         doc(kind=ObjectKind.QUERY_REQUEST, owner_id=SOMEONE_ELSE), facts(),
         Rule.ROLE_NOT_PERMITTED),
    # --- clearance and MFA ---
    case("clearance below level", actor(R.ACCOUNTANT, clearance=L.INTERNAL), A.DOCUMENT_READ,
         doc(), assigned, Rule.CLEARANCE_INSUFFICIENT),
    case("clearance equal to level", actor(R.ACCOUNTANT, clearance=L.CONFIDENTIAL),
         A.DOCUMENT_READ, doc(), assigned, Rule.ALLOW_ASSIGNED),
    case("confidential without MFA", replace(accountant, mfa_verified=False), A.DOCUMENT_READ,
         doc(), assigned, Rule.MFA_REQUIRED),
    case("internal without MFA is fine", replace(accountant, mfa_verified=False),
         A.DOCUMENT_READ, doc(L.INTERNAL), assigned, Rule.ALLOW_ASSIGNED),
    case("client reading own confidential without MFA", actor(R.CLIENT, mfa_verified=False),
         A.DOCUMENT_READ, doc(), Facts(), Rule.MFA_REQUIRED),
    # --- secret needs an approved query request covering object and now ---
    case("secret without request", manager, A.DOCUMENT_READ, doc(L.SECRET), assigned,
         Rule.APPROVAL_REQUIRED, obligations=frozenset({Obligation.APPROVAL_REQUIRED})),
    case("secret with request", manager, A.DOCUMENT_READ, doc(L.SECRET),
         facts(assigned_client_ids=[CLIENT], query_requests=[qr]), Rule.ALLOW_QUERY_REQUEST),
    case("secret with request but not assigned", manager, A.DOCUMENT_READ, doc(L.SECRET),
         facts(query_requests=[qr]), Rule.NOT_ASSIGNED),
    case("secret with pending request", manager, A.DOCUMENT_READ, doc(L.SECRET),
         facts(assigned_client_ids=[CLIENT],
               query_requests=[query_request(status=QueryStatus.PENDING)]),
         Rule.APPROVAL_REQUIRED),
    case("secret with rejected request", manager, A.DOCUMENT_READ, doc(L.SECRET),
         facts(assigned_client_ids=[CLIENT],
               query_requests=[query_request(status=QueryStatus.REJECTED)]),
         Rule.APPROVAL_REQUIRED),
    case("secret with expired request", manager, A.DOCUMENT_READ, doc(L.SECRET),
         facts(assigned_client_ids=[CLIENT], query_requests=[query_request(window=expired())]),
         Rule.APPROVAL_REQUIRED),
    case("secret with not-yet-valid request", manager, A.DOCUMENT_READ, doc(L.SECRET),
         facts(assigned_client_ids=[CLIENT], query_requests=[query_request(window=not_yet())]),
         Rule.APPROVAL_REQUIRED),
    case("secret with inverted request window", manager, A.DOCUMENT_READ, doc(L.SECRET),
         facts(assigned_client_ids=[CLIENT], query_requests=[query_request(window=inverted())]),
         Rule.APPROVAL_REQUIRED),
    case("secret with someone else's request", manager, A.DOCUMENT_READ, doc(L.SECRET),
         facts(assigned_client_ids=[CLIENT],
               query_requests=[query_request(requester_id=SOMEONE_ELSE, approved_by=ME)]),
         Rule.APPROVAL_REQUIRED),
    case("secret with a self-approved request", manager, A.DOCUMENT_READ, doc(L.SECRET),
         facts(assigned_client_ids=[CLIENT], query_requests=[query_request(approved_by=ME)]),
         Rule.APPROVAL_REQUIRED),
    case("secret with an unapproved (no approver) request", manager, A.DOCUMENT_READ,
         doc(L.SECRET), facts(assigned_client_ids=[CLIENT],
                              query_requests=[query_request(approved_by=None)]),
         Rule.APPROVAL_REQUIRED),
    case("secret with request for another client", manager, A.DOCUMENT_READ, doc(L.SECRET),
         facts(assigned_client_ids=[CLIENT],
               query_requests=[query_request(client_id=OTHER_CLIENT)]),
         Rule.APPROVAL_REQUIRED),
    case("secret with request for other documents", manager, A.DOCUMENT_READ,
         doc(L.SECRET, doc_id=101),
         facts(assigned_client_ids=[CLIENT],
               query_requests=[query_request(scope=Scope(object_ids=frozenset({100})))]),
         Rule.APPROVAL_REQUIRED),
    case("secret with request listing the document", manager, A.DOCUMENT_READ,
         doc(L.SECRET, doc_id=100),
         facts(assigned_client_ids=[CLIENT],
               query_requests=[query_request(scope=Scope(object_ids=frozenset({100})))]),
         Rule.ALLOW_QUERY_REQUEST),
    case("secret with request for other categories", manager, A.DOCUMENT_READ, doc(L.SECRET),
         facts(assigned_client_ids=[CLIENT], query_requests=[query_request(
             scope=Scope(levels=frozenset({L.SECRET}),
                         categories=frozenset({Category.PERSONAL})))]),
         Rule.APPROVAL_REQUIRED),
    case("secret with empty-scope request", manager, A.DOCUMENT_READ, doc(L.SECRET),
         facts(assigned_client_ids=[CLIENT], query_requests=[query_request(scope=Scope())]),
         Rule.APPROVAL_REQUIRED),
    case("secret: one bad and one good overlapping request", manager, A.DOCUMENT_READ,
         doc(L.SECRET),
         facts(assigned_client_ids=[CLIENT],
               query_requests=[query_request(window=inverted()), query_request(id=901)]),
         Rule.ALLOW_QUERY_REQUEST),
    case("request window end is exclusive", manager, A.DOCUMENT_READ, doc(L.SECRET),
         facts(assigned_client_ids=[CLIENT],
               query_requests=[query_request(window=Window(NOW - 30 * DAY, NOW))]),
         Rule.APPROVAL_REQUIRED),
    case("secret download never", manager, A.DOCUMENT_DOWNLOAD, doc(L.SECRET),
         facts(assigned_client_ids=[CLIENT], query_requests=[qr]), Rule.ROLE_NOT_PERMITTED),
    case("internal auditor reads internal content", actor(R.INTERNAL_AUDITOR),
         A.DOCUMENT_READ, doc(L.INTERNAL), facts(), Rule.ALLOW_FIRM),
    case("internal auditor confidential without request", actor(R.INTERNAL_AUDITOR),
         A.DOCUMENT_READ, doc(), facts(), Rule.APPROVAL_REQUIRED),
    case("internal auditor confidential with request", actor(R.INTERNAL_AUDITOR),
         A.DOCUMENT_READ, doc(), facts(query_requests=[qr]), Rule.ALLOW_QUERY_REQUEST),
    case("internal auditor ledger", actor(R.INTERNAL_AUDITOR), A.LEDGER_VIEW, None, facts(),
         Rule.ALLOW_FIRM),
    case("internal auditor cannot download", actor(R.INTERNAL_AUDITOR),
         A.DOCUMENT_DOWNLOAD, doc(L.PUBLIC), facts(), Rule.ROLE_NOT_PERMITTED),
    case("compliance sees ledger", actor(R.COMPLIANCE), A.LEDGER_VIEW, None, facts(),
         Rule.ALLOW_FIRM),
    case("compliance metadata of any client", actor(R.COMPLIANCE), A.DOCUMENT_METADATA,
         doc(L.SECRET), facts(), Rule.ALLOW_FIRM),
    case("compliance content needs request", actor(R.COMPLIANCE), A.DOCUMENT_READ,
         doc(L.INTERNAL), facts(), Rule.APPROVAL_REQUIRED),
    # --- self approval ---
    case("approve own query request", manager, A.QUERY_REQUEST_APPROVE,
         doc(kind=ObjectKind.QUERY_REQUEST, owner_id=ME), assigned, Rule.SELF_APPROVAL),
    case("approve someone else's request", manager, A.QUERY_REQUEST_APPROVE,
         doc(kind=ObjectKind.QUERY_REQUEST, owner_id=SOMEONE_ELSE), assigned,
         Rule.ALLOW_ASSIGNED),
    case("approve a request with no requester", manager, A.QUERY_REQUEST_APPROVE,
         doc(kind=ObjectKind.QUERY_REQUEST, owner_id=None), assigned, Rule.BAD_REQUEST),
    case("compliance approves firm-wide", actor(R.COMPLIANCE), A.QUERY_REQUEST_APPROVE,
         doc(kind=ObjectKind.QUERY_REQUEST, owner_id=SOMEONE_ELSE), facts(), Rule.ALLOW_FIRM),
    case("compliance approving own request", actor(R.COMPLIANCE), A.QUERY_REQUEST_APPROVE,
         doc(kind=ObjectKind.QUERY_REQUEST, owner_id=ME), facts(), Rule.SELF_APPROVAL),
    case("accountant may not approve", accountant, A.QUERY_REQUEST_APPROVE,
         doc(kind=ObjectKind.QUERY_REQUEST, owner_id=SOMEONE_ELSE), assigned,
         Rule.ROLE_NOT_PERMITTED),
    # --- agreement and training ---
    case("no agreement", accountant, A.DOCUMENT_READ, doc(L.INTERNAL),
         facts(assigned_client_ids=[CLIENT], agreements=[]), Rule.AGREEMENT_MISSING),
    case("expired agreement", accountant, A.DOCUMENT_READ, doc(L.INTERNAL),
         facts(assigned_client_ids=[CLIENT], agreements=[expired()]), Rule.AGREEMENT_MISSING),
    case("inverted agreement", accountant, A.DOCUMENT_READ, doc(L.INTERNAL),
         facts(assigned_client_ids=[CLIENT], agreements=[inverted()]), Rule.AGREEMENT_MISSING),
    case("overlapping agreements, one current", accountant, A.DOCUMENT_READ, doc(L.INTERNAL),
         facts(assigned_client_ids=[CLIENT], agreements=[expired(), current(), current()]),
         Rule.ALLOW_ASSIGNED),
    case("lapsed training", accountant, A.DOCUMENT_READ, doc(L.INTERNAL),
         facts(assigned_client_ids=[CLIENT], trainings=[expired()]), Rule.TRAINING_LAPSED),
    case("training not yet valid", accountant, A.DOCUMENT_READ, doc(L.INTERNAL),
         facts(assigned_client_ids=[CLIENT], trainings=[not_yet()]), Rule.TRAINING_LAPSED),
    case("public needs neither agreement nor training", accountant, A.DOCUMENT_READ,
         doc(L.PUBLIC), facts(assigned_client_ids=[CLIENT], agreements=[], trainings=[]),
         Rule.ALLOW_ASSIGNED),
    # --- purpose ---
    case("empty purpose", accountant, A.DOCUMENT_READ, doc(L.INTERNAL), assigned,
         Rule.PURPOSE_REQUIRED, purpose=""),
    case("missing purpose", accountant, A.DOCUMENT_READ, doc(L.INTERNAL), assigned,
         Rule.PURPOSE_REQUIRED, purpose=None),
    case("whitespace purpose", accountant, A.DOCUMENT_READ, doc(L.INTERNAL), assigned,
         Rule.PURPOSE_REQUIRED, purpose=" \t\u3000\n"),
    case("free-text purpose", accountant, A.DOCUMENT_READ, doc(L.INTERNAL), assigned,
         Rule.ALLOW_ASSIGNED, purpose="核对2024年度银行流水"),
    case("public read needs no purpose", accountant, A.DOCUMENT_READ, doc(L.PUBLIC), assigned,
         Rule.ALLOW_ASSIGNED, purpose=None),
    case("metadata needs no purpose", accountant, A.DOCUMENT_METADATA, doc(L.SECRET),
         facts(assigned_client_ids=[CLIENT]), Rule.CLEARANCE_INSUFFICIENT, purpose=None),
    case("export needs purpose", accountant, A.EXPORT_CREATE, client_obj(), assigned,
         Rule.PURPOSE_REQUIRED, purpose="  "),
    case("export watermarked", accountant, A.EXPORT_CREATE, client_obj(), assigned,
         Rule.ALLOW_ASSIGNED, obligations=frozenset({W, P})),
    case("sensitive read needs purpose", accountant, A.CLIENT_SENSITIVE_READ,
         doc(kind=ObjectKind.RECORD), assigned, Rule.PURPOSE_REQUIRED, purpose=""),
    # --- departed / inactive / external auditor window ---
    case("departed accountant", replace(accountant, status=ActorStatus.LEFT), A.DOCUMENT_READ,
         doc(L.PUBLIC), assigned, Rule.ACTOR_DEPARTED),
    case("departed admin listing", actor(R.ADMIN, status=ActorStatus.LEFT), A.CLIENT_LIST,
         None, facts(), Rule.ACTOR_DEPARTED),
    case("departed but is_active still set", actor(R.MANAGER, status=ActorStatus.LEFT,
                                                   is_active=True),
         A.DOCUMENT_METADATA, doc(L.PUBLIC), assigned, Rule.ACTOR_DEPARTED),
    case("inactive account", replace(accountant, is_active=False), A.DOCUMENT_READ,
         doc(L.PUBLIC), assigned, Rule.ACTOR_INACTIVE),
    case("suspended account", replace(accountant, status=ActorStatus.SUSPENDED),
         A.DOCUMENT_READ, doc(L.PUBLIC), assigned, Rule.ACTOR_INACTIVE),
    case("external auditor in window", actor(R.EXTERNAL_AUDITOR), A.DOCUMENT_READ,
         doc(L.INTERNAL), assigned, Rule.ALLOW_ASSIGNED),
    case("external auditor after window", actor(R.EXTERNAL_AUDITOR, engagement=expired()),
         A.DOCUMENT_METADATA, doc(L.PUBLIC), assigned, Rule.ENGAGEMENT_WINDOW),
    case("external auditor before window", actor(R.EXTERNAL_AUDITOR, engagement=not_yet()),
         A.DOCUMENT_METADATA, doc(L.PUBLIC), assigned, Rule.ENGAGEMENT_WINDOW),
    case("external auditor inverted window", actor(R.EXTERNAL_AUDITOR, engagement=inverted()),
         A.DOCUMENT_METADATA, doc(L.PUBLIC), assigned, Rule.ENGAGEMENT_WINDOW),
    case("external auditor without engagement", actor(R.EXTERNAL_AUDITOR, engagement=None),
         A.DOCUMENT_METADATA, doc(L.PUBLIC), assigned, Rule.ENGAGEMENT_WINDOW),
    case("external auditor is read-only", actor(R.EXTERNAL_AUDITOR), A.DOCUMENT_UPLOAD,
         doc(L.PUBLIC), assigned, Rule.ROLE_NOT_PERMITTED),
    case("external auditor cannot download", actor(R.EXTERNAL_AUDITOR), A.DOCUMENT_DOWNLOAD,
         doc(L.PUBLIC), assigned, Rule.ROLE_NOT_PERMITTED),
    case("external auditor confidential needs request", actor(R.EXTERNAL_AUDITOR),
         A.DOCUMENT_READ, doc(), assigned, Rule.APPROVAL_REQUIRED),
    # --- partners through client authorizations ---
    case("partner with live authorization", actor(R.PARTNER), A.DOCUMENT_READ, doc(),
         facts(authorizations=[authorization()]), Rule.ALLOW_AUTHORIZATION),
    case("partner named as a user", actor(R.PARTNER, partner_org_id=None), A.DOCUMENT_READ,
         doc(), facts(authorizations=[authorization(grantee_partner_org_id=None,
                                                     grantee_user_id=ME)]),
         Rule.ALLOW_AUTHORIZATION),
    case("partner without authorization", actor(R.PARTNER), A.DOCUMENT_READ, doc(),
         assigned, Rule.AUTHORIZATION_REQUIRED),
    case("partner, authorization for another org", actor(R.PARTNER), A.DOCUMENT_READ, doc(),
         facts(authorizations=[authorization(grantee_partner_org_id=PARTNER_ORG + 1)]),
         Rule.AUTHORIZATION_REQUIRED),
    case("partner, authorization for another client", actor(R.PARTNER), A.DOCUMENT_READ,
         doc(), facts(authorizations=[authorization(client_id=OTHER_CLIENT)]),
         Rule.AUTHORIZATION_REQUIRED),
    case("partner, revoked authorization", actor(R.PARTNER), A.DOCUMENT_READ, doc(),
         facts(authorizations=[authorization(revoked=True)]), Rule.AUTHORIZATION_REVOKED),
    case("partner, expired authorization", actor(R.PARTNER), A.DOCUMENT_READ, doc(),
         facts(authorizations=[authorization(window=expired())]), Rule.AUTHORIZATION_EXPIRED),
    case("partner, inverted authorization", actor(R.PARTNER), A.DOCUMENT_READ, doc(),
         facts(authorizations=[authorization(window=inverted())]), Rule.AUTHORIZATION_EXPIRED),
    case("partner, outside the scope", actor(R.PARTNER), A.DOCUMENT_READ,
         doc(category=Category.PERSONAL), facts(authorizations=[authorization()]),
         Rule.OUTSIDE_AUTHORIZATION_SCOPE),
    case("partner, uncategorised object vs category scope", actor(R.PARTNER),
         A.DOCUMENT_READ, doc(category=None), facts(authorizations=[authorization()]),
         Rule.OUTSIDE_AUTHORIZATION_SCOPE),
    case("partner, level outside scope", actor(R.PARTNER), A.DOCUMENT_READ, doc(),
         facts(authorizations=[authorization(scope=Scope(levels=frozenset({L.INTERNAL})))]),
         Rule.OUTSIDE_AUTHORIZATION_SCOPE),
    case("partner, revoked one and live one", actor(R.PARTNER), A.DOCUMENT_READ, doc(),
         facts(authorizations=[authorization(revoked=True), authorization(id=701)]),
         Rule.ALLOW_AUTHORIZATION),
    case("partner lists documents of authorized client", actor(R.PARTNER),
         A.DOCUMENT_LIST, client_obj(), facts(authorizations=[authorization()]),
         Rule.ALLOW_AUTHORIZATION, purpose=None),
    case("partner never reads secret", actor(R.PARTNER), A.DOCUMENT_READ, doc(L.SECRET),
         facts(authorizations=[authorization()]), Rule.ROLE_NOT_PERMITTED),
    case("partner needs agreement too", actor(R.PARTNER), A.DOCUMENT_READ, doc(),
         facts(authorizations=[authorization()], agreements=[]), Rule.AGREEMENT_MISSING),
    case("partner clearance", actor(R.PARTNER, clearance=L.INTERNAL), A.DOCUMENT_READ, doc(),
         facts(authorizations=[authorization()]), Rule.CLEARANCE_INSUFFICIENT),
    # --- clients in the portal ---
    case("client reads own secret", actor(R.CLIENT), A.DOCUMENT_READ, doc(L.SECRET), Facts(),
         Rule.ALLOW_OWN, purpose=None, obligations=frozenset()),
    case("client downloads own: watermark", actor(R.CLIENT), A.DOCUMENT_DOWNLOAD, doc(),
         Facts(), Rule.ALLOW_OWN, purpose=None, obligations=frozenset({W})),
    case("client reads another company", actor(R.CLIENT), A.DOCUMENT_READ,
         doc(client=OTHER_CLIENT), Facts(), Rule.NOT_OWN_CLIENT),
    case("client without company", actor(R.CLIENT, client_id=None), A.DOCUMENT_READ, doc(),
         Facts(), Rule.NOT_OWN_CLIENT),
    case("client grants authorization", actor(R.CLIENT), A.AUTHORIZATION_GRANT,
         doc(kind=ObjectKind.AUTHORIZATION, level=L.PUBLIC), Facts(), Rule.ALLOW_OWN),
    case("client cannot list the firm's clients", actor(R.CLIENT), A.CLIENT_LIST, None,
         Facts(), Rule.ROLE_NOT_PERMITTED),
    # --- break-glass ---
    case("break-glass read with reason", manager, A.BREAK_GLASS_READ,
         doc(client=OTHER_CLIENT), facts(break_glass=True, break_glass_reason="客户现场稽查"),
         Rule.ALLOW_BREAK_GLASS, obligations=frozenset({P, ALERT, REVIEW})),
    case("break-glass read of secret without request", manager, A.BREAK_GLASS_READ,
         doc(L.SECRET, client=OTHER_CLIENT), facts(break_glass_reason="税务稽查"),
         Rule.ALLOW_BREAK_GLASS, obligations=frozenset({P, ALERT, REVIEW})),
    case("break-glass without reason", manager, A.BREAK_GLASS_READ, doc(client=OTHER_CLIENT),
         facts(break_glass=True, break_glass_reason="   "), Rule.BREAK_GLASS_REASON_REQUIRED),
    case("break-glass still needs purpose", manager, A.BREAK_GLASS_READ, doc(),
         facts(break_glass_reason="紧急"), Rule.PURPOSE_REQUIRED, purpose=""),
    case("break-glass still needs clearance", actor(R.MANAGER, clearance=L.INTERNAL),
         A.BREAK_GLASS_READ, doc(), facts(break_glass_reason="紧急"),
         Rule.CLEARANCE_INSUFFICIENT),
    case("break-glass by an accountant", accountant, A.BREAK_GLASS_READ, doc(),
         facts(break_glass=True, break_glass_reason="紧急"), Rule.BREAK_GLASS_NOT_PERMITTED),
    case("document.read with break-glass flag", manager, A.DOCUMENT_READ,
         doc(client=OTHER_CLIENT), facts(break_glass=True, break_glass_reason="紧急"),
         Rule.ALLOW_BREAK_GLASS, obligations=frozenset({P, ALERT, REVIEW})),
    case("document.read with flag but no reason", manager, A.DOCUMENT_READ,
         doc(client=OTHER_CLIENT), facts(break_glass=True), Rule.BREAK_GLASS_REASON_REQUIRED),
    case("unneeded break-glass flag raises no alarm", manager, A.DOCUMENT_READ, doc(),
         facts(assigned_client_ids=[CLIENT], break_glass=True, break_glass_reason="紧急"),
         Rule.ALLOW_ASSIGNED, obligations=frozenset({P})),
    case("break-glass flag does nothing for accountants", accountant, A.DOCUMENT_READ,
         doc(client=OTHER_CLIENT), facts(break_glass=True, break_glass_reason="紧急"),
         Rule.NOT_ASSIGNED),
    case("break-glass flag cannot open a dash cell", manager, A.DOCUMENT_DOWNLOAD,
         doc(L.SECRET, client=OTHER_CLIENT), facts(break_glass=True, break_glass_reason="急"),
         Rule.ROLE_NOT_PERMITTED),
    # --- bad input ---
    case("object kind does not fit the action", accountant, A.DOCUMENT_READ, client_obj(),
         assigned, Rule.BAD_REQUEST),
    case("missing object for a document action", accountant, A.DOCUMENT_READ, None,
         assigned, Rule.BAD_REQUEST),
    case("object without client", accountant, A.DOCUMENT_READ,
         Resource(ObjectKind.DOCUMENT, id=1, level=L.PUBLIC), assigned, Rule.BAD_REQUEST),
    case("naive now", accountant, A.DOCUMENT_READ, doc(), assigned, Rule.BAD_REQUEST,
         now=NOW.replace(tzinfo=None)),
    case("string ids do not match int ids", accountant, A.DOCUMENT_READ, doc(),
         facts(assigned_client_ids=[str(CLIENT)]), Rule.NOT_ASSIGNED),
]


@pytest.mark.parametrize(
    ("who", "action", "obj", "purpose", "the_facts", "rule", "obligations", "now"), CASES
)
def test_rule(
    *,
    who: Actor,
    action: Action,
    obj: Resource | None,
    purpose: str | None,
    the_facts: Facts,
    rule: Rule,
    obligations: frozenset[Obligation] | None,
    now: datetime,
) -> None:
    decision = decide(who, action, obj, purpose, now, the_facts)
    assert decision.rule is rule, explain(decision, "en")
    assert decision.allowed == rule.value.startswith("allow_")
    if decision.allowed:
        assert decision.reasons == ()
    else:
        assert decision.reasons
        assert decision.reasons[0].code is rule
        for r in decision.reasons:
            assert r.zh.strip()
            assert r.en.strip()
    if obligations is not None:
        assert decision.obligations == obligations


def test_refusal_lists_every_failed_condition() -> None:
    who = replace(accountant, clearance=L.INTERNAL, mfa_verified=False)
    decision = decide(who, A.DOCUMENT_READ, doc(), "  ", NOW, Facts())
    assert [r.code for r in decision.reasons] == [
        Rule.NOT_ASSIGNED,
        Rule.CLEARANCE_INSUFFICIENT,
        Rule.MFA_REQUIRED,
        Rule.AGREEMENT_MISSING,
        Rule.TRAINING_LAPSED,
        Rule.PURPOSE_REQUIRED,
    ]


def test_secret_needs_request_and_assignment_both_reported() -> None:
    decision = decide(manager, A.DOCUMENT_READ, doc(L.SECRET, client=OTHER_CLIENT), "审计",
                      NOW, facts())
    assert [r.code for r in decision.reasons] == [Rule.NOT_ASSIGNED, Rule.APPROVAL_REQUIRED]
    assert Obligation.APPROVAL_REQUIRED in decision.obligations


def test_purpose_list_can_be_enforced() -> None:
    strict = PolicyConfig(purposes=("记账", "报税"), free_text_purpose=False)
    ok = decide(accountant, A.DOCUMENT_READ, doc(), " 报税 ", NOW, assigned, strict)
    bad = decide(accountant, A.DOCUMENT_READ, doc(), "好奇", NOW, assigned, strict)
    assert ok.allowed
    assert bad.rule is Rule.PURPOSE_NOT_ALLOWED


def test_clearance_reason_names_both_levels() -> None:
    who = actor(R.ACCOUNTANT, clearance=L.INTERNAL)
    decision = decide(who, A.DOCUMENT_READ, doc(), "记账", NOW, assigned)
    assert "机密" in decision.reasons[0].zh
    assert "内部" in decision.reasons[0].zh
    assert "confidential" in decision.reasons[0].en
    assert "internal" in decision.reasons[0].en


def test_role_refusals_name_the_role_and_action_in_words() -> None:
    from baomi.policy import ACTION_NAMES, ROLE_NAMES, Action, Role
    from baomi.policy.reasons import reason

    assert set(ROLE_NAMES) == set(Role) and set(ACTION_NAMES) == set(Action)
    refused = decide(actor(R.ACCOUNTANT), A.STAFF_VIEW, None, None, NOW, assigned)
    assert refused.rule is Rule.ROLE_NOT_PERMITTED
    # A firm-level action has no object: no level is named.
    assert refused.reasons[0].zh == "角色“会计”不允许查看员工名录。"
    assert refused.reasons[0].en == "The role Accountant may not view the staff directory."
    on_object = decide(actor(R.INTERNAL_AUDITOR), A.DOCUMENT_DOWNLOAD, doc(L.PUBLIC), "审计",
                       NOW, facts())
    assert on_object.rule is Rule.ROLE_NOT_PERMITTED
    assert on_object.reasons[0].zh == "角色“内部审计”不允许下载文件（公开级对象）。"
    assert on_object.reasons[0].en == (
        "The role Internal auditor may not download documents (public objects)."
    )
    # A code the vocabulary does not know (never from `decide`) is shown as it is.
    odd = reason(Rule.ROLE_NOT_PERMITTED, role="intern", action="x.y", level="public")
    assert "intern" in odd.zh and "x.y" in odd.zh and "perform 'x.y'" in odd.en


def test_explain_in_both_languages() -> None:
    refused = decide(accountant, A.DOCUMENT_READ, doc(L.SECRET), "记账", NOW, assigned)
    assert explain(refused, "zh").startswith("拒绝：")
    assert explain(refused, "en").startswith("Refused:")
    allowed = decide(accountant, A.DOCUMENT_DOWNLOAD, doc(), "记账", NOW, assigned)
    assert "水印" in explain(allowed)
    assert "watermarked" in explain(allowed, "en")


def test_naive_windows_are_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(NOW.replace(tzinfo=None), NOW)


def test_permitted_ignores_only_the_purpose() -> None:
    assert permitted(accountant, A.DOCUMENT_READ, doc(), assigned, NOW)
    assert not decide(accountant, A.DOCUMENT_READ, doc(), None, NOW, assigned).allowed
    assert not permitted(accountant, A.DOCUMENT_READ, doc(L.SECRET), assigned, NOW)
    assert not permitted(accountant, A.DOCUMENT_READ, doc(client=OTHER_CLIENT), assigned, NOW)


def test_visible_actions_for_a_document() -> None:
    seen = visible_actions(accountant, doc(), assigned, NOW)
    assert seen == {
        A.DOCUMENT_METADATA, A.DOCUMENT_READ, A.DOCUMENT_DOWNLOAD, A.DOCUMENT_UPLOAD,
        A.DOCUMENT_VERSION, A.DOCUMENT_CLASSIFY, A.QUERY_REQUEST_CREATE, A.EXPORT_CREATE,
    }
    assert visible_actions(replace(accountant, status=ActorStatus.LEFT), doc(), assigned,
                           NOW) == frozenset()
    firm_level = visible_actions(actor(R.COMPLIANCE), None, facts(), NOW)
    assert firm_level == {A.CLIENT_LIST, A.STAFF_VIEW, A.LEDGER_VIEW, A.ACCESS_REVIEW_MANAGE}


def test_decision_is_deterministic_and_shared() -> None:
    first = decide(accountant, A.DOCUMENT_READ, doc(), "记账", NOW, assigned)
    second = decide(accountant, A.DOCUMENT_READ, doc(), "记账", NOW, assigned)
    assert first == second


def test_assignment_or_request_refusal_names_both_ways() -> None:
    decision = decide(actor(R.ADMIN), A.DOCUMENT_READ, doc(), "审计", NOW, facts())
    assert [r.code for r in decision.reasons] == [Rule.APPROVAL_REQUIRED, Rule.NOT_ASSIGNED]


def test_scope_label_clause_semantics() -> None:
    secret_fin = doc(L.SECRET, category=Category.FINANCIAL)
    assert not Scope().covers(secret_fin)
    assert Scope(levels=frozenset({L.SECRET})).covers(secret_fin)
    assert Scope(categories=frozenset({Category.FINANCIAL})).covers(secret_fin)
    assert not Scope(levels=frozenset({L.SECRET}),
                     categories=frozenset({Category.PERSONAL})).covers(secret_fin)
    assert Scope(object_ids=frozenset({100})).covers(secret_fin)
    assert not Scope(categories=frozenset({Category.FINANCIAL})).covers(doc(category=None))


def test_facts_build_indexes_grants_by_client() -> None:
    built = facts(authorizations=[authorization(), authorization(id=2, client_id=OTHER_CLIENT)],
                  query_requests=[qr])
    assert set(built.authorizations) == {CLIENT, OTHER_CLIENT}
    assert built.query_requests[CLIENT] == (qr,)


def test_plain_strings_from_the_database_become_enums() -> None:
    who = Actor(user_id=ME, role="accountant", clearance="confidential",  # type: ignore[arg-type]
                mfa_verified=True)
    obj = Resource(kind="document", id=100, client_id=CLIENT,  # type: ignore[arg-type]
                   level="confidential", category="financial")  # type: ignore[arg-type]
    assert who.role is R.ACCOUNTANT
    assert obj.level is L.CONFIDENTIAL
    assert decide(who, "document.read", obj, "记账", NOW, assigned).allowed  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="boss"):
        Actor(user_id=ME, role="boss")  # type: ignore[arg-type]


def test_self_approval_is_caught_with_a_plain_string_action() -> None:
    obj = doc(kind=ObjectKind.QUERY_REQUEST, owner_id=ME)
    decision = decide(manager, "query_request.approve", obj, None, NOW, assigned)  # type: ignore[arg-type]
    assert decision.rule is Rule.SELF_APPROVAL


def test_every_rule_has_a_short_title_in_both_languages() -> None:
    from baomi.policy import RULE_TITLES

    assert set(RULE_TITLES) == set(Rule)
    for zh, en in RULE_TITLES.values():
        assert zh and en and zh != en and en.isascii() and not zh.isascii()
    assert len({zh for zh, _ in RULE_TITLES.values()}) == len(Rule)
