"""What `request.FILES["file"]` holds for an import: the bytes, in memory only."""

from __future__ import annotations

import io

from baomi.classification.tap import ScanTap


class ImportUpload:
    def __init__(self, name: str, tap: ScanTap) -> None:
        self.name = name
        self._tap = tap

    def stream(self) -> io.BytesIO:
        return io.BytesIO(self._tap.data())

    def close(self) -> None:
        self._tap.wipe()

    def __bool__(self) -> bool:
        return True
