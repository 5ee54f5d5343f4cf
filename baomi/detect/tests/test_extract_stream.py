"""Push-style text windows (`TextWindows`): any chunking gives the same findings as the
pull-style `extract_text`, identifiers on chunk and window edges are found once."""

from __future__ import annotations

import io
import random

import pytest

from baomi.detect import ExtractionError, Finding, Limits, Segment
from baomi.detect.extract import TextWindows, extract_text
from baomi.detect.scan import scan_segments
from baomi.detect.tests.corpus import id_check

ID = "11010519491231002X"


def distinct_ids(n: int) -> list[str]:
    out = []
    for k in range(n):
        body = f"110105{1950 + k % 40}{1 + k % 12:02d}{1 + k % 28:02d}{k // 480 % 1000:03d}"
        out.append(body + id_check(body))
    assert len(set(out)) == n
    return out


def pushed(data: bytes, pieces: list[int], limits: Limits) -> list[Segment]:
    windows = TextWindows(limits)
    segments: list[Segment] = []
    pos = 0
    for size in pieces:
        segments += windows.feed(data[pos : pos + size])
        pos += size
    segments += windows.feed(data[pos:])
    segments += windows.finish()
    assert windows.finish() == []  # idempotent
    return segments


def findings(segments: list[Segment]) -> list[Finding]:
    return scan_segments(segments)[0]


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "utf-16"])
@pytest.mark.parametrize("seed", range(4))
def test_any_chunking_finds_what_the_pull_reader_finds(encoding: str, seed: int) -> None:
    rnd = random.Random(seed)
    ids = distinct_ids(300)
    parts = []
    for value in ids:
        parts.append("会计凭证摘要，" * rnd.randint(0, 6))
        parts.append(rnd.choice(["身份证号", "证件号码：", "\n", " "]) + value)
        parts.append(rnd.choice(["，电话 138 0013 8000", "\n", "；邮箱 zhang.san@example.cn", ""]))
    data = "".join(parts).encode(encoding)
    limits = Limits(window_chars=rnd.choice([2048, 4096, 10_000]))
    expected = findings(list(extract_text(io.BytesIO(data), limits)))
    assert sorted(f.value for f in expected if f.type == "cn_resident_id") == sorted(ids)
    pieces = [rnd.randint(1, 9000) for _ in range(len(data) // 4000)]
    got = findings(pushed(data, pieces, limits))
    assert got == expected  # same values, types and locations (lines, columns, offsets)


def test_an_identifier_on_a_piece_edge_is_found_once() -> None:
    limits = Limits(window_chars=2048)
    for shift in range(0, 60, 7):
        text = "。" * (30_000 + shift) + f"身份证号{ID}" + "。" * 3000
        data = text.encode()
        byte = data.index(ID.encode())
        # Pieces of 4096 bytes, and one edge inside the identifier's bytes.
        pieces = [4096] * (byte // 4096) + [byte % 4096 + 9] + [4096] * 3
        found = findings(pushed(data, pieces, limits))
        assert [(f.type, f.value, f.location.start) for f in found] == [
            ("cn_resident_id", ID, text.index(ID))
        ], shift


def test_an_identifier_on_a_window_edge_is_found_once() -> None:
    # ASCII, pieces of 4096 bytes: the first window is the 64 KiB head, reported up to
    # 65536 - MAX_MATCH; the next pieces make one window each.
    first_edge = 65536 - 512
    piece_edge = 65536 + 3 * 4096
    text = list("x " * 40_000)
    for start in (first_edge - 9, piece_edge - 9):
        text[start - 1 : start + 19] = " " + ID + " "
    data = "".join(text).encode()
    segments = pushed(data, [4096] * (len(data) // 4096), Limits(window_chars=2048))
    assert any(s.report_to is not None and s.offset + s.report_to == first_edge for s in segments)
    found = findings(segments)
    assert [(f.value, f.location.start) for f in found] == [
        (ID, first_edge - 9),
        (ID, piece_edge - 9),
    ]


def test_a_multibyte_character_split_between_pieces_is_decoded_whole() -> None:
    data = f"身份证号{ID}".encode("gb18030") * 5000
    # Every piece boundary falls inside a two-byte GB18030 character.
    segments = pushed(data, [1] * 70_001, Limits(window_chars=4096))
    text = "".join(s.text[s.report_from : s.report_to] for s in segments)
    assert "\ufffd" not in text
    assert len(findings(segments)) == 5000


def test_binary_content_is_refused_once_the_head_is_seen() -> None:
    windows = TextWindows()
    assert windows.feed(b"\x00\x01" * 1000) == []  # still collecting the 64 KiB head
    with pytest.raises(ExtractionError) as info:
        windows.feed(b"\x00\x01" * 40_000)
    assert info.value.code == "binary_file"
    short = TextWindows()
    short.feed(b"\x00junk")
    with pytest.raises(ExtractionError):
        short.finish()


def test_memory_is_bounded_by_the_window_not_the_file() -> None:
    import tracemalloc

    limits = Limits(window_chars=64 * 1024)
    windows = TextWindows(limits)
    piece = ("合同编号ABC " * 12_000).encode()  # ~190 KB, no line breaks
    tracemalloc.start()
    try:
        count = 0
        for _ in range(200):  # ~38 MB in all
            count += len(windows.feed(piece))
        count += len(windows.finish())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count > 100
    assert peak < 8 * 1024 * 1024, peak


def test_feed_after_finish_is_an_error() -> None:
    windows = TextWindows()
    windows.feed(b"abc")
    assert [s.text for s in windows.finish()] == ["abc"]
    with pytest.raises(ValueError, match="finish"):
        windows.feed(b"more")
