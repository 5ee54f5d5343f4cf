"""Documents: sealed uploads, versions, downloads, bad input, corruption, blob stores, keys."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from baomi.crypto import DEFAULT_CHUNK_SIZE, parse_stream_header
from baomi.errors import AccessDenied, ValidationFailed
from baomi.vault import blobstore, door, services
from baomi.vault.errors import (
    DocumentCorrupted,
    KeyDestroyed,
    UploadRejected,
    UploadTooLarge,
)
from baomi.vault.models import ClientKey, Document, DocumentVersion, Watermark
from baomi.vault.tests.conftest import sealed_upload
from baomi.vault.uploads import sanitize_filename

pytestmark = pytest.mark.django_db


def _upload(firm: dict[str, Any], data: bytes, **kw: Any) -> Document:
    actor = kw.pop("actor", firm["acct"])
    client = kw.pop("client", firm["client"])
    up = sealed_upload(
        actor=actor, client=client, data=data, filename=kw.pop("filename", "账簿.txt")
    )
    return services.document_upload(
        actor=actor,
        client=client,
        upload=up,
        title=kw.pop("title", "2026年10月账簿"),
        level=kw.pop("level", "confidential"),
        category=kw.pop("category", "financial"),
    )


def _read(firm: dict[str, Any], document: Document, who: str = "acct", **kw: Any) -> bytes:
    dl = services.document_download(
        actor=firm[who], document=document, purpose=kw.pop("purpose", "月度记账"), **kw
    )
    try:
        if dl.file is not None:
            return dl.file.read()
        assert dl.chunks is not None
        return b"".join(dl.chunks)
    finally:
        dl.close()


def _blob_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_upload_download_roundtrip_is_sealed_at_rest(firm, blob_dir):
    data = os.urandom(300_000) + b"MARKER-roundtrip"
    doc = _upload(firm, data)
    version = doc.current_version
    assert version.size == len(data)
    assert version.sha256 == hashlib.sha256(data).hexdigest()
    files = _blob_files(blob_dir)
    assert len(files) == 1
    stored = files[0].read_bytes()
    assert stored[:3] == b"BMS" and b"MARKER-roundtrip" not in stored
    assert len(stored) == version.sealed_size
    assert _read(firm, doc) == data
    wm = Watermark.objects.get()
    assert (wm.user, wm.purpose, wm.kind) == (firm["acct"], "月度记账", "none")


def test_versions(firm):
    doc = _upload(firm, b"v1 content")
    up = sealed_upload(actor=firm["acct"], client=firm["client"], data=b"v2 content", document=doc)
    v2 = services.document_version_add(actor=firm["acct"], document=doc, upload=up)
    assert v2.number == 2
    doc.refresh_from_db()
    assert doc.current_version == v2
    assert _read(firm, doc) == b"v2 content"
    assert _read(firm, doc, version_number=1) == b"v1 content"


def test_read_needs_assignment_and_purpose(firm):
    doc = _upload(firm, b"secret numbers")
    with pytest.raises(AccessDenied) as info:
        _read(firm, doc, purpose="")
    assert info.value.code == "purpose_required"
    with pytest.raises(AccessDenied):
        _read(firm, doc, who="other")
    assert _read(firm, doc, who="portal", purpose="核对本公司账簿") == b"secret numbers"
    # The client's portal user may upload to their own company only (access matrix).
    with pytest.raises(AccessDenied):
        sealed_upload(actor=firm["portal"], client=firm["other_client"], data=b"x")
    public = _upload(firm, b"public leaflet", level="public")
    assert _read(firm, public, who="admin", purpose="") == b"public leaflet"


def test_empty_upload_refused_and_nothing_left(firm, blob_dir):
    with pytest.raises(UploadRejected) as info:
        sealed_upload(actor=firm["acct"], client=firm["client"], data=b"")
    assert info.value.code == "empty_file"
    assert _blob_files(blob_dir) == []
    assert not Document.objects.exists()


def test_over_limit_upload_refused_and_nothing_left(firm, blob_dir):
    with pytest.raises(UploadTooLarge) as info:
        sealed_upload(actor=firm["acct"], client=firm["client"], data=b"x" * 5000, limit=4096)
    assert info.value.code == "upload_too_large"
    assert info.value.http_status == 413
    assert _blob_files(blob_dir) == []


def test_invalid_metadata_leaves_nothing(firm, blob_dir):
    up = sealed_upload(actor=firm["acct"], client=firm["client"], data=b"abc")
    with pytest.raises(ValidationFailed) as info:
        services.document_upload(
            actor=firm["acct"],
            client=firm["client"],
            upload=up,
            title="t",
            level="ultra",
            category="nope",
        )
    assert set(info.value.detail["fields"]) == {"level", "category"}
    assert _blob_files(blob_dir) == []
    assert not Document.objects.exists()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\张三\\工资表.xlsx", "工资表.xlsx"),
        ('a<b>:c"|?*.pdf', "a_b__c____.pdf"),
        ("  report.pdf  ", "report.pdf"),
        ("x" * 300 + ".docx", "x" * 195 + ".docx"),
    ],
)
def test_filenames_are_sanitized(raw, expected):
    assert sanitize_filename(raw) == expected


@pytest.mark.parametrize("raw", ["bad\x00name.pdf", "new\nline.pdf", "..", "   ", "\u202egpj.exe"])
def test_bad_filenames_are_refused(raw):
    with pytest.raises(UploadRejected) as info:
        sanitize_filename(raw)
    assert info.value.code == "bad_filename"


def test_corrupted_blob_is_reported_and_never_served(firm, blob_dir):
    doc = _upload(firm, os.urandom(200_000))
    (path,) = _blob_files(blob_dir)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 1
    path.write_bytes(raw)
    with pytest.raises(DocumentCorrupted) as info:
        services.document_download(actor=firm["acct"], document=doc, purpose="x")
    assert info.value.code == "document_corrupted"
    assert info.value.http_status == 500
    assert not Watermark.objects.exists()  # nothing was handed out


def test_truncated_blob_is_corrupted(firm, blob_dir):
    doc = _upload(firm, os.urandom(DEFAULT_CHUNK_SIZE + 200_000))
    (path,) = _blob_files(blob_dir)
    raw = path.read_bytes()
    chunk = parse_stream_header(raw).chunk_size
    assert chunk == DEFAULT_CHUNK_SIZE
    path.write_bytes(raw[: 41 + chunk + 16])  # cut at a chunk boundary
    with pytest.raises(DocumentCorrupted):
        services.document_download(actor=firm["acct"], document=doc, purpose="x")
    assert not Watermark.objects.exists()


def test_documents_sealed_with_64k_chunks_still_download(firm, blob_dir, monkeypatch):
    # Blobs written before the default chunk grew to 1 MiB carry 64 KiB in their header;
    # they are read in ~1 MiB pieces all the same.
    data = os.urandom(3 * 1024 * 1024 + 12_345)
    monkeypatch.setattr(door, "DEFAULT_CHUNK_SIZE", 65536)
    doc = _upload(firm, data)
    monkeypatch.undo()
    (path,) = _blob_files(blob_dir)
    assert parse_stream_header(path.read_bytes()).chunk_size == 65536
    assert path.stat().st_size == doc.current_version.sealed_size
    dl = services.document_download(actor=firm["acct"], document=doc, purpose="x")
    try:
        assert dl.chunks is not None
        pieces = list(dl.chunks)
    finally:
        dl.close()
    assert b"".join(pieces) == data
    assert all(type(p) is bytes and len(p) >= 1024 * 1024 for p in pieces[:-1])


def test_blob_changed_after_verification_stops_the_stream(firm, blob_dir):
    # The whole blob is verified before anything is handed out; if it changes between
    # that check and the streaming, the stream stops at the bad chunk (the HTTP client
    # then sees a body shorter than Content-Length) and never yields the bad bytes.
    data = os.urandom(3 * DEFAULT_CHUNK_SIZE + 5)
    doc = _upload(firm, data)
    (path,) = _blob_files(blob_dir)
    dl = services.document_download(actor=firm["acct"], document=doc, purpose="x")
    raw = bytearray(path.read_bytes())
    raw[41 + 2 * (DEFAULT_CHUNK_SIZE + 16) + 7] ^= 1  # inside the third chunk
    path.write_bytes(raw)
    got: list[bytes] = []
    try:
        assert dl.chunks is not None
        with pytest.raises(DocumentCorrupted):
            got.extend(dl.chunks)
    finally:
        dl.close()
    assert b"".join(got) == data[: 2 * DEFAULT_CHUNK_SIZE]


def test_blob_swapped_from_another_client_is_refused(firm, blob_dir):
    mine = _upload(firm, b"my ledger " * 1000)
    theirs = _upload(  # (filed at a level its uploader, cleared for 内部, may file at)
        firm, b"their ledger " * 1000, actor=firm["other"], client=firm["other_client"],
        level="internal",
    )
    store = blobstore.blob_store()
    assert isinstance(store, blobstore.LocalBlobStore)
    src = store.path_for(theirs.current_version.blob_key)
    dst = store.path_for(mine.current_version.blob_key)
    dst.write_bytes(src.read_bytes())
    with pytest.raises(DocumentCorrupted):
        services.document_download(actor=firm["acct"], document=mine, purpose="x")
    # …and so is a wrapped data key copied from another document.
    DocumentVersion.objects.filter(pk=mine.current_version.pk).update(
        wrapped_data_key=theirs.current_version.wrapped_data_key
    )
    mine.refresh_from_db()
    with pytest.raises(DocumentCorrupted):
        services.document_download(actor=firm["acct"], document=mine, purpose="x")


def test_missing_blob_is_corrupted(firm, blob_dir):
    doc = _upload(firm, b"abc")
    for p in _blob_files(blob_dir):
        p.unlink()
    with pytest.raises(DocumentCorrupted):
        services.document_download(actor=firm["acct"], document=doc, purpose="x")


def test_interrupted_upload_leaves_nothing(firm, blob_dir, rf):
    from baomi.vault import uploads

    request = rf.post("/")
    uploads.set_upload_target(
        request, uploads.UploadTarget(firm["acct"], firm["client"].pk, None, 10**9)
    )
    handler = uploads.SealingUploadHandler(request)
    handler.new_file("file", "big.bin", "application/octet-stream", None)
    handler.receive_data_chunk(os.urandom(3 * 1024 * 1024), 0)
    assert [p.suffix for p in _blob_files(blob_dir)] == [".part"]
    handler.upload_interrupted()  # what Django's parser calls when the body ends early
    assert _blob_files(blob_dir) == []
    assert not Document.objects.exists()


def test_unattached_upload_is_discarded_when_the_request_closes(firm, blob_dir):
    up = sealed_upload(actor=firm["acct"], client=firm["client"], data=b"forgotten")
    assert _blob_files(blob_dir)
    up.close()  # Django closes request.FILES at the end of every request
    assert _blob_files(blob_dir) == []


def test_database_failure_after_blob_commit_removes_the_blob(firm, blob_dir, monkeypatch):
    up = sealed_upload(actor=firm["acct"], client=firm["client"], data=b"abc" * 100)

    def boom(*a: Any, **k: Any) -> None:
        raise RuntimeError("database went away")

    real_done = door.upload_attach

    def attach_then_fail(session: Any, version: Any) -> None:
        real_done(session, version)
        boom()

    monkeypatch.setattr(door, "upload_attach", attach_then_fail)
    with pytest.raises(RuntimeError):
        services.document_upload(
            actor=firm["acct"],
            client=firm["client"],
            upload=up,
            title="t",
            level="internal",
            category="other",
        )
    assert _blob_files(blob_dir) == []
    assert not Document.objects.exists()


def test_destroying_the_client_key_makes_documents_unreadable(firm):
    doc = _upload(firm, b"to be shredded")
    services.client_key_destroy(actor=firm["admin"], client=firm["client"])
    with pytest.raises(KeyDestroyed) as info:
        services.document_download(actor=firm["acct"], document=doc, purpose="x")
    # The message is localized (zh by default); the code is the contract.
    assert info.value.code == "key_destroyed" and str(info.value.message)
    with pytest.raises(KeyDestroyed):
        sealed_upload(actor=firm["acct"], client=firm["client"], data=b"new")
    assert ClientKey.objects.get(scope=f"client:{firm['client'].pk}").wrapped is None


def test_client_key_rotation_keeps_everything_readable(firm):
    from baomi.clients.services import contact_add

    doc = _upload(firm, b"before rotation")
    contact = contact_add(
        actor=firm["acct"], client=firm["client"], data={"name": "甲", "mobile": "13800000001"}
    )
    before = ClientKey.objects.get(scope=f"client:{firm['client'].pk}")
    counts = services.client_key_rotate(actor=door.SystemActor("cli"), client=firm["client"])
    assert counts["data_keys"] == 1 and counts["fields"] >= 1
    after = ClientKey.objects.get(pk=before.pk)
    assert after.key_id != before.key_id and after.generation == before.generation + 1
    assert _read(firm, doc) == b"before rotation"
    contact.refresh_from_db()
    assert door.record_read(actor=firm["acct"], obj=contact, fields=["mobile"], purpose="x") == {
        "mobile": "13800000001"
    }


@pytest.mark.django_db(transaction=True)
def test_master_key_rotation_online_with_concurrent_reads(firm, settings, monkeypatch):
    """Readers in other threads keep reading while `baomi keys rotate` re-wraps."""
    from django.db import connection

    # This test is about keys; the in-memory SQLite test database cannot take ledger
    # appends from three threads at once ("table is locked"), so record in memory.
    events: list[door.DoorEvent] = []
    monkeypatch.setattr(door, "_record", events.append)

    from baomi import config

    docs = [_upload(firm, f"doc {i}".encode() * 100) for i in range(3)]
    for i in range(12):  # more client keys to re-wrap
        door._scope_key(door.client_scope(10_000 + i), client_id=None, create=True)
    old_id = door.master_provider().key_id.hex()
    errors: list[BaseException] = []
    reads = [0]
    stop = threading.Event()

    def reader() -> None:
        from django.db import OperationalError

        from baomi.access import context

        try:
            # A new thread starts without the test's (two-factor) session facts.
            context.replace(context.SessionFacts(mfa_verified=True))
            while not stop.is_set():
                for d in docs:
                    try:
                        opened = door.document_open(
                            actor=firm["acct"], version=d.current_version, purpose="x"
                        )
                        assert b"".join(opened.chunks()).startswith(b"doc ")
                    except OperationalError as exc:
                        # The SQLite test database is in memory with a shared cache, which
                        # reports "table is locked" instead of waiting (busy_timeout does not
                        # apply); a file database in WAL mode and PostgreSQL simply wait.
                        if "locked" not in str(exc):
                            raise
                        continue
                    reads[0] += 1
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        result = services.master_key_rotate(actor=door.SystemActor("cli"))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert reads[0] > 0
    assert result.previous_key_id == old_id and result.new_key_id != old_id
    assert result.rewrapped == result.total >= 13
    assert door.rotation_backlog() == 0
    path = config.master_key_path()
    assert path.with_name(f"{path.name}.prev-{old_id}").exists()
    # Safe to retry: nothing left to do, no new key made.
    again = services.master_key_rotate(actor=door.SystemActor("cli"))
    assert again.new_key_id != result.new_key_id  # a retry after completion rotates again
    assert door.rotation_backlog() == 0
    door.reset_caches()
    assert _read(firm, docs[0]).startswith(b"doc ")


def test_rotation_resumes_after_an_interruption(firm, monkeypatch):
    for i in range(5):
        door._scope_key(door.client_scope(20_000 + i), client_id=None, create=True)
    calls = {"n": 0}
    real = door.client_key_rewrap

    def flaky(*a: Any, **k: Any) -> bytes:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(door, "client_key_rewrap", flaky)
    with pytest.raises(KeyboardInterrupt):
        services.master_key_rotate(actor=door.SystemActor("cli"))
    assert door.rotation_backlog() > 0
    new_id = door.master_provider(refresh=True).key_id.hex()
    result = services.master_key_rotate(actor=door.SystemActor("cli"))
    assert result.resumed and result.new_key_id == new_id  # no second new key
    assert door.rotation_backlog() == 0


def test_s3_blob_store_with_a_local_s3_server(firm):
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        store = blobstore.S3BlobStore(
            bucket="baomi-test-blobs",
            endpoint_url=f"http://{host}:{port}",
            access_key="test",
            secret_key="test",
            region="us-east-1",
        )
        store.client.create_bucket(Bucket="baomi-test-blobs")
        blobstore.set_blob_store(store)
        big = os.urandom(20 * 1024 * 1024 + 12345)  # multipart: 8 MiB parts
        doc = _upload(firm, big + b"MARKER-s3")
        small = _upload(firm, b"tiny")
        key = doc.current_version.blob_key
        assert store.exists(key)
        body = store.get_stream(key).read()
        assert body[:3] == b"BMS" and b"MARKER-s3" not in body
        assert _read(firm, doc) == big + b"MARKER-s3"
        assert _read(firm, small) == b"tiny"
        # An aborted multipart upload leaves no object.
        with pytest.raises(UploadTooLarge):
            sealed_upload(actor=firm["acct"], client=firm["client"], data=big, limit=10 * 2**20)
        keys = [
            o["Key"] for o in store.client.list_objects_v2(Bucket="baomi-test-blobs")["Contents"]
        ]
        assert sorted(keys) == sorted([key, small.current_version.blob_key])
        assert not store.client.list_multipart_uploads(Bucket="baomi-test-blobs").get("Uploads")
        # Tampering in the bucket is detected.
        # Flip a bit of the last byte (setting it to 0 changed nothing when it already was
        # 0: one run in 256).
        tampered = body[:-1] + bytes([body[-1] ^ 1])
        store.client.put_object(Bucket="baomi-test-blobs", Key=key, Body=tampered)
        with pytest.raises(DocumentCorrupted):
            services.document_download(actor=firm["acct"], document=doc, purpose="x")
    finally:
        server.stop()


def test_a_download_closed_early_stops_its_read_ahead(firm, blob_dir):
    # Pieces are read and decrypted ahead in a helper thread; a client that goes away
    # (Django closes the response) must leave no thread behind and the blob closed.
    data = os.urandom(6 * DEFAULT_CHUNK_SIZE)
    doc = _upload(firm, data)
    dl = services.document_download(actor=firm["acct"], document=doc, purpose="x")
    assert dl.chunks is not None
    first = next(dl.chunks)
    assert first == data[:DEFAULT_CHUNK_SIZE]
    assert any(t.name == "baomi-read-ahead" for t in threading.enumerate())
    dl.chunks.close()  # type: ignore[attr-defined]  # a generator
    dl.close()
    assert not any(t.name == "baomi-read-ahead" for t in threading.enumerate())
    # …and a complete download leaves none either.
    assert _read(firm, doc) == data
    assert not any(t.name == "baomi-read-ahead" for t in threading.enumerate())
