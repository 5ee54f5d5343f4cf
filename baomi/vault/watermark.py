"""Leak tracing (F11): visible and embedded watermarks on downloaded copies.

Each watermarked download gets an id (``BMW-`` + 16 base32 characters) recorded in
`Watermark` with the downloader, time, purpose and document version. The id and a
line "who · when · why" are put on the copy:

- PDF: a diagonal stamp and a footer line on every page (WeasyPrint overlay with a
  CJK font); document info ``/BaomiWatermark`` and ``/Keywords``.
- XLSX: header and footer of every worksheet; core properties keywords/description
  and the custom property ``BaomiWatermark``.
- DOCX: a header line in every section; core properties keywords/comments/identifier.
- PNG: tiled translucent text and a footer band; iTXt ``BaomiWatermark``.
- JPEG: as PNG; COM comment and EXIF ImageDescription.

`extract_id(path)` reads the id back (structured metadata first, then a raw scan for
``BMW-…``), which is what `baomi trace FILE` does.

These libraries work on whole files, so a watermarked copy is built from a decrypted
temporary file (unlinked, in the data directory's ``tmp``) and its memory use grows with
the file: PDFs and DOCX/XLSX are parsed in full, images are decoded in full. Files over
`BAOMI_WATERMARK_MAX_BYTES` are refused rather than served without a watermark.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

WATERMARKABLE: Final = frozenset({"pdf", "xlsx", "docx", "png", "jpeg"})
ID_PREFIX: Final = "BMW-"
ID_RE: Final = re.compile(rb"BMW-[A-Z2-7]{16}")
CJK_FONT: Final = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
META_KEY: Final = "BaomiWatermark"


class WatermarkError(Exception):
    """The file could not be parsed or written (damaged, encrypted, not what it says)."""


def new_id() -> str:
    return ID_PREFIX + base64.b32encode(os.urandom(10)).decode("ascii")


@dataclass(frozen=True)
class Mark:
    id: str
    who: str
    at: datetime
    purpose: str

    @property
    def line(self) -> str:
        purpose = " ".join(self.purpose.split())
        if len(purpose) > 60:
            purpose = purpose[:59] + "…"
        return (
            f"保密 CONFIDENTIAL · {self.who} · {self.at:%Y-%m-%d %H:%M %Z} · "
            f"目的 Purpose: {purpose} · {self.id}"
        )


def office_kind(path: Path | BinaryIO) -> str:
    """For a ZIP file: ``docx``/``xlsx`` if it is one (by its parts), else ``zip``."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return "other"
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return "zip"


def apply(kind: str, src: BinaryIO, dst: BinaryIO, mark: Mark) -> None:
    """Write a watermarked copy of `src` (a file of `kind`) to `dst`.

    Raises `WatermarkError` if the file cannot be processed; `dst` is then garbage.
    """
    fn = {
        "pdf": _pdf,
        "xlsx": _xlsx,
        "docx": _docx,
        "png": _image,
        "jpeg": _image,
    }.get(kind)
    if fn is None:
        raise ValueError(f"{kind} is not watermarkable")
    try:
        fn(src, dst, mark)
    except WatermarkError:
        raise
    except Exception as exc:  # every parser has its own errors; all mean "cannot mark"
        raise WatermarkError(f"{type(exc).__name__}: {exc}") from exc


# --- PDF ----------------------------------------------------------------------------


def _overlay_pdf(width_pt: float, height_pt: float, mark: Mark) -> bytes:
    import weasyprint

    text = html.escape(mark.line)
    size = max(10.0, min(width_pt, height_pt) / 18)
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><style>
@page {{ size: {width_pt:.2f}pt {height_pt:.2f}pt; margin: 0; }}
html, body {{ margin: 0; font-family: "Noto Sans CJK SC", sans-serif; }}
.diag {{ position: absolute; left: 8%; top: 45%; width: 84%; text-align: center;
  transform: rotate(-30deg); font-size: {size:.1f}pt; color: rgba(200, 30, 30, 0.16); }}
.foot {{ position: absolute; left: 12pt; right: 12pt; bottom: 6pt; font-size: 7pt;
  color: rgba(160, 20, 20, 0.75); }}
</style></head><body>
<div class="diag">{html.escape(mark.id)}<br>{html.escape(mark.who)}</div>
<div class="foot">{text}</div></body></html>"""
    result: bytes = weasyprint.HTML(string=doc).write_pdf()
    return result


def _pdf(src: BinaryIO, dst: BinaryIO, mark: Mark) -> None:
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(src)
    if reader.is_encrypted and not reader.decrypt(""):
        raise WatermarkError("encrypted PDF")
    writer = PdfWriter(clone_from=reader)
    overlays: dict[tuple[int, int], Any] = {}
    for page in writer.pages:
        box = page.mediabox
        w, h = float(box.width), float(box.height)
        key = (round(w), round(h))
        if key not in overlays:
            overlays[key] = PdfReader(io.BytesIO(_overlay_pdf(w, h, mark))).pages[0]
        page.merge_page(overlays[key])
    meta: dict[str, Any] = dict(reader.metadata or {})
    meta.update(
        {
            f"/{META_KEY}": mark.id,
            "/Keywords": f"baomi-watermark:{mark.id}",
            "/Subject": mark.line,
        }
    )
    writer.add_metadata(meta)
    writer.write(dst)


# --- Office -------------------------------------------------------------------------


def _xlsx(src: BinaryIO, dst: BinaryIO, mark: Mark) -> None:
    import openpyxl
    from openpyxl.packaging.custom import StringProperty

    wb = openpyxl.load_workbook(src, rich_text=True)
    for ws in wb.worksheets:
        for hf in (ws.oddHeader, ws.evenHeader, ws.firstHeader):
            hf.center.text = mark.line
            hf.center.size = 8
            hf.center.color = "C00000"
        for hf in (ws.oddFooter, ws.evenFooter, ws.firstFooter):
            hf.right.text = mark.id
            hf.right.size = 8
    props = wb.properties
    props.keywords = f"baomi-watermark:{mark.id}"
    props.description = mark.line
    wb.custom_doc_props.append(StringProperty(name=META_KEY, value=mark.id))
    wb.save(dst)


def _docx(src: BinaryIO, dst: BinaryIO, mark: Mark) -> None:
    import docx
    from docx.shared import Pt, RGBColor

    document = docx.Document(src)
    for section in document.sections:
        header = section.header
        header.is_linked_to_previous = False
        para = header.paragraphs[0] if header.paragraphs else header.add_paragraph()
        run = para.insert_paragraph_before().add_run(mark.line)
        run.font.size = Pt(8)
        run.font.color.rgb = RGBColor(0xC0, 0x00, 0x00)
    props = document.core_properties
    props.keywords = f"baomi-watermark:{mark.id}"
    props.comments = mark.line
    props.identifier = mark.id
    document.save(dst)


# --- Images -------------------------------------------------------------------------


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.truetype(CJK_FONT, size)
    except OSError:
        return ImageFont.load_default(size)


def _image(src: BinaryIO, dst: BinaryIO, mark: Mark) -> None:
    from PIL import Image, ImageDraw, ImageOps
    from PIL.PngImagePlugin import PngInfo

    with Image.open(src) as im:
        fmt = im.format
        im.load()
        icc = im.info.get("icc_profile")
        exif = im.getexif()
        base = ImageOps.exif_transpose(im).convert("RGBA")
    w, h = base.size
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(12, min(w, h) // 18)
    font = _font(size)
    stamp = f"{mark.id}  {mark.who}"
    step_x = max(size * 12, 200)
    step_y = max(size * 5, 80)
    for y in range(-h, h * 2, step_y):
        for x in range(-w, w * 2, step_x):
            draw.text(
                (x + (y // step_y % 2) * step_x // 2, y), stamp, font=font, fill=(200, 30, 30, 48)
            )
    band = max(14, min(w, h) // 40)
    draw.rectangle((0, h - band - 6, w, h), fill=(255, 255, 255, 200))
    draw.text((4, h - band - 4), mark.line, font=_font(band), fill=(160, 20, 20, 255))
    out = Image.alpha_composite(base, layer)
    if fmt == "PNG":
        info = PngInfo()
        info.add_itxt(META_KEY, mark.id)
        info.add_itxt("Description", mark.line)
        out.save(dst, format="PNG", pnginfo=info, icc_profile=icc)
    else:
        exif[0x010E] = f"baomi-watermark:{mark.id}"  # ImageDescription (ASCII)
        exif[0x0112] = 1  # orientation already applied
        out.convert("RGB").save(
            dst,
            format="JPEG",
            quality=92,
            exif=exif.tobytes(),
            comment=f"baomi-watermark:{mark.id}",
            icc_profile=icc,
        )


# --- Trace --------------------------------------------------------------------------


def _find(data: bytes | str | None) -> str | None:
    if data is None:
        return None
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)
    m = ID_RE.search(raw)
    return m.group(0).decode("ascii") if m else None


def _structured(path: Path) -> str | None:
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"%PDF-"):
        from pypdf import PdfReader

        meta: Any = PdfReader(path).metadata or {}
        return _find(str(meta.get(f"/{META_KEY}") or meta.get("/Keywords") or ""))
    if head.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(path) as zf:
            for name in ("docProps/custom.xml", "docProps/core.xml"):
                if name in zf.namelist():
                    found = _find(zf.read(name))
                    if found:
                        return found
        return None
    if head.startswith(b"\x89PNG") or head.startswith(b"\xff\xd8\xff"):
        from PIL import Image

        with Image.open(path) as im:
            for value in (
                im.info.get(META_KEY),
                im.info.get("comment"),
                im.getexif().get(0x010E),
            ):
                found = _find(value)
                if found:
                    return found
    return None


def extract_id(path: Path) -> str | None:
    """The watermark id embedded in a downloaded copy, or None."""
    try:
        found = _structured(path)
    except Exception:  # a damaged copy may still carry the id in its raw bytes
        found = None
    if found:
        return found
    tail = b""
    with open(path, "rb") as fh:
        while block := fh.read(1024 * 1024):
            window = tail + block
            m = ID_RE.search(window)
            if m:
                return m.group(0).decode("ascii")
            tail = window[-32:]
    return None
