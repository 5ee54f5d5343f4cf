"""Extraction from real files written into tmp_path, and streaming of large text."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import tracemalloc
from pathlib import Path

import pytest

from baomi.detect import Limits, detect, extract_segments, ocr_available, scan_file
from baomi.detect.extract import cell_text

TODAY = dt.date(2024, 6, 1)
ID = "11010519491231002X"
CARD = "6222021234567890128"
USCC = "91350100M000100Y43"
FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def kinds(path: Path | io.BytesIO, **kw: object) -> list[tuple[str, str, str]]:
    result = scan_file(path, today=TODAY, **kw)  # type: ignore[arg-type]
    assert result.error is None, result.error
    return [(f.type, f.value, f.location.where) for f in result.findings]


def test_utf8_text_lines_and_columns(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text(f"客户资料\n  身份证号：{ID}\n电话 138 0013 8000\n", encoding="utf-8")
    assert kinds(p) == [
        ("cn_resident_id", ID, "line 2, col 8"),
        ("cn_mobile", "13800138000", "line 3, col 4"),
    ]


def test_gbk_csv(tmp_path: Path) -> None:
    p = tmp_path / "名单.csv"
    rows = ["姓名,身份证号,银行卡号", f"张三,{ID},{CARD}", "李四,110105491231002,无"]
    p.write_bytes("\r\n".join(rows).encode("gbk"))
    found = kinds(p)
    assert [(t, v) for t, v, _ in found] == [
        ("cn_resident_id", ID),
        ("bank_card", CARD),
        ("cn_resident_id", "110105491231002"),
    ]


def test_utf16_text_with_bom(tmp_path: Path) -> None:
    p = tmp_path / "export.txt"
    p.write_bytes(f"身份证号\t{ID}\n".encode("utf-16"))
    assert [t for t, _, _ in kinds(p)] == ["cn_resident_id"]


def test_windows_find_each_identifier_once(tmp_path: Path) -> None:
    """Identifiers straddling every window edge are found exactly once, at the right place."""
    unit = f"身份证号{ID}，手机+86 138 0013 8000；卡号 6222 0212 3456 7890 128 "
    text = "".join(("。" * (i % 7)) + unit for i in range(400))
    p = tmp_path / "big.txt"
    p.write_text(text, encoding="utf-8")
    expected = [(f.type, f.value, f.location.start) for f in detect(text, today=TODAY)]
    for window in (2048, 3001, 4096 + 17):
        result = scan_file(p, limits=Limits(window_chars=window), today=TODAY)
        got = [(f.type, f.value, f.location.start) for f in result.findings]
        assert got == expected, window
        for f in result.findings:
            assert f.location.line == 1
            assert f.location.column == f.location.start + 1


def test_single_line_file_streams_in_bounded_memory(tmp_path: Path) -> None:
    p = tmp_path / "one-line.txt"
    block = ("流水" * 500 + "9" * 300).encode()
    marked = ("流水" * 500 + f"身份证{ID}，" + "9" * 300).encode()
    with p.open("wb") as fh:
        for i in range(24_000):  # ~50 MB, no newline at all
            fh.write(marked if i % 100 == 0 else block)
    tracemalloc.start()
    result = scan_file(p, today=TODAY)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.error is None
    assert len(result.findings) == 240
    assert peak < 24 * 1024 * 1024, peak


def test_xlsx_every_sheet_numbers_and_header_context(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "工资表"
    ws.append(["姓名", "身份证号", "工资卡号", "手机"])
    ws.append(["张三", ID, int(CARD), 13800138000])
    ws.append(["李四", 1.10101199003071e17, "无", "138-0013-8000"])
    other = wb.create_sheet("股东")
    other.append(["统一社会信用代码", USCC])
    other.append(["护照号码", "E12345678"])
    p = tmp_path / "payroll.xlsx"
    wb.save(p)
    result = scan_file(p, today=TODAY)
    assert result.error is None
    got = [(f.type, f.value, f.location.where, f.note[:14]) for f in result.findings]
    assert got == [
        ("cn_resident_id", ID, "工资表!B2", ""),
        # openpyxl reads a 19-digit integer cell back as a float, as Excel would store it:
        # the card is still reported, with the digits that survived.
        ("bank_card", CARD[:15] + "????", "工资表!C2", "precision_lost"),
        ("cn_mobile", "13800138000", "工资表!D2", ""),
        ("cn_resident_id", "110101199003071???", "工资表!B3", "precision_lost"),
        ("cn_mobile", "13800138000", "工资表!D3", ""),
        ("cn_uscc", USCC, "股东!B1", ""),
        ("passport", "E12345678", "股东!B2", ""),
    ]
    assert result.suggestion is not None
    assert result.suggestion.level == "secret"  # IDs together with bank cards


def test_cell_text_numbers() -> None:
    assert cell_text(13800138000) == ("13800138000", "")
    assert cell_text(13800138000.0) == ("13800138000", "")
    assert cell_text(1.10101199003071e17) == ("110101199003071???", "precision_lost")
    assert cell_text(110101199003071234) == ("110101199003071234", "")
    assert cell_text(3.5) == ("3.5", "")
    assert cell_text(None) == ("", "")


def test_docx_paragraphs_and_tables(tmp_path: Path) -> None:
    docx = pytest.importorskip("docx")
    d = docx.Document()
    d.add_paragraph("股权转让协议")
    d.add_paragraph(f"转让方身份证号码：{ID}")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "开户银行卡号"
    table.cell(0, 1).text = "联系电话"
    table.cell(1, 0).text = CARD
    table.cell(1, 1).text = "+86 139 1234 5678"
    p = tmp_path / "agreement.docx"
    d.save(p)
    result = scan_file(p, today=TODAY)
    assert result.error is None
    assert [(f.type, f.location.where) for f in result.findings] == [
        ("cn_resident_id", "paragraph 2"),
        ("bank_card", "table 1 row 2 cell 1"),
        ("cn_mobile", "table 1 row 2 cell 2"),
    ]
    assert result.suggestion is not None
    assert result.suggestion.category == "personal"
    assert any("股权转让" in r for r in result.suggestion.reasons)


def _pdf(html: str, path: Path) -> None:
    weasyprint = pytest.importorskip("weasyprint")
    style = (
        f"@font-face {{ font-family: cjk; src: url('file://{FONT}'); }} "
        "body { font-family: cjk; }"
    )
    weasyprint.HTML(string=f"<style>{style}</style>{html}").write_pdf(path)


def test_pdf_text_layer(tmp_path: Path) -> None:
    if not FONT.exists():
        pytest.skip("Noto CJK font not installed")
    p = tmp_path / "statement.pdf"
    _pdf(
        f"<h1>资产负债表</h1><p>身份证号：{ID}</p><p style='page-break-before: always'>"
        f"统一社会信用代码：{USCC}</p>",
        p,
    )
    result = scan_file(p, today=TODAY)
    assert result.error is None
    assert [(f.type, f.value, f.location.where) for f in result.findings] == [
        ("cn_resident_id", ID, "page 1"),
        ("cn_uscc", USCC, "page 2"),
    ]
    assert result.suggestion is not None
    assert result.suggestion.level == "confidential"


def _draw(lines: list[str]) -> object:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(FONT), 32, index=2)  # index 2 = Simplified Chinese
    image = Image.new("RGB", (1100, 60 * len(lines) + 40), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((30, 20 + 60 * i), line, font=font, fill="black")
    return image


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")
def test_ocr_scanned_image_and_image_only_pdf(tmp_path: Path) -> None:
    assert ocr_available()
    image = _draw(["客户信息登记表", f"身份证号 {ID}", "手机 13800138000", "备注 无"])
    png = tmp_path / "scan.png"
    image.save(png)  # type: ignore[attr-defined]
    found = kinds(png)
    assert ("cn_resident_id", ID, "image (OCR)") in found
    assert ("cn_mobile", "13800138000", "image (OCR)") in found
    pdf = tmp_path / "scan.pdf"
    image.save(pdf, "PDF")  # type: ignore[attr-defined]
    found = kinds(pdf)
    assert ("cn_resident_id", ID, "page 1 (OCR)") in found


def test_stream_source_with_filename() -> None:
    data = io.BytesIO("护照号码 E12345678\n".encode())
    segments = list(extract_segments(data, filename="upload.txt"))
    assert [s.text for s in segments] == ["护照号码 E12345678\n"]
