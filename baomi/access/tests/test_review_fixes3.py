"""Access governance after the third review: nobody records their own agreement or
training, a query request names only documents of its client, a break-glass post-review
is made once and with a note, a request whose window has ended is not approved (and the
scheduler closes it), the approvals list offers only what the approval allows, and a
partner sees only the authorizations naming them. Every refusal is recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from baomi.access import selectors, services
from baomi.access.context import session_facts
from baomi.access.models import (
    BreakGlassRead,
    ConfidentialityAgreement,
    PartnerOrganisation,
    QueryRequest,
    RequestStatus,
    TrainingRecord,
)
from baomi.access.tests.test_services import _read, firm, period, refused
from baomi.accounts.models import Level, Role
from baomi.audit.models import LedgerEntry
from baomi.errors import AccessDenied, Conflict, ValidationFailed

pytestmark = pytest.mark.django_db

__all__ = ["firm"]  # the fixture, shared with test_services


# --- M2: one's own agreement or training ----------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "compliance"])
def test_a_registrar_cannot_record_their_own_agreement_or_training(firm, who):
    actor = firm[who]
    ConfidentialityAgreement.objects.filter(person=actor).delete()
    TrainingRecord.objects.filter(person=actor).delete()
    now = timezone.now()
    span = {"valid_from": now - timedelta(minutes=1), "valid_to": now + timedelta(days=3650)}
    with pytest.raises(AccessDenied) as info:
        services.agreement_record(actor=actor, person=actor, kind="employee",
                                  scan=b"%PDF-1.4 signed", **span)
    assert info.value.code == "self_action"
    assert info.value.detail["fields"]["person"]
    assert refused("agreement.record", "self").actor == actor.username
    with pytest.raises(AccessDenied) as info:
        services.training_record(actor=actor, person=actor, course="自学", **span)
    assert info.value.code == "self_action"
    assert refused("training.record", "self").actor == actor.username
    assert not ConfidentialityAgreement.objects.filter(person=actor).exists()
    assert not TrainingRecord.objects.filter(person=actor).exists()
    # Their reads above 公开 stay closed.
    with pytest.raises(AccessDenied):
        _read(actor, firm["doc"])


def test_a_registrar_cannot_renew_their_own_agreement_or_training(firm):
    admin = firm["admin"]
    agreement = ConfidentialityAgreement.objects.filter(person=admin).latest("valid_to")
    training = TrainingRecord.objects.filter(person=admin).latest("valid_to")
    later = timezone.now() + timedelta(days=4000)
    before = (ConfidentialityAgreement.objects.count(), TrainingRecord.objects.count())
    with pytest.raises(AccessDenied) as info:
        services.agreement_renew(actor=admin, agreement=agreement, valid_to=later,
                                 scan=b"%PDF-1.4 signed")
    assert info.value.code == "self_action"
    with pytest.raises(AccessDenied) as info:
        services.training_renew(actor=admin, training=training, valid_to=later)
    assert info.value.code == "self_action"
    assert (ConfidentialityAgreement.objects.count(), TrainingRecord.objects.count()) == before
    # Another registrar records it.
    services.training_renew(actor=firm["compliance"], training=training, valid_to=later)


# --- M4: documents a query request names ------------------------------------------------------


@pytest.mark.parametrize("ids", [[987654], "another client's"])
def test_a_query_request_names_only_documents_of_its_client(firm, ids):
    # A document of `client`, named in a request for `other` (no document is created
    # here: tests sharing the firm fixture count on document and client ids in step).
    client = firm["other"] if ids == "another client's" else firm["client"]
    if ids == "another client's":
        ids = [firm["doc"].pk]
    with pytest.raises(ValidationFailed) as info:
        services.request_create(actor=firm["compliance"], client=client,
                                scope=services.ScopeInput(levels=["internal"],
                                                          document_ids=ids),
                                purpose="核对", **period(3))
    assert info.value.code == "scope_unknown_document"
    assert info.value.detail["fields"]["scope"]
    entry = refused("query_request.create", "scope_unknown_document")
    assert entry.client_id == str(client.pk)
    assert not QueryRequest.objects.exists()
    # The client's own documents are still named.
    row = services.request_create(actor=firm["acct"], client=firm["client"],
                                  scope=services.ScopeInput(document_ids=[firm["doc"].pk]),
                                  purpose="核对", **period(3))
    assert row.scope_document_ids == [firm["doc"].pk]


# --- L2: the break-glass post-review ----------------------------------------------------------


def _emergency(firm: dict[str, Any]) -> BreakGlassRead:
    return services.break_glass_opened(actor=firm["manager"], client_id=firm["client"].pk,
                                       document_id=firm["doc"].pk, reason="系统故障")


@pytest.mark.parametrize("note", ["", "   ", "\u200b\u200b", "\t\x1b\u200d\ufeff"])
def test_a_break_glass_review_needs_a_note(firm, note):
    item = _emergency(firm)
    with pytest.raises(ValidationFailed) as info:
        services.break_glass_review(actor=firm["compliance"], item=item, note=note)
    assert info.value.http_status == 422
    assert info.value.code == "note_required"
    assert info.value.detail["fields"]["note"]
    assert refused("break_glass.review", "note_required").object_id == str(item.pk)
    item.refresh_from_db()
    assert item.reviewed_at is None


def test_a_break_glass_review_is_made_once(firm, make_user):
    item = _emergency(firm)
    services.break_glass_review(actor=firm["compliance"], item=item, note="已核实")
    other = make_user("comp2", role=Role.COMPLIANCE, clearance=Level.SECRET)
    stale = BreakGlassRead.objects.get(pk=item.pk)
    with pytest.raises(Conflict) as info:
        services.break_glass_review(actor=other, item=stale, note="overwritten")
    assert info.value.http_status == 409
    assert info.value.code == "review_not_pending"
    assert refused("break_glass.review", "review_not_pending").actor == other.username
    item.refresh_from_db()
    assert (item.reviewed_by_id, item.review_note) == (firm["compliance"].pk, "已核实")
    assert LedgerEntry.objects.filter(action="break_glass.review", decision="allowed").count() == 1


# --- L5: a request whose window has ended -----------------------------------------------------


def _past_request(firm: dict[str, Any]) -> QueryRequest:
    now = timezone.now()
    return services.request_create(actor=firm["acct"], client=firm["client"],
                                   scope=services.ScopeInput(["internal"]), purpose="对账",
                                   valid_from=now - timedelta(days=10),
                                   valid_to=now - timedelta(days=9))


def test_a_request_whose_window_has_ended_is_not_approved(firm):
    row = _past_request(firm)
    with pytest.raises(Conflict) as info:
        services.request_approve(actor=firm["manager"], request=row)
    assert info.value.code == "request_expired"
    assert refused("query_request.approve", "request_expired").object_id == str(row.pk)
    row.refresh_from_db()
    assert row.status == RequestStatus.PENDING
    # Rejecting it is still possible.
    assert services.request_reject(actor=firm["manager"], request=row).status == "rejected"


def test_the_scheduler_closes_pending_requests_whose_window_has_ended(firm):
    past = _past_request(firm)
    live = services.request_create(actor=firm["acct"], client=firm["client"],
                                   scope=services.ScopeInput(["internal"]), purpose="对账",
                                   **period(3))
    assert services.requests_expire() == 1
    past.refresh_from_db()
    live.refresh_from_db()
    assert (past.status, live.status) == (RequestStatus.EXPIRED, RequestStatus.PENDING)
    entry = LedgerEntry.objects.get(action="query_request.expire", object_id=str(past.pk))
    assert entry.reason == "pending"
    assert past not in selectors.requests_to_decide(firm["manager"])
    assert services.requests_expire() == 0


# --- L4: the approvals list -------------------------------------------------------------------


def test_the_approvals_list_offers_only_what_the_approval_allows(firm, make_user):
    low = make_user("mgr3", role=Role.MANAGER, department="一部", clearance=Level.CONFIDENTIAL)
    secret = services.request_create(actor=firm["acct2"], client=firm["client"],
                                     scope=services.ScopeInput(["secret"]), purpose="审计",
                                     **period(3))
    internal = services.request_create(actor=firm["acct2"], client=firm["client"],
                                       scope=services.ScopeInput(["internal"]), purpose="记账",
                                       **period(3))
    listed = selectors.requests_to_decide(low)
    assert internal in listed and secret not in listed
    with pytest.raises(AccessDenied):
        services.request_approve(actor=low, request=secret)
    # Without a second factor a confidential approval is refused: not listed either.
    with session_facts(mfa_verified=False):
        unverified = selectors.requests_to_decide(firm["manager"])
        allowed = {r.pk for r in (secret, internal)
                   if selectors.permitted_for(firm["manager"],
                                              services.policy.Action.QUERY_REQUEST_APPROVE,
                                              services.request_resource(r))}
    assert {r.pk for r in unverified} == allowed
    assert secret not in unverified
    # The manager of the department with clearance sees both, and may approve both.
    assert {secret, internal} <= set(selectors.requests_to_decide(firm["manager"]))
    services.request_approve(actor=firm["manager"], request=secret)


# --- M3: the authorizations a partner sees ----------------------------------------------------


def test_a_partner_sees_only_the_authorizations_naming_them(firm):
    client = firm["client"]
    org2 = PartnerOrganisation.objects.create(name="另一家合作方")
    mine = services.authorization_grant(actor=firm["portal"], client=client,
                                        grantee_org=firm["org"],
                                        scope=services.ScopeInput(["internal"]), **period(30))
    services.authorization_grant(actor=firm["portal"], client=client, grantee_org=org2,
                                 scope=services.ScopeInput(["confidential"]), **period(30))
    assert list(selectors.authorizations_visible(firm["partner"], client)) == [mine]
    assert selectors.authorizations_visible(firm["manager"], client).count() == 2
    assert selectors.authorizations_visible(firm["portal"], client).count() == 2
