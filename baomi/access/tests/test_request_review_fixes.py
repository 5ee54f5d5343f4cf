"""Query requests: defects an adversarial review found (2026-11-25), each held fixed:
a client approving 机密 without a second factor, withdrawing a decided request, dead
notification links, approving for a deactivated requester, a web scope narrowed
without a word."""

from __future__ import annotations

import contextlib
import json

import pytest

from baomi.access import selectors, services
from baomi.access.context import session_facts
from baomi.access.models import Notification, QueryRequest
from baomi.access.tests.test_services import firm, period
from baomi.audit.models import LedgerEntry
from baomi.errors import BaomiError
from conftest import verified_client

pytestmark = pytest.mark.django_db
__all__ = ["firm"]


# 1. A client approves 机密/绝密 requests only from a two-factor session ---------------


def test_client_approval_of_a_confidential_request_needs_a_two_factor_session(firm, settings):
    """Staff approving a 机密 request need a verified second factor (`mfa_required`), and
    so does the client approving it in the portal."""
    settings.BAOMI_CLIENT_APPROVES_LEVELS = "internal,confidential"
    row = services.request_create(actor=firm["acct"], client=firm["client"],
                                  scope=services.ScopeInput(["confidential"]),
                                  purpose="对账", **period())
    other = services.request_create(actor=firm["acct"], client=firm["client"],
                                    scope=services.ScopeInput(["confidential"]),
                                    purpose="复核", **period())
    doc = _confidential_doc(firm)
    with session_facts(mfa_verified=False):
        # The manager, from an unverified session, is refused ...
        with pytest.raises(BaomiError) as staff:
            services.request_approve(actor=firm["manager"], request=other)
        assert staff.value.detail["rule"] == "mfa_required"
        # ... and the client's own reads at that level are refused the same way ...
        assert not selectors.permitted_for(
            firm["portal"], "document.read",
            selectors.document_resource(doc))
        # ... and so is the client's approval, which opens 机密 data to a third person.
        with pytest.raises(BaomiError):
            services.request_approve(actor=firm["portal"], request=row)
    assert QueryRequest.objects.get(pk=row.pk).status == "pending"


def test_client_approval_through_the_web_needs_two_factor(firm, settings):
    """Over HTTP (the web view): a portal session without a second factor cannot approve
    a 机密 request."""
    settings.BAOMI_CLIENT_APPROVES_LEVELS = "internal,confidential"
    row = services.request_create(actor=firm["acct"], client=firm["client"],
                                  scope=services.ScopeInput(["confidential"]),
                                  purpose="对账", **period())
    from django.test import Client as HttpClient

    c = HttpClient()
    c.force_login(firm["portal"])  # signed in, no second factor verified
    r = c.post(f"/access/requests/{row.pk}/approve/", {"note": ""})
    assert r.status_code == 302
    assert QueryRequest.objects.get(pk=row.pk).status == "pending"


def _confidential_doc(firm):
    from baomi.access.tests.test_services import _doc

    return _doc(firm["acct"], firm["client"], "confidential")


# 2. Withdrawing a request that is no longer pending or approved -------------------------


def test_withdrawing_a_rejected_request_is_refused_and_recorded(firm):
    row = services.request_create(actor=firm["acct"], client=firm["client"],
                                  scope=services.ScopeInput(["internal"]), purpose="对账",
                                  **period())
    services.request_reject(actor=firm["manager"], request=row)
    before = LedgerEntry.objects.count()
    with pytest.raises(BaomiError):
        services.request_cancel(actor=firm["acct"], request=row)
    assert LedgerEntry.objects.filter(action="query_request.cancel",
                                      decision="refused").count() == 1
    assert LedgerEntry.objects.count() == before + 1


def test_withdrawing_a_rejected_request_over_the_api_is_not_a_200(firm):
    row = services.request_create(actor=firm["acct"], client=firm["client"],
                                  scope=services.ScopeInput(["internal"]), purpose="对账",
                                  **period())
    services.request_reject(actor=firm["manager"], request=row)
    c = verified_client(firm["acct"])
    r = c.post(f"/api/v1/query-requests/{row.pk}/cancel", "{}",
               content_type="application/json")
    assert r.status_code != 200, (r.status_code, json.loads(r.content))


# 3. Notifications about requests link to pages that exist -------------------------------


def test_request_notifications_link_to_an_existing_page(firm):
    row = services.request_create(actor=firm["acct"], client=firm["client"],
                                  scope=services.ScopeInput(["internal"]), purpose="对账",
                                  **period())
    services.request_approve(actor=firm["manager"], request=row)
    filed = Notification.objects.get(user=firm["manager"], kind="request_filed")
    approved = Notification.objects.get(user=firm["acct"], kind="request_approved")
    assert verified_client(firm["manager"]).get(filed.url).status_code == 200, filed.url
    assert verified_client(firm["acct"]).get(approved.url).status_code == 200, approved.url


# 4. A deactivated requester's request is not approved, so nothing revives with the account


def test_a_deactivated_requesters_pending_request_cannot_be_approved(firm):
    from baomi.accounts import services as account_services

    row = services.request_create(actor=firm["acct"], client=firm["client"],
                                  scope=services.ScopeInput(["internal"]), purpose="对账",
                                  **period())
    account_services.user_deactivate(user=firm["acct"], actor=firm["admin"])
    # Approving it is refused (`requester_inactive`), and it is not listed.
    with pytest.raises(BaomiError):
        services.request_approve(actor=firm["manager"], request=row)
    assert row not in selectors.requests_to_decide(firm["manager"])


def test_a_deactivated_requesters_request_grants_nothing_on_reactivation(firm):
    from baomi.accounts import services as account_services

    row = services.request_create(actor=firm["acct"], client=firm["client"],
                                  scope=services.ScopeInput(["internal"]), purpose="对账",
                                  **period())
    account_services.user_deactivate(user=firm["acct"], actor=firm["admin"])
    with contextlib.suppress(BaomiError):
        services.request_approve(actor=firm["manager"], request=row)
    account_services.user_reactivate(user=firm["acct"], actor=firm["admin"])
    firm["acct"].refresh_from_db()
    facts = selectors.facts_for(firm["acct"], client_id=firm["client"].pk)
    assert not facts.query_requests.get(firm["client"].pk), "a request approved while " \
        "its requester could not sign in grants after reactivation"


# 5. The web form refuses document ids it cannot read, rather than narrowing the request


def test_web_request_with_an_unreadable_document_id_is_refused(firm):
    c = verified_client(firm["acct"])
    r = c.post(f"/access/clients/{firm['client'].pk}/request/", {
        "levels": ["internal"], "document_ids": [str(firm["doc"].pk), "99999999999999999999999"],
        "purpose": "对账", "valid_from": "2030-01-01T00:00", "valid_to": "2030-01-02T00:00"})
    # A listed id that is not a document id must be refused (as the API refuses it), not
    # dropped: the request filed is not the one the user asked for.
    assert not QueryRequest.objects.exists(), list(
        QueryRequest.objects.values_list("scope_document_ids", flat=True))
    assert r.status_code == 400
