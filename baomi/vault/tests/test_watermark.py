"""Leak tracing: every PDF/XLSX/DOCX/PNG/JPEG download is marked; `baomi trace` finds who."""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from baomi.vault import services, watermark
from baomi.vault.errors import WatermarkFailed, WatermarkTooLarge
from baomi.vault.keys_cli import trace
from baomi.vault.models import Watermark
from baomi.vault.tests.conftest import sealed_upload

pytestmark = pytest.mark.django_db


def make_pdf() -> bytes:
    import weasyprint

    return weasyprint.HTML(
        string="<h1>资产负债表</h1><p>page one</p><p style='page-break-before: always'>page two</p>"
    ).write_pdf()


def make_xlsx() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["科目", "金额"])
    wb.active.append(["现金", 1000])
    wb.create_sheet("明细").append(["a", 1])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def make_docx() -> bytes:
    import docx

    d = docx.Document()
    d.add_paragraph("股权转让协议")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def make_image(fmt: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (640, 400), (250, 250, 250)).save(buf, format=fmt)
    return buf.getvalue()


CASES = {
    "pdf": ("报表.pdf", make_pdf),
    "xlsx": ("账簿.xlsx", make_xlsx),
    "docx": ("协议.docx", make_docx),
    "png": ("扫描件.png", lambda: make_image("PNG")),
    "jpeg": ("照片.jpg", lambda: make_image("JPEG")),
}


def _upload(firm: dict[str, Any], data: bytes, name: str) -> Any:
    up = sealed_upload(actor=firm["acct"], client=firm["client"], data=data, filename=name)
    return services.document_upload(
        actor=firm["acct"],
        client=firm["client"],
        upload=up,
        title=name,
        level="confidential",
        category="financial",
    )


def _download(firm: dict[str, Any], doc: Any, tmp_path: Path, name: str) -> tuple[Path, Any]:
    dl = services.document_download(actor=firm["acct"], document=doc, purpose="年度审计 2026")
    out = tmp_path / name
    try:
        out.write_bytes(dl.file.read() if dl.file is not None else b"".join(dl.chunks or []))
    finally:
        dl.close()
    return out, dl


@pytest.mark.parametrize("kind", sorted(CASES))
def test_download_is_watermarked_and_traceable(firm, tmp_path, kind, capsys):
    name, make = CASES[kind]
    doc = _upload(firm, make(), name)
    assert doc.current_version.kind == kind
    out, dl = _download(firm, doc, tmp_path, name)
    assert dl.watermarked
    wm = Watermark.objects.get(pk=dl.watermark_id)
    assert (wm.user, wm.purpose, wm.kind) == (firm["acct"], "年度审计 2026", kind)
    assert watermark.extract_id(out) == wm.id
    _check_visible(kind, out, wm.id)
    assert trace(argparse.Namespace(file=str(out), json=False)) == 0
    text = capsys.readouterr().out
    assert wm.id in text and "acct1" in text and "年度审计 2026" in text and name in text
    from baomi.audit.models import LedgerEntry

    traced = LedgerEntry.objects.filter(action="watermark.trace").last()
    assert traced is not None
    assert (traced.object_id, traced.client_id, traced.reason) == (
        str(doc.pk), str(doc.client_id), f"watermark={wm.id}")


def _check_visible(kind: str, path: Path, wm_id: str) -> None:
    if kind == "pdf":
        from pypdf import PdfReader

        reader = PdfReader(path)
        assert len(reader.pages) == 2
        for page in reader.pages:
            assert wm_id in page.extract_text()
        assert reader.metadata["/BaomiWatermark"] == wm_id
    elif kind == "xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(path)
        for ws in wb.worksheets:
            assert wm_id in ws.oddHeader.center.text
        assert wb["Sheet"]["B2"].value == 1000  # the data is untouched
    elif kind == "docx":
        import docx

        d = docx.Document(str(path))
        assert any(wm_id in p.text for p in d.sections[0].header.paragraphs)
        assert d.core_properties.identifier == wm_id
        assert d.paragraphs[0].text == "股权转让协议"
    else:
        from PIL import Image

        with Image.open(path) as im:
            # The visible stamp changed pixels of a blank page.
            assert im.convert("RGB").getextrema() != ((250, 250), (250, 250), (250, 250))
            if kind == "png":
                assert im.info["BaomiWatermark"] == wm_id
            else:
                assert wm_id in im.info["comment"].decode()


def test_other_formats_download_unchanged_but_recorded(firm, tmp_path):
    doc = _upload(firm, b"plain,csv\n1,2\n", "data.csv")
    out, dl = _download(firm, doc, tmp_path, "data.csv")
    assert out.read_bytes() == b"plain,csv\n1,2\n"
    assert not dl.watermarked
    assert Watermark.objects.get(pk=dl.watermark_id).kind == "none"


def test_office_file_renamed_to_zip_is_still_marked(firm, tmp_path):
    doc = _upload(firm, make_docx(), "renamed.zip")
    out, dl = _download(firm, doc, tmp_path, "renamed.zip")
    assert dl.watermarked
    with zipfile.ZipFile(out) as zf:
        assert dl.watermark_id.encode() in zf.read("docProps/core.xml")


def test_damaged_file_is_not_served_unmarked(firm):
    doc = _upload(firm, b"%PDF-1.7 this is not really a pdf", "broken.pdf")
    with pytest.raises(WatermarkFailed) as info:
        services.document_download(actor=firm["acct"], document=doc, purpose="x")
    assert info.value.code == "watermark_failed"


def test_too_large_to_watermark_is_refused(firm, settings):
    doc = _upload(firm, make_image("PNG"), "big.png")
    settings.BAOMI_WATERMARK_MAX_BYTES = 100
    with pytest.raises(WatermarkTooLarge):
        services.document_download(actor=firm["acct"], document=doc, purpose="x")


def test_trace_unknown_file(tmp_path, capsys, db):
    p = tmp_path / "x.txt"
    p.write_bytes(b"nothing here")
    assert trace(argparse.Namespace(file=str(p), json=False)) == 1
    p.write_bytes(b"copy with BMW-AAAAAAAAAAAAAAAA inside")
    assert trace(argparse.Namespace(file=str(p), json=False)) == 1
    assert "not in this Baomi" in capsys.readouterr().err
