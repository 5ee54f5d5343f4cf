"""Bulk import: clients/contacts from CSV/XLSX, documents from a folder or ZIP."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from baomi.audit.models import LedgerEntry
from baomi.classification.models import DocumentLabel
from baomi.clients.models import Client, Contact
from baomi.core.demo import make_uscc as _make_uscc
from baomi.imports import services
from baomi.imports.spreadsheet import guess_mapping
from baomi.vault.models import Document
from conftest import verified_client

pytestmark = pytest.mark.django_db

ID = "11010519491231002X"


def make_uscc(seed: int) -> str:
    return _make_uscc(random.Random(seed), "310104")


HEADERS = [
    "企业名称",
    "统一社会信用代码",
    "法定代表人",
    "联系人",
    "手机",
    "邮箱",
    "身份证号",
    "地址",
]


def _rows() -> list[list[str]]:
    return [
        ["甲公司", make_uscc(101), "张三", "李四", "13800138000", "li@example.com", ID, "上海"],
        ["乙公司", "91350100M000100Y44", "王五", "", "", "", "", ""],  # wrong check character
        ["丙公司", make_uscc(102), "赵六", "钱七", "13900139000", "", "", ""],
    ]


def _csv(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    lines = [",".join(HEADERS)] + [",".join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode(encoding)


def test_mapping_is_guessed_from_chinese_and_english_headers():
    m = guess_mapping(HEADERS)
    assert m["name"] == 0 and m["uscc"] == 1 and m["legal_representative"] == 2
    assert m["contact_name"] == 3 and m["contact_mobile"] == 4 and m["contact_id_number"] == 6
    e = guess_mapping(["Company Name", "USCC", "Legal Representative", "Contact", "Mobile"])
    assert e == {
        "name": 0,
        "uscc": 1,
        "legal_representative": 2,
        "contact_name": 3,
        "contact_mobile": 4,
    }
    assert guess_mapping(["法定代表人身份证号", "身份证号"]) == {
        "legal_rep_id_number": 0,
        "contact_id_number": 1,
    }


def test_csv_import_skips_bad_rows_and_is_idempotent(firm):
    data = _csv(_rows(), "gb18030")
    job = services.clients_import(
        actor=firm["manager"], stream=io.BytesIO(data), filename="客户.csv"
    )
    assert (job.status, job.created, job.failed) == ("done", 2, 1), job.errors
    assert job.errors[0]["item"] in {"row 3", "第 3 行"}  # in the importing person's language
    assert job.errors[0]["code"] == "validation_error"
    assert Contact.objects.filter(client__uscc=make_uscc(101)).count() == 1
    again = services.clients_import(
        actor=firm["manager"], stream=io.BytesIO(data), filename="客户.csv"
    )
    assert again.pk != job.pk  # a finished job is not resumed: a new run, which changes nothing
    assert (again.created, again.updated, again.unchanged, again.failed) == (0, 0, 2, 1)
    assert Client.objects.filter(uscc__in=[make_uscc(101), make_uscc(102)]).count() == 2
    assert Contact.objects.filter(client__uscc__in=[make_uscc(101), make_uscc(102)]).count() == 2
    actions = set(LedgerEntry.objects.values_list("action", flat=True))
    assert {"import.start", "import.row.error", "import.finish", "client.create"} <= actions
    assert not LedgerEntry.objects.filter(reason__contains=ID).exists()


def test_an_interrupted_job_resumes_where_it_stopped(firm):
    data = _csv(_rows())
    sha = services.sha256_of(io.BytesIO(data))
    job, _ = services.job_for(
        actor=firm["manager"], kind="clients", source_name="c.csv", sha256=sha
    )
    job.processed, job.status = 1, "running"  # as if the process died after row 1
    job.save()
    done = services.clients_import(actor=firm["manager"], stream=io.BytesIO(data), filename="c.csv")
    assert done.pk == job.pk and done.processed == 3
    assert not Client.objects.filter(uscc=make_uscc(101)).exists()  # row 1 was not redone
    assert Client.objects.filter(uscc=make_uscc(102)).exists()


def _xlsx(rows: list[list[Any]]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADERS)
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_xlsx_import_and_an_id_stored_as_a_number(firm):
    rows: list[list[Any]] = [list(r) for r in _rows()[::2]]
    rows[1][6] = 110105194912310020  # Excel keeps 15 digits: the ID lost its last ones
    rows[1][3] = "钱七"
    job = services.clients_import(
        actor=firm["manager"], stream=io.BytesIO(_xlsx(rows)), filename="客户.xlsx"
    )
    assert job.created == 1 and job.failed == 1
    assert job.errors[0]["code"] == "precision_lost"


@pytest.mark.parametrize(
    ("data", "name", "code"),
    [
        (b"PK\x03\x04broken", "客户.xlsx", "malformed_xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "客户.xlsx", "encrypted_document"),
        (b"\x00\x01\x02\x03" * 1000, "客户.csv", "binary_file"),
    ],
)
def test_unreadable_spreadsheets_fail_the_job_clearly(firm, data, name, code):
    job = services.clients_import(actor=firm["manager"], stream=io.BytesIO(data), filename=name)
    assert job.status == "failed" and job.error.startswith(code), job.error


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return out.getvalue()


def test_zip_import_scans_classifies_seals_and_refuses_bad_entries(firm):
    data = _zip(
        {
            "工资/名单.txt": f"姓名 张三 身份证号 {ID}\n".encode(),
            "../evil.txt": b"x",
            "/etc/passwd": b"x",
            "bomb.txt": b"0" * (50 * 1024 * 1024),
            "junk.bin": b"\x00\x01\x02" * 1000,
            "纪要.txt": "会议纪要，无敏感信息。".encode(),
        }
    )
    job = services.documents_import(
        actor=firm["acct"],
        client=firm["client"],
        sources=services.iter_zip(io.BytesIO(data)),
        source_name="资料.zip",
        sha256=services.sha256_of(io.BytesIO(data)),
    )
    codes = {e["item"]: e["code"] for e in job.errors}
    assert codes == {
        "../evil.txt": "unsafe_path",
        "/etc/passwd": "unsafe_path",
        "bomb.txt": "zip_bomb",
        "junk.bin": "binary_file",
    }
    assert job.created == 2 and job.status == "done"
    doc = Document.objects.get(title="工资/名单.txt")
    assert (doc.level, doc.category) == ("confidential", "personal")
    assert DocumentLabel.objects.get(document=doc).findings_summary == {"cn_resident_id": 1}
    assert doc.current_version is not None and doc.current_version.size > 0
    # Re-running the same ZIP (a new job) imports nothing twice.
    again = services.documents_import(
        actor=firm["acct"],
        client=firm["client"],
        sources=services.iter_zip(io.BytesIO(data)),
        source_name="资料.zip",
        sha256="another-run",
    )
    assert again.created == 0 and again.unchanged == 2
    assert Document.objects.filter(client=firm["client"]).count() == 2


def test_folder_import_and_cli(firm, tmp_path: Path, capsys):
    from baomi.imports.cli import run

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "卡.txt").write_text("工资卡号 6222021234567890128\n", encoding="utf-8")
    (tmp_path / "b.txt").write_bytes(b"\x00\x00junk")
    import argparse

    rc = run(
        argparse.Namespace(
            kind="documents",
            path=str(tmp_path),
            client=firm["client"].pk,
            username="acct1",
        )
    )
    assert rc == 1  # one file skipped
    out = capsys.readouterr().out
    assert '"created": 1' in out and "binary_file" in out
    from baomi.audit.models import LedgerEntry

    behalf = LedgerEntry.objects.get(action="import.on_behalf")
    assert behalf.actor.startswith("cli:") and behalf.reason == "kind=documents"
    assert behalf.object_id == str(firm["acct"].pk)
    csv_path = tmp_path / "clients.csv"
    csv_path.write_bytes(_csv(_rows()[:1]))
    rc = run(
        argparse.Namespace(kind="clients", file=str(csv_path), mapping=None, username="manager")
    )
    assert rc == 0
    assert Client.objects.filter(uscc=make_uscc(101)).exists()


def _finished(c, location: str) -> str:
    """The job page once the background import has ended."""
    from baomi.imports import runner

    job_id = int(location.rstrip("/").rsplit("/", 1)[-1])
    assert runner.wait(job_id, timeout=60), "the import did not finish"
    return c.get(location).content.decode()


@pytest.mark.django_db(transaction=True)
def test_web_import_preview_mapping_and_run(firm):
    c = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE="en")
    assert c.get("/imports/").status_code == 200
    data = _csv(_rows())

    def f() -> io.BytesIO:
        b = io.BytesIO(data)
        b.name = "客户.csv"
        return b

    page = c.post("/imports/clients/", {"file": f()})
    assert page.status_code == 200
    text = page.content.decode()
    assert "统一社会信用代码" in text and "甲公司" in text
    fields = {f"map_{k}": str(v) for k, v in guess_mapping(HEADERS).items()}
    r = c.post("/imports/clients/", {"file": f(), "run": "1", **fields})
    assert r.status_code == 302
    assert "row 3" in _finished(c, r["Location"])
    progress = c.get(r["Location"] + "progress/")
    assert progress.status_code == 200
    zdata = _zip({"ok.txt": b"hello", "../x.txt": b"x"})
    z = io.BytesIO(zdata)
    z.name = "docs.zip"
    r = c.post("/imports/documents/", {"file": z, "client": str(firm["client"].pk)})
    assert r.status_code == 302
    assert "unsafe_path" in _finished(c, r["Location"])
