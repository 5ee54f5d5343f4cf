"""Uploads over BAOMI_SCAN_MAX_BYTES: text is scanned while it arrives, in bounded memory,
and no plaintext reaches the disk; formats that need the whole file stay `too_large`."""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client as HttpClient

from baomi.accounts import services as account_services
from baomi.classification import services, tap
from baomi.classification.models import DocumentLabel
from baomi.detect import scan_file
from baomi.detect.tests.corpus import id_check
from baomi.vault import services as vault_services
from baomi.vault.models import Document
from baomi.vault.tests.conftest import sealed_upload

pytestmark = pytest.mark.django_db


def random_ids(n: int, seed: int) -> list[str]:
    """`n` distinct valid resident ID numbers, different for each seed."""
    rnd = random.Random(seed)
    region = rnd.choice(["110105", "310104", "440305", "510107"])
    first = dt.date(1950, 1, 1).toordinal() + rnd.randint(0, 3000)
    out = []
    for k in range(n):
        born = dt.date.fromordinal(first + k // 1000).strftime("%Y%m%d")
        body = f"{region}{born}{k % 1000:03d}"
        out.append(body + id_check(body))
    return out


def _file(data: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


def _files_containing(needles: list[bytes], roots: list[Path], since: float) -> list[str]:
    """Files under `roots` (and new files directly in the temp directory) holding any needle."""
    hits = []
    candidates: list[Path] = []
    for root in roots:
        if root.exists():
            candidates += [p for p in root.rglob("*") if p.is_file()]
    tmp = Path(tempfile.gettempdir())
    for entry in os.scandir(tmp):
        if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime >= since:
            candidates.append(Path(entry.path))
    for p in candidates:
        try:
            if p.stat().st_size > 200 * 1024 * 1024:
                continue
            data = p.read_bytes()
        except OSError:
            continue
        if any(n in data for n in needles):
            hits.append(str(p))
    return hits


def test_http_upload_over_the_scan_limit_is_scanned_streaming_without_plaintext_on_disk(
    firm: dict[str, Any], settings: Any, blob_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.BAOMI_SCAN_MAX_BYTES = 256 * 1024
    monkeypatch.setattr(tap, "DISTINCT_CAP", 50_000)
    ids = random_ids(80_000, seed=7)
    # ~1.5 MB: identifiers separated by one space, so the edges of the multipart parser's
    # 1 MiB chunks and of the text windows fall inside identifiers; every one must be
    # counted once, none twice.
    lines = (" ".join(ids[i : i + 16]) for i in range(0, len(ids), 16))
    data = ("身份证号码清单 股权转让\n" + "\n".join(lines) + "\n").encode()
    assert len(data) > 5 * settings.BAOMI_SCAN_MAX_BYTES
    started = time.time() - 1
    token = account_services.token_create(user=firm["acct"]).plaintext
    c = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")
    r = c.post(
        f"/api/v1/clients/{firm['client'].pk}/documents",
        {"file": _file(data, "名单.txt"), "level": "internal", "category": "other"},
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["scan_error"] is None
    assert body["findings_summary"] == {"cn_resident_id": len(ids)}
    assert (body["suggested_level"], body["suggested_category"]) == ("secret", "personal")
    details = {d["reason_code"]: d for d in body["suggestion_reason_details"]}
    # Distinct values are counted up to a cap; the rest is reported as a lower bound.
    assert details["found"]["params"] == {
        "counts": {"cn_resident_id": 50_000},
        "at_least": ["cn_resident_id"],
    }
    assert "at least" in details["found"]["reason"]
    assert details["keywords"]["params"]["keywords"] == ["股权转让"]
    text = r.content.decode()
    assert not any(i in text for i in ids[:1000])
    # The sealed copy is the file, byte for byte.
    content = c.get(f"/api/v1/documents/{body['id']}/content", {"purpose": "核对上传"})
    assert content.status_code == 200
    assert b"".join(content.streaming_content) == data
    # No plaintext anywhere on disk: blob store, vault temp dir, data dir, temp dir.
    needles = [i.encode() for i in ids[::997]] + [
        b"\xe8\xba\xab\xe4\xbb\xbd\xe8\xaf\x81\xe5\x8f\xb7"
    ]
    roots = [blob_dir, Path(settings.BAOMI_VAULT_TMP_DIR), Path(django_settings.DATA_DIR)]
    assert _files_containing(needles, roots, started) == []
    assert list(blob_dir.rglob("*"))  # the blobs are there, sealed


def test_an_identifier_across_a_piece_edge_beyond_the_limit_is_found_once(
    firm: dict[str, Any], settings: Any
) -> None:
    settings.BAOMI_SCAN_MAX_BYTES = 100_000
    (first, second) = random_ids(2, seed=3)
    piece = 65536
    text = bytearray(b"a " * 200_000)  # 400 KB, past the limit and past a text window
    for pos in (3 * piece - 9, 5 * piece - 17):  # both straddle a piece edge
        value = first if pos < 4 * piece else second
        text[pos - 1 : pos + 19] = b" " + value.encode() + b" "
    data = bytes(text)
    upload = sealed_upload(
        actor=firm["acct"], client=firm["client"], data=data, filename="big.log", piece=piece
    )
    assert upload.scan_tap.stream is not None  # went past the buffer limit
    document = vault_services.document_upload(
        actor=firm["acct"],
        client=firm["client"],
        upload=upload,
        title="big.log",
        level="internal",
        category="other",
    )
    label = services.upload_suggest(actor=firm["acct"], document=document, upload=upload)
    assert label.findings_summary == {"cn_resident_id": 2}
    # Exactly what scanning the whole file at once finds.
    whole = scan_file(io.BytesIO(data), filename="big.log")
    assert sorted(f.value for f in whole.findings) == [first, second]
    assert (label.suggested_level, label.suggested_category) == (
        whole.suggestion.level,  # type: ignore[union-attr]
        whole.suggestion.category,  # type: ignore[union-attr]
    )


def test_gb18030_text_over_the_limit_is_decoded_and_scanned(
    firm: dict[str, Any], settings: Any
) -> None:
    settings.BAOMI_SCAN_MAX_BYTES = 50_000
    (value,) = random_ids(1, seed=11)
    data = ("资产负债表\n" + "本期发生额合计，" * 20_000 + f"法人身份证号：{value}\n").encode(
        "gb18030"
    )
    doc = _upload(firm, data, "报表.csv", piece=4099)
    label = DocumentLabel.objects.get(document=doc)
    assert label.scan_error == ""
    assert label.findings_summary == {"cn_resident_id": 1}
    assert (label.suggested_level, label.suggested_category) == ("confidential", "personal")


def _xlsx(rows: int) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for i in range(rows):
        ws.append([f"张{i}", "11010519491231002X", i * 3.5])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _upload(firm: dict[str, Any], data: bytes, name: str, piece: int = 65536) -> Document:
    upload = sealed_upload(
        actor=firm["acct"], client=firm["client"], data=data, filename=name, piece=piece
    )
    document = vault_services.document_upload(
        actor=firm["acct"],
        client=firm["client"],
        upload=upload,
        title=name,
        level="internal",
        category="other",
    )
    services.upload_suggest(actor=firm["acct"], document=document, upload=upload)
    return document


@pytest.mark.parametrize(
    ("make", "name", "fmt"),
    [
        (lambda: _xlsx(3000), "big.xlsx", "XLSX"),
        (lambda: b"%PDF-1.7\n" + b"0" * 60_000, "big.pdf", "PDF"),
    ],
)
def test_formats_needing_the_whole_file_stay_too_large(
    firm: dict[str, Any], settings: Any, make: Any, name: str, fmt: str
) -> None:
    data = make()
    settings.BAOMI_SCAN_MAX_BYTES = len(data) // 2
    doc = _upload(firm, data, name)
    label = DocumentLabel.objects.get(document=doc)
    assert label.scan_error.startswith(f"too_large: {fmt} files over"), label.scan_error
    assert label.suggested_level == ""
    # Under the limit the same file is scanned.
    settings.BAOMI_SCAN_MAX_BYTES = len(data) * 2
    small = DocumentLabel.objects.get(document=_upload(firm, data, name))
    assert small.scan_error == "" or not small.scan_error.startswith("too_large")


def test_binary_junk_over_the_limit_is_a_clear_error(firm: dict[str, Any], settings: Any) -> None:
    settings.BAOMI_SCAN_MAX_BYTES = 10_000
    doc = _upload(firm, os.urandom(200_000).replace(b"PK", b"pk"), "junk.txt")
    label = DocumentLabel.objects.get(document=doc)
    assert label.scan_error.startswith("binary_file"), label.scan_error


def test_a_file_declared_over_the_limit_is_never_buffered() -> None:
    # The request says the file is far over the limit: a binary file is marked too_large
    # on its first piece and a text file is scanned streaming from its first piece, so
    # neither holds `limit` bytes of plaintext in memory first.
    limit = 4096
    pdf = tap.ScanTap(limit, filename="scan.pdf", declared_size=64 * 1024 * 1024)
    for _ in range(8):
        pdf.feed(b"%PDF-1.7\n" + os.urandom(2048))
        assert pdf.data() == b""
    assert pdf.overflow
    assert pdf.scan("scan.pdf").error.startswith("too_large")  # type: ignore[union-attr]
    junk = tap.ScanTap(limit, filename="video.mp4", declared_size=64 * 1024 * 1024)
    for _ in range(8):
        junk.feed(os.urandom(2048))
        assert junk.data() == b""
    assert junk.scan("video.mp4").error.startswith("binary_file")  # type: ignore[union-attr]

    ids = random_ids(400, seed=7)
    text = tap.ScanTap(limit, filename="list.txt", declared_size=64 * 1024 * 1024)
    body = "\n".join(f"身份证 {i}" for i in ids).encode()
    for k in range(0, len(body), 1000):
        text.feed(body[k : k + 1000])
        assert text.data() == b""
    assert text.stream is not None
    result = text.scan("list.txt")
    assert result.counts == {"cn_resident_id": 400}  # type: ignore[union-attr]

    # Declared within the limit: buffered and scanned whole, as before.
    small = tap.ScanTap(limit * 1024, filename="list.txt", declared_size=len(body) + 500)
    small.feed(body)
    assert small.data() == body
    assert small.stream is None and not small.overflow
