"""Bad input, the CLI contract and the classification suggestion."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import pytest

from baomi.detect import Limits, detect, main, scan_file, scan_paths, suggest
from baomi.detect.extract import OLE_MAGIC

TODAY = dt.date(2024, 6, 1)
ID = "11010519491231002X"


def error_of(path: Path, limits: Limits | None = None) -> str:
    result = scan_file(path, limits=limits, today=TODAY)
    assert result.error is not None
    assert result.findings == []
    assert result.suggestion is None
    return result.error


def test_binary_junk(tmp_path: Path) -> None:
    p = tmp_path / "junk.dat"
    p.write_bytes(bytes(range(256)) * 64)
    assert error_of(p).startswith("binary_file: ")


def test_password_protected_office_file(tmp_path: Path) -> None:
    p = tmp_path / "locked.xlsx"
    p.write_bytes(OLE_MAGIC + b"\x00" * 504 + "EncryptionInfo".encode("utf-16-le") + b"\x00" * 512)
    assert error_of(p).startswith("encrypted_document: ")
    legacy = tmp_path / "old.xls"
    legacy.write_bytes(OLE_MAGIC + b"\x00" * 1024)
    assert error_of(legacy).startswith("unsupported_format: ")


@pytest.mark.parametrize(
    ("name", "code"), [("bad.xlsx", "malformed_xlsx"), ("bad.docx", "malformed_docx")]
)
def test_malformed_ooxml(tmp_path: Path, name: str, code: str) -> None:
    not_zip = tmp_path / name
    not_zip.write_bytes(b"PK\x03\x04" + b"garbage" * 100)
    assert error_of(not_zip).startswith(f"{code}: ")
    wrong_zip = tmp_path / f"x{name}"
    with zipfile.ZipFile(wrong_zip, "w") as zf:
        zf.writestr("hello.txt", "not an office document")
    assert error_of(wrong_zip).startswith(f"{code}: ")


def test_truncated_xlsx(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    wb.active.append([ID])
    good = tmp_path / "good.xlsx"
    wb.save(good)
    bad = tmp_path / "truncated.xlsx"
    bad.write_bytes(good.read_bytes()[:-200])
    assert error_of(bad).startswith("malformed_xlsx: ")


def test_malformed_pdf(tmp_path: Path) -> None:
    p = tmp_path / "bad.pdf"
    p.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
    assert error_of(p).startswith("malformed_pdf: ")


def test_encrypted_pdf(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret-password")
    p = tmp_path / "locked.pdf"
    with p.open("wb") as fh:
        writer.write(fh)
    assert error_of(p).startswith("encrypted_document: ")


def test_zip_bomb_refused_before_parsing(tmp_path: Path) -> None:
    p = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\x00" * (64 << 20))
    assert p.stat().st_size < 1 << 20
    assert error_of(p).startswith("zip_bomb: ")
    assert error_of(p, Limits(max_zip_ratio=1e9, max_unpacked_bytes=1 << 20)).startswith(
        "zip_bomb: "
    )


def test_unsafe_entry_names(tmp_path: Path) -> None:
    for name in ("../evil.xml", "/abs/evil.xml"):
        p = tmp_path / "unsafe.docx"
        with zipfile.ZipFile(p, "w") as zf:
            zf.writestr(name, "x")
        assert error_of(p).startswith("unsafe_archive: ")


def test_batch_goes_on_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d").mkdir()
    good = tmp_path / "d" / "good.txt"
    good.write_text(f"身份证号 {ID}\n", encoding="utf-8")
    junk = tmp_path / "d" / "junk.bin"
    junk.write_bytes(b"\x00\xff" * 100)
    report = scan_paths([tmp_path / "d"], reveal=False, today=TODAY)
    files = report["files"]
    assert [Path(str(f["path"])).name for f in files] == ["good.txt", "junk.bin"]
    assert files[0]["error"] is None
    finding = files[0]["findings"][0]  # type: ignore[index]
    assert "value" not in finding
    assert finding["masked"] == "1101**********002X"
    assert str(files[1]["error"]).startswith("binary_file: ")

    assert main([str(good), "--json", "--reveal"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["files"][0]["findings"][0]["value"] == ID
    assert out["files"][0]["suggested_level"] == "confidential"
    assert out["files"][0]["suggested_category"] == "personal"
    assert main([str(tmp_path / "d")]) == 1
    assert "binary_file" in capsys.readouterr().out
    assert main([str(tmp_path / "missing.txt")]) == 1
    assert "not_found" in capsys.readouterr().out
    assert main([]) == 2
    assert main(["--nope", str(good)]) == 2
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert main([str(empty)]) == 0


def test_suggestions() -> None:
    def s(text: str, keywords: set[str] | None = None) -> tuple[str, str]:
        sug = suggest(detect(text, today=TODAY), keywords=keywords or set())
        assert sug.reasons
        return sug.level, sug.category

    assert s(f"身份证 {ID}") == ("confidential", "personal")
    assert s(f"身份证 {ID} 卡号 6222021234567890128") == ("secret", "personal")
    assert s("电话 13800138000 a@example.com") == ("internal", "contact")
    assert s("统一社会信用代码 91350100M000100Y43") == ("internal", "other")
    assert s("无") == ("internal", "other")
    assert s("", {"资产负债表"}) == ("confidential", "financial")
    assert s("", {"商业计划"}) == ("confidential", "business_plan")
    assert s("", {"股权转让", "凭证"}) == ("confidential", "trade_secret")
    assert s("卡号 6222021234567890128", {"流水"}) == ("confidential", "transaction")
    from baomi.detect.tests.corpus import Gen

    g = Gen(3)
    many = " ".join(f"身份证{g.resident_id()}" for _ in range(10))
    assert s(many) == ("secret", "personal")


def test_locations_on_long_lines_match_a_plain_count(tmp_path: Path) -> None:
    # Many findings on one long line, then on lines of mixed lengths: each location is
    # what counting lines and columns from the start of the text gives.
    parts = [" ".join([ID] * 400), "", "甲 " + ID, "  ".join([ID] * 50) + "\n\n" + ID]
    text = "\n".join(parts)
    p = tmp_path / "long.txt"
    p.write_text(text, encoding="utf-8")
    found = scan_file(p, today=TODAY).findings
    assert len(found) == 400 + 1 + 50 + 1
    for f in found:
        start = f.location.start
        line = text.count("\n", 0, start) + 1
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        assert (f.location.line, f.location.column) == (line, column)
        assert text[start : f.location.end] == ID
