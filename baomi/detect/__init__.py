"""Sensitive-data detection: identifiers in files, and a suggested classification.

Framework-free core (no Django). Public API:

- `scan_paths(paths, *, reveal)` / `scan_file(path_or_stream, filename=...)`: whole files.
- `extract_segments(path_or_stream, filename=...)`: located text of a file.
- `detect(text, context=...)`: identifiers in a string.
- `suggest(findings, keywords=...)` and `find_keywords(text)`: level and category.
- `main(argv)`: the `baomi scan` command.
"""

from baomi.detect.classify import CATEGORY_NAMES, LEVEL_NAMES, find_keywords, suggest
from baomi.detect.detectors import detect, detect_partial_numbers, mask
from baomi.detect.extract import extract_segments, ocr_available
from baomi.detect.model import (
    TYPES,
    ExtractionError,
    Finding,
    Limits,
    Location,
    Segment,
    Suggestion,
)
from baomi.detect.scan import FileScan, main, scan_file, scan_paths, scan_segments

__all__ = [
    "CATEGORY_NAMES",
    "LEVEL_NAMES",
    "TYPES",
    "ExtractionError",
    "FileScan",
    "Finding",
    "Limits",
    "Location",
    "Segment",
    "Suggestion",
    "detect",
    "detect_partial_numbers",
    "extract_segments",
    "find_keywords",
    "main",
    "mask",
    "ocr_available",
    "scan_file",
    "scan_paths",
    "scan_segments",
    "suggest",
]
