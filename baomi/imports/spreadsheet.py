"""Read a client list (XLSX or CSV) into header + rows, and guess the column mapping.

Firms keep these lists with Chinese or English headers (企业名称, 统一社会信用代码, 法定代表
人, 联系人, 手机, 邮箱, 身份证号, 地址…). Reading is streaming (openpyxl read-only, csv
over a text stream) and the archive checks of the scanner (zip bombs, unsafe names,
encryption) run before openpyxl opens an XLSX. Every failure is `TableError` with a
stable code.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from typing import IO, Any

from baomi.detect import ExtractionError, Limits
from baomi.detect.extract import cell_text, check_zip, detect_encoding

# Target fields and the header words that name them (lower-case, no spaces/punctuation).
FIELDS: dict[str, tuple[str, ...]] = {
    "name": (
        "企业名称",
        "公司名称",
        "客户名称",
        "单位名称",
        "名称",
        "company",
        "companyname",
        "name",
        "enterprise",
        "enterprisename",
        "client",
        "clientname",
    ),
    "uscc": (
        "统一社会信用代码",
        "社会信用代码",
        "信用代码",
        "uscc",
        "creditcode",
        "unifiedsocialcreditcode",
        "taxid",
        "纳税人识别号",
    ),
    "legal_representative": (
        "法定代表人",
        "法人",
        "法人代表",
        "legalrepresentative",
        "legalrep",
        "法定代表人姓名",
    ),
    "legal_rep_id_number": (
        "法定代表人身份证号",
        "法人身份证号",
        "法人身份证",
        "legalrepid",
        "legalrepidnumber",
    ),
    "address": ("地址", "注册地址", "经营地址", "address", "registeredaddress"),
    "bank_account": ("银行账号", "开户账号", "基本户账号", "账号", "bankaccount", "account"),
    "notes": ("备注", "notes", "remark", "remarks"),
    "contact_name": ("联系人", "联系人姓名", "contact", "contactname", "contactperson"),
    "contact_title": ("职务", "联系人职务", "title", "position"),
    "contact_mobile": (
        "手机",
        "手机号",
        "手机号码",
        "联系电话",
        "电话",
        "mobile",
        "phone",
        "cellphone",
        "tel",
    ),
    "contact_email": ("邮箱", "电子邮箱", "电子邮件", "email", "e-mail", "mail"),
    "contact_id_number": (
        "身份证号",
        "身份证号码",
        "身份证",
        "证件号码",
        "idnumber",
        "idno",
        "idcard",
        "id",
    ),
}
_NORM = re.compile(r"[\s_\-:：（）()*]+")


def _norm(header: str) -> str:
    return _NORM.sub("", unicodedata.normalize("NFKC", header)).lower()


def guess_mapping(headers: list[str]) -> dict[str, int]:
    """field -> column index, from exact synonym matches first, then containment.

    Each column is used once; a header like 法定代表人身份证号 maps to the legal
    representative's ID, not to the contact's, because exact matches win.
    """
    normed = [_norm(h) for h in headers]
    mapping: dict[str, int] = {}
    used: set[int] = set()
    for exact in (True, False):
        for name, words in FIELDS.items():
            if name in mapping:
                continue
            for i, h in enumerate(normed):
                if i in used or not h:
                    continue
                hit = (
                    h in {_norm(w) for w in words}
                    if exact
                    else any(_norm(w) in h for w in words if len(_norm(w)) >= 2)
                )
                if hit:
                    mapping[name] = i
                    used.add(i)
                    break
    return mapping


class TableError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def read_table(stream: IO[bytes], filename: str) -> tuple[list[str], Iterator[list[str]]]:
    """Header row and an iterator over the data rows (cells as text; empty rows skipped).

    XLSX: the first sheet. CSV/TXT: encoding detected (UTF-8, GB18030…), delimiter
    sniffed among , ; tab. Raises `TableError` (binary_file, unsupported_format,
    malformed_xlsx, encrypted_document, zip_bomb, unsafe_archive, empty_table).
    """
    head = stream.read(8)
    stream.seek(0)
    lower = filename.lower()
    if head.startswith(b"PK"):
        return _read_xlsx(stream)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise TableError(
            "encrypted_document" if lower.endswith((".xlsx", ".xlsm")) else "unsupported_format",
            "password-protected or legacy Excel file; save it as an unprotected .xlsx",
        )
    if lower.endswith((".xlsx", ".xlsm")):
        raise TableError("malformed_xlsx", "not a valid .xlsx file")
    return _read_csv(stream)


# Columns read from a sheet: a table of clients has a few dozen. openpyxl pads every row
# to the width the sheet claims (up to 16,384), so a 5 KB workbook claiming A1:XFD1048576
# would take minutes to read.
TABLE_MAX_COLUMNS = 200
# A run of this many empty rows ends the table: openpyxl yields every missing row up to
# the next one stored (a cell at row 1,048,576 means a million empty rows first). Sheets
# with whole columns formatted end in such a run too.
EMPTY_ROWS_END = 10_000


def _read_xlsx(stream: IO[bytes]) -> tuple[list[str], Iterator[list[str]]]:
    import openpyxl

    try:
        check_zip(stream, Limits(), "xlsx")
        stream.seek(0)
        wb = openpyxl.load_workbook(stream, read_only=True, data_only=True)
        ws = wb.worksheets[0]
        width = min(ws.max_column or TABLE_MAX_COLUMNS, TABLE_MAX_COLUMNS)
        rows = ws.iter_rows(values_only=True, max_col=width)
        header_row = next(rows, None)
    except ExtractionError as exc:
        raise TableError(exc.code, exc.message) from exc
    except Exception as exc:  # openpyxl raises many types for broken files
        raise TableError("malformed_xlsx", f"{type(exc).__name__}: {exc}"[:200]) from exc
    if header_row is None:
        raise TableError("empty_table", "the first sheet is empty")
    headers = [cell_text(v)[0].strip() if v is not None else "" for v in header_row]

    def data() -> Iterator[list[str]]:
        empty = 0
        try:
            for row in rows:
                if all(v is None for v in row):
                    empty += 1
                    if empty >= EMPTY_ROWS_END:
                        return
                    continue
                empty = 0
                cells = [cell_text(v)[0].strip() if v is not None else "" for v in row]
                if any(cells):
                    yield cells
        except Exception as exc:
            raise TableError("malformed_xlsx", f"{type(exc).__name__}: {exc}"[:200]) from exc
        finally:
            wb.close()

    return headers, data()


class _KeepOpen(io.RawIOBase):
    """Reads `stream` without owning it: a text wrapper that is dropped (a preview, a
    row count) closes this, not the caller's stream, which is read again afterwards."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Semicolon(csv.excel):
    delimiter = ";"


_DIALECTS: dict[str, type[csv.Dialect]] = {",": csv.excel, ";": _Semicolon, "\t": csv.excel_tab}


def _dialect(sample: str) -> type[csv.Dialect]:
    """Excel's CSV dialect with the delimiter (comma, semicolon or tab) that splits the
    header line most, counted outside quotes; a comma on a tie or none. One linear pass
    over one line: `csv.Sniffer`'s patterns take seconds on a few hostile kilobytes
    (`,"a,"a,"a…`), and the table is read several times per import."""
    counts = dict.fromkeys(_DIALECTS, 0)
    quoted = False
    for ch in sample:
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            if ch in counts:
                counts[ch] += 1
            elif ch in "\r\n":
                break
    best = max(_DIALECTS, key=lambda d: counts[d])  # the first (comma) on a tie
    return _DIALECTS[best]


def _read_csv(stream: IO[bytes]) -> tuple[list[str], Iterator[list[str]]]:
    head = stream.read(64 * 1024)
    stream.seek(0)
    try:
        encoding = detect_encoding(head)
    except ExtractionError as exc:
        raise TableError(exc.code, exc.message) from exc
    dialect = _dialect(head.decode(encoding, errors="replace"))
    text = io.TextIOWrapper(
        io.BufferedReader(_KeepOpen(stream)), encoding=encoding, errors="replace", newline=""
    )
    if encoding.replace("-", "_").lower() in {"utf_8", "utf8"} and head.startswith(codecs.BOM_UTF8):
        text.read(1)
    csv.field_size_limit(1 << 20)
    reader = csv.reader(text, dialect)
    try:
        headers = [h.strip() for h in next(reader)]
    except StopIteration as exc:
        raise TableError("empty_table", "the file is empty") from exc
    except csv.Error as exc:
        raise TableError("malformed_csv", str(exc)[:200]) from exc

    def data() -> Iterator[list[str]]:
        try:
            for row in reader:
                cells = [c.strip() for c in row]
                if any(cells):
                    yield cells
        except csv.Error as exc:
            raise TableError("malformed_csv", str(exc)[:200]) from exc

    return headers, data()
