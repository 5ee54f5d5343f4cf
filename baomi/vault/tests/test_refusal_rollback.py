"""A refusal inside a transaction that rolls back stays in the ledger.

The door writes each refusal in the surrounding transaction; the AccessDenied usually
makes that transaction roll back, taking the entry with it. The door holds such
refusals and writes them again once the request is done (RequestIdMiddleware).
These tests need real commits and rollbacks, hence `transaction=True`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from django.db import transaction
from django.test import RequestFactory

from baomi.audit.models import LedgerEntry
from baomi.core.middleware import RequestIdMiddleware
from baomi.errors import AccessDenied
from baomi.vault import door

pytestmark = pytest.mark.django_db(transaction=True)


def _refusals(firm: dict[str, Any]) -> int:
    return LedgerEntry.objects.filter(
        actor=firm["other"].username, decision="refused", client_id=str(firm["client"].pk)
    ).count()


def _refused_write(firm: dict[str, Any]) -> None:
    # acct2 is not assigned to this client: the door refuses the sealed write.
    door.record_write(actor=firm["other"], obj=firm["client"], values={"notes": "x"})


def test_a_rolled_back_refusal_is_recorded_again_once(firm: dict[str, Any]) -> None:
    with pytest.raises(AccessDenied), transaction.atomic():
        _refused_write(firm)
    assert _refusals(firm) == 0  # the rollback took the entry
    assert door.record_rolled_back_refusals() == 1
    assert _refusals(firm) == 1
    assert door.record_rolled_back_refusals() == 0
    assert _refusals(firm) == 1


def test_a_committed_refusal_is_not_written_twice(firm: dict[str, Any]) -> None:
    with transaction.atomic(), contextlib.suppress(AccessDenied):
        _refused_write(firm)
    assert _refusals(firm) == 1
    assert door.record_rolled_back_refusals() == 0
    assert _refusals(firm) == 1


def test_a_refusal_in_a_rolled_back_savepoint_is_recorded_again(firm: dict[str, Any]) -> None:
    with transaction.atomic():
        try:
            with transaction.atomic():
                _refused_write(firm)
        except AccessDenied:
            pass
        # Still inside the outer transaction: nothing is written yet.
        assert door.record_rolled_back_refusals() == 0
    assert _refusals(firm) == 0
    assert door.record_rolled_back_refusals() == 1
    assert _refusals(firm) == 1


def test_the_request_middleware_writes_it_after_the_view(firm: dict[str, Any]) -> None:
    from django.http import HttpResponse

    def view(request: Any) -> HttpResponse:
        try:
            with transaction.atomic():
                _refused_write(firm)
        except AccessDenied:
            return HttpResponse(status=403)
        return HttpResponse()

    response = RequestIdMiddleware(view)(RequestFactory().post("/x"))
    assert response.status_code == 403
    entries = LedgerEntry.objects.filter(actor=firm["other"].username, decision="refused")
    assert entries.count() == 1
    assert entries.get().action == "client.update"
