"""Blob storage for sealed documents: a local directory (default) or S3-compatible.

A blob store only ever sees ciphertext (sealed `BMS` streams written by the vault
door). Writes are atomic: a blob becomes visible under its key only at `commit()`;
`abort()` (or a crash) leaves nothing under that key. Contract of every store:

- `open_writer(key)` → `BlobWriter`: `write(data)` any number of times, then exactly
  one of `commit()` / `abort()`. `abort()` is idempotent and safe after a failed
  `commit()`. A key is written once; committing onto an existing key replaces it.
- `put_stream(key, chunks)`: the same, from an iterable; returns the byte count.
- `get_stream(key)` → a readable, closeable binary file object; raises
  `BlobMissing` if there is no such blob.
- `delete(key)`: idempotent. `exists(key)` → bool.

Keys are relative paths of ``[a-z0-9._-]`` segments separated by ``/``.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO, Protocol

_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$")
TMP_DIR = ".tmp"
S3_PART_SIZE = 8 * 1024 * 1024


class BlobMissing(Exception):
    """No blob is stored under the key."""


def check_key(key: str) -> str:
    """Return `key` if it is a well-formed blob key; raise `ValueError` otherwise."""
    if len(key) > 400 or not _KEY_RE.match(key) or ".." in key:
        raise ValueError(f"bad blob key {key!r}")
    return key


class BlobWriter(Protocol):
    size: int

    def write(self, data: bytes | memoryview) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class BlobStore(Protocol):
    name: str

    def open_writer(self, key: str) -> BlobWriter: ...

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int: ...

    def get_stream(self, key: str) -> BinaryIO: ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...


def _put_stream(store: BlobStore, key: str, chunks: Iterable[bytes]) -> int:
    writer = store.open_writer(key)
    try:
        for chunk in chunks:
            writer.write(chunk)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return writer.size


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _LocalWriter:
    def __init__(self, store: LocalBlobStore, key: str) -> None:
        self._final = store.path_for(key)
        tmp_dir = store.root / TMP_DIR
        tmp_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._tmp = tmp_dir / f"{secrets.token_hex(12)}.part"
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self._fh: Any = os.fdopen(fd, "wb", buffering=1024 * 1024)
        self.size = 0
        self._done = False

    def write(self, data: bytes | memoryview) -> None:
        self._fh.write(data)
        self.size += len(data)

    def commit(self) -> None:
        if self._done:
            raise ValueError("blob writer already closed")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # rename() is atomic: readers see the old state or the whole blob, never a part.
        os.replace(self._tmp, self._final)
        _fsync_dir(self._final.parent)
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._fh.close()
        finally:
            self._tmp.unlink(missing_ok=True)


class LocalBlobStore:
    """Blobs as files under `root` (default ``<data dir>/blobs``), mode 0600."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path_for(self, key: str) -> Path:
        return self.root / check_key(key)

    def open_writer(self, key: str) -> _LocalWriter:
        return _LocalWriter(self, key)

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        return _put_stream(self, key, chunks)

    def get_stream(self, key: str) -> BinaryIO:
        try:
            return open(self.path_for(key), "rb")
        except FileNotFoundError:
            raise BlobMissing(key) from None

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def sweep_temporary(self, *, older_than_s: float = 3600.0, now: float | None = None) -> int:
        """Delete unfinished uploads left by a crashed process; returns how many."""
        now = time.time() if now is None else now
        removed = 0
        tmp_dir = self.root / TMP_DIR
        if not tmp_dir.is_dir():
            return 0
        for p in tmp_dir.glob("*.part"):
            try:
                if now - p.stat().st_mtime > older_than_s:
                    p.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed


class _S3Writer:
    """Buffers one part (8 MiB) at a time; small blobs become a single PUT."""

    def __init__(self, store: S3BlobStore, key: str) -> None:
        self._store = store
        self._key = store.object_key(key)
        self._buf = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._upload_id: str | None = None
        self.size = 0
        self._done = False

    def _flush_part(self) -> None:
        s3 = self._store.client
        if self._upload_id is None:
            resp = s3.create_multipart_upload(Bucket=self._store.bucket, Key=self._key)
            self._upload_id = resp["UploadId"]
        number = len(self._parts) + 1
        resp = s3.upload_part(
            Bucket=self._store.bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=bytes(self._buf),
        )
        self._parts.append({"ETag": resp["ETag"], "PartNumber": number})
        self._buf.clear()

    def write(self, data: bytes | memoryview) -> None:
        self._buf += data
        self.size += len(data)
        if len(self._buf) >= S3_PART_SIZE:
            self._flush_part()

    def commit(self) -> None:
        if self._done:
            raise ValueError("blob writer already closed")
        s3 = self._store.client
        if self._upload_id is None:
            s3.put_object(Bucket=self._store.bucket, Key=self._key, Body=bytes(self._buf))
            self._buf.clear()
        else:
            if self._buf:
                self._flush_part()
            s3.complete_multipart_upload(
                Bucket=self._store.bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buf.clear()
        if self._upload_id is not None:
            self._store.client.abort_multipart_upload(
                Bucket=self._store.bucket, Key=self._key, UploadId=self._upload_id
            )


class S3BlobStore:
    """Blobs as objects in an S3-compatible bucket (multipart for large blobs)."""

    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        prefix: str = "",
        client: Any = None,
    ) -> None:
        if not bucket:
            raise ValueError("BAOMI_S3_BUCKET is required for the S3 blob store")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if client is None:
            import boto3

            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
            )
        self.client = client

    def object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def open_writer(self, key: str) -> _S3Writer:
        return _S3Writer(self, key)

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        return _put_stream(self, key, chunks)

    def get_stream(self, key: str) -> BinaryIO:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except self.client.exceptions.NoSuchKey:
            raise BlobMissing(key) from None
        body: BinaryIO = resp["Body"]
        return body

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True


_store: BlobStore | None = None


def blob_store() -> BlobStore:
    """The configured store (`BAOMI_BLOB_STORE` = ``local`` | ``s3``), built once."""
    global _store  # noqa: PLW0603  (a process-wide singleton, reset by tests)
    if _store is None:
        from django.conf import settings

        if settings.BAOMI_BLOB_STORE == "s3":
            _store = S3BlobStore(**settings.BAOMI_S3)  # type: ignore[arg-type]  # str | None values from settings
        elif settings.BAOMI_BLOB_STORE == "local":
            _store = LocalBlobStore(settings.BAOMI_BLOB_DIR)
        else:
            raise ValueError(f"unknown BAOMI_BLOB_STORE {settings.BAOMI_BLOB_STORE!r}")
    return _store


def set_blob_store(store: BlobStore | None) -> None:
    """Replace the process-wide store (tests, and `baomi` commands with other settings)."""
    global _store  # noqa: PLW0603
    _store = store
