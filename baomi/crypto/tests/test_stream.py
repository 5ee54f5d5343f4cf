"""The chunked stream format: round trips, sizes, and every tampering it must refuse."""

from __future__ import annotations

import io
import struct
import tempfile
import tracemalloc
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baomi.crypto import (
    DecryptionError,
    Key,
    StreamSealer,
    open_file,
    open_file_iter,
    open_stream,
    parse_stream_header,
    seal_file,
    seal_stream,
    sealed_size,
    verify_file,
)
from baomi.crypto.stream import DEFAULT_CHUNK_SIZE, HEADER_SIZE, MAX_CHUNK_SIZE
from baomi.crypto.suites import SUITE_NAMES, SuiteName
from baomi.crypto.tests.helpers import DetRand

SUITES = pytest.mark.parametrize("suite", SUITE_NAMES)
CS = 16  # smallest chunk size: many chunks from little data
UNIT = CS + 16


def _key(suite: SuiteName, seed: bytes = b"k") -> Key:
    return Key.generate(suite, rand=DetRand(seed))


def _seal(key: Key, data: bytes, aad: bytes = b"doc:1", cs: int = CS) -> bytes:
    return b"".join(seal_stream(key, aad, [data], chunk_size=cs))


class Trickle(io.RawIOBase):
    """A raw file that returns short reads, as a pipe or socket does."""

    def __init__(self, data: bytes, step: int = 1000) -> None:
        self.data, self.pos, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]  # buffer type
        n = min(len(b), self.step, len(self.data) - self.pos)
        b[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


def _sources(data: bytes) -> list[BinaryIO]:
    """The same bytes as each kind of source the file helpers handle differently: an
    in-memory file (framed in place), a buffered file (read into reused buffers) and a
    raw one with short reads."""
    return [io.BytesIO(data), io.BufferedReader(io.BytesIO(data)), Trickle(data, 7)]  # type: ignore[list-item]  # binary files


def _open(key: Key, sealed: bytes, aad: bytes = b"doc:1") -> bytes:
    """Open with every reader (generator, file, file iterator, each file reader on every
    kind of source); they must agree on every input."""
    results: list[bytes | None] = []
    try:
        results.append(b"".join(open_stream(key, aad, [sealed])))
    except DecryptionError:
        results.append(None)
    for src in _sources(sealed):
        out = io.BytesIO()
        try:
            open_file(src, out, key, aad)
            results.append(out.getvalue())
        except DecryptionError:
            results.append(None)
    # piece_size CS: chunks go out as decrypted; 2 * CS: batched in the reused buffer.
    for piece_size in (CS, 2 * CS):
        for src in _sources(sealed):
            try:
                results.append(b"".join(open_file_iter(src, key, aad, piece_size=piece_size)))
            except DecryptionError:
                results.append(None)
    assert all(r == results[0] for r in results), results
    # verify_file: sequentially, and split between threads (a real file is needed for
    # reads at offsets), down to one chunk per thread.
    sizes: list[int | None] = []
    with tempfile.TemporaryFile() as fh:
        fh.write(sealed)
        for threads, min_chunks in ((1, 1), (2, 1), (3, 1), (2, 10**6)):
            fh.seek(0)
            try:
                sizes.append(verify_file(fh, key, aad, threads=threads, min_chunks=min_chunks))
            except DecryptionError:
                sizes.append(None)
    sizes.append(_verify_or_none(io.BytesIO(sealed), key, aad))
    expected = None if results[0] is None else len(results[0])
    assert all(n == expected for n in sizes), (expected, sizes)
    if results[0] is None:
        raise DecryptionError()
    return results[0]


def _verify_or_none(src: BinaryIO, key: Key, aad: bytes) -> int | None:
    try:
        return verify_file(src, key, aad, threads=2, min_chunks=1)
    except DecryptionError:
        return None


def _chunks(sealed: bytes) -> list[bytes]:
    body = sealed[HEADER_SIZE:]
    return [body[i : i + UNIT] for i in range(0, len(body), UNIT)]


PLAIN = bytes(range(256))[: CS * 3 + 5]  # three full chunks and a short last one


@SUITES
@pytest.mark.parametrize("size", [0, 1, CS - 1, CS, CS + 1, 2 * CS, 3 * CS + 5, 10 * CS])
def test_round_trip_and_size(suite: SuiteName, size: int) -> None:
    key = _key(suite)
    data = bytes(i % 251 for i in range(size))
    sealed = _seal(key, data)
    assert len(sealed) == sealed_size(size, CS)
    assert _open(key, sealed) == data
    header = parse_stream_header(sealed)
    assert (header.key_id, header.chunk_size) == (key.key_id, CS)


def test_sealed_size_arithmetic() -> None:
    assert sealed_size(0) == HEADER_SIZE + 16
    assert sealed_size(65536, 65536) == HEADER_SIZE + 65536 + 16
    assert sealed_size(65537, 65536) == HEADER_SIZE + 65537 + 32
    assert DEFAULT_CHUNK_SIZE == 1024 * 1024
    assert sealed_size(DEFAULT_CHUNK_SIZE) == HEADER_SIZE + DEFAULT_CHUNK_SIZE + 16
    assert sealed_size(DEFAULT_CHUNK_SIZE + 1) == HEADER_SIZE + DEFAULT_CHUNK_SIZE + 1 + 32
    with pytest.raises(ValueError, match="chunk size"):
        sealed_size(1, 8)
    with pytest.raises(ValueError, match=">= 0"):
        sealed_size(-1)


@SUITES
def test_incremental_api_matches_one_shot(suite: SuiteName) -> None:
    key = _key(suite)
    one_shot = b"".join(seal_stream(key, b"a", [PLAIN], chunk_size=CS, rand=DetRand(b"r")))
    sealer = StreamSealer(key, b"a", chunk_size=CS, rand=DetRand(b"r"))
    # Mutable input: the sealer must copy what it holds back.
    parts = [sealer.header()]
    parts.extend(sealer.update(bytearray(PLAIN[i : i + 7])) for i in range(0, len(PLAIN), 7))
    parts.append(sealer.finalize())
    assert b"".join(parts) == one_shot
    with pytest.raises(ValueError, match="finalized"):
        sealer.update(b"x")
    with pytest.raises(ValueError, match="finalized"):
        sealer.finalize()


@SUITES
def test_file_helpers(suite: SuiteName) -> None:
    key = _key(suite)
    data = bytes(i % 199 for i in range(100_000))
    sealed = io.BytesIO()
    n = seal_file(io.BytesIO(data), sealed, key, b"doc:9", chunk_size=4096)
    assert n == len(sealed.getvalue()) == sealed_size(len(data), 4096)
    out = io.BytesIO()
    assert open_file(io.BytesIO(sealed.getvalue()), out, key, b"doc:9") == len(data)
    assert out.getvalue() == data


@SUITES
@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 8192, 10_000])
def test_seal_file_is_byte_identical_to_stream_sealer(suite: SuiteName, size: int) -> None:
    key = _key(suite)
    data = bytes(i % 7 for i in range(size))

    for src in _sources(data):
        sealed = io.BytesIO()
        seal_file(src, sealed, key, b"f", chunk_size=4096, rand=DetRand(b"same"))
        assert sealed.getvalue() == b"".join(
            seal_stream(key, b"f", [data], chunk_size=4096, rand=DetRand(b"same"))
        )
        assert src.read() == b""  # everything was consumed
    with pytest.raises(DecryptionError):
        open_file(io.BytesIO(sealed.getvalue()[:-1]), io.BytesIO(), key, b"doc:9")


# Every header field of the stream: magic, version, suite, scheme, key id, chunk size,
# salt, nonce prefix.
HEADER_FIELDS = [
    ("magic", 0), ("version", 3), ("suite", 4), ("scheme", 5), ("key_id", 6),
    ("key_id", 13), ("chunk_size", 14), ("chunk_size", 17), ("salt", 18), ("salt", 33),
    ("nonce_prefix", 34), ("nonce_prefix", 40),
]


@SUITES
@pytest.mark.parametrize(("field", "offset"), HEADER_FIELDS)
def test_header_fields_are_bound(suite: SuiteName, field: str, offset: int) -> None:
    key = _key(suite)
    sealed = bytearray(_seal(key, PLAIN))
    sealed[offset] ^= 0x01
    with pytest.raises(DecryptionError):
        _open(key, bytes(sealed))


@SUITES
def test_chunk_size_rewritten_consistently_still_fails(suite: SuiteName) -> None:
    # Re-framing the same bytes under a claimed chunk size that fits them exactly.
    key = _key(suite)
    sealed = bytearray(_seal(key, bytes(2 * CS)))
    struct.pack_into(">I", sealed, 14, 2 * CS + 16)
    with pytest.raises(DecryptionError):
        _open(key, bytes(sealed))
    struct.pack_into(">I", sealed, 14, MAX_CHUNK_SIZE + 1)
    with pytest.raises(DecryptionError):
        _open(key, bytes(sealed))


@SUITES
def test_every_chunk_body_and_tag_byte(suite: SuiteName) -> None:
    key = _key(suite)
    sealed = _seal(key, PLAIN)
    for i in range(HEADER_SIZE, len(sealed)):
        bad = bytearray(sealed)
        bad[i] ^= 0x04
        with pytest.raises(DecryptionError):
            _open(key, bytes(bad))


@SUITES
def test_truncation_at_every_length(suite: SuiteName) -> None:
    key = _key(suite)
    sealed = _seal(key, PLAIN)
    for cut in range(len(sealed)):
        with pytest.raises(DecryptionError):
            _open(key, sealed[:cut])


@SUITES
def test_truncation_at_chunk_boundary_is_caught_by_last_flag(suite: SuiteName) -> None:
    key = _key(suite)
    sealed = _seal(key, PLAIN)
    chunks = _chunks(sealed)
    # Every prefix ending on a chunk boundary authenticates chunk by chunk, then fails
    # because its final chunk was sealed with last=0.
    for keep in range(1, len(chunks)):
        got: list[bytes] = []
        with pytest.raises(DecryptionError):
            got.extend(open_stream(key, b"doc:1", [sealed[:HEADER_SIZE], *chunks[:keep]]))
        assert b"".join(got) == PLAIN[: CS * (keep - 1)]


@SUITES
def test_extension_is_refused(suite: SuiteName) -> None:
    key = _key(suite)
    sealed = _seal(key, PLAIN)
    chunks = _chunks(sealed)
    for tail in (b"\x00", chunks[-1], chunks[0], bytes(UNIT)):
        with pytest.raises(DecryptionError):
            _open(key, sealed + tail)


@SUITES
def test_empty_last_chunk_after_full_chunk_is_not_canonical(suite: SuiteName) -> None:
    # The writer never emits a full chunk followed by an empty last one; the reader
    # refuses that shape even when every tag is genuine, so each plaintext has one
    # encoding. Built with the sealer's own chunk function to get genuine tags.
    key = _key(suite)
    sealer = StreamSealer(key, b"doc:1", chunk_size=CS)
    forged = sealer.header() + sealer._seal(bytes(CS), False) + sealer._seal(b"", True)
    with pytest.raises(DecryptionError):
        _open(key, forged)


@SUITES
def test_reorder_and_duplicate(suite: SuiteName) -> None:
    key = _key(suite)
    sealed = _seal(key, PLAIN)
    head, chunks = sealed[:HEADER_SIZE], _chunks(sealed)
    swapped = [chunks[1], chunks[0], *chunks[2:]]
    with pytest.raises(DecryptionError):
        _open(key, head + b"".join(swapped))
    dup = [chunks[0], chunks[0], *chunks[2:]]
    with pytest.raises(DecryptionError):
        _open(key, head + b"".join(dup))
    moved_last = [*chunks[:-2], chunks[-1], chunks[-2]]
    with pytest.raises(DecryptionError):
        _open(key, head + b"".join(moved_last))


@SUITES
def test_swap_chunks_between_two_streams_same_key(suite: SuiteName) -> None:
    key = _key(suite)
    a = _seal(key, PLAIN)
    b = _seal(key, bytes(len(PLAIN)))
    ca, cb = _chunks(a), _chunks(b)
    for i in range(len(ca)):
        spliced = [*ca[:i], cb[i], *ca[i + 1 :]]
        with pytest.raises(DecryptionError):
            _open(key, a[:HEADER_SIZE] + b"".join(spliced))
    with pytest.raises(DecryptionError):  # b's header on a's chunks
        _open(key, b[:HEADER_SIZE] + a[HEADER_SIZE:])


@SUITES
def test_wrong_aad_and_wrong_key(suite: SuiteName) -> None:
    key = _key(suite)
    sealed = _seal(key, PLAIN)
    with pytest.raises(DecryptionError):
        _open(key, sealed, b"doc:2")
    with pytest.raises(DecryptionError):
        _open(_key(suite, b"other"), sealed)


def test_unknown_suite_and_version_are_decryption_errors() -> None:
    key = _key("aes-256-gcm")
    sealed = bytearray(_seal(key, b"x"))
    sealed[4] = 0x7F
    with pytest.raises(DecryptionError):
        _open(key, bytes(sealed))
    with pytest.raises(DecryptionError):
        _open(key, b"")


def test_output_waits_for_authentication() -> None:
    key = _key("aes-256-gcm")
    sealed = bytearray(_seal(key, PLAIN))
    sealed[-1] ^= 1  # break the last chunk's tag
    gen = open_stream(key, b"doc:1", [bytes(sealed)])
    got: list[bytes] = []
    with pytest.raises(DecryptionError):
        got.extend(gen)
    assert b"".join(got) == PLAIN[: 3 * CS]  # the authentic chunks only, never the bad one


@settings(max_examples=60, deadline=None)
@given(
    suite=st.sampled_from(SUITE_NAMES),
    data=st.binary(max_size=600),
    chunk_size=st.integers(16, 80),
    feed=st.lists(st.integers(0, 90), max_size=30),
    split=st.lists(st.integers(1, 120), min_size=1, max_size=30),
)
def test_round_trip_any_feeding_and_splitting(
    suite: SuiteName, data: bytes, chunk_size: int, feed: list[int], split: list[int]
) -> None:
    key = _key(suite)
    sealer = StreamSealer(key, b"p", chunk_size=chunk_size)
    out = [sealer.header()]
    pos = 0
    for n in feed:
        out.append(sealer.update(data[pos : pos + n]))
        pos += n
    out.append(sealer.update(data[pos:]))
    out.append(sealer.finalize())
    sealed = b"".join(out)
    assert len(sealed) == sealed_size(len(data), chunk_size)
    pieces, pos, i = [], 0, 0
    while pos < len(sealed):
        n = split[i % len(split)]
        pieces.append(sealed[pos : pos + n] if i % 2 else bytearray(sealed[pos : pos + n]))
        pos, i = pos + n, i + 1
    assert b"".join(open_stream(key, b"p", pieces)) == data


@settings(max_examples=60, deadline=None)
@given(suite=st.sampled_from(SUITE_NAMES), data=st.binary(max_size=100), pick=st.data())
def test_any_bit_flip_is_refused(suite: SuiteName, data: bytes, pick: st.DataObject) -> None:
    key = _key(suite)
    sealed = bytearray(_seal(key, data))
    i = pick.draw(st.integers(0, len(sealed) - 1))
    sealed[i] ^= 1 << pick.draw(st.integers(0, 7))
    with pytest.raises(DecryptionError):
        _open(key, bytes(sealed))


@SUITES
def test_seal_file_from_memory_starts_at_the_position_and_leaves_the_file_usable(
    suite: SuiteName,
) -> None:
    key = _key(suite)
    src = io.BytesIO(b"skip" + PLAIN)
    src.seek(4)
    sealed = io.BytesIO()
    seal_file(src, sealed, key, b"doc:1", chunk_size=CS)
    assert _open(key, sealed.getvalue()) == PLAIN
    # The sealed bytes were taken from the file's own memory; writing to it afterwards
    # must neither fail nor change what was sealed.
    src.write(b"more")
    src.seek(0)
    src.write(b"SKIP")
    assert src.getvalue() == b"SKIP" + PLAIN + b"more"
    assert _open(key, sealed.getvalue()) == PLAIN


@SUITES
def test_real_files_round_trip_through_every_reader(suite: SuiteName, tmp_path: Path) -> None:
    key = _key(suite)
    data = bytes(i % 253 for i in range(3 * 65536 + 123))
    plain_path, sealed_path = tmp_path / "plain", tmp_path / "sealed"
    plain_path.write_bytes(data)
    with plain_path.open("rb") as src, sealed_path.open("wb") as dst:
        n = seal_file(src, dst, key, b"doc:7", chunk_size=65536)
    assert n == sealed_path.stat().st_size == sealed_size(len(data), 65536)
    for piece_size in (65536, 1024 * 1024):  # one chunk per piece; batched pieces
        with sealed_path.open("rb") as src:
            pieces = list(open_file_iter(src, key, b"doc:7", piece_size=piece_size))
        assert b"".join(pieces) == data
        assert all(type(p) is bytes for p in pieces)
        assert all(len(p) >= piece_size for p in pieces[:-1])
    with sealed_path.open("rb") as src:
        out = io.BytesIO()
        assert open_file(src, out, key, b"doc:7") == len(data)
    assert out.getvalue() == data


@SUITES
def test_file_iterator_yields_only_authenticated_pieces(suite: SuiteName) -> None:
    key = _key(suite)
    sealed = bytearray(_seal(key, PLAIN))
    sealed[-1] ^= 1  # break the last chunk's tag
    for piece_size in (CS, 2 * CS):
        got: list[bytes] = []
        pieces = open_file_iter(io.BytesIO(bytes(sealed)), key, b"doc:1", piece_size=piece_size)
        with pytest.raises(DecryptionError):
            got.extend(pieces)
        joined = b"".join(got)
        assert PLAIN.startswith(joined)
        assert len(joined) <= 3 * CS


@SUITES
@pytest.mark.parametrize("kind", ["buffered", "raw"])
def test_small_files_do_not_pay_for_whole_chunk_buffers(suite: SuiteName, kind: str) -> None:
    # Chunks are 1 MiB by default; a 100-byte document must not allocate chunk-sized
    # buffers to be sealed or opened (the file path first reads at most 64 KiB).
    key = _key(suite)
    data = bytes(range(100))

    def source(raw: bytes) -> BinaryIO:
        return io.BufferedReader(io.BytesIO(raw)) if kind == "buffered" else Trickle(raw)  # type: ignore[return-value]  # binary files

    sealed = io.BytesIO()
    tracemalloc.start()
    try:
        seal_file(source(data), sealed, key, b"doc:1")
        out = io.BytesIO()
        open_file(source(sealed.getvalue()), out, key, b"doc:1")
        pieces = list(open_file_iter(source(sealed.getvalue()), key, b"doc:1"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.getvalue() == b"".join(pieces) == data
    assert peak < 256 * 1024, peak


@SUITES
@pytest.mark.parametrize(
    "size", [0, 100, 65535, 65536, 65537, 131071, 131072, 131073, 2 * 131072, 2 * 131072 + 5]
)
def test_file_helpers_around_the_first_read_and_chunk_boundaries(
    suite: SuiteName, size: int
) -> None:
    # The file readers read 64 KiB first, then the rest of a chunk, then whole chunks
    # into reused buffers: every boundary between those steps, on every kind of source.
    key = _key(suite)
    cs = 131072
    data = bytes(i % 241 for i in range(size))
    expected = b"".join(seal_stream(key, b"f", [data], chunk_size=cs, rand=DetRand(b"b")))
    for src in _sources(data):
        sealed = io.BytesIO()
        seal_file(src, sealed, key, b"f", chunk_size=cs, rand=DetRand(b"b"))
        assert sealed.getvalue() == expected
    assert _open(key, expected, b"f") == data
    with pytest.raises(DecryptionError):
        _open(key, expected[:-1], b"f")
