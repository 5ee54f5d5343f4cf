"""A plaintext tap on the sealing upload handler: the scanner sees the file as it arrives.

The handler seals every piece into the blob store; the tap keeps a copy **in memory
only** (never on disk) up to `BAOMI_SCAN_MAX_BYTES`, so the file can be scanned for a
classification suggestion once it is complete, without reading it back through the
door. Larger files are not buffered: their suggestion says so and a person classifies
them by hand. The buffer is zeroed as soon as the scan is done.
"""

from __future__ import annotations

import io

from django.conf import settings

from baomi.detect import FileScan, scan_file


class ScanTap:
    def __init__(self, limit: int | None = None) -> None:
        self.limit = settings.BAOMI_SCAN_MAX_BYTES if limit is None else limit
        self._buf = bytearray()
        self.overflow = False

    def feed(self, data: bytes | memoryview) -> None:
        if self.overflow:
            return
        if len(self._buf) + len(data) > self.limit:
            self.overflow = True
            self.wipe()
            return
        self._buf += data

    def data(self) -> bytes:
        return bytes(self._buf)

    def wipe(self) -> None:
        """Overwrite and drop the buffered plaintext (idempotent)."""
        self._buf[:] = bytes(len(self._buf))
        self._buf = bytearray()

    def scan(self, filename: str) -> FileScan:
        """Scan what was buffered (never raises); the buffer is wiped afterwards."""
        if self.overflow:
            return FileScan(
                path=filename,
                error=f"too_large: over {self.limit // (1024 * 1024)} MiB, not scanned",
            )
        try:
            return scan_file(io.BytesIO(bytes(self._buf)), filename=filename)
        finally:
            self.wipe()
