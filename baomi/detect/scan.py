"""Scan files and directories: extraction → detection → suggestion, and the CLI.

`scan_file` never raises for a bad file: the error becomes a stable string
(`malformed_xlsx: ...`) on the result so a batch always goes on.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

from baomi.detect.classify import find_keywords, suggest
from baomi.detect.detectors import CONTEXT_BEFORE, detect, detect_partial_numbers
from baomi.detect.extract import extract_segments
from baomi.detect.model import ExtractionError, Finding, Limits, Location, Segment, Suggestion

# Findings get their final location here, one per finding: built with tuple.__new__ (as in
# `detect`), not through the NamedTuples' Python-level __new__ and _replace.
_new = tuple.__new__

# Keywords (资产负债表, 股权转让…) sit in titles and headings; looking at the first few
# million characters is enough and keeps huge files at detector speed.
KEYWORD_BUDGET = 4_000_000


@dataclass(slots=True)
class FileScan:
    """Result of scanning one file; `error` is set instead of raising."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    suggestion: Suggestion | None = None
    error: str | None = None

    def as_dict(self, *, reveal: bool) -> dict[str, object]:
        """JSON form used by the CLI; `value` only when `reveal` is true."""
        findings: list[dict[str, object]] = []
        for f in self.findings:
            item: dict[str, object] = {"type": f.type}
            if reveal:
                item["value"] = f.value
            item["masked"] = f.masked
            item["location"] = f.location.as_dict()
            item["confidence"] = f.confidence
            if f.note:
                item["note"] = f.note
            findings.append(item)
        return {
            "path": self.path,
            "findings": findings,
            "suggested_level": self.suggestion.level if self.suggestion else None,
            "suggested_category": self.suggestion.category if self.suggestion else None,
            "reasons": self.suggestion.reasons if self.suggestion else [],
            "error": self.error,
        }


def findings_in_segment(
    segment: Segment, *, today: dt.date | None = None, before: str = ""
) -> list[Finding]:
    """Detect in one segment and fill in each finding's location.

    `before` is text preceding the segment in the same document (the previous paragraph's
    tail), used like `segment.context` for context words only.
    """
    text = segment.text
    context = f"{segment.context} {before}" if before else segment.context
    found = detect(
        text, context=context, today=today, start=segment.report_from, end=segment.report_to
    )
    if "?" in text:
        found.extend(detect_partial_numbers(text, context=context, today=today))
        found.sort(key=lambda f: f.location.start)
    if not found:
        return found
    out: list[Finding] = []
    if segment.first_line is not None:
        # Newlines are counted from the previous finding, not from the line start, so a
        # long line with many findings stays linear (`pos` is the current line's start).
        line, col_base, pos, last = segment.first_line, segment.first_column, 0, 0
        for f in found:
            s, e = f.location.start, f.location.end
            if s < last:  # out of order: count again from the segment's start
                line, col_base, pos, last = segment.first_line, segment.first_column, 0, 0
            newlines = text.count("\n", last, s)
            if newlines:
                line += newlines
                col_base = 1
                pos = text.rfind("\n", last, s) + 1
            last = s
            column = col_base + s - pos
            loc = _new(
                Location,
                (
                    f"line {line}, col {column}",
                    segment.offset + s,
                    segment.offset + e,
                    line,
                    column,
                ),
            )
            out.append(_new(Finding, (f.type, f.value, f.masked, loc, f.confidence, f.note)))
        return out
    starts = [c[0] for c in segment.cells]
    for f in found:
        s, e = f.location.start, f.location.end
        if segment.cells:
            i = max(bisect.bisect_right(starts, s) - 1, 0)
            cell_start, where = segment.cells[i]
            s, e = s - cell_start, e - cell_start
        else:
            where = segment.where
        loc = _new(Location, (where, segment.offset + s, segment.offset + e, None, None))
        out.append(_new(Finding, (f.type, f.value, f.masked, loc, f.confidence, f.note)))
    return out


def scan_segments(
    segments: Iterable[Segment], *, today: dt.date | None = None
) -> tuple[list[Finding], set[str]]:
    """Findings and classification keywords over a document's segments.

    Windows of a streamed text overlap; a finding starting inside one already reported
    is the same identifier seen again and is dropped.
    """
    findings: list[Finding] = []
    keywords: set[str] = set()
    budget = KEYWORD_BUDGET
    before = ""
    reported_to = -1
    for segment in segments:
        if budget > 0:
            keywords |= find_keywords(
                segment.text if len(segment.text) <= budget else segment.text[:budget]
            )
            budget -= len(segment.text)
        windowed = segment.first_line is not None
        for f in findings_in_segment(segment, today=today, before="" if windowed else before):
            if windowed:
                if f.location.start < reported_to:
                    continue
                reported_to = f.location.end
            findings.append(f)
        if not windowed:
            before = segment.text[-CONTEXT_BEFORE:]
    return findings, keywords


def scan_file(
    source: str | Path | IO[bytes],
    *,
    filename: str | None = None,
    limits: Limits | None = None,
    today: dt.date | None = None,
) -> FileScan:
    """Extract, detect and suggest for one file or uploaded stream; never raises.

    On an extraction error the findings made before it are dropped: a half-read file
    must not look scanned. The suggestion is then None and `error` holds
    "<code>: <message>".
    """
    name = str(source) if isinstance(source, str | Path) else (filename or "<stream>")
    try:
        findings, keywords = scan_segments(
            extract_segments(source, filename=filename, limits=limits), today=today
        )
    except ExtractionError as exc:
        return FileScan(path=name, error=str(exc))
    except MemoryError:
        return FileScan(path=name, error="too_large: out of memory while reading the file")
    except Exception as exc:  # a parser bug must not stop a batch; report it per file
        return FileScan(path=name, error=f"unreadable: {type(exc).__name__}: {exc}"[:300])
    return FileScan(path=name, findings=findings, suggestion=suggest(findings, keywords=keywords))


def iter_files(paths: Iterable[str | Path]) -> Iterable[Path]:
    """Files named directly, and every regular file under named directories (sorted)."""
    for p in map(Path, paths):
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    path = Path(root, name)
                    if path.is_file():
                        yield path
        else:
            yield p


def scan_all(
    paths: Iterable[str | Path],
    *,
    limits: Limits | None = None,
    today: dt.date | None = None,
) -> list[FileScan]:
    """`scan_file` over `iter_files(paths)`, as result objects."""
    return [scan_file(p, limits=limits, today=today) for p in iter_files(paths)]


def scan_paths(
    paths: Iterable[str | Path],
    *,
    reveal: bool,
    limits: Limits | None = None,
    today: dt.date | None = None,
) -> dict[str, list[dict[str, object]]]:
    """Scan files and directories recursively; the CLI's JSON document.

    Shape: {"files": [{"path", "findings": [{"type", "value" (only if reveal), "masked",
    "location", "confidence"}], "suggested_level", "suggested_category", "reasons",
    "error"}]}. A missing path is an entry with error "not_found: …"; nothing raises.
    """
    results = scan_all(paths, limits=limits, today=today)
    return {"files": [r.as_dict(reveal=reveal) for r in results]}


def _print_table(results: list[FileScan], *, reveal: bool, out: TextIO) -> None:
    for r in results:
        out.write(f"{r.path}\n")
        if r.error or r.suggestion is None:
            out.write(f"  ERROR {r.error}\n")
            continue
        out.write(
            f"  suggested: {r.suggestion.level} / {r.suggestion.category}"
            f"  ({len(r.findings)} findings)\n"
        )
        for f in r.findings:
            shown = f.value if reveal else f.masked
            out.write(f"  {f.type:<15} {shown:<24} {f.location.where}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """`baomi scan PATH... [--json] [--reveal]`.

    Exit status: 0 when every file was scanned (with or without findings), 1 when any
    file had an error, 2 for usage errors.
    """
    parser = argparse.ArgumentParser(
        prog="baomi scan", description="Find sensitive identifiers in files."
    )
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--reveal", action="store_true", help="print the identifiers themselves, not masks"
    )
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    results = scan_all(args.paths)
    if args.json:
        report = {"files": [r.as_dict(reveal=args.reveal) for r in results]}
        json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        _print_table(results, reveal=args.reveal, out=sys.stdout)
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
