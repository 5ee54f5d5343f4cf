"""Gap fix: nothing secret or client data reaches the logs. A background import or a
scheduler job that fails logs its exception's type and place and a value-free context
(import id, row), never the exception's message or traceback text, which can quote the
row being imported. The failure is still reported to the user as before."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest

from baomi.audit.models import LedgerEntry
from baomi.clients.models import Client
from baomi.core import scheduler
from baomi.imports import runner, services
from baomi.imports.models import ImportJob
from baomi.imports.spreadsheet import guess_mapping
from baomi.imports.tests.test_imports import HEADERS, _csv, make_uscc
from conftest import verified_client

CANARY = "CANARY-5e1d9c 泄露探针"


def _upload(data: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


def _failing_create(real: Any) -> Any:
    """`client_create` that fails as a bug or a library might: a ValueError quoting the
    cell it choked on."""

    def create(*, actor: Any, data: Any) -> Any:
        if CANARY in data.name:
            raise ValueError(f"could not convert cell {data.name!r} (address {data.address!r})")
        return real(actor=actor, data=data)

    return create


def _no_canary(caplog: pytest.LogCaptureFixture) -> None:
    assert CANARY not in caplog.text  # messages and any formatted traceback
    for rec in caplog.records:
        assert CANARY not in rec.getMessage()
        assert rec.exc_info is None and not rec.exc_text
        assert CANARY not in repr(rec.args)


@pytest.mark.django_db(transaction=True)
def test_a_failing_row_is_reported_but_its_values_are_not_logged(
    firm: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(services, "client_create", _failing_create(services.client_create))
    rows = [
        ["甲公司", make_uscc(201), "张三", "", "", "", "", ""],
        [CANARY, make_uscc(202), "王五", "", "", "", "", f"{CANARY} 地址"],
        ["丙公司", make_uscc(203), "赵六", "", "", "", "", ""],
    ]
    c = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en")
    form = {f"map_{k}": str(v) for k, v in guess_mapping(HEADERS).items()}
    r = c.post("/imports/clients/", {"file": _upload(_csv(rows), "客户.csv"), "run": "1",
                                     **form})
    assert r.status_code == 302
    job_id = int(r["Location"].rstrip("/").rsplit("/", 1)[-1])
    assert runner.wait(job_id, timeout=60)

    # The failure is still reported, as before: on the job, its page and the ledger.
    job = ImportJob.objects.get(pk=job_id)
    assert job.status == "failed"
    assert job.error == "internal_error: ValueError"
    assert Client.objects.filter(uscc=make_uscc(201)).exists()
    assert not Client.objects.filter(uscc=make_uscc(202)).exists()
    page = c.get(f"/imports/jobs/{job_id}/").content.decode()
    assert "internal_error" in page
    finish = LedgerEntry.objects.filter(action="import.finish", object_id=str(job_id)).get()
    assert (finish.decision, finish.reason) == ("refused", "error=internal_error")

    # The log says which import, where it stopped and what kind of error, nothing else.
    _no_canary(caplog)
    [failed] = [rec for rec in caplog.records if rec.name == "baomi.imports"
                and rec.levelno >= logging.ERROR]
    message = failed.getMessage()
    assert message.startswith(f"import {job_id} failed at row 3: ValueError at ")
    assert message.endswith(" in create")  # the frame that raised
    assert "could not convert" not in message


def test_a_failing_scheduler_job_logs_no_message(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ran: list[str] = []

    def boom() -> None:
        raise ValueError(f"row value {CANARY}")

    def fine() -> None:
        ran.append("fine")

    monkeypatch.setattr(scheduler, "jobs", lambda: [
        scheduler.Job("boom", 60, boom), scheduler.Job("fine", 60, fine)])
    assert scheduler.run_forever(once=True) == 0
    assert ran == ["fine"]  # a failing job does not stop the others
    _no_canary(caplog)
    [failed] = [rec for rec in caplog.records if rec.name == "baomi.scheduler"]
    assert failed.levelno == logging.ERROR
    assert failed.getMessage().startswith("job boom failed: ValueError at ")
    assert failed.getMessage().endswith(" in boom")


def test_exception_brief_names_the_type_and_place_only() -> None:
    try:
        int(f"{CANARY}")
    except ValueError as exc:
        brief = scheduler.exception_brief(exc)
    assert CANARY not in brief
    assert brief.startswith("ValueError at baomi/imports/tests/test_gaps_logging.py:")
    assert brief.endswith(" in test_exception_brief_names_the_type_and_place_only")

    class Custom(Exception):
        pass

    brief = scheduler.exception_brief(Custom(CANARY))  # never raised: no traceback
    assert brief.endswith("Custom") and CANARY not in brief
    assert brief.startswith("baomi.imports.tests.test_gaps_logging.")
