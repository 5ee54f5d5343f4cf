"""Turn files into located text segments for the detectors.

`extract_segments(source, filename=...)` yields `Segment`s lazily, so a caller can stop
early and large inputs are never held in memory at once: text is decoded in windows,
XLSX is read with openpyxl's streaming reader, PDFs page by page. Every failure is an
`ExtractionError` whose `code` is stable (`malformed_xlsx`, `zip_bomb`, ...).
"""

from __future__ import annotations

import codecs
import io
import math
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from baomi.detect.detectors import CONTEXT_BEFORE, MAX_MATCH
from baomi.detect.model import ExtractionError, Limits, Segment

TEXT_EXTS = frozenset({".txt", ".csv", ".tsv", ".md", ".log", ".json", ".xml", ".html", ".htm"})
IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEAD = 64 * 1024
# Characters before a window's first new position that the window repeats, so context
# words and the boundary look-behind still see them.
_LOOKBACK = CONTEXT_BEFORE + 16


def sniff_kind(head: bytes, filename: str) -> str:
    """Decide the extractor from magic bytes first, then the extension.

    Magic bytes win so a renamed file is still read correctly (and a `.txt` that is
    really a zip is not decoded as text).
    """
    ext = Path(filename).suffix.lower()
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return {".xlsx": "xlsx", ".xlsm": "xlsx", ".docx": "docx"}.get(ext, "zip")
    if head.startswith(OLE_MAGIC):
        return "ole"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM")):
        return "image"
    if ext in {".xlsx", ".xlsm", ".docx", ".pdf", *IMAGE_EXTS}:
        # The extension promises a binary format the bytes do not start with.
        return {".xlsx": "xlsx", ".xlsm": "xlsx", ".docx": "docx", ".pdf": "pdf"}.get(ext, "image")
    return "text"


def extract_segments(
    source: str | Path | IO[bytes],
    *,
    filename: str | None = None,
    limits: Limits | None = None,
) -> Iterator[Segment]:
    """Yield the text of a file as located segments.

    `source` is a path or a seekable binary stream (an upload); `filename` supplies the
    extension for streams. Raises `ExtractionError` with codes: `not_found`,
    `unreadable`, `binary_file`, `unsupported_format`, `encrypted_document`,
    `malformed_xlsx`, `malformed_docx`, `malformed_pdf`, `malformed_image`, `zip_bomb`,
    `unsafe_archive`, `ocr_unavailable`, `ocr_failed`. Errors may be raised after some
    segments were yielded (a PDF whose page 40 is broken).
    """
    limits = limits or Limits()
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            stream: IO[bytes] = path.open("rb")
        except FileNotFoundError as exc:
            raise ExtractionError("not_found", f"no such file: {path}") from exc
        except OSError as exc:
            raise ExtractionError("unreadable", f"{path}: {exc.strerror}") from exc
        with stream:
            yield from _extract_stream(stream, filename or path.name, limits)
    else:
        yield from _extract_stream(source, filename or "", limits)


def _extract_stream(stream: IO[bytes], filename: str, limits: Limits) -> Iterator[Segment]:
    head = stream.read(_HEAD)
    stream.seek(0)
    kind = sniff_kind(head, filename)
    if kind == "text":
        yield from extract_text(stream, limits)
    elif kind == "xlsx":
        check_zip(stream, limits, "xlsx")
        yield from extract_xlsx(stream)
    elif kind == "docx":
        check_zip(stream, limits, "docx")
        yield from extract_docx(stream)
    elif kind == "pdf":
        yield from extract_pdf(stream, limits)
    elif kind == "image":
        yield from extract_image(stream, limits)
    elif kind == "ole":
        if "EncryptionInfo".encode("utf-16-le") in head or b"E\x00n\x00c\x00r\x00y" in head:
            raise ExtractionError(
                "encrypted_document", "password-protected Office file; remove the password"
            )
        raise ExtractionError(
            "unsupported_format", "legacy Office (.xls/.doc) file; save it as .xlsx/.docx"
        )
    else:
        raise ExtractionError("unsupported_format", "zip archives are not scanned")


# --- text -------------------------------------------------------------------------------


def detect_encoding(head: bytes) -> str:
    """Encoding of a text file from its first bytes; raises `binary_file` for non-text.

    UTF-8 is tried first because a clean UTF-8 decode is almost never wrong; then
    charset-normalizer. Chinese legacy encodings are widened to GB18030 (a superset of
    GB2312 and GBK) so rare characters do not fail.
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    controls = sum(head.count(bytes([b])) for b in (*range(9), *range(14, 27), *range(28, 32)))
    if b"\x00" in head or controls > len(head) // 100:
        raise ExtractionError("binary_file", "not a text file or a supported document")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sample's end is still UTF-8.
        if exc.start < len(head) - 3:
            return _guess_encoding(head)
    return "utf-8"


def _guess_encoding(head: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    guess = (best.encoding if best is not None else "").lower().replace("-", "_")
    if guess in {"gb2312", "gbk", "gb18030", "hz", "cp936"}:
        return "gb18030"
    # Short Chinese samples are sometimes taken for a single-byte code page; prefer
    # GB18030 whenever it decodes the sample cleanly.
    try:
        head[:-4].decode("gb18030")
    except UnicodeDecodeError:
        if best is None:
            raise ExtractionError("binary_file", "unknown text encoding") from None
        return best.encoding
    return "gb18030"


def extract_text(stream: IO[bytes], limits: Limits) -> Iterator[Segment]:
    """Decode a text file in windows of `limits.window_chars` characters (`TextWindows`).

    Memory stays O(window) even for a 1 GB file with no line breaks.
    """
    windows = TextWindows(limits)
    yield from windows.feed(stream.read(_HEAD))
    block = windows.block
    while data := stream.read(block):
        yield from windows.feed(data)
    yield from windows.finish()


class TextWindows:
    """Push-style text windowing: bytes in (any chunking), located windows out.

    For callers that receive a file piece by piece and cannot hand over a stream (the
    upload handler's tap): `feed(chunk)` returns the windows completed so far, `finish()`
    the rest. The encoding is detected from the first 64 KiB (`detect_encoding`, which
    raises `binary_file`); pieces are decoded incrementally, so a multi-byte character
    split between two chunks is decoded whole.

    A window's last `MAX_MATCH` characters are not reported (an identifier there might be
    cut); the next window starts `_LOOKBACK` characters before that point and reports from
    it (`report_from`/`report_to`), so an identifier on a window edge is found exactly once
    and the context words before it are still visible. The scanner also drops a finding
    that starts inside one already reported (a long e-mail crossing the edge). Memory is
    one window plus one chunk, whatever the file's size or line lengths.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        limits = limits or Limits()
        self.block = max(limits.window_chars, 4 * MAX_MATCH)
        self._head = bytearray()
        self._decoder: codecs.IncrementalDecoder | None = None
        self._pending: list[str] = []
        self._size = 0  # characters in _pending
        self._carry = ""
        self._carry_offset = 0  # character offset of carry[0] in the whole text
        self._line, self._column = 1, 1  # position of carry[0]
        self._resume = 0  # first index of the next window whose findings are new
        self._done = False

    def feed(self, data: bytes) -> list[Segment]:
        """Windows completed by `data` (often none)."""
        if self._done:
            raise ValueError("feed() after finish()")
        if self._decoder is None:
            self._head += data
            if len(self._head) < _HEAD:
                return []
            return self._push(self._start(), eof=False)
        return self._push(self._decoder.decode(data, final=False), eof=False)

    def finish(self) -> list[Segment]:
        """The last window(s), through the end of the text; idempotent."""
        if self._done:
            return []
        self._done = True
        out = self._push(self._start(), eof=False) if self._decoder is None else []
        assert self._decoder is not None  # noqa: S101  (set by _start)
        return out + self._push(self._decoder.decode(b"", final=True), eof=True)

    def _start(self) -> str:
        """Detect the encoding from the bytes seen so far; their decoded text."""
        head = bytes(self._head)
        self._head[:] = bytes(len(self._head))  # the plaintext copy is not left behind
        self._head = bytearray()
        encoding = detect_encoding(head[:_HEAD])
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        return self._decoder.decode(head, final=False)

    def _push(self, decoded: str, eof: bool) -> list[Segment]:
        if decoded:
            self._pending.append(decoded)
            self._size += len(decoded)
        out: list[Segment] = []
        if eof or self._size >= self.block:
            out.append(self._window(eof))
        return out

    def _window(self, eof: bool) -> Segment:
        text = self._carry + "".join(self._pending)
        self._pending, self._size = [], 0
        cut = len(text) if eof else len(text) - MAX_MATCH
        segment = Segment(
            text=text,
            where="",
            offset=self._carry_offset,
            first_line=self._line,
            first_column=self._column,
            report_from=self._resume,
            report_to=cut,
        )
        if eof:
            self._carry = ""
            return segment
        keep = max(cut - _LOOKBACK, 0)
        newlines = text.count("\n", 0, keep)
        if newlines:
            self._line += newlines
            self._column = keep - text.rfind("\n", 0, keep)
        else:
            self._column += keep
        self._carry = text[keep:]
        self._carry_offset += keep
        self._resume = cut - keep
        return segment


# --- OOXML containers ---------------------------------------------------------------------


def check_zip(stream: IO[bytes], limits: Limits, kind: str) -> None:
    """Refuse zip bombs and unsafe names before any XML parser sees the archive.

    The sizes checked are the ones declared in the central directory; Python's zipfile
    stops at the declared size when it inflates (and fails the CRC), so a lying header
    cannot make the later reader produce more than was checked here.
    """
    try:
        with zipfile.ZipFile(stream) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ExtractionError(f"malformed_{kind}", f"not a valid {kind} zip: {exc}") from exc
    finally:
        stream.seek(0)
    if len(infos) > limits.max_zip_entries:
        raise ExtractionError("zip_bomb", f"{len(infos)} entries")
    total = 0
    for info in infos:
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in info.filename:
            raise ExtractionError("unsafe_archive", f"entry name {info.filename!r}")
        if info.flag_bits & 0x1:
            raise ExtractionError("encrypted_document", f"encrypted zip entry {info.filename}")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.zip_ratio_floor and ratio > limits.max_zip_ratio:
            raise ExtractionError(
                "zip_bomb",
                f"{info.filename} expands {ratio:.0f}x (limit {limits.max_zip_ratio:.0f}x)",
            )
    if total > limits.max_unpacked_bytes:
        raise ExtractionError(
            "zip_bomb", f"{total} bytes uncompressed (limit {limits.max_unpacked_bytes})"
        )


def cell_text(value: object) -> tuple[str, str]:
    """Text of a spreadsheet value and a note when digits were lost.

    Excel keeps 15 significant digits, so an 18-digit ID typed as a number comes back as
    1.10101199003071e+17: the digits that survive are kept and the lost ones shown as
    "?", which the scanner reports as a low-confidence finding instead of nothing.
    """
    if isinstance(value, bool) or value is None:
        return "", ""
    if isinstance(value, int):
        return str(value), ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return "", ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value)), ""
        text = repr(value)
        if "e" not in text:
            return text, ""
        mantissa, _, exp = text.partition("e")
        digits = mantissa.replace(".", "").lstrip("-")
        width = int(exp) + 1
        if int(exp) <= 0 or len(digits) >= width:
            return text, ""
        return digits + "?" * (width - len(digits)), "precision_lost"
    return str(value), ""


def _column_letters(index: int) -> str:
    letters = ""
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def extract_xlsx(stream: IO[bytes]) -> Iterator[Segment]:
    """One segment per non-empty row of every sheet, cells joined by tabs.

    A row keeps a label ("Sheet!C5") per cell, so findings point at cells, while the
    whole row and the sheet's header row serve as context ("身份证号", "银行卡号"
    columns). Numbers are read as numbers and written out in full (see `cell_text`).
    """
    import openpyxl

    try:
        wb = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for malformed input
        raise ExtractionError("malformed_xlsx", _describe(exc)) from exc
    try:
        for ws in wb.worksheets:
            header = ""
            try:
                rows = ws.iter_rows()
                for row in rows:
                    parts: list[str] = []
                    cells: list[tuple[int, str]] = []
                    notes: list[str] = []
                    pos = 0
                    for cell in row:
                        value: Any = getattr(cell, "value", None)
                        text, note = cell_text(value)
                        if not text:
                            continue
                        label = f"{ws.title}!{_column_letters(cell.column)}{cell.row}"
                        cells.append((pos, label))
                        parts.append(text)
                        pos += len(text) + 1
                        if note:
                            notes.append(label)
                    if not parts:
                        continue
                    text = "\t".join(parts)
                    yield Segment(
                        text=text,
                        where=cells[0][1],
                        context=f"{ws.title} {header}",
                        cells=tuple(cells),
                    )
                    if not header:
                        header = text[:400]
            except ExtractionError:
                raise
            except Exception as exc:
                raise ExtractionError(
                    "malformed_xlsx", f"sheet {ws.title}: {_describe(exc)}"
                ) from exc
    finally:
        wb.close()


def extract_docx(stream: IO[bytes]) -> Iterator[Segment]:
    """Paragraphs and table rows of a DOCX body, in document order."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(stream)
    except Exception as exc:
        raise ExtractionError("malformed_docx", _describe(exc)) from exc
    try:
        paragraph_no = 0
        table_no = 0
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                paragraph_no += 1
                if block.text.strip():
                    yield Segment(text=block.text, where=f"paragraph {paragraph_no}")
            elif isinstance(block, Table):
                table_no += 1
                yield from _docx_table(block, f"table {table_no}")
    except Exception as exc:
        raise ExtractionError("malformed_docx", _describe(exc)) from exc


def _docx_table(table: Any, name: str) -> Iterator[Segment]:
    header = ""
    for r, row in enumerate(table.rows, start=1):
        parts: list[str] = []
        cells: list[tuple[int, str]] = []
        pos = 0
        seen: set[int] = set()
        for c, cell in enumerate(row.cells, start=1):
            # Merged cells repeat the same underlying element; read it once.
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            text = cell.text
            if not text.strip():
                continue
            cells.append((pos, f"{name} row {r} cell {c}"))
            parts.append(text)
            pos += len(text) + 1
        if parts:
            text = "\t".join(parts)
            yield Segment(text=text, where=cells[0][1], context=header, cells=tuple(cells))
            header = header or text[:400]


def extract_pdf(stream: IO[bytes], limits: Limits) -> Iterator[Segment]:
    """The text layer page by page; pages without text are OCR'd from their images."""
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(stream, strict=False)
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty user password only to set permissions.
            try:
                reader.decrypt("")
                _ = len(reader.pages)
            except Exception as exc:
                raise ExtractionError(
                    "encrypted_document", "password-protected PDF; remove the password"
                ) from exc
        pages = reader.pages
        count = len(pages)
    except ExtractionError:
        raise
    except (PdfReadError, FileNotDecryptedError, Exception) as exc:
        raise ExtractionError("malformed_pdf", _describe(exc)) from exc
    if count > limits.max_pdf_pages:
        raise ExtractionError("malformed_pdf", f"{count} pages (limit {limits.max_pdf_pages})")
    for number in range(1, count + 1):
        try:
            page = pages[number - 1]
            text = page.extract_text() or ""
        except Exception as exc:
            raise ExtractionError("malformed_pdf", f"page {number}: {_describe(exc)}") from exc
        if text.strip():
            yield Segment(text=text, where=f"page {number}")
            continue
        if not limits.ocr:
            continue
        try:
            images = [img.image for img in page.images]
        except Exception:
            # An image we cannot decode is not an error of the document as a whole.
            images = []
        for k, image in enumerate(images, start=1):
            if image is None:
                continue
            suffix = f" image {k}" if len(images) > 1 else ""
            text = ocr_image(image, limits)
            if text.strip():
                yield Segment(text=text, where=f"page {number}{suffix} (OCR)")


# --- images -------------------------------------------------------------------------------


def ocr_available() -> bool:
    """True when the tesseract binary and its chi_sim language data are installed."""
    if shutil.which("tesseract") is None:
        return False
    try:
        import pytesseract

        return "chi_sim" in pytesseract.get_languages(config="")
    except Exception:
        return False


def ocr_image(image: Any, limits: Limits) -> str:
    """Simplified Chinese OCR text of a PIL image (`ocr_unavailable` if not installed)."""
    if not ocr_available():
        raise ExtractionError("ocr_unavailable", "tesseract with chi_sim is not installed")
    import pytesseract

    if image.width * image.height > limits.max_image_pixels:
        raise ExtractionError("malformed_image", f"{image.width}x{image.height} is too large")
    if image.mode not in {"RGB", "L"}:
        image = image.convert("RGB")
    try:
        # --psm 6: a uniform block of text, which suits forms and scanned letters best.
        text: str = pytesseract.image_to_string(image, lang="chi_sim", config="--psm 6")
    except Exception as exc:
        raise ExtractionError("ocr_failed", _describe(exc)) from exc
    return text


def extract_image(stream: IO[bytes], limits: Limits) -> Iterator[Segment]:
    """OCR every frame of a PNG/JPEG/TIFF image."""
    from PIL import Image, ImageSequence

    if not ocr_available():
        raise ExtractionError("ocr_unavailable", "tesseract with chi_sim is not installed")
    data = io.BytesIO(stream.read())
    try:
        with Image.open(data) as img:
            if img.width * img.height > limits.max_image_pixels:
                raise ExtractionError("malformed_image", f"{img.width}x{img.height} is too large")
            frames = [frame.copy() for frame in ImageSequence.Iterator(img)]
    except ExtractionError:
        raise
    except Exception as exc:
        raise ExtractionError("malformed_image", _describe(exc)) from exc
    for number, frame in enumerate(frames, start=1):
        where = f"image page {number} (OCR)" if len(frames) > 1 else "image (OCR)"
        text = ocr_image(frame, limits)
        if text.strip():
            yield Segment(text=text, where=where)


def _describe(exc: BaseException) -> str:
    """Short English description of a parser exception for the error string."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
