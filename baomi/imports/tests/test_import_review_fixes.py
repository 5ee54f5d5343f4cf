"""Bulk imports: defects an adversarial review found (2026-11-25), each held fixed: a
resumed folder import skipping files, two folders sharing a job, a CSV head that took
seconds to sniff, a tiny XLSX claiming a million rows."""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import signal
from pathlib import Path

import openpyxl
import pytest

from baomi.imports import services
from baomi.imports.models import ImportJob
from baomi.imports.spreadsheet import TableError, read_table
from baomi.vault.models import Document

pytestmark = pytest.mark.django_db


class _TooSlow(BaseException):  # not Exception: read_table wraps those in TableError
    pass


@contextlib.contextmanager
def _deadline(seconds: int):
    def _raise(signum, frame):
        raise _TooSlow(f"still running after {seconds}s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# --- 1. Resuming a folder import skips files ---------------------------------------------


class _Killed(Exception):
    """Stands for the process dying (kill -9, OOM, reboot) in the middle of an import."""


def test_resumed_folder_import_does_not_skip_files(firm, tmp_path: Path, capsys):
    from baomi.imports.cli import run

    folder = tmp_path / "资料"
    folder.mkdir()
    (folder / "b.txt").write_text("会议纪要 b，无敏感信息。", encoding="utf-8")
    (folder / "c.txt").write_text("会议纪要 c，无敏感信息。", encoding="utf-8")

    def dies_after_first_file():
        sources = services.iter_folder(folder)
        yield next(sources)
        raise _Killed

    # First run: exactly what `baomi import documents PATH` passes, but the process dies
    # after the first file was sealed and counted.
    with pytest.raises(_Killed):
        services.documents_import(
            actor=firm["acct"],
            client=firm["client"],
            sources=dies_after_first_file(),
            source_name=str(folder),
            sha256=services.folder_key(folder),
            total=services.folder_file_count(folder),
        )
    job = ImportJob.objects.get()
    assert (job.status, job.processed) == ("running", 1)
    assert Document.objects.filter(title="b.txt").exists()

    # Meanwhile a colleague drops one more scan into the folder; the operator re-runs the
    # same command ("running the same command again resumes an unfinished job").
    (folder / "a.txt").write_text("会议纪要 a，无敏感信息。", encoding="utf-8")
    rc = run(
        argparse.Namespace(
            kind="documents", path=str(folder), client=firm["client"].pk, username="acct1"
        )
    )
    capsys.readouterr()
    # The folder changed, so this is a new job over every file (not a resume by position):
    # a.txt is imported, b.txt is found again (not imported twice), c.txt is imported.
    latest = ImportJob.objects.order_by("-pk").first()
    assert latest is not None and latest.pk != job.pk
    assert latest.status == "done" and latest.failed == 0 and rc == 0
    assert (latest.created, latest.unchanged) == (2, 1)
    for title in ("a.txt", "b.txt", "c.txt"):
        assert Document.objects.filter(client=firm["client"], title=title).count() == 1, title


# --- 2. CSV: the delimiter sniffer is quadratic on a hostile 64 KiB head --------------------


def test_hostile_csv_head_is_read_quickly():
    data = ('企业名称,统一社会信用代码,法定代表人\n' + ',"a' * 22_000).encode("utf-8")
    assert len(data) < 70 * 1024  # a tiny upload
    with _deadline(5):
        headers, rows = read_table(io.BytesIO(data), "客户.csv")
        list(rows)
    assert headers == ["企业名称", "统一社会信用代码", "法定代表人"]


@pytest.mark.parametrize(("text", "expected"), [
    ("名称;代码;法人\n甲;1;张\n", ["甲", "1", "张"]),
    ("名称\t代码\t法人\n甲\t1\t张\n", ["甲", "1", "张"]),
    ('"名称;全称",代码,法人\n"甲;乙",1,张\n', ["甲;乙", "1", "张"]),
    ("名称,代码;备注\n甲,1;x\n", ["甲", "1;x"]),
    ("名称\n甲\n", ["甲"]),
])
def test_the_delimiter_is_the_one_that_splits_the_header(text, expected):
    _headers, rows = read_table(io.BytesIO(text.encode("utf-8")), "客户.csv")
    assert list(rows) == [expected]


# --- 3. XLSX: a 5 KB workbook whose sheet claims A1:XFD1048576 pins the worker -----------


def test_xlsx_with_a_huge_dimension_is_refused_or_read_quickly():
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["企业名称", "统一社会信用代码", "法定代表人"])
    ws.cell(row=1_048_576, column=16_384, value="x")
    out = io.BytesIO()
    wb.save(out)
    data = out.getvalue()
    assert len(data) < 10 * 1024
    # What the upload page does in the request thread to show the preview.
    with _deadline(15):
        try:
            _headers, rows = read_table(io.BytesIO(data), "客户.xlsx")
            list(itertools.islice(rows, 5))
        except TableError:
            pass  # refusing the sheet (too many rows/columns) is the expected outcome


def test_a_different_folder_does_not_resume_another_folders_job(firm, tmp_path: Path, capsys):
    """A folder job's key is a hash of the folder's path and listing, not the path cut to
    64 characters: two folders whose paths share their first 57 characters are two
    sources, and importing the second does not continue the first one's job."""
    from baomi.imports.cli import run

    base = tmp_path / ("客户资料" * 12)
    first, second = base / "2024-01", base / "2024-02"
    for folder in (first, second):
        folder.mkdir(parents=True)
        (folder / "a.txt").write_text(f"会议纪要 {folder.name} a。", encoding="utf-8")
        (folder / "b.txt").write_text(f"会议纪要 {folder.name} b。", encoding="utf-8")
    key = services.folder_key(first)
    assert key != services.folder_key(second)

    def dies_after_first_file():
        sources = services.iter_folder(first)
        yield next(sources)
        raise _Killed

    with pytest.raises(_Killed):
        services.documents_import(
            actor=firm["acct"], client=firm["client"], sources=dies_after_first_file(),
            source_name=str(first), sha256=key, total=2,
        )
    rc = run(
        argparse.Namespace(
            kind="documents", path=str(second), client=firm["client"].pk, username="acct1"
        )
    )
    capsys.readouterr()
    assert rc == 0
    assert Document.objects.filter(title="a.txt").count() == 2, (
        "2024-02/a.txt was skipped: the import of 2024-02 resumed 2024-01's job"
    )


def test_reading_errors_are_shown_in_the_readers_language(firm):
    """A job keeps an error's code and English detail; its page shows the text for the
    code in the reader's language (the job may have run in another), and the upload page
    says why a table was refused the same way."""
    from baomi.imports.tests.test_background import _upload
    from conftest import verified_client

    job = services.clients_import(actor=firm["manager"],
                                  stream=io.BytesIO(b"\x00\x01\x02\x03" * 1000),
                                  filename="客户.csv")
    job.errors = [{"item": "bomb.zip", "code": "zip_bomb", "message": "10001 entries"},
                  {"item": "row 3", "code": "validation_error", "message": "统一社会信用代码无效"}]
    job.save()
    zh = verified_client(firm["manager"]).get(f"/imports/jobs/{job.pk}/progress/")
    text = zh.content.decode()
    assert "这不是文本或电子表格文件。 (binary_file)" in text
    assert "疑似压缩炸弹" in text and "10001 entries" not in text
    assert "统一社会信用代码无效" in text  # a message localized when it was made stays
    en = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en")
    text = en.get(f"/imports/jobs/{job.pk}/progress/").content.decode()
    assert "This is not a text or spreadsheet file." in text
    r = verified_client(firm["manager"]).post(
        "/imports/clients/", {"file": _upload(b"", "客户.csv")}, follow=True)
    assert "表格为空。" in r.content.decode() or "文件为空" in r.content.decode()
