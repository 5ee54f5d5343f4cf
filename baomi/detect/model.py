"""Value types shared by the detectors, the extractors and the scanner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

# Stable type codes; they are part of the API (JSON output, stored suggestions).
CN_RESIDENT_ID = "cn_resident_id"
CN_USCC = "cn_uscc"
BANK_CARD = "bank_card"
CN_MOBILE = "cn_mobile"
EMAIL = "email"
HK_MO_PERMIT = "hk_mo_permit"
PASSPORT = "passport"
TYPES: tuple[str, ...] = (
    CN_RESIDENT_ID,
    CN_USCC,
    BANK_CARD,
    CN_MOBILE,
    EMAIL,
    HK_MO_PERMIT,
    PASSPORT,
)


class Location(NamedTuple):
    """Where a finding sits.

    `where` is for people ("line 3, col 7", "工资表!C5", "page 2", "paragraph 4");
    `start`/`end` are character offsets of the original (un-normalized) text in the
    extracted text of the file (for text files: the decoded file; otherwise the segment).
    """

    where: str
    start: int
    end: int
    line: int | None = None
    column: int | None = None

    # NamedTuple rather than a frozen dataclass: findings are created in the hot loop and
    # tuple construction is several times cheaper.
    def as_dict(self) -> dict[str, object]:
        """JSON-ready form; line/column only where they exist."""
        out: dict[str, object] = {"where": self.where, "start": self.start, "end": self.end}
        if self.line is not None:
            out["line"] = self.line
            out["column"] = self.column
        return out


class Finding(NamedTuple):
    """One detected identifier.

    `value` is normalized (no spaces/hyphens, no +86, upper-case X, ASCII digits) and is
    the sensitive datum itself: show it only where the caller may reveal it; `masked` is
    safe to display and log. `note` explains a reduced confidence (e.g. digits lost in a
    spreadsheet float).
    """

    type: str
    value: str
    masked: str
    location: Location
    confidence: float
    note: str = ""


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of extracted text with what is needed to locate findings inside it.

    `context` is nearby text that is not part of `text` (a column header, the previous
    paragraph) and is only used to look for context words. `cells` maps start indexes in
    `text` to labels when one segment joins several cells (a spreadsheet row). The
    `first_line`/`first_column`/`offset` fields address streamed text windows; findings
    starting outside [`report_from`, `report_to`) belong to a neighbouring window.
    """

    text: str
    where: str
    context: str = ""
    cells: tuple[tuple[int, str], ...] = ()
    offset: int = 0
    first_line: int | None = None
    first_column: int = 1
    report_from: int = 0
    report_to: int | None = None


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A suggested classification: level and category codes, and why."""

    level: str
    category: str
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits for extraction; defaults suit an upload path on a small server."""

    # Declared uncompressed size of all entries of an OOXML zip, and the worst ratio an
    # entry bigger than `zip_ratio_floor` may have; real XLSX/DOCX stay well below 100.
    max_unpacked_bytes: int = 1 << 30
    max_zip_ratio: float = 200.0
    zip_ratio_floor: int = 1 << 20
    max_zip_entries: int = 10_000
    # Text is decoded and scanned in windows of this many characters.
    window_chars: int = 1 << 20
    max_pdf_pages: int = 5_000
    max_image_pixels: int = 80_000_000
    ocr: bool = True


class ExtractionError(Exception):
    """A file could not be read; `code` is a stable snake_case prefix for the message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
