"""Full verification in the background: progress, one run at a time, interruption, the
page's polling card, the API's 202 and `?wait=true`, and the worker's connection."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.backends.signals import connection_created
from django.urls import reverse
from django.utils import timezone

from baomi.accounts import services as accounts
from baomi.accounts.models import Role
from baomi.audit import selectors, verify_jobs
from baomi.audit.models import LedgerEntry, VerificationRun
from baomi.audit.services import AuditEvent, ledger_append_many
from baomi.core import scheduler
from conftest import verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(make_user: Any) -> Any:
    return make_user("admin", role=Role.ADMIN)


def _fill(n: int) -> None:
    ledger_append_many(
        [AuditEvent(actor=f"user{i % 3}", action="client.read", object_type="client",
                    object_id=str(i), client_id=str(i % 5)) for i in range(n)]
    )


def _api(user: Any):
    from django.test import Client as HttpClient

    token = accounts.token_create(user=user).plaintext
    return HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")


def _tamper_actor() -> int:
    """Change an entry's actor column behind the ledger's back (its hashed bytes keep
    the recorded one)."""
    seq = LedgerEntry.objects.order_by("seq").values_list("seq", flat=True)[3]
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_ledgerentry SET actor = %s WHERE seq = %s", ["mallory", seq])
    return int(seq)


def join_workers() -> None:
    """Wait for this process's verification threads, touching no table meanwhile (on
    the test run's in-memory SQLite, a shared cache, a read here while the worker
    writes would be refused as "table is locked", not waited for)."""
    for thread in threading.enumerate():
        if thread.name.startswith("baomi-verify-"):
            thread.join(60)
            assert not thread.is_alive()


def _running(**kw: Any) -> VerificationRun:
    now = timezone.now()
    fields = {"started_at": now, "heartbeat_at": now, "status": "running", "requested_by": "x"}
    return VerificationRun.objects.create(**{**fields, **kw})


# --- Progress from the verifier ------------------------------------------------------------


def test_progress_is_reported_in_order_and_ends_at_the_size():
    _fill(40)
    size = selectors.ledger_state().size
    seen: list[tuple[int, int]] = []
    result = selectors.ledger_verify(record=False, progress=lambda c, t: seen.append((c, t)))
    assert result.ok and result.size == size
    assert seen[0] == (0, size) and seen[-1] == (size, size)
    checked = [c for c, _t in seen]
    assert checked == sorted(set(checked))  # strictly increasing
    assert {t for _c, t in seen} == {size}


def test_the_row_reader_reports_each_page_it_has_handed_over():
    _fill(25)
    size = selectors.ledger_state().size
    seen: list[int] = []
    rows = selectors._rows(size, batch=10, progress=seen.append)
    first = [next(rows) for _ in range(10)]
    assert len(first) == 10 and seen == []  # (not before the page's rows are taken)
    list(rows)
    assert seen == [*range(10, size, 10), size][: len(seen)] and seen[-1] == size


def test_progress_on_a_tampered_log_stays_in_order_and_the_verdict_names_the_entry():
    _fill(20)
    seq = _tamper_actor()
    seen: list[int] = []
    result = selectors.ledger_verify(record=False, progress=lambda c, t: seen.append(c))
    assert not result.ok and result.code == "index_mismatch" and result.first_bad_seq == seq
    assert seen == sorted(set(seen))


# --- One run at a time ---------------------------------------------------------------------


def test_a_second_start_joins_the_running_one():
    first = verify_jobs.start(requested_by="a")
    again = verify_jobs.start(requested_by="b")
    assert first.started and not again.started
    assert again.run.pk == first.run.pk and again.run.requested_by == "a"
    assert VerificationRun.objects.filter(status="running").count() == 1
    assert selectors.verification_running() == first.run
    # The database itself refuses a second running row (two processes at once).
    with pytest.raises(IntegrityError), transaction.atomic():
        _running()
    # …and the synchronous path joins it too instead of running another.
    joined = verify_jobs.run(requested_by="c")
    assert not joined.started and joined.run.pk == first.run.pk


def test_a_finished_run_is_the_verdict_and_a_running_one_is_not():
    done = VerificationRun.objects.create(started_at=timezone.now(), status="done", ok=True,
                                          finished_at=timezone.now(), size=5)
    _running()
    assert selectors.last_verification() == done


def test_a_stale_run_is_interrupted_and_a_new_start_runs():
    assert "ledger_verifications_mark_interrupted" in {j.name for j in scheduler.jobs()}
    now = timezone.now()
    old = now - dt.timedelta(seconds=verify_jobs.STALE_AFTER_S + 5)
    stale = _running(started_at=old, heartbeat_at=old, checked=7, target=20)
    # Shown as interrupted before anything marks it so.
    assert selectors.verification_running() is None
    assert selectors.verification_status(stale) == "interrupted"
    assert selectors.verification_stopped() == stale
    assert verify_jobs.runs_mark_interrupted(now=now) == 1
    assert verify_jobs.runs_mark_interrupted(now=now) == 0  # idempotent
    stale.refresh_from_db()
    assert (stale.status, stale.code) == ("interrupted", "heartbeat_lost")
    # A fresh one is left alone, and a stale one left running is taken over by a start.
    VerificationRun.objects.filter(pk=stale.pk).update(status="running")
    fresh = verify_jobs.start(requested_by="admin")
    assert fresh.started and fresh.run.pk != stale.pk
    stale.refresh_from_db()
    assert stale.status == "interrupted"
    assert verify_jobs.runs_mark_interrupted() == 0


def test_the_scheduler_runs_it_through_the_same_claim():
    _fill(5)
    scheduler._ledger_verify()
    run = selectors.last_verification()
    assert run is not None and run.ok and run.requested_by == "" and run.status == "done"
    assert run.checked == run.target == run.size == selectors.ledger_state().size
    # While one runs (from the web), the scheduler's turn leaves it be.
    running = _running()
    scheduler._ledger_verify()
    assert VerificationRun.objects.filter(status="running").get() == running


# --- The page -----------------------------------------------------------------------------


def test_the_card_polls_while_running_and_stops_with_the_verdict(admin):
    c = verified_client(admin, HTTP_ACCEPT_LANGUAGE="en")
    run = _running(checked=40, target=100)
    text = c.get(reverse("audit:verify_progress")).content.decode()
    assert 'hx-trigger="every 1s"' in text and "40 of 100 entries checked (40%)" in text
    assert 'value="40"' in text
    page = c.get(reverse("audit:ledger")).content.decode()
    assert "40 of 100 entries checked" in page  # (the page shows the run as well)
    VerificationRun.objects.filter(pk=run.pk).update(
        status="done", ok=True, finished_at=timezone.now(), size=100, checked=100
    )
    text = c.get(reverse("audit:verify_progress")).content.decode()
    assert "hx-trigger" not in text and "Intact" in text


def test_the_card_says_when_the_last_run_stopped(admin):
    old = timezone.now() - dt.timedelta(seconds=verify_jobs.STALE_AFTER_S + 5)
    _running(started_at=old, heartbeat_at=old, checked=7, target=20)
    text = verified_client(admin, HTTP_ACCEPT_LANGUAGE="en").get(
        reverse("audit:verify_progress")).content.decode()
    assert "hx-trigger" not in text and "stopped after 7 of 20 entries" in text


def test_the_card_is_refused_to_those_who_may_not_read_the_ledger(make_user):
    acct = make_user("acct_card", role=Role.ACCOUNTANT)
    r = verified_client(acct, HTTP_ACCEPT_LANGUAGE="en").get(reverse("audit:verify_progress"))
    assert r.status_code == 403
    entry = LedgerEntry.objects.order_by("-seq").first()
    assert entry is not None
    assert (entry.actor, entry.action, entry.decision) == ("acct_card", "ledger.view", "refused")


def test_without_javascript_the_post_goes_back_to_the_ledger_page(admin):
    c = verified_client(admin, HTTP_ACCEPT_LANGUAGE="en")
    r = c.post(reverse("audit:verify"))
    assert r.status_code == 302 and r["Location"] == reverse("audit:ledger")
    run = VerificationRun.objects.get(status="running")  # (its thread starts on commit)
    assert run.requested_by == "admin"
    entry = LedgerEntry.objects.filter(action="ledger.verify").order_by("-seq").first()
    assert entry is not None and entry.actor == "admin"
    page = c.get(reverse("audit:ledger")).content.decode()
    assert "entries checked" in page


@pytest.mark.django_db(transaction=True)
def test_the_page_verifies_in_the_background_and_shows_the_verdict(admin):
    _fill(30)
    c = verified_client(admin, HTTP_ACCEPT_LANGUAGE="en")
    r = c.post(reverse("audit:verify"), HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    text = r.content.decode()
    # Still running (the card polls) or already done (the verdict): never neither.
    assert 'hx-trigger="every 1s"' in text or "Intact" in text
    join_workers()
    run = VerificationRun.objects.order_by("-id").first()
    assert run is not None and run.requested_by == "admin"
    assert (run.status, run.ok) == ("done", True)
    assert run.checked == run.target == run.size > 30
    text = c.get(reverse("audit:verify_progress")).content.decode()
    assert "hx-trigger" not in text and "Intact" in text
    assert verify_jobs.running_here() == []


@pytest.mark.django_db(transaction=True)
def test_a_tampered_log_fails_through_the_background_path(admin):
    _fill(30)
    seq = _tamper_actor()
    c = verified_client(admin, HTTP_ACCEPT_LANGUAGE="en")
    c.post(reverse("audit:verify"), HTTP_HX_REQUEST="true")
    join_workers()
    run = VerificationRun.objects.order_by("-id").first()
    assert run is not None
    assert (run.status, run.ok, run.code, run.first_bad_seq) == (
        "done", False, "index_mismatch", seq
    )
    text = c.get(reverse("audit:verify_progress")).content.decode()
    assert "Tampering detected" in text and f"first bad entry #{seq}" in text


@pytest.mark.django_db(transaction=True)
def test_the_worker_closes_its_database_connections(admin):
    _fill(10)
    opened: list[Any] = []
    closed: list[Any] = []

    def seen(sender: Any, connection: Any, **kw: Any) -> None:
        if not threading.current_thread().name.startswith("baomi-verify-"):
            return
        opened.append(connection)
        close = connection.close

        def closing() -> None:  # (Django ignores the close of an in-memory SQLite DB)
            closed.append(connection)
            close()

        connection.close = closing

    connection_created.connect(seen)
    try:
        started = verify_jobs.start(requested_by="admin")
        assert started.started and verify_jobs.wait(started.run.pk, timeout=60)
    finally:
        connection_created.disconnect(seen)
    assert opened, "the worker opened no connection of its own"
    assert closed == opened
    in_memory = [getattr(c, "is_in_memory_db", lambda: False)() for c in opened]
    assert all(c.connection is None for c, mem in zip(opened, in_memory, strict=True) if not mem)
    started.run.refresh_from_db()
    assert started.run.status == "done" and started.run.ok


# --- The API -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_202_and_the_run_is_polled_to_its_verdict(admin):
    _fill(20)
    api = _api(admin)
    r = api.post("/api/v1/ledger/verify")
    assert r.status_code == 202, r.content
    body = r.json()
    assert verify_jobs.wait(body["id"], timeout=60)
    size = selectors.ledger_state().size  # (the request's own entry included)
    assert body["status"] in {"running", "done"} and body["requested_by"] == "admin"
    assert body["target"] == size
    done = api.get(f"/api/v1/ledger/verify/{body['id']}")
    assert done.status_code == 200
    verdict = done.json()
    assert (verdict["status"], verdict["ok"], verdict["code"], verdict["message"]) == (
        "done", True, "", ""
    )
    assert verdict["checked"] == verdict["target"] == verdict["size"] == size
    assert verdict["percent"] == 100 and verdict["finished_at"] is not None
    # The state endpoint's verdict is this run's.
    state = api.get("/api/v1/ledger/state").json()
    assert state["last_verification"]["ok"] is True
    assert state["last_verification"]["size"] == size


def test_the_api_shows_a_run_in_progress_and_joins_it(admin):
    api = _api(admin)
    run = _running(checked=3, target=12)
    polled = api.get(f"/api/v1/ledger/verify/{run.pk}").json()
    assert (polled["status"], polled["ok"], polled["checked"], polled["target"]) == (
        "running", None, 3, 12
    )
    assert polled["percent"] == 25 and polled["reason"] == ""
    joined = api.post("/api/v1/ledger/verify")
    assert joined.status_code == 202 and joined.json()["id"] == run.pk
    assert VerificationRun.objects.count() == 1


def test_the_api_waits_for_the_verdict_when_asked(admin):
    _fill(10)
    seq = _tamper_actor()
    r = _api(admin).post("/api/v1/ledger/verify?wait=true")
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["status"], body["ok"], body["code"], body["first_bad_seq"]) == (
        "done", False, "index_mismatch", seq
    )
    assert body["message"] and f"seq {seq}" in body["reason"]
    assert selectors.last_verification().pk == body["id"]


def test_an_unknown_verification_is_404(admin):
    api = _api(admin)
    for run_id in (999999, 2**63):
        r = api.get(f"/api/v1/ledger/verify/{run_id}")
        assert r.status_code == 404
        body = r.json()
        assert set(body) == {"code", "message", "detail"}
        assert body["code"] == "verification_not_found"


def test_a_stale_run_reads_as_interrupted_in_the_api(admin):
    old = timezone.now() - dt.timedelta(seconds=verify_jobs.STALE_AFTER_S + 5)
    run = _running(started_at=old, heartbeat_at=old)
    body = _api(admin).get(f"/api/v1/ledger/verify/{run.pk}").json()
    assert (body["status"], body["ok"]) == ("interrupted", None) and body["message"]


def test_the_api_needs_the_ledger_permission(make_user):
    acct = make_user("acct_api", role=Role.ACCOUNTANT)
    api = _api(acct)
    assert api.post("/api/v1/ledger/verify").status_code == 403
    assert not VerificationRun.objects.exists()
    entry = LedgerEntry.objects.order_by("-seq").first()
    assert entry is not None
    assert (entry.actor, entry.action, entry.decision) == ("acct_api", "ledger.verify", "refused")
