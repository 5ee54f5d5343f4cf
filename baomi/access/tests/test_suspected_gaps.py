"""Four suspected gaps in access governance, each reproduced before it was closed:

1. the F23 gate counted a confidentiality agreement of any type (a client's agreement
   recorded on a member of staff opened their reads; an employee agreement gave an
   external auditor an engagement window);
2. a client authorization could run for a century (query requests were already held to
   90 days);
3. a read under an approved query request could state any purpose, not the one approved;
4. an authorization could name a member of staff or another client's portal user, who
   gains nothing from it (only partners reach client data through one) but is told the
   client's name.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from baomi.access import selectors, services
from baomi.access.models import ClientAuthorization, ConfidentialityAgreement, PartnerOrganisation
from baomi.accounts.models import Level, Role
from baomi.audit.models import LedgerEntry
from baomi.errors import AccessDenied, ValidationFailed
from baomi.vault import door
from baomi.vault import services as vault_services
from baomi.vault.tests.conftest import sealed_upload
from conftest import verified_client

pytestmark = pytest.mark.django_db


def refused(action: str, reason: str) -> bool:
    return LedgerEntry.objects.filter(action=action, decision="refused",
                                      reason__startswith=reason).exists()


def period(days: float, start: float = 0) -> dict[str, Any]:
    begin = timezone.now() + timedelta(days=start)
    return {"valid_from": begin, "valid_to": begin + timedelta(days=days)}


def _doc(actor: Any, client: Any, level: str) -> Any:
    up = sealed_upload(actor=actor, client=client, data=f"{level} content".encode())
    return vault_services.document_upload(actor=actor, client=client, upload=up,
                                          title=f"{level} file", level=level,
                                          category="financial")


def _open(actor: Any, doc: Any, purpose: str) -> bytes:
    return b"".join(door.document_open(actor=actor, version=doc.current_version,
                                       purpose=purpose).chunks())


@pytest.fixture
def firm(make_user, make_client) -> dict[str, Any]:
    manager = make_user("manager", role=Role.MANAGER, department="一部", clearance=Level.SECRET)
    acct = make_user("acct1", department="一部", clearance=Level.CONFIDENTIAL)
    compliance = make_user("compliance", role=Role.COMPLIANCE, clearance=Level.SECRET)
    partner = make_user("partner1", role=Role.PARTNER, clearance=Level.CONFIDENTIAL)
    org = PartnerOrganisation.objects.create(name="华信税务师事务所")
    partner.partner_org = org
    partner.save()
    client = make_client(manager, name="恒信贸易有限公司")
    other = make_client(manager, name="明远科技有限公司")
    services.assignment_add(actor=manager, client=client, user=acct)
    portal = make_user("client1", role=Role.CLIENT, portal_client_id=client.pk)
    other_portal = make_user("client2", role=Role.CLIENT, portal_client_id=other.pk)
    return {"manager": manager, "acct": acct, "compliance": compliance, "partner": partner,
            "org": org, "client": client, "other": other, "portal": portal,
            "other_portal": other_portal, "doc": _doc(acct, client, "internal")}


# --- 1. Only the agreement type of the person's role opens reads (F23) ------------------


def _only_agreement(person: Any, kind: str) -> None:
    ConfidentialityAgreement.objects.filter(person=person).delete()
    now = timezone.now()
    ConfidentialityAgreement.objects.create(person=person, kind=kind,
                                            valid_from=now - timedelta(days=1),
                                            valid_to=now + timedelta(days=30))


def test_a_client_agreement_on_staff_does_not_open_reads(firm):
    acct, doc = firm["acct"], firm["doc"]
    _only_agreement(acct, "client")
    with pytest.raises(AccessDenied) as info:
        _open(acct, doc, "记账")
    assert info.value.detail["rule"] == "agreement_missing"
    assert refused("document.read", "agreement_missing")
    assert selectors.gate_problems(acct)
    _only_agreement(acct, "employee")
    assert _open(acct, doc, "记账") == b"internal content"


def test_a_partner_needs_a_partner_agreement(firm):
    partner, doc = firm["partner"], firm["doc"]
    services.authorization_grant(actor=firm["portal"], client=firm["client"],
                                 grantee_org=firm["org"],
                                 scope=services.ScopeInput(levels=["internal"]), **period(30))
    assert _open(partner, doc, "代理报税") == b"internal content"
    _only_agreement(partner, "employee")
    with pytest.raises(AccessDenied) as info:
        _open(partner, doc, "代理报税")
    assert info.value.detail["rule"] == "agreement_missing", info.value.detail


def test_an_external_auditors_engagement_is_their_auditor_agreement(firm, make_user):
    auditor = make_user("ext", role=Role.EXTERNAL_AUDITOR, clearance=Level.INTERNAL)
    services.assignment_add(actor=firm["manager"], client=firm["client"], user=auditor)
    assert _open(auditor, firm["doc"], "年审") == b"internal content"
    # An employee agreement is no engagement: outside any engagement, everything is refused.
    _only_agreement(auditor, "employee")
    with pytest.raises(AccessDenied) as info:
        _open(auditor, firm["doc"], "年审")
    assert info.value.detail["rule"] == "engagement_window"


# --- 2. Authorizations are held to a maximum period ------------------------------------


def test_an_authorization_may_not_run_for_a_century(firm, settings):
    scope = services.ScopeInput(levels=["internal"])
    with pytest.raises(ValidationFailed) as info:
        services.authorization_grant(actor=firm["portal"], client=firm["client"],
                                     grantee_org=firm["org"], scope=scope,
                                     **period(100 * 365))
    assert info.value.code == "period_too_long"
    assert info.value.detail["fields"]["valid_to"]
    assert refused("authorization.grant", "period_too_long")
    assert not ClientAuthorization.objects.exists()
    # The limit is a setting; a period of exactly the limit is accepted.
    settings.BAOMI_AUTHORIZATION_MAX_DAYS = 30
    with pytest.raises(ValidationFailed) as info:
        services.authorization_grant(actor=firm["portal"], client=firm["client"],
                                     grantee_org=firm["org"], scope=scope, **period(30.01))
    assert info.value.code == "period_too_long"
    row = services.authorization_grant(actor=firm["portal"], client=firm["client"],
                                       grantee_org=firm["org"], scope=scope, **period(30))
    assert row.pk


def test_the_default_limit_is_three_years(firm):
    scope = services.ScopeInput(levels=["internal"])
    assert services.authorization_grant(actor=firm["portal"], client=firm["client"],
                                        grantee_org=firm["org"], scope=scope,
                                        **period(3 * 365))
    with pytest.raises(ValidationFailed) as info:
        services.authorization_grant(actor=firm["portal"], client=firm["client"],
                                     grantee_user=firm["partner"], scope=scope,
                                     **period(3 * 365 + 2))
    assert info.value.code == "period_too_long"


def test_query_requests_were_already_held_to_90_days(firm):
    with pytest.raises(ValidationFailed) as info:
        services.request_create(actor=firm["acct"], client=firm["client"],
                                scope=services.ScopeInput(["secret"]), purpose="审计",
                                **period(100 * 365))
    assert info.value.code == "period_too_long"


def test_the_api_refuses_a_long_authorization(firm):
    c = verified_client(firm["portal"])
    start = timezone.now()
    r = c.post(f"/api/v1/clients/{firm['client'].pk}/authorizations", {
        "grantee_org_id": firm["org"].pk, "scope": {"levels": ["internal"]},
        "valid_from": start.isoformat(),
        "valid_to": (start + timedelta(days=36500)).isoformat(),
    }, content_type="application/json")
    assert r.status_code == 422, r.content
    assert r.json()["code"] == "period_too_long"


# --- 3. A read under a query request states the purpose it was approved for (F08) -------


@pytest.fixture
def approved(firm) -> dict[str, Any]:
    secret = _doc(firm["manager"], firm["client"], "secret")
    row = services.request_create(actor=firm["compliance"], client=firm["client"],
                                  scope=services.ScopeInput(document_ids=[secret.pk]),
                                  purpose="年度审计", **period(3))
    services.request_approve(actor=firm["manager"], request=row)
    return {"secret": secret, "request": row}


def test_a_read_under_a_request_must_state_the_approved_purpose(firm, approved):
    compliance, secret = firm["compliance"], approved["secret"]
    with pytest.raises(AccessDenied) as info:
        _open(compliance, secret, "私人好奇")
    assert info.value.code == "purpose_not_approved"
    assert info.value.detail["rule"] == "purpose_not_approved"
    assert refused("document.read", "purpose_not_approved")
    entry = LedgerEntry.objects.filter(action="document.read", decision="refused").latest("seq")
    assert entry.purpose == "私人好奇"
    # The approved purpose, as stated (spacing and invisible characters aside), is read.
    assert _open(compliance, secret, "年度审计") == b"secret content"
    assert _open(compliance, secret, " 年度\u200b审计 ") == b"secret content"


def test_a_blank_purpose_under_a_request_is_still_purpose_required(firm, approved):
    with pytest.raises(AccessDenied) as info:
        _open(firm["compliance"], approved["secret"], "  ")
    assert info.value.code == "purpose_required"


def test_the_api_names_the_refusal(firm):
    row = services.request_create(actor=firm["compliance"], client=firm["client"],
                                  scope=services.ScopeInput(["confidential"]),
                                  purpose="税务稽查配合", **period(3))
    services.request_approve(actor=firm["manager"], request=row)
    c = verified_client(firm["compliance"], HTTP_ACCEPT_LANGUAGE="en")
    url = f"/api/v1/clients/{firm['client'].pk}/sensitive"
    r = c.get(url, {"fields": "bank_account", "purpose": "something else"})
    assert r.status_code == 403, r.content
    assert r.json()["code"] == "purpose_not_approved", r.json()
    assert "approved" in r.json()["message"]
    assert refused("client.sensitive.read", "purpose_not_approved")
    r = c.get(url, {"fields": "bank_account", "purpose": "税务稽查配合"})
    assert r.status_code == 200, r.content


def test_the_page_still_offers_the_read(firm, approved):
    """`permitted` (no purpose known yet) still counts the request: the UI offers the
    read, and the purpose is decided when it is made."""
    from baomi import policy

    obj = selectors.document_resource(approved["secret"])
    assert selectors.permitted_for(firm["compliance"], policy.Action.DOCUMENT_READ, obj)


def test_a_search_under_a_request_confirms_values_only_for_its_purpose(firm, make_user):
    """A blind-index match confirms a value, so it is shown only where the read would be
    allowed: under a query request, for the purpose it was approved for."""
    from baomi.clients.services import ClientInput, client_update
    from baomi.vault.selectors import client_find_by_legal_rep_id

    admin = make_user("admin", role=Role.ADMIN, clearance=Level.CONFIDENTIAL)
    id_number = "110101199003074514"
    client_update(actor=firm["manager"], client=firm["client"],
                  data=ClientInput(legal_rep_id_number=id_number))
    row = services.request_create(actor=admin, client=firm["client"],
                                  scope=services.ScopeInput(["confidential"]),
                                  purpose="工商变更", **period(3))
    services.request_approve(actor=firm["manager"], request=row)
    found = client_find_by_legal_rep_id(actor=admin, id_number=id_number, purpose="工商变更")
    assert list(found) == [firm["client"]]
    assert not client_find_by_legal_rep_id(actor=admin, id_number=id_number,
                                           purpose="随便看看").exists()


def test_the_policy_matches_the_purpose_on_every_request_path() -> None:
    """The pure decision: `request`, `assigned_or_request` and `assigned_and_request`
    cells count a request only for its purpose; the assignment path needs no match, and
    `permitted` (no purpose yet) still counts it."""
    from baomi.policy import Action, Level, Role, Rule, decide, permitted
    from baomi.policy.tests.builders import CLIENT, NOW, actor, doc, facts, query_request

    request = query_request(purpose="年度审计")
    granted = facts(query_requests=[request])
    both = facts(query_requests=[request], assigned_client_ids=[CLIENT])
    compliance, admin, acct = actor(Role.COMPLIANCE), actor(Role.ADMIN), actor(Role.ACCOUNTANT)
    secret, confidential = doc(Level.SECRET), doc(Level.CONFIDENTIAL)
    read = Action.DOCUMENT_READ
    for who, obj, the_facts in ((compliance, confidential, granted),   # request
                                (admin, confidential, granted),        # assigned_or_request
                                (acct, secret, both)):                 # assigned_and_request
        assert decide(who, read, obj, "年度审计", NOW, the_facts).rule is Rule.ALLOW_QUERY_REQUEST
        refusal = decide(who, read, obj, "月度记账", NOW, the_facts)
        assert refusal.rule is Rule.PURPOSE_NOT_APPROVED, refusal
        assert permitted(who, read, obj, the_facts, NOW)
    # Assigned, the admin reads confidential content for any purpose, as before.
    assert decide(admin, read, confidential, "月度记账", NOW, both).rule is Rule.ALLOW_ASSIGNED
    # No request at all is still `approval_required`; a blank purpose `purpose_required`.
    assert decide(compliance, read, confidential, "x", NOW, facts()).rule is (
        Rule.APPROVAL_REQUIRED)
    blank = decide(compliance, read, confidential, " ", NOW, granted)
    assert [r.code for r in blank.reasons] == [Rule.PURPOSE_REQUIRED]


# --- 4. Only partners are named in an authorization -------------------------------------


@pytest.mark.parametrize("who", ["acct", "manager", "compliance", "other_portal"])
def test_an_authorization_names_no_one_but_partners(firm, who):
    grantee = firm[who]
    with pytest.raises(ValidationFailed) as info:
        services.authorization_grant(actor=firm["portal"], client=firm["client"],
                                     grantee_user=grantee,
                                     scope=services.ScopeInput(levels=["internal"]),
                                     **period(30))
    assert info.value.code == "grantee_not_partner"
    assert info.value.detail["fields"]["grantee"]
    assert refused("authorization.grant", "grantee_not_partner")
    assert not ClientAuthorization.objects.exists()
    # Nobody was told the client's name.
    assert not grantee.notifications.filter(kind="authorization_granted").exists()


def test_staff_recording_a_form_cannot_name_staff_either(firm):
    with pytest.raises(ValidationFailed) as info:
        services.authorization_grant(actor=firm["manager"], client=firm["client"],
                                     grantee_user=firm["acct"],
                                     scope=services.ScopeInput(levels=["internal"]),
                                     **period(30))
    assert info.value.code == "grantee_not_partner"


def test_the_api_refuses_a_non_partner_and_accepts_a_partner(firm):
    c = verified_client(firm["portal"])
    url = f"/api/v1/clients/{firm['client'].pk}/authorizations"
    body = {"scope": {"levels": ["internal"]}, "valid_from": timezone.now().isoformat(),
            "valid_to": (timezone.now() + timedelta(days=30)).isoformat()}
    r = c.post(url, {**body, "grantee_user_id": firm["other_portal"].pk},
               content_type="application/json")
    assert r.status_code == 422, r.content
    assert r.json()["code"] == "grantee_not_partner"
    r = c.post(url, {**body, "grantee_user_id": firm["partner"].pk},
               content_type="application/json")
    assert r.status_code == 201, r.content


def test_the_access_page_offers_only_partners_as_grantees(firm):
    c = verified_client(firm["manager"])
    page = c.get(f"/access/clients/{firm['client'].pk}/").content.decode()
    picker = page.split('name="grantee_user"', 1)[1].split("</select>", 1)[0]
    assert f'value="{firm["partner"].pk}"' in picker
    assert f'value="{firm["acct"].pk}"' not in picker


def test_the_download_form_offers_the_approved_purpose(firm, approved):
    """The reader need not retype the approved purpose: the page fills it in (and lists
    every approved purpose covering the document); others get an empty field."""
    secret = approved["secret"]
    page = verified_client(firm["compliance"], HTTP_ACCEPT_LANGUAGE="en").get(
        f"/vault/documents/{secret.pk}/").content.decode()
    assert 'value="年度审计" list="approved-purposes"' in page
    assert '<option value="年度审计">' in page
    obj = selectors.document_resource(secret)
    assert selectors.approved_purposes(firm["manager"], obj) == []
    services.request_cancel(actor=firm["compliance"], request=approved["request"])
    assert selectors.approved_purposes(firm["compliance"], obj) == []


def test_the_client_page_suggests_the_approved_purpose_for_protected_fields(firm):
    row = services.request_create(actor=firm["compliance"], client=firm["client"],
                                  scope=services.ScopeInput(["confidential"]),
                                  purpose="税务稽查配合", **period(3))
    services.request_approve(actor=firm["manager"], request=row)
    page = verified_client(firm["compliance"]).get(
        f"/clients/{firm['client'].pk}/").content.decode()
    assert 'list="approved-purposes"' in page and '<option value="税务稽查配合">' in page
