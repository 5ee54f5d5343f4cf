"""Staff lifecycle steps decide on the person as stored now, under a lock (F06).

A handover to a colleague, or an assignment of one, checked that the colleague was
active and then wrote in a transaction of its own: a departure (离职) that came between
the two left a departed person holding live assignments, which their departure had not
ended. Each step now locks the people's rows and decides again inside its transaction
(`services._lock_users`).

The first tests pass a person as read before their departure (what a request holds when
another one marks them left meanwhile); the last makes the two steps meet for real, in
two threads on PostgreSQL (on SQLite the write lock, taken at BEGIN IMMEDIATE, already
puts one whole step before the other).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections, transaction

from baomi.access import services
from baomi.access.models import EndedAssignment
from baomi.access.tests.test_services import firm
from baomi.accounts.models import Level, StaffStatus, User
from baomi.audit.models import LedgerEntry
from baomi.clients.models import Assignment
from baomi.errors import ValidationFailed

__all__ = ["firm"]  # the fixture, shared with test_services


def _entries(action: str, **kw: Any) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(action=action, **kw).order_by("seq"))


def _stale_copy(user: User) -> User:
    """`user` as a request read it, before another request changes the row."""
    return User.objects.get(pk=user.pk)


@pytest.mark.django_db
def test_a_handover_to_a_colleague_who_has_just_left_is_refused(firm, make_user):
    admin, acct = firm["admin"], firm["acct"]
    successor = make_user("acct3", department="一部", clearance=Level.CONFIDENTIAL)
    seen = _stale_copy(successor)
    services.staff_leave(actor=admin, user=successor)
    with pytest.raises(ValidationFailed) as info:
        services.staff_handover(actor=admin, from_user=acct, to_user=seen)
    assert info.value.code == "handover_target_invalid"
    # Nothing moved: the departed colleague holds nothing, the person handing over keeps
    # their client, and the refusal is recorded.
    assert not Assignment.objects.filter(user=successor).exists()
    assert Assignment.objects.filter(user=acct, client=firm["client"]).exists()
    assert not _entries("staff.handover", decision="allowed")
    assert _entries("staff.handover", decision="refused",
                    reason="handover_target_invalid")[0].object_id == str(acct.pk)


@pytest.mark.django_db
def test_a_handover_of_a_departed_persons_clients_to_one_who_has_just_left(firm, make_user):
    admin, acct = firm["admin"], firm["acct"]
    successor = make_user("acct3", department="一部")
    seen = _stale_copy(successor)
    services.staff_leave(actor=admin, user=acct)
    services.staff_leave(actor=admin, user=successor)
    with pytest.raises(ValidationFailed):
        services.staff_handover(actor=admin, from_user=acct, to_user=seen)
    # The departed person's clients stay waiting for a handover to someone still here.
    assert EndedAssignment.objects.filter(user=acct, handed_over_at__isnull=True).count() == 1
    assert not Assignment.objects.filter(user=successor).exists()
    assert services.staff_handover(actor=admin, from_user=acct, to_user=firm["acct2"]) == 1


@pytest.mark.django_db
def test_assigning_a_person_who_has_just_been_deactivated_is_refused(firm):
    acct2 = firm["acct2"]
    seen = _stale_copy(acct2)
    services.staff_leave(actor=firm["admin"], user=acct2)
    with pytest.raises(ValidationFailed) as info:
        services.assignment_add(actor=firm["admin"], client=firm["other"], user=seen)
    assert info.value.code == "assignee_not_eligible"
    assert not Assignment.objects.filter(user=acct2).exists()
    assert _entries("assignment.add", decision="refused", reason="assignee_not_eligible")


@pytest.mark.django_db(transaction=True)
def test_a_departure_and_a_handover_to_the_same_person_meet(firm, make_user):
    if connection.vendor != "postgresql":
        pytest.skip("on SQLite BEGIN IMMEDIATE serializes whole transactions")
    admin, acct = firm["admin"], firm["acct"]
    successor = make_user("acct3", department="一部")
    seen = _stale_copy(successor)
    leave_locked = threading.Event()
    handover_started = threading.Event()
    outcome: dict[str, Any] = {}

    def leave() -> None:
        # The departure takes the row first, and commits only after the handover has
        # been asked for (and, with the lock, waits for it).
        try:
            with transaction.atomic():
                services.staff_leave(actor=admin, user=successor)
                leave_locked.set()
                handover_started.wait(10)
                # Long enough for the handover to reach the locked row: without the lock
                # it would commit its assignment meanwhile.
                threading.Event().wait(0.5)
        finally:
            connections.close_all()

    def handover() -> None:
        try:
            leave_locked.wait(10)
            handover_started.set()
            outcome["moved"] = services.staff_handover(actor=admin, from_user=acct, to_user=seen)
        except ValidationFailed as exc:
            outcome["refused"] = exc.code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=leave), threading.Thread(target=handover)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert outcome == {"refused": "handover_target_invalid"}
    assert User.objects.get(pk=successor.pk).status == StaffStatus.LEFT
    assert not Assignment.objects.filter(user=successor).exists()
    assert Assignment.objects.filter(user=acct).exists()
