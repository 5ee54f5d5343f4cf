"""Web imports in the background: progress, interruption and resume, and the bulk
confirmation of imported documents' classification."""

from __future__ import annotations

import datetime as dt
import io
import time
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from baomi.audit.models import LedgerEntry
from baomi.classification.models import DocumentLabel, LabelSource
from baomi.clients.models import Client
from baomi.core import scheduler
from baomi.imports import runner, services
from baomi.imports.models import ImportedDocument, ImportJob
from baomi.imports.spreadsheet import guess_mapping
from baomi.imports.tests.test_imports import HEADERS, ID, _csv, _rows, make_uscc
from baomi.vault.models import Document
from conftest import verified_client

pytestmark = pytest.mark.django_db


def _upload(data: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return out.getvalue()


def _job_id(location: str) -> int:
    return int(location.rstrip("/").rsplit("/", 1)[-1])


def _mapping() -> dict[str, str]:
    return {f"map_{k}": str(v) for k, v in guess_mapping(HEADERS).items()}


def test_progress_is_counted_before_the_first_row(firm):
    seen: list[tuple[int, int]] = []
    services.clients_import(
        actor=firm["manager"],
        stream=io.BytesIO(_csv(_rows())),
        filename="c.csv",
        progress=lambda job: seen.append((job.processed, job.total)),
    )
    assert seen[0] == (0, 3)  # the total is known from the start
    assert seen[-1] == (3, 3)


def test_the_fragment_polls_while_running_and_lists_errors_so_far(firm):
    job, _ = services.job_for(
        actor=firm["manager"], kind="clients", source_name="c.csv", sha256="x"
    )
    job.status, job.total, job.processed, job.failed = "running", 10, 4, 1
    job.errors = [{"item": "row 3", "code": "validation_error", "message": "bad"}]
    job.save()
    c = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en")
    text = c.get(f"/imports/jobs/{job.pk}/progress/").content.decode()
    assert 'hx-trigger="every 1s"' in text and "4 of 10 processed" in text
    assert "row 3" in text and "validation_error" in text
    job.status = "done"
    job.save()
    text = c.get(f"/imports/jobs/{job.pk}/progress/").content.decode()
    assert "hx-trigger" not in text  # finished: the page stops polling
    # Someone else's job does not exist for them.
    other = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE="en")
    assert other.get(f"/imports/jobs/{job.pk}/progress/").status_code == 404


def test_a_stale_job_is_marked_interrupted_by_the_scheduler_job(firm):
    assert "imports_mark_interrupted" in {j.name for j in scheduler.jobs()}
    old, _ = services.job_for(actor=firm["manager"], kind="clients", source_name="a", sha256="a")
    fresh, _ = services.job_for(actor=firm["manager"], kind="clients", source_name="b", sha256="b")
    now = timezone.now()
    ImportJob.objects.filter(pk=old.pk).update(
        status="running", heartbeat_at=now - dt.timedelta(seconds=services.STALE_AFTER_S + 5)
    )
    ImportJob.objects.filter(pk=fresh.pk).update(status="running", heartbeat_at=now)
    assert services.jobs_mark_interrupted(now=now) == 1
    assert services.jobs_mark_interrupted(now=now) == 0  # idempotent
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.status, fresh.status) == ("interrupted", "running")
    entry = LedgerEntry.objects.get(action="import.interrupted")
    assert entry.object_id == str(old.pk) and entry.actor == "system:scheduler"


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_is_kept_while_one_long_step_runs(firm):
    job, _ = services.job_for(actor=firm["manager"], kind="clients", source_name="a", sha256="a")
    before = job.heartbeat_at
    with services._keepalive(job, interval_s=0.05):
        # A long file being scanned: no save point meanwhile (waits at most 10 s on a
        # loaded machine for the helper thread's first beat).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.1)
            job.refresh_from_db()
            if job.heartbeat_at > before:
                break
    assert job.heartbeat_at > before


@pytest.mark.django_db(transaction=True)
def test_a_step_is_retried_only_while_the_database_is_locked():
    from django.db import OperationalError, transaction

    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("database table is locked: clients_client")
        return "done"

    assert services._retry_locked(flaky) == "done" and len(calls) == 3

    def broken() -> None:
        calls.append(1)
        raise OperationalError("no such table: x")

    calls.clear()
    with pytest.raises(OperationalError):
        services._retry_locked(broken)
    assert len(calls) == 1  # not a lock: not retried

    def always_locked() -> None:
        calls.append(1)
        raise OperationalError("database is locked")

    calls.clear()
    with pytest.raises(OperationalError):
        services._retry_locked(always_locked, attempts=3)
    assert len(calls) == 3
    calls.clear()
    with transaction.atomic(), pytest.raises(OperationalError):
        services._retry_locked(always_locked)  # an outer transaction is broken: no retry
    assert len(calls) == 1


def _plaintext_on_disk(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.django_db(transaction=True)
def test_web_clients_import_runs_in_the_background(firm, tmp_path: Path):
    c = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en")
    data = _csv(_rows())
    r = c.post("/imports/clients/", {"file": _upload(data, "客户.csv"), "run": "1", **_mapping()})
    assert r.status_code == 302
    job_id = _job_id(r["Location"])
    assert runner.wait(job_id, timeout=60)
    job = ImportJob.objects.get(pk=job_id)
    assert (job.status, job.total, job.processed, job.created, job.failed) == (
        "done",
        3,
        3,
        2,
        1,
    )
    assert job.mapping == guess_mapping(HEADERS)
    assert Client.objects.filter(uscc=make_uscc(101)).exists()
    # The request's language reached the worker (row errors are in English here).
    assert job.errors[0]["item"] == "row 3"
    # The spreadsheet never reached the disk in plaintext (blob store, vault temp dir).
    assert not _plaintext_on_disk(tmp_path, ID.encode())
    assert not _plaintext_on_disk(tmp_path, "甲公司".encode())
    actions = list(
        LedgerEntry.objects.filter(object_type="import", object_id=str(job_id)).values_list(
            "action", flat=True
        )
    )
    assert actions[:2] == ["import.queue", "import.start"] and actions[-1] == "import.finish"


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_web_import_resumes_with_the_same_file(firm):
    data = _csv(_rows())
    sha = services.sha256_of(io.BytesIO(data))
    job, _ = services.job_for(
        actor=firm["manager"],
        kind="clients",
        source_name="客户.csv",
        sha256=sha,
        mapping=guess_mapping(HEADERS),
    )
    # The web process died after row 1 (row 1 was not imported, so we can tell whether
    # the resumed run started again from the top).
    ImportJob.objects.filter(pk=job.pk).update(
        status="running",
        processed=1,
        total=3,
        heartbeat_at=timezone.now() - dt.timedelta(minutes=10),
    )
    c = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en")
    # Until the scheduler notices, the page waits; it cannot be resumed twice meanwhile.
    assert services.jobs_mark_interrupted() == 1
    page = c.get(f"/imports/jobs/{job.pk}/").content.decode()
    assert "stopped after 1" in page and f"/imports/jobs/{job.pk}/resume/" in page
    wrong = c.post(f"/imports/jobs/{job.pk}/resume/", {"file": _upload(data + b"\n", "客户.csv")})
    assert wrong.status_code == 400 and "not_the_same_file" in wrong.content.decode()
    r = c.post(f"/imports/jobs/{job.pk}/resume/", {"file": _upload(data, "客户.csv")})
    assert r.status_code == 302 and _job_id(r["Location"]) == job.pk
    assert runner.wait(job.pk, timeout=60)
    job.refresh_from_db()
    assert (job.status, job.processed) == ("done", 3)
    assert not Client.objects.filter(uscc=make_uscc(101)).exists()  # row 1 not redone
    assert Client.objects.filter(uscc=make_uscc(102)).exists()
    # Finished: resuming again is refused.
    again = c.post(f"/imports/jobs/{job.pk}/resume/", {"file": _upload(data, "客户.csv")})
    assert again.status_code == 409


def test_a_file_being_imported_is_not_started_twice(firm):
    data = _csv(_rows())
    job, _ = services.job_for(
        actor=firm["manager"],
        kind="clients",
        source_name="客户.csv",
        sha256=services.sha256_of(io.BytesIO(data)),
    )
    ImportJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now())
    c = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en")
    r = c.post(
        "/imports/clients/",
        {"file": _upload(data, "客户.csv"), "run": "1", **_mapping()},
        follow=True,
    )
    assert r.redirect_chain[0][0] == f"/imports/jobs/{job.pk}/"
    assert "already being imported" in r.content.decode()
    assert runner.running_here() == []
    assert not LedgerEntry.objects.filter(action="import.queue").exists()


def test_too_many_imports_at_once_are_refused_clearly(firm, monkeypatch):
    monkeypatch.setattr(runner, "MAX_RUNNING", 0)
    c = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en")
    r = c.post(
        "/imports/clients/", {"file": _upload(_csv(_rows()), "c.csv"), "run": "1", **_mapping()}
    )
    assert r.status_code == 409 and "import_busy" in r.content.decode()
    assert not ImportJob.objects.exists()


def test_the_upload_still_needs_the_csrf_token(firm):
    from django.test import Client as HttpClient
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    c = HttpClient(enforce_csrf_checks=True)
    c.force_login(firm["manager"])
    session = c.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.create(
        user=firm["manager"], name="t", confirmed=True
    ).persistent_id
    session.save()
    for url in ("/imports/clients/", "/imports/documents/"):
        r = c.post(url, {"file": _upload(_csv(_rows()), "c.csv"), "run": "1"})
        assert r.status_code == 403, url
    assert not ImportJob.objects.exists()
    # With the form's token the same upload goes through (the 403 above was CSRF).
    c.get("/imports/")
    token = c.cookies[settings.CSRF_COOKIE_NAME].value
    r = c.post(
        "/imports/clients/",
        {"file": _upload(_csv(_rows()), "c.csv"), "csrfmiddlewaretoken": token},
    )
    assert r.status_code == 200 and "甲公司" in r.content.decode()  # the preview


@pytest.mark.django_db(transaction=True)
def test_imported_documents_are_confirmed_in_one_submit(firm):
    acct, client = firm["acct"], firm["client"]
    c = verified_client(acct, HTTP_ACCEPT_LANGUAGE="en")
    data = _zip(
        {
            "工资/名单.txt": f"姓名 张三 身份证号 {ID}\n".encode(),
            "纪要.txt": "会议纪要，无敏感信息。".encode(),
            "../evil.txt": b"x",
        }
    )
    r = c.post("/imports/documents/", {"file": _upload(data, "资料.zip"), "client": client.pk})
    assert r.status_code == 302
    job_id = _job_id(r["Location"])
    assert runner.wait(job_id, timeout=60)
    job = ImportJob.objects.get(pk=job_id)
    assert (job.status, job.total, job.created, job.failed) == ("done", 3, 2, 1)
    assert f"/imports/jobs/{job_id}/documents/" in c.get(r["Location"]).content.decode()
    payroll = Document.objects.get(client=client, title="工资/名单.txt")
    minutes = Document.objects.get(client=client, title="纪要.txt")
    assert set(ImportedDocument.objects.filter(job=job).values_list("document_id", flat=True)) == {
        payroll.pk,
        minutes.pk,
    }
    assert all(
        lbl.source == LabelSource.UNCONFIRMED
        for lbl in DocumentLabel.objects.filter(document__client=client)
    )

    page = c.get(f"/imports/jobs/{job_id}/documents/")
    text = page.content.decode()
    assert page.status_code == 200 and "2 not yet confirmed" in text
    assert f'name="level_{payroll.pk}"' in text and f'name="level_{minutes.pk}"' in text
    assert ID not in text  # counts only, never the identifiers

    # A bad value on one row: nothing is saved, the page says which document.
    bad = c.post(
        f"/imports/jobs/{job_id}/documents/",
        {
            "doc": [payroll.pk, minutes.pk],
            f"level_{payroll.pk}": "confidential",
            f"category_{payroll.pk}": "personal",
            f"level_{minutes.pk}": "top-secret",
            f"category_{minutes.pk}": "other",
        },
    )
    assert bad.status_code == 422 and "纪要.txt" in bad.content.decode()
    assert not DocumentLabel.objects.exclude(source=LabelSource.UNCONFIRMED).exists()
    # A document of another import (or client) cannot be slipped in.
    stranger = c.post(
        f"/imports/jobs/{job_id}/documents/",
        {"doc": [999999], "level_999999": "public", "category_999999": "other"},
    )
    assert stranger.status_code == 422

    # Confirm the payroll as suggested and override the minutes in the same submit.
    suggested = DocumentLabel.objects.get(document=minutes)
    r = c.post(
        f"/imports/jobs/{job_id}/documents/",
        {
            "doc": [payroll.pk, minutes.pk],
            f"level_{payroll.pk}": "confidential",
            f"category_{payroll.pk}": "personal",
            f"level_{minutes.pk}": "confidential",
            f"category_{minutes.pk}": "business_plan",
        },
        follow=True,
    )
    assert "2 documents confirmed (1 with a label you chose)" in r.content.decode()
    payroll_label = DocumentLabel.objects.get(document=payroll)
    minutes_label = DocumentLabel.objects.get(document=minutes)
    assert (payroll_label.source, payroll_label.overridden) == (LabelSource.SUGGESTED, False)
    assert (minutes_label.source, minutes_label.overridden) == (LabelSource.OVERRIDDEN, True)
    minutes.refresh_from_db()
    assert (minutes.level, minutes.category) == ("confidential", "business_plan")
    reasons = dict(
        LedgerEntry.objects.filter(action="document.classify").values_list("object_id", "reason")
    )
    assert reasons[str(payroll.pk)].endswith("confirm")
    assert reasons[str(minutes.pk)].endswith("override")
    assert (
        f"suggested={suggested.suggested_level}/{suggested.suggested_category}"
        in reasons[str(minutes.pk)]
    )
    # All confirmed: the page shows them as such and offers no submit.
    text = c.get(f"/imports/jobs/{job_id}/documents/").content.decode()
    assert "0 not yet confirmed" in text and 'id="confirm-all"' not in text
    # The importing person's job only.
    other = verified_client(firm["other"], HTTP_ACCEPT_LANGUAGE="en")
    assert other.get(f"/imports/jobs/{job_id}/documents/").status_code == 404
