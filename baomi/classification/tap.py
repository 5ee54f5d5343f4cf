"""A plaintext tap on the sealing upload handler: the scanner sees the file as it arrives.

The handler seals every piece into the blob store; the tap keeps a copy **in memory
only** (never on disk) up to `BAOMI_SCAN_MAX_BYTES`, so the file can be scanned for a
classification suggestion once it is complete, without reading it back through the
door. The buffer is zeroed as soon as the scan is done.

A larger upload is not buffered. When it is text (plain text, CSV… in any encoding the
extractor detects), the tap hands what it holds to a `StreamScan` and from then on scans
each piece as it arrives, in bounded memory: text windows overlap so an identifier split
between two pieces is still found once, and distinct values are counted as keyed hashes
up to a cap. XLSX, DOCX, PDF and images that large are not scanned (`too_large`): the
readers used (openpyxl, python-docx, pypdf, Pillow) need random access to the whole file
(a zip's central directory, a PDF's cross-reference table at its end), and giving them
that in bounded memory would take a temporary file, i.e. plaintext on disk, which Baomi
never writes. (XLSX/DOCX could be read front to back from the zip's local headers, with
shared strings and the cell/paragraph XML parsed incrementally; that reader does not exist
yet. PDF cannot: its objects are located through the table at the end.)
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from baomi.detect import ExtractionError, FileScan, Segment, Suggestion, scan_file
from baomi.detect.classify import find_keywords, suggest_from_counts
from baomi.detect.extract import TextWindows, sniff_kind
from baomi.detect.scan import KEYWORD_BUDGET, findings_in_segment

# Distinct values remembered per type in a streamed scan. Every suggestion threshold is
# far below it (see `baomi.detect.classify.MANY_IDS`); beyond it the count is a lower
# bound. 10,000 8-byte digests per type is well under 1 MiB per type.
DISTINCT_CAP = 10_000
_SNIFF = 64 * 1024
_FEED_PIECE = 1024 * 1024
# What a document form adds to its file in a multipart body (boundaries, headers, title,
# level, category, CSRF token) is far below this.
_FORM_OVERHEAD = 1024 * 1024
_FORMAT_NAMES = {"xlsx": "XLSX", "docx": "DOCX", "pdf": "PDF", "image": "image", "zip": "ZIP"}


@dataclass(slots=True)
class StreamedScan:
    """Result of a streamed scan: counts per type instead of the findings themselves."""

    path: str
    counts: dict[str, int] = field(default_factory=dict)
    suggestion: Suggestion | None = None
    error: str | None = None


class StreamScan:
    """Scan a text file pushed piece by piece, in memory bounded by the window size.

    Same detection as `baomi.detect.scan_file` on a text file (the same windows and
    the same de-duplication of the windows' overlap); what is kept is a count per type,
    a keyed hash per distinct value (up to `DISTINCT_CAP` per type, for the suggestion's
    thresholds) and the classification keywords. The hash key is random per scan, so
    the digests cannot be matched against anything outside this object.
    """

    def __init__(self) -> None:
        self._windows = TextWindows()
        self._key = os.urandom(16)
        self._distinct: dict[str, set[bytes]] = {}
        self._capped: set[str] = set()
        self._counts: Counter[str] = Counter()
        self._keywords: set[str] = set()
        self._budget = KEYWORD_BUDGET
        self._reported_to = -1
        self.error: str | None = None

    def feed(self, data: bytes) -> None:
        """Scan what `data` completes; an unreadable file stops the scan with `error`."""
        if self.error is None:
            self._guard(lambda: self._windows.feed(data))

    def finish(self, path: str) -> StreamedScan:
        """Scan the rest and suggest; forgets the digests. Never raises."""
        if self.error is None:
            self._guard(self._windows.finish)
        distinct = {t: len(v) for t, v in self._distinct.items()}
        self._distinct.clear()
        if self.error is not None:
            return StreamedScan(path=path, error=self.error)
        return StreamedScan(
            path=path,
            counts=dict(self._counts),
            suggestion=suggest_from_counts(
                distinct, keywords=self._keywords, at_least=self._capped
            ),
        )

    def _guard(self, step: Callable[[], list[Segment]]) -> None:
        try:
            for segment in step():
                self._scan(segment)
        except ExtractionError as exc:
            self.error = str(exc)
        except Exception as exc:  # a detector bug must not break the upload itself
            self.error = f"unreadable: {type(exc).__name__}"

    def _scan(self, segment: Segment) -> None:
        if self._budget > 0:
            text = segment.text
            self._keywords |= find_keywords(text[: self._budget])
            self._budget -= len(text)
        for f in findings_in_segment(segment):
            if f.location.start < self._reported_to:
                continue  # the overlap of two windows: already counted
            self._reported_to = f.location.end
            self._counts[f.type] += 1
            seen = self._distinct.setdefault(f.type, set())
            digest = hashlib.blake2b(f.value.encode(), key=self._key, digest_size=8).digest()
            if len(seen) < DISTINCT_CAP:
                seen.add(digest)
            elif digest not in seen:
                self._capped.add(f.type)


class ScanTap:
    """The plaintext of one upload for the scanner, in memory only.

    `limit` bounds the buffer. With a `filename` (the upload handler's tap), a text file
    beyond the limit is scanned streaming instead (`StreamScan`); without one (a bulk
    import source, which its parser needs whole) the tap only sets `overflow`.
    """

    def __init__(
        self,
        limit: int | None = None,
        *,
        filename: str | None = None,
        declared_size: int = 0,
    ) -> None:
        self.limit = settings.BAOMI_SCAN_MAX_BYTES if limit is None else limit
        self.filename = filename
        self._buf = bytearray()
        self.overflow = False
        self.overflow_kind = ""
        self.stream: StreamScan | None = None
        # A request that declares more than the limit plus any form's overhead carries a
        # file over the limit: decide on its first piece instead of buffering `limit`
        # bytes first (that buffer, and its growth, was most of a 2 GiB upload's memory).
        self._over_from_start = declared_size > self.limit + _FORM_OVERHEAD

    def feed(self, data: bytes | memoryview) -> None:
        if self.stream is not None:
            self.stream.feed(bytes(data))
            return
        if self.overflow:
            return
        if not self._over_from_start and len(self._buf) + len(data) <= self.limit:
            self._buf += data
            return
        kind = sniff_kind(bytes(self._buf[:_SNIFF]) + bytes(data[:_SNIFF]), self.filename or "")
        if self.filename is not None and kind == "text":
            self.stream = StreamScan()
            for i in range(0, len(self._buf), _FEED_PIECE):
                self.stream.feed(bytes(self._buf[i : i + _FEED_PIECE]))
            self.wipe()
            self.stream.feed(bytes(data))
            return
        self.overflow = True
        self.overflow_kind = kind
        self.wipe()

    def data(self) -> bytes:
        return bytes(self._buf)

    def wipe(self) -> None:
        """Overwrite and drop the buffered plaintext (idempotent)."""
        self._buf[:] = bytes(len(self._buf))
        self._buf = bytearray()

    def scan(self, filename: str) -> FileScan | StreamedScan:
        """Scan what was buffered, or finish the streamed scan (never raises); the
        buffer is wiped afterwards."""
        if self.stream is not None:
            return self.stream.finish(filename)
        if self.overflow:
            limit = (
                f"{self.limit // (1024 * 1024)} MiB"
                if self.limit >= 1024 * 1024
                else (f"{self.limit} bytes")
            )
            what = _FORMAT_NAMES.get(self.overflow_kind)
            why = (
                f"{what} files over {limit} are not scanned (the reader needs the whole "
                "file, and plaintext is never written to disk)"
                if what
                else f"over {limit}, not scanned"
            )
            return FileScan(path=filename, error=f"too_large: {why}")
        try:
            return scan_file(io.BytesIO(bytes(self._buf)), filename=filename)
        finally:
            self.wipe()
