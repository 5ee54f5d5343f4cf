"""Writes and content reads of the vault: documents, downloads, keys.

Every function here calls the vault door for anything that touches keys, ciphertext or
protected fields; the door decides and records first. Inputs are validated here so the
web UI, the API and the CLI refuse the same things with the same codes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from baomi import config
from baomi.accounts.models import Level, User
from baomi.clients.models import Client
from baomi.errors import ValidationFailed
from baomi.policy.text import stated
from baomi.vault import door, watermark
from baomi.vault.errors import (
    MasterKeyUnavailable,
    UploadRejected,
    WatermarkFailed,
    WatermarkTooLarge,
)
from baomi.vault.models import Category, Document, DocumentVersion, Watermark
from baomi.vault.selectors import version_get
from baomi.vault.uploads import SealedUpload, pdf_header


def _clean_meta(
    *, title: str, level: str, category: str, default_title: str
) -> tuple[str, str, str]:
    errors: dict[str, list[str]] = {}
    text = (title or "").strip() or default_title
    if len(text) > 200:
        errors.setdefault("title", []).append(_("At most %(n)d characters.") % {"n": 200})
    elif any(not ch.isprintable() for ch in text):
        errors.setdefault("title", []).append(_("Control characters are not allowed."))
    if level not in Level.values:
        errors.setdefault("level", []).append(_("Choose a classification level."))
    if category not in Category.values:
        errors.setdefault("category", []).append(_("Choose a category."))
    if errors:
        raise ValidationFailed(detail={"fields": errors})
    return text, level, category


def _require_upload(upload: object) -> SealedUpload:
    if not isinstance(upload, SealedUpload):
        raise UploadRejected(_("Choose a file to upload."), code="file_missing")
    if upload.session.state != "finished":
        raise UploadRejected(_("The upload did not complete."), code="upload_incomplete")
    return upload


def document_upload(
    *,
    actor: User,
    client: Client,
    upload: object,
    title: str,
    level: str,
    category: str,
    now: datetime | None = None,
) -> Document:
    """Create a document with its first version from a sealed upload.

    Invariants: the content was sealed under a fresh data key while it arrived (the door
    decided and recorded ``document.upload`` to the client before the first byte); the
    label it is filed under is decided and recorded (``document.upload`` at `level` and
    `category`) before anything is stored, so nobody files a document at a level they
    may not upload at; the blob becomes visible only together with the document row; on
    any failure (a refusal included) neither is left.
    Raises `UploadRejected` (`file_missing`, `upload_incomplete`), `ValidationFailed`,
    `AccessDenied`, `KeyDestroyed`.
    """
    sealed = _require_upload(upload)
    if sealed.session.client_id != client.pk:
        sealed.session.abort()
        raise UploadRejected(_("The upload was sealed for another client."), code="wrong_client")
    try:
        clean_title, clean_level, clean_category = _clean_meta(
            title=title, level=level, category=category, default_title=sealed.name
        )
        door.upload_file(
            actor=actor, session=sealed.session, level=clean_level, category=clean_category
        )
        now = now or timezone.now()
        with transaction.atomic():
            document = Document.objects.create(
                client=client,
                title=clean_title,
                level=clean_level,
                category=clean_category,
                created_by=actor,
                created_at=now,
            )
            version = DocumentVersion(
                document=document, number=1, created_by=actor, created_at=now, kind=sealed.kind
            )
            door.upload_attach(sealed.session, version)
            document.current_version = version
            document.save(update_fields=["current_version"])
    except BaseException:
        sealed.session.abort()
        raise
    door.upload_done(sealed.session)
    return document


def document_version_add(
    *, actor: User, document: Document, upload: object, now: datetime | None = None
) -> DocumentVersion:
    """Add a new version (the next number) to `document` and make it current.

    Same invariants as `document_upload`; ledger event ``document.version``, decided at
    the document's label when the upload began and again, before anything is stored, if
    the document was relabelled meanwhile.
    """
    sealed = _require_upload(upload)
    if sealed.session.client_id != document.client_id:
        sealed.session.abort()
        raise UploadRejected(_("The upload was sealed for another client."), code="wrong_client")
    try:
        # Decided outside the transaction, so that a refusal's entry is not rolled back
        # with it; checked again on the locked row below.
        fresh = Document.objects.filter(pk=document.pk).values_list("level", "category").first()
        if fresh is not None:
            door.upload_file(
                actor=actor,
                session=sealed.session,
                level=fresh[0],
                category=fresh[1],
                document=document,
            )
        now = now or timezone.now()
        with transaction.atomic():
            locked = Document.objects.select_for_update().get(pk=document.pk)
            # A relabel that committed since the decision above is decided again here.
            door.upload_file(
                actor=actor,
                session=sealed.session,
                level=locked.level,
                category=locked.category,
                document=locked,
            )
            last = locked.versions.order_by("-number").values_list("number", flat=True).first()
            version = DocumentVersion(
                document=locked,
                number=(last or 0) + 1,
                created_by=actor,
                created_at=now,
                kind=sealed.kind,
            )
            door.upload_attach(sealed.session, version)
            locked.current_version = version
            locked.save(update_fields=["current_version"])
    except BaseException:
        sealed.session.abort()
        raise
    door.upload_done(sealed.session)
    document.current_version = version
    return version


@dataclass
class Download:
    """A verified (and, where the format allows, watermarked) copy ready to send.

    Either `file` (a temporary file, already positioned at 0, deleted on close) or
    `chunks` (plaintext streamed from the blob) is set. Call `close()` when done.
    """

    filename: str
    content_type: str
    size: int
    watermark_id: str
    watermarked: bool
    file: BinaryIO | None = None
    chunks: Iterator[bytes] | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for closer in self._closers:
            closer()
        self._closers.clear()


def _tmp_dir() -> Path:
    path = Path(settings.BAOMI_VAULT_TMP_DIR)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _who(actor: User) -> str:
    name = actor.display_name or actor.username
    return f"{name} ({actor.username})" if name != actor.username else name


def document_download(
    *,
    actor: User,
    document: Document,
    purpose: str,
    version_number: int | None = None,
    now: datetime | None = None,
) -> Download:
    """Open a document version for download, for `purpose`.

    The door decides and records ``document.read`` (with the purpose) and authenticates
    the whole blob first: a corrupted blob raises `DocumentCorrupted` and nothing is
    served. Every download gets a `Watermark` row (id, version, user, time, purpose);
    PDF, XLSX, DOCX, PNG and JPEG copies carry that id visibly and in their metadata
    (built in an unlinked temporary file); other files stream unchanged in constant
    memory. Raises `AccessDenied`, `KeyDestroyed`, `DocumentCorrupted`,
    `WatermarkTooLarge`, `WatermarkFailed`, `NotFound` (no such version).
    """
    version = version_get(document=document, number=version_number)
    # The watermark carries the purpose as the door decided and recorded it.
    said = stated(purpose)
    opened = door.document_open(
        actor=actor, version=version, purpose=purpose, action=door.Action.DOCUMENT_DOWNLOAD
    )
    now = now or timezone.now()
    kind = version.kind
    limit = settings.BAOMI_WATERMARK_MAX_BYTES
    if kind == "other":
        # Told again from the plaintext's first piece: a version stored before PDFs with
        # bytes ahead of their header were recognised is still served only watermarked.
        # (A separate read: what is served is read, and authenticated, when it is sent.)
        stream = opened.chunks()
        try:
            if pdf_header(next(stream, b"")):
                kind = "pdf"
        finally:
            stream.close()
    if kind in watermark.WATERMARKABLE and version.size > limit:
        raise WatermarkTooLarge(detail={"limit_bytes": limit})
    if kind not in watermark.WATERMARKABLE | {"zip"}:
        wm = Watermark.objects.create(
            id=watermark.new_id(),
            version=version,
            user=actor,
            created_at=now,
            purpose=said,
            kind="none",
        )
        return Download(
            filename=version.original_filename,
            content_type=version.content_type,
            size=version.size,
            watermark_id=wm.id,
            watermarked=False,
            chunks=opened.chunks(),
        )
    # Whole-file formats: decrypt into an unlinked temporary file (no name on disk),
    # mark into a second one, and serve that.
    plain = tempfile.TemporaryFile(dir=_tmp_dir())  # noqa: SIM115  (closed below)
    try:
        opened.copy_to(plain)
        plain.seek(0)
        if kind == "zip":
            # Whether an archive is a Word or Excel file is told by its parts, whatever
            # its name: one too large to mark is refused, as under its Office name.
            kind = watermark.office_kind(plain)
            plain.seek(0)
            if kind in watermark.WATERMARKABLE and version.size > limit:
                raise WatermarkTooLarge(detail={"limit_bytes": limit})
        wm_kind = kind if kind in watermark.WATERMARKABLE else "none"
        wm = Watermark.objects.create(
            id=watermark.new_id(),
            version=version,
            user=actor,
            created_at=now,
            purpose=said,
            kind=wm_kind,
        )
        if wm_kind == "none":
            return Download(
                filename=version.original_filename,
                content_type=version.content_type,
                size=version.size,
                watermark_id=wm.id,
                watermarked=False,
                file=plain,
                _closers=[plain.close],
            )
        marked = tempfile.TemporaryFile(dir=_tmp_dir())  # noqa: SIM115  (returned)
        mark = watermark.Mark(
            id=wm.id,
            who=_who(actor),
            at=timezone.localtime(now),
            purpose=said,
        )
        try:
            watermark.apply(kind, plain, marked, mark)
        except watermark.WatermarkError as exc:
            marked.close()
            raise WatermarkFailed(detail={"kind": kind}) from exc
        size = marked.tell()
        marked.seek(0)
    finally:
        plain.close()
    return Download(
        filename=version.original_filename,
        content_type=version.content_type,
        size=size,
        watermark_id=wm.id,
        watermarked=True,
        file=marked,
        _closers=[marked.close],
    )


# --- Keys -------------------------------------------------------------------------------


def client_key_destroy(*, actor: door.Actor, client: Client) -> None:
    """Crypto-shred `client`: all its documents and protected fields become unreadable.

    Ledger event ``key.destroy``. Raises `AccessDenied`.
    """
    door.client_key_destroy(actor=actor, client=client)


def client_key_rotate(*, actor: door.Actor, client: Client) -> dict[str, int]:
    """Give `client` a new key; re-wrap its data keys and re-seal its fields.

    Ledger event ``key.rotate``. Raises `AccessDenied`, `KeyDestroyed`, corruption errors.
    """
    return door.client_key_rotate(actor=actor, client=client)


@dataclass
class RotationResult:
    new_key_id: str
    previous_key_id: str
    rewrapped: int
    total: int
    resumed: bool


def _link_previous(path: Path, key_id: str) -> Path:
    prev = path.with_name(f"{path.name}.prev-{key_id}")
    if not prev.exists():
        os.link(path, prev)
    return prev


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def master_key_rotate(
    *,
    actor: door.Actor,
    progress: Callable[[int, int, str], None] | None = None,
    new_key_label: str | None = None,
) -> RotationResult:
    """Rotate the master key online and re-wrap every client key under the new one.

    Key file / passphrase providers: a new key is created beside the current one
    (``<file>.next``), the current file is kept as ``<file>.prev-<key id>`` (found
    automatically as a previous key) and the new one is renamed into place atomically;
    running servers pick it up on the first blob they cannot open with the key they
    hold. Then each client key is re-wrapped in its own short transaction; readers keep
    working throughout. If client keys still name an older master key (an interrupted
    run), nothing new is created: the re-wrap simply resumes.

    PKCS#11: create the new key in the token with `new_key_label`, then configure
    ``BAOMI_PKCS11_KEY_LABEL`` (new) and ``BAOMI_PKCS11_PREVIOUS_KEY_LABELS`` (old) and
    run this again to re-wrap.

    Ledger events ``key.rotate`` and ``key.rewrap`` per client key. Raises
    `AccessDenied`, `MasterKeyUnavailable`.
    """
    from baomi.crypto import KeyFileProvider, PassphraseProvider, Pkcs11Provider
    from baomi.crypto.suites import get_suite

    door.authorize(
        actor=actor,
        action=door.Action.KEY_ROTATE,
        object_type="master_key",
        object_id="master",
        client_id=None,
    )
    kind = config.key_provider_kind()
    current = door.master_provider(refresh=True)
    previous_id = current.key_id.hex()
    backlog = door.rotation_backlog()
    resumed = backlog > 0
    if not resumed:
        if kind == "pkcs11":
            if not new_key_label:
                raise MasterKeyUnavailable(
                    _(
                        "With an HSM, give --new-key-label: the new key is created in the "
                        "token; then set BAOMI_PKCS11_KEY_LABEL to it, list the old label in "
                        "BAOMI_PKCS11_PREVIOUS_KEY_LABELS, restart, and run this again."
                    ),
                    code="hsm_rotation_needs_label",
                )
            _kind, options = config.master_key_options()
            Pkcs11Provider.generate_key(
                str(options["lib_path"]),
                str(options["token_label"]),
                str(options["pin"]),
                new_key_label,
            )
            return RotationResult("", previous_id, 0, 0, False)
        path = config.master_key_path()
        nxt = path.with_name(f"{path.name}.next")
        if not nxt.exists():
            if kind == "passphrase":
                _kind, options = config.master_key_options()
                PassphraseProvider.create(
                    str(options["passphrase"]), suite=get_suite(config.crypto_suite()).name
                ).save_params(nxt)
            else:
                KeyFileProvider.create(nxt, suite=get_suite(config.crypto_suite()).name)
        _link_previous(path, previous_id)
        os.replace(nxt, path)
        _fsync_dir(path.parent)
    door.reset_caches()
    new_id = door.master_provider(refresh=True).key_id.hex()
    done, total = door.master_rewrap_all(actor=actor, progress=progress)
    # The ledger's checkpoint-signing key is wrapped by the master key too.
    from baomi.audit.signing import signing_key_rewrap

    signing_key_rewrap()
    return RotationResult(new_id, previous_id, done, total, resumed)


def keys_status() -> dict[str, object]:
    """Master key id, its provider, rotation backlog and every client key's state."""
    rows = door.key_status()
    provider = door.master_provider(refresh=True)
    return {
        "provider": config.key_provider_kind(),
        "suite": config.crypto_suite(),
        "master_key_id": provider.key_id.hex(),
        "backlog": sum(1 for r in rows if r["needs_rewrap"] and not r["destroyed_at"]),
        "keys": rows,
    }
