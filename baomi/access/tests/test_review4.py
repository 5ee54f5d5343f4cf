"""A fourth review's findings: an over-long purpose must not tell a hidden client from a
missing one; NUL and lone surrogates in notes and purposes are dropped, not a 500."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from baomi.access import services
from baomi.access.models import QueryRequest
from baomi.access.tests.test_services import firm, period
from baomi.policy.text import PURPOSE_LIMIT, stated
from conftest import verified_client

pytestmark = pytest.mark.django_db
__all__ = ["firm"]

LONG = "核" * (PURPOSE_LIMIT + 1)


def test_overlong_purpose_does_not_reveal_a_hidden_client(firm):
    """GET /clients/{id}/sensitive: a client out of the actor's reach answers as one that
    does not exist (404 client_not_found), whatever the purpose. With an over-long purpose
    the door refuses with 422 purpose_too_long before deciding reach, so an existing
    hidden client answers 422 and a missing one 404: an existence oracle (before
    df7bb17..HEAD pydantic's max_length answered 422 for both)."""
    http = verified_client(firm["acct"])
    hidden = firm["other"].pk  # exists, acct1 is not assigned to it
    missing = hidden + 10_000
    short_hidden = http.get(f"/api/v1/clients/{hidden}/sensitive", {"purpose": "记账"})
    assert short_hidden.status_code == 404, short_hidden.content  # hidden as designed
    r_missing = http.get(f"/api/v1/clients/{missing}/sensitive", {"purpose": LONG})
    r_hidden = http.get(f"/api/v1/clients/{hidden}/sensitive", {"purpose": LONG})
    assert (r_hidden.status_code, r_hidden.json().get("code")) == (
        r_missing.status_code, r_missing.json().get("code"))


def test_nul_in_a_decision_note_is_refused_or_removed_not_a_500(firm):
    """A decision note is stored as typed (`note.strip()`, not `stated`): a NUL in it is
    a 500 on PostgreSQL (DataError: text fields cannot contain NUL), and kept in the row
    on SQLite. The same holds for a revocation reason (`_revoke_authorization`)."""
    row = services.request_create(actor=firm["acct"], client=firm["client"],
                                  scope=services.ScopeInput(["internal"]),
                                  purpose="记账", **period())
    http = verified_client(firm["manager"])
    r = http.post(f"/api/v1/query-requests/{row.pk}/reject",
                  json.dumps({"note": "a\u0000b"}), content_type="application/json")
    assert r.status_code < 500, r.content
    row.refresh_from_db()
    assert "\x00" not in row.decision_note


def test_a_lone_surrogate_in_an_api_purpose_is_not_a_500(firm):
    """JSON may carry a lone surrogate (\\ud800); `stated` keeps it (category Cs) and the
    insert of the query request fails with UnicodeEncodeError: 500 (SQLite and
    PostgreSQL)."""
    http = verified_client(firm["acct"])
    start = timezone.now()
    end = start + timedelta(days=3)
    body = ('{"scope": {"levels": ["internal"]}, "purpose": "ab\\ud800cd", '
            f'"valid_from": "{start.isoformat()}", "valid_to": "{end.isoformat()}"}}')
    r = http.post(f"/api/v1/clients/{firm['client'].pk}/query-requests", body,
                  content_type="application/json")
    assert (r.status_code, r.json()["code"]) == (400, "malformed_text"), r.content
    assert not QueryRequest.objects.exists()
    # Where such text reaches a statement by another way, it is dropped like other
    # silent characters.
    assert stated("ab\ud800cd") == "abcd"


def test_typed_names_are_refused_when_too_long_and_stored_without_control_characters(firm):
    """Course, partner organisation name and registration number, review campaign name:
    refused over their column's length (`too_long`, recorded, nothing stored) rather
    than cut; a NUL (which PostgreSQL cannot store) is dropped like other silent
    characters."""
    from baomi.access.models import PartnerOrganisation, ReviewCampaign, TrainingRecord
    from baomi.audit.models import LedgerEntry
    from baomi.errors import ValidationFailed

    compliance, now = firm["compliance"], timezone.now()
    attempts = [
        (lambda: services.training_record(actor=compliance, person=firm["acct"],
                                           course="课" * 201, valid_from=now,
                                           valid_to=now + timedelta(days=30)), "course"),
        (lambda: services.partner_org_create(actor=compliance, name="所" * 201), "name"),
        (lambda: services.partner_org_create(actor=compliance, name="新合作方",
                                             registration_no="9" * 41), "registration_no"),
        (lambda: services.partner_org_update(actor=compliance, org=firm["org"],
                                             name="所" * 201), "name"),
        (lambda: services.review_campaign_create(actor=compliance, name="审" * 201,
                                                 deadline=now + timedelta(days=7)), "name"),
    ]
    for attempt, field in attempts:
        with pytest.raises(ValidationFailed) as caught:
            attempt()
        assert caught.value.code == "too_long" and field in caught.value.detail["fields"]
    assert LedgerEntry.objects.filter(decision="refused", reason="too_long").count() == 5
    assert not TrainingRecord.objects.filter(course__startswith="课").exists()
    assert list(PartnerOrganisation.objects.values_list("name", flat=True)) == [
        firm["org"].name]
    assert not ReviewCampaign.objects.exists()
    row = services.training_record(actor=compliance, person=firm["acct"], course="数据\x00安全",
                                   valid_from=now, valid_to=now + timedelta(days=30))
    assert row.course == "数据安全"


def test_approver_and_requester_see_what_a_request_covers(firm):
    """The approver decides on the scope, not only the purpose: both tables of the access
    home page show it (labels in the page's language; the default one here, as a request
    in another leaves that language active for the tests after it)."""
    scope = "绝密 · 公司机密"
    services.request_create(actor=firm["acct"], client=firm["client"],
                            scope=services.ScopeInput(["secret"], ["trade_secret"]),
                            purpose="年度审计", **period())
    for who, section in (("manager", 'id="to-decide"'), ("acct", 'id="my-requests"')):
        page = verified_client(firm[who]).get("/access/").content.decode()
        table = page[page.index(section):]
        assert f"<td>{scope}</td>" in table[:table.index("</section>")], who
