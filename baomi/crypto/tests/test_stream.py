"""The chunked stream format: round trips, sizes, and every tampering it must refuse."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baomi.crypto import (
    DecryptionError,
    Key,
    StreamSealer,
    open_file,
    open_stream,
    parse_stream_header,
    seal_file,
    seal_stream,
    sealed_size,
)
from baomi.crypto.stream import HEADER_SIZE, MAX_CHUNK_SIZE
from baomi.crypto.suites import SUITE_NAMES, SuiteName
from baomi.crypto.tests.helpers import DetRand

SUITES = pytest.mark.parametrize("suite", SUITE_NAMES)
CS = 16  # smallest chunk size: many chunks from little data
UNIT = CS + 16


def _key(suite: SuiteName, seed: bytes = b"k") -> Key:
    return Key.generate(suite, rand=DetRand(seed))


def _seal(key: Key, data: bytes, aad: bytes = b"doc:1", cs: int = CS) -> bytes:
    return b"".join(seal_stream(key, aad, [data], chunk_size=cs))


def _open(key: Key, sealed: bytes, aad: bytes = b"doc:1") -> bytes:
    """Open with both readers (generator and file); they must agree on every input."""
    try:
        via_stream: bytes | None = b"".join(open_stream(key, aad, [sealed]))
    except DecryptionError:
        via_stream = None
    out = io.BytesIO()
    try:
        open_file(io.BytesIO(sealed), out, key, aad)
        via_file: bytes | None = out.getvalue()
    except DecryptionError:
        via_file = None
    assert via_stream == via_file
    if via_stream is None:
        raise DecryptionError()
    return via_stream


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
    assert sealed_size(65536) == HEADER_SIZE + 65536 + 16
    assert sealed_size(65537) == HEADER_SIZE + 65537 + 32
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

    class Trickle(io.RawIOBase):
        # Short reads, as from a pipe or socket.
        def __init__(self) -> None:
            self.pos = 0

        def readable(self) -> bool:
            return True

        def readinto(self, b: memoryview) -> int:  # type: ignore[override]  # buffer type
            n = min(len(b), 1000, size - self.pos)
            b[:n] = data[self.pos : self.pos + n]
            self.pos += n
            return n

    for src in (io.BytesIO(data), Trickle()):
        sealed = io.BytesIO()
        seal_file(src, sealed, key, b"f", chunk_size=4096, rand=DetRand(b"same"))  # type: ignore[arg-type]  # RawIOBase is a binary file
        assert sealed.getvalue() == b"".join(
            seal_stream(key, b"f", [data], chunk_size=4096, rand=DetRand(b"same"))
        )
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
