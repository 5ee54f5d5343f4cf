"""Chunked streaming AEAD for documents of any size, in constant memory.

Layout (integers big-endian; docs/crypto.md has the full table)::

    header, 41 bytes:
    0   3  magic          b"BMS"
    3   1  version        0x01
    4   1  suite          0x01 aes-256-gcm | 0x02 sm4-gcm
    5   1  nonce scheme   0x03 stream: prefix || u32 chunk index || u8 last flag
    6   8  key id         of the data key
    14  4  chunk size     plaintext bytes per non-final chunk (16 .. 16 MiB)
    18  16 salt           random; the stream key is HKDF(key, salt, info=ctx(header))
    34  7  nonce prefix   random
    then chunks: ciphertext || 16-byte tag. Every chunk but the last holds exactly
    `chunk size` plaintext bytes; the last holds 1..chunk size bytes (0 only when the
    whole plaintext is empty).

Chunk i is sealed with nonce ``prefix || u32(i) || u8(last)`` and associated data
``header || aad``; the stream key itself is derived from the whole header. Hence:
reordering changes i, truncation at a chunk boundary leaves a chunk whose last flag
is 0, extension makes the real last chunk non-final, a chunk from another stream was
sealed under another derived key, and any header edit changes both the key and the
AAD. Each of these raises `DecryptionError`.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import BinaryIO, Final

from baomi.crypto.errors import DecryptionError
from baomi.crypto.suites import (
    KEY_ID_SIZE,
    TAG_SIZE,
    Aead,
    Buffer,
    Key,
    RandomSource,
    Suite,
    aead_for,
    encode_context,
    hkdf,
    suite_by_code,
)

MAGIC_STREAM: Final = b"BMS"
STREAM_VERSION: Final = 0x01
SCHEME_STREAM: Final = 0x03
HEADER_SIZE: Final = 41
SALT_SIZE: Final = 16
PREFIX_SIZE: Final = 7
DEFAULT_CHUNK_SIZE: Final = 1024 * 1024
MIN_CHUNK_SIZE: Final = 16
#: A reader must buffer one whole chunk, so a header may not demand more than this.
MAX_CHUNK_SIZE: Final = 16 * 1024 * 1024
#: The chunk index is a 32-bit field; a stream may never reuse an index.
MAX_CHUNKS: Final = 2**32

_IDX: Final = struct.Struct(">IB")
#: First read of a file helper: what a small document costs in buffers.
_PROBE_SIZE: Final = 64 * 1024


@dataclass(frozen=True)
class StreamHeader:
    """Parsed (unauthenticated) stream header fields."""

    suite: Suite
    key_id: bytes
    chunk_size: int
    salt: bytes
    nonce_prefix: bytes
    raw: bytes


def parse_stream_header(data: Buffer) -> StreamHeader:
    """Parse the first `HEADER_SIZE` bytes of a stream. Nothing is authenticated yet.

    Raises `DecryptionError` if they are not a version-1 stream header with a chunk
    size within bounds.
    """
    raw = bytes(memoryview(data)[:HEADER_SIZE])
    if (
        len(raw) != HEADER_SIZE
        or raw[:3] != MAGIC_STREAM
        or raw[3] != STREAM_VERSION
        or raw[5] != SCHEME_STREAM
    ):
        raise DecryptionError()
    suite = suite_by_code(raw[4])
    (chunk_size,) = struct.unpack_from(">I", raw, 14)
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise DecryptionError()
    return StreamHeader(
        suite=suite,
        key_id=raw[6 : 6 + KEY_ID_SIZE],
        chunk_size=chunk_size,
        salt=raw[18 : 18 + SALT_SIZE],
        nonce_prefix=raw[34:HEADER_SIZE],
        raw=raw,
    )


def _stream_aead(key: Key, header: bytes, salt: bytes) -> Aead:
    stream_key = hkdf(
        key.suite_info,
        key.material,
        salt=salt,
        info=encode_context("baomi stream v1", header),
        length=key.suite_info.key_size,
    )
    return aead_for(key.suite_info, stream_key)


def _check_chunk_size(chunk_size: int) -> None:
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size must be in [{MIN_CHUNK_SIZE}, {MAX_CHUNK_SIZE}]")


def sealed_size(plain_size: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """Exact size of the sealed stream for `plain_size` plaintext bytes.

    ``HEADER_SIZE + plain_size + 16 * max(1, ceil(plain_size / chunk_size))``.
    Raises `ValueError` for a negative size or a chunk size out of bounds.
    """
    _check_chunk_size(chunk_size)
    if plain_size < 0:
        raise ValueError("plain_size must be >= 0")
    chunks = max(1, -(-plain_size // chunk_size))
    return HEADER_SIZE + plain_size + TAG_SIZE * chunks


class StreamSealer:
    """Incremental sealer: ``header()``, then ``update()`` any number of times, then
    ``finalize()`` exactly once. Output, concatenated in that order, is the stream.

    Memory stays within one chunk whatever the input size. The last chunk is held
    back until more data or `finalize` shows whether it is the last. Input given as
    `bytes` is referenced, not copied; mutable buffers are copied when held back.
    Raises `ValueError` for a bad chunk size, use after `finalize`, or more than 2^32
    chunks.
    """

    __slots__ = ("_aad", "_aead", "_chunk", "_done", "_header", "_index", "_pending", "_prefix")

    def __init__(
        self,
        key: Key,
        aad: bytes,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        rand: RandomSource = os.urandom,
    ) -> None:
        _check_chunk_size(chunk_size)
        suite = key.suite_info
        salt = rand(SALT_SIZE)
        prefix = rand(PREFIX_SIZE)
        if len(salt) != SALT_SIZE or len(prefix) != PREFIX_SIZE:
            raise ValueError("random source returned the wrong number of bytes")
        header = (
            MAGIC_STREAM
            + bytes((STREAM_VERSION, suite.code, SCHEME_STREAM))
            + key.key_id
            + struct.pack(">I", chunk_size)
            + salt
            + prefix
        )
        self._header = header
        self._aead = _stream_aead(key, header, salt)
        self._aad = header + aad
        self._prefix = prefix
        self._chunk = chunk_size
        self._index = 0
        self._pending: Buffer = b""
        self._done = False

    def header(self) -> bytes:
        """The 41-byte header; write it before any chunk."""
        return self._header

    def _seal(self, data: Buffer, last: bool) -> bytes:
        index = self._index
        if index >= MAX_CHUNKS:
            raise ValueError("stream too long: the 32-bit chunk index would repeat")
        self._index = index + 1
        return self._aead.encrypt(self._prefix + _IDX.pack(index, last), data, self._aad)

    def iter_update(self, data: Buffer) -> Iterator[bytes]:
        """Feed plaintext; yield each sealed chunk as soon as it is complete.

        Chunks are produced lazily, so sealing one huge buffer holds one chunk of output
        at a time; the generator must be exhausted before the next call.
        """
        if self._done:
            raise ValueError("StreamSealer already finalized")
        view = memoryview(data).cast("B")
        cs = self._chunk
        pending = self._pending
        if len(pending):
            if len(pending) < cs:
                need = cs - len(pending)
                grown = bytearray(pending)
                grown += view[:need]
                pending = grown
                view = view[need:]
            if not len(view):
                self._pending = pending
                return
            # The held chunk is full and more data follows, so it is not the last.
            self._pending = b""
            yield self._seal(pending, False)
        n = len(view)
        off = 0
        seal = self._seal
        while n - off > cs:
            yield seal(view[off : off + cs], False)
            off += cs
        rest = view[off:]
        self._pending = rest if isinstance(data, bytes) else bytes(rest)

    def update_chunks(self, data: Buffer) -> list[bytes]:
        """Feed plaintext; return the sealed chunks now complete (possibly none)."""
        return list(self.iter_update(data))

    def update(self, data: Buffer) -> bytes:
        """Feed plaintext; return the sealed bytes now complete (possibly b"")."""
        return b"".join(self.update_chunks(data))

    def finalize(self) -> bytes:
        """Seal the held-back data as the last chunk and close the sealer."""
        if self._done:
            raise ValueError("StreamSealer already finalized")
        self._done = True
        last = self._seal(self._pending, True)
        self._pending = b""
        return last


def seal_stream(
    key: Key,
    aad: bytes,
    chunks: Iterable[Buffer],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    rand: RandomSource = os.urandom,
) -> Iterator[bytes]:
    """Seal an iterable of plaintext pieces; yields the header, then each sealed chunk."""
    sealer = StreamSealer(key, aad, chunk_size=chunk_size, rand=rand)
    yield sealer.header()
    for piece in chunks:
        yield from sealer.iter_update(piece)
    yield sealer.finalize()


def _frames(pieces: Iterable[Buffer], unit: int) -> Iterator[tuple[Buffer, bool]]:
    """Cut a byte stream into frames of `unit` bytes, flagging the last one.

    A full frame is held until at least one more byte arrives, since only then is it
    known not to be the last. Pieces that line up with frames are not copied.
    """
    held: Buffer | None = None
    partial = bytearray()
    for piece in pieces:
        # Frames are referenced, not copied, so a caller's mutable buffer is copied once.
        view = memoryview(piece if isinstance(piece, bytes) else bytes(piece)).cast("B")
        n = len(view)
        if not n:
            continue
        off = 0
        if partial:
            off = min(unit - len(partial), n)
            partial += view[:off]
            if len(partial) < unit:
                continue
            if held is not None:
                yield held, False
            held = bytes(partial)
            partial = bytearray()
            if off == n:
                continue
        if held is not None:
            yield held, False
            held = None
        while n - off >= unit:
            frame = view[off : off + unit]
            off += unit
            if off == n:
                held = frame
                break
            yield frame, False
        if off < n:
            partial += view[off:]
    if partial:
        if held is not None:
            yield held, False
        yield partial, True
    elif held is not None:
        yield held, True
    else:
        # No chunk at all: a stream always has one, so this is truncation.
        raise DecryptionError()


def _open_frames(
    key: Key, aad: bytes, header: StreamHeader, frames: Iterable[tuple[Buffer, bool]]
) -> Iterator[bytes]:
    if header.suite != key.suite_info or header.key_id != key.key_id:
        raise DecryptionError()
    aead = _stream_aead(key, header.raw, header.salt)
    full_aad = header.raw + aad
    prefix = header.nonce_prefix
    for index, (frame, last) in enumerate(frames):
        # The writer never emits an empty last chunk after a full one; refusing it keeps
        # the encoding canonical.
        if index >= MAX_CHUNKS or (last and index and len(frame) == TAG_SIZE):
            raise DecryptionError()
        plain = aead.decrypt(prefix + _IDX.pack(index, last), frame, full_aad)
        if plain:
            yield plain


def open_stream(key: Key, aad: bytes, chunks: Iterable[Buffer]) -> Iterator[bytes]:
    """Open a sealed stream given as pieces of any sizes; yields plaintext pieces.

    Each piece is yielded only after its chunk authenticated; truncation is detected
    when the input ends, so a consumer must treat its output as unconfirmed until the
    generator finishes without raising (write to a temporary file, rename at the end).
    Raises `DecryptionError` on any failure.
    """
    pieces = iter(chunks)
    head = bytearray()
    for piece in pieces:
        head += piece
        if len(head) >= HEADER_SIZE:
            break
    header = parse_stream_header(head)
    rest = bytes(head[HEADER_SIZE:])
    frames = _frames(chain((rest,), pieces), header.chunk_size + TAG_SIZE)
    return _open_frames(key, aad, header, frames)


def _read_full(src: BinaryIO, buf: bytearray) -> int:
    """Fill `buf` from `src` (short only at end of input); returns the byte count."""
    view = memoryview(buf)
    readinto = getattr(src, "readinto", None)
    got = 0
    while got < len(view):
        if readinto is not None:
            n = readinto(view[got:])
        else:
            piece = src.read(len(view) - got)
            n = len(piece)
            view[got : got + n] = piece
        if not n:
            break
        got += n
    return got


def _read_upto(src: BinaryIO, size: int) -> bytes:
    """Read `size` bytes from `src`, fewer only at end of input (a raw file or a pipe may
    return short reads). Allocates only what arrives, so a small file costs little."""
    data = src.read(size) or b""
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = src.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _memory_of(src: BinaryIO) -> memoryview | None:
    """The unread rest of `src` as a view of its own memory, or None if it keeps none.

    Only a plain `io.BytesIO` qualifies: `getvalue()` returns its internal bytes object
    without copying it (when nothing else holds a view of it), and the position moves to
    the end as if everything had been read.
    """
    if type(src) is not io.BytesIO:  # a subclass may override how it reads
        return None
    pos = src.tell()
    data = src.getvalue()
    src.seek(0, io.SEEK_END)
    return memoryview(data)[pos:]


def _file_frames(src: BinaryIO, unit: int) -> Iterator[tuple[memoryview, bool]]:
    """Cut the rest of `src` into frames of `unit` bytes, flagging the last one.

    Every frame but the last is exactly `unit` bytes; there is always at least one (empty
    when nothing is left). A frame is a view that stays valid only until the next frame
    is asked for. An in-memory file is framed in place, without copying. Otherwise two
    `unit`-sized buffers are reused for the whole file (read-ahead tells whether a frame
    is the last), allocated only once the input proves longer than one frame.
    """
    memory = _memory_of(src)
    if memory is not None:
        size = len(memory)
        off = 0
        while size - off > unit:
            yield memory[off : off + unit], False
            off += unit
        yield memory[off:], True
        return
    # A document smaller than one chunk (most are) gets no chunk-sized buffers: a first
    # read of at most 64 KiB, then one of the rest of a chunk, allocate what arrives.
    probe = min(unit, _PROBE_SIZE)
    first = _read_upto(src, probe)
    if len(first) < probe:
        yield memoryview(first), True
        return
    if unit > probe:
        rest = _read_upto(src, unit - probe)
        if len(first) + len(rest) < unit:
            yield memoryview(first + rest), True
            return
        first += rest
    buffers = (bytearray(unit), bytearray(unit))
    current: Buffer = first
    n = unit
    spare = 0
    while True:
        ahead = buffers[spare]
        m = _read_full(src, ahead) if n == unit else 0
        yield memoryview(current)[:n], m == 0
        if not m:
            return
        current, n, spare = ahead, m, spare ^ 1


def seal_file(
    src: BinaryIO,
    dst: BinaryIO,
    key: Key,
    aad: bytes,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    rand: RandomSource = os.urandom,
) -> int:
    """Seal everything readable from `src` into `dst`; returns the bytes written.

    Output is byte-identical to `StreamSealer`'s. Each chunk is encrypted into one reused
    output buffer and `dst.write` gets a view of it, valid only during the call (every
    file object copies or writes what it is given before returning). Input is read into
    two reused buffers, or, from an `io.BytesIO`, encrypted where it lies. Memory is
    at most three chunks, and nothing is allocated per chunk.
    """
    sealer = StreamSealer(key, aad, chunk_size=chunk_size, rand=rand)
    encrypt_into, full_aad, prefix = sealer._aead.encrypt_into, sealer._aad, sealer._prefix
    write, pack = dst.write, _IDX.pack
    written = write(sealer.header())
    out = bytearray()
    out_view = memoryview(out)
    for index, (frame, last) in enumerate(_file_frames(src, chunk_size)):
        n = len(frame) + TAG_SIZE
        if not index:  # the first chunk is the largest
            out_view.release()
            out = bytearray(n)
            out_view = memoryview(out)
        elif index >= MAX_CHUNKS:
            raise ValueError("stream too long: the 32-bit chunk index would repeat")
        encrypt_into(prefix + pack(index, last), frame, full_aad, out)
        written += write(out_view[:n])
    sealer._done = True
    return written


def _open_header(src: BinaryIO, key: Key, aad: bytes) -> tuple[StreamHeader, Aead, bytes]:
    header = parse_stream_header(_read_upto(src, HEADER_SIZE))
    if header.suite != key.suite_info or header.key_id != key.key_id:
        raise DecryptionError()
    return header, _stream_aead(key, header.raw, header.salt), header.raw + aad


def _check_frame(index: int, n: int, last: bool) -> None:
    # Same canonical-form rules as `open_stream`: no empty last chunk after a full one.
    if index >= MAX_CHUNKS or n < TAG_SIZE or (last and index and n == TAG_SIZE):
        raise DecryptionError()


def open_file(src: BinaryIO, dst: BinaryIO, key: Key, aad: bytes) -> int:
    """Open a stream read from `src` into `dst`; returns the plaintext bytes written.

    Only authenticated chunks are written, but truncation is detected at the end:
    on `DecryptionError` (any failure) `dst` may hold a prefix of the plaintext and must
    be discarded unless this returns. Buffers are reused as in `seal_file`, and
    `dst.write` likewise gets a view valid only during the call.
    """
    header, aead, full_aad = _open_header(src, key, aad)
    decrypt_into, prefix, pack, write = aead.decrypt_into, header.nonce_prefix, _IDX.pack, dst.write
    out = bytearray()
    out_view = memoryview(out)
    written = 0
    for index, (frame, last) in enumerate(_file_frames(src, header.chunk_size + TAG_SIZE)):
        n = len(frame)
        _check_frame(index, n, last)
        if not index:  # the first chunk is the largest (SM4 wants 15 spare bytes: the tag's)
            out_view.release()
            out = bytearray(n)
            out_view = memoryview(out)
        decrypt_into(prefix + pack(index, last), frame, full_aad, out)
        written += write(out_view[: n - TAG_SIZE])
    return written


def open_file_iter(
    src: BinaryIO, key: Key, aad: bytes, *, piece_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[bytes]:
    """Open a stream read from `src`; yield its plaintext as `bytes` pieces.

    Made for responses that must hand the server `bytes`: a chunk of at least
    `piece_size` bytes is decrypted straight into its own `bytes` object, with no other
    copy; smaller chunks are decrypted into one reused buffer and yielded in pieces of
    at least `piece_size` bytes (one copy). Every piece is yielded only after all of its
    chunks authenticated, but truncation is detected at the end, as with `open_stream`:
    treat the output as unconfirmed until the generator finishes without raising.
    Raises `DecryptionError` on any failure.
    """
    header, aead, full_aad = _open_header(src, key, aad)
    prefix, pack = header.nonce_prefix, _IDX.pack
    unit = header.chunk_size + TAG_SIZE
    frames = enumerate(_file_frames(src, unit))
    if header.chunk_size >= piece_size:
        decrypt = aead.decrypt
        for index, (frame, last) in frames:
            _check_frame(index, len(frame), last)
            plain = decrypt(prefix + pack(index, last), frame, full_aad)
            if plain:
                yield plain
        return
    decrypt_into = aead.decrypt_into
    batch = memoryview(bytearray(piece_size + unit))
    filled = 0
    for index, (frame, last) in frames:
        n = len(frame)
        _check_frame(index, n, last)
        decrypt_into(prefix + pack(index, last), frame, full_aad, batch[filled:])
        filled += n - TAG_SIZE
        if filled >= piece_size:
            yield bytes(batch[:filled])
            filled = 0
    if filled:
        yield bytes(batch[:filled])


class _Discard:
    def write(self, data: Buffer) -> int:
        return len(data)


def _regular_fd(src: BinaryIO) -> int | None:
    """The descriptor of `src` if it is a regular file (so it can be read at offsets)."""
    try:
        fd = src.fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None


def verify_file(
    src: BinaryIO, key: Key, aad: bytes, *, threads: int = 2, min_chunks: int = 16
) -> int:
    """Authenticate the whole stream in `src` and keep none of it; returns the plaintext
    size. Accepts exactly what `open_file` accepts; raises `DecryptionError` otherwise.

    For a regular file of at least `min_chunks` chunks, `threads` threads (this one and
    helpers) each check a contiguous share of the chunks, reading at offsets
    (`os.preadv`, into buffers reused per thread). File reads and the AEAD release the
    GIL, so this uses that many cores. The framing follows from the size the file has
    when the check starts: the last chunk is the one that ends there, so truncation
    and extension fail exactly as in a sequential read. Other sources are read once,
    as `open_file` to a discarding sink.
    """
    fd = _regular_fd(src)
    if fd is None or threads < 2:
        return open_file(src, _Discard(), key, aad)  # type: ignore[arg-type]  # write-only sink
    start = src.tell()
    body = os.fstat(fd).st_size - start - HEADER_SIZE
    header = parse_stream_header(os.pread(fd, HEADER_SIZE, start))
    unit = header.chunk_size + TAG_SIZE
    count = max(1, -(-body // unit))
    last_len = body - (count - 1) * unit
    _check_frame(count - 1, last_len, True)
    if count < max(min_chunks, 2):
        src.seek(start)
        return open_file(src, _Discard(), key, aad)  # type: ignore[arg-type]  # write-only sink
    if header.suite != key.suite_info or header.key_id != key.key_id:
        raise DecryptionError()
    aead = _stream_aead(key, header.raw, header.salt)
    full_aad = header.raw + aad
    prefix, pack = header.nonce_prefix, _IDX.pack
    first_chunk = start + HEADER_SIZE
    failed = threading.Event()
    errors: list[BaseException] = []

    def check(lo: int, hi: int) -> None:
        buf = bytearray(unit)
        out = bytearray(unit)
        view = memoryview(buf)
        decrypt_into = aead.decrypt_into
        try:
            for i in range(lo, hi):
                if failed.is_set():
                    return
                n = unit if i < count - 1 else last_len
                frame = view[:n]
                if os.preadv(fd, [frame], first_chunk + i * unit) != n:
                    raise DecryptionError()  # the file shrank under us: truncated
                decrypt_into(prefix + pack(i, i == count - 1), frame, full_aad, out)
        except BaseException as exc:  # re-raised by the caller below
            errors.append(exc)
            failed.set()

    share = -(-count // threads)
    helpers = [
        threading.Thread(target=check, args=(lo, min(lo + share, count)), daemon=True)
        for lo in range(share, count, share)
    ]
    for t in helpers:
        t.start()
    check(0, min(share, count))
    for t in helpers:
        t.join()
    src.seek(start + HEADER_SIZE + body)
    if errors:
        exc = errors[0]
        if isinstance(exc, DecryptionError):
            raise DecryptionError() from None
        raise exc
    return body - TAG_SIZE * count
