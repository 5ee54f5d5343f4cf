"""Vault fixtures: a fresh blob directory per test, people and clients, upload helpers."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadhandler import FileUploadHandler

from baomi.accounts.models import Level, Role
from baomi.vault import blobstore, door


@pytest.fixture(autouse=True)
def blob_dir(tmp_path: Path, settings: Any) -> Iterator[Path]:
    """Each test gets its own local blob store and forgets cached keys afterwards."""
    root = tmp_path / "blobs"
    settings.BAOMI_BLOB_DIR = root
    settings.BAOMI_VAULT_TMP_DIR = tmp_path / "vault-tmp"
    blobstore.set_blob_store(blobstore.LocalBlobStore(root))
    yield root
    blobstore.set_blob_store(None)
    door.reset_caches()


@pytest.fixture
def firm(make_user: Callable[..., Any], make_client: Callable[..., Any]) -> dict[str, Any]:
    admin = make_user("admin", role=Role.ADMIN, clearance=Level.CONFIDENTIAL)
    # Cleared for 机密 so the assigned accountant and the department's manager may read
    # the confidential fields and documents of their client (the policy's clearance rule).
    acct = make_user(
        "acct1", display_name="李会计", department="记账一部", clearance=Level.CONFIDENTIAL
    )
    other = make_user("acct2", display_name="王会计", department="记账二部")
    manager = make_user(
        "manager", role=Role.MANAGER, department="记账一部", clearance=Level.CONFIDENTIAL
    )
    compliance = make_user("compliance", role=Role.COMPLIANCE)
    client = make_client(acct, name="恒信贸易有限公司")
    client.department = manager.department
    client.save()
    other_client = make_client(other, name="明远科技有限公司")
    portal = make_user("client1", role=Role.CLIENT, portal_client_id=client.pk)
    return {
        "admin": admin,
        "acct": acct,
        "other": other,
        "manager": manager,
        "compliance": compliance,
        "client": client,
        "other_client": other_client,
        "portal": portal,
    }


class _Feeder(FileUploadHandler):
    pass


def sealed_upload(
    *,
    actor: Any,
    client: Any,
    data: bytes,
    filename: str = "a.txt",
    document: Any = None,
    content_type: str = "text/plain",
    limit: int | None = None,
    piece: int = 65536,
) -> Any:
    """Drive the sealing upload handler the way Django's parser does (no HTTP)."""
    from django.conf import settings
    from django.test import RequestFactory

    from baomi.vault import uploads

    request = RequestFactory().post("/")
    request.user = actor
    uploads.set_upload_target(
        request,
        uploads.UploadTarget(
            actor,
            client.pk,
            document,
            limit if limit is not None else settings.BAOMI_MAX_UPLOAD_BYTES,
        ),
    )
    handler = uploads.SealingUploadHandler(request)
    handler.new_file("file", filename, content_type, len(data))
    src = io.BytesIO(data)
    while chunk := src.read(piece):
        handler.receive_data_chunk(chunk, 0)
    return handler.file_complete(len(data))
