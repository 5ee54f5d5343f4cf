"""The only upload handler Baomi installs: it seals each file as it arrives.

`settings.FILE_UPLOAD_HANDLERS` names `SealingUploadHandler` alone, so no request can
make Django keep an uploaded file in memory or write it to a temporary file in
plaintext. A file part is accepted only by the document upload endpoints: the handler
finds out which document (or client) the upload is for, lets the vault door decide and
record it, and then streams every piece through the sealer into the blob store. Any
other request that carries a file is refused.

Memory: one multipart chunk (1 MiB) plus one sealed chunk. An upload that is not
attached to a committed document version by the end of the request is aborted when
Django closes the request (`SealedUpload.close`), so an interrupted or refused upload
leaves no blob behind.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest
from django.utils.translation import gettext as _

from baomi.accounts.models import User
from baomi.vault import door
from baomi.vault.errors import UploadRejected, UploadTooLarge
from baomi.vault.models import Document

UPLOAD_FIELD = "file"
# URL names of the endpoints that accept a document upload, and what their kwargs mean.
NEW_DOCUMENT_URLS = frozenset({"vault_document_upload", "upload"})
NEW_VERSION_URLS = frozenset({"vault_version_upload", "version_upload"})
_MULTIPART_SLACK = 64 * 1024
_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_CTYPE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}$"
)


def sanitize_filename(raw: str) -> str:
    """A safe display/download name: NFC, no path parts or control characters.

    Django's parser already drops directory parts and non-printable characters; this
    also refuses what is left empty or is only dots, replaces characters that are not
    allowed in file names on common systems, and shortens long names (keeping the
    extension). Raises `UploadRejected` (code `bad_filename`).
    """
    name = unicodedata.normalize("NFC", raw or "")
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in name):
        raise UploadRejected(_("The file name contains control characters."), code="bad_filename")
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = _FORBIDDEN.sub("_", name).strip(" .")
    if not name:
        raise UploadRejected(_("The file has no usable name."), code="bad_filename")
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 16 else name[:200]
    return name


def clean_content_type(raw: str) -> str:
    value = (raw or "").split(";", 1)[0].strip().lower()
    return value if _CTYPE.match(value) else "application/octet-stream"


@dataclass
class UploadTarget:
    """Where an upload goes: decided before any byte is sealed."""

    actor: User
    client_id: int
    document: Document | None
    limit: int


def set_upload_target(request: HttpRequest, target: UploadTarget) -> None:
    """Tell the handler where this request's file goes (views call this first)."""
    request._baomi_upload_target = target  # type: ignore[attr-defined]  # request annotation


def target_for_document(*, actor: User, document_id: int) -> UploadTarget:
    from baomi.vault.selectors import document_get

    document = document_get(actor=actor, document_id=document_id)
    return UploadTarget(actor, document.client_id, document, settings.BAOMI_MAX_UPLOAD_BYTES)


def target_for_client(*, actor: User, client_id: int) -> UploadTarget:
    from baomi.clients.selectors import client_get

    client = client_get(actor=actor, client_id=client_id)
    return UploadTarget(actor, client.pk, None, settings.BAOMI_MAX_UPLOAD_BYTES)


def _resolve_target(request: HttpRequest) -> UploadTarget:
    target: UploadTarget | None = getattr(request, "_baomi_upload_target", None)
    if target is not None:
        return target
    # The API's CSRF check for session users reads the body before the endpoint runs;
    # the URL already says which endpoint this is, and the session who is asking.
    match = getattr(request, "resolver_match", None)
    user = getattr(request, "user", None)
    url_name = match.url_name if match is not None else None
    if url_name in NEW_DOCUMENT_URLS | NEW_VERSION_URLS:
        if not isinstance(user, User) or not user.is_authenticated:
            raise UploadRejected(_("Sign in before uploading."), code="unauthenticated")
        kwargs = match.kwargs if match is not None else {}
        if url_name in NEW_VERSION_URLS:
            target = target_for_document(actor=user, document_id=int(kwargs["document_id"]))
        else:
            target = target_for_client(actor=user, client_id=int(kwargs["client_id"]))
        set_upload_target(request, target)
        return target
    raise UploadRejected(
        _("File uploads are accepted only by the document upload endpoints."),
        code="upload_not_accepted",
    )


class SealedUpload:
    """What `request.FILES["file"]` holds: a finished, not yet committed, sealed upload."""

    def __init__(self, session: door.UploadSession, kind: str) -> None:
        self.session = session
        self.name = session.filename
        self.size = session.size
        self.content_type = session.content_type
        self.kind = kind
        # The in-memory plaintext copy the classification scanner reads (never on disk);
        # beyond BAOMI_SCAN_MAX_BYTES a text file is scanned piece by piece instead.
        self.scan_tap: Any = None

    def close(self) -> None:
        # Django closes every uploaded file when the request ends: an upload that no
        # committed document version took over is discarded here (no orphan blobs).
        self.session.abort()
        if self.scan_tap is not None:
            self.scan_tap.wipe()

    def __bool__(self) -> bool:
        return True


_MAGIC = (
    (b"%PDF-", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"PK\x03\x04", "zip"),
)


# How much of a file's start the kind is told from: PDF readers accept the `%PDF-`
# header anywhere in the first 1024 bytes (ISO 32000-1, annex H), so a PDF with a
# leading newline or byte-order mark is still one, and must be watermarked as one.
SNIFF_BYTES = 1024


def pdf_header(head: bytes) -> bool:
    """Whether a PDF reader would take a file starting with `head` for a PDF."""
    return b"%PDF-" in head[:SNIFF_BYTES]


def sniff_kind(head: bytes, filename: str) -> str:
    """The watermarking kind of a file from its first `SNIFF_BYTES` (and, for ZIP-based
    Office files, its extension): pdf, png, jpeg, xlsx, docx, zip or other."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            if kind == "zip":
                ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
                return {"xlsx": "xlsx", "xlsm": "xlsx", "docx": "docx", "docm": "docx"}.get(
                    ext, "zip"
                )
            return kind
    return "pdf" if pdf_header(head) else "other"


class SealingUploadHandler(FileUploadHandler):
    """Seals the one file of a document upload straight into the blob store."""

    chunk_size = 1024 * 1024

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.session: door.UploadSession | None = None
        self._head = b""
        self._tap: Any = None
        self._import_name: str | None = None
        self._declared = 0

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],  # noqa: N803  (Django's parameter name)
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        limit = settings.BAOMI_MAX_UPLOAD_BYTES
        if content_length and content_length > limit + _MULTIPART_SLACK:
            raise UploadTooLarge(detail={"limit_bytes": limit})
        self._declared = content_length or 0

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        if field_name != UPLOAD_FIELD:
            raise UploadRejected(
                _("Send the document in the form field “file”."), code="unexpected_file_field"
            )
        if self.session is not None:
            raise UploadRejected(_("Send one file per request."), code="too_many_files")
        if self.request is None:
            raise UploadRejected(code="upload_not_accepted")
        if getattr(self.request, "_baomi_import_upload", False):
            # A bulk-import source (spreadsheet or ZIP): kept in memory only, bounded, and
            # parsed by the import view; its rows and files go through the door one by one.
            from baomi.classification.tap import ScanTap

            self._import_name = sanitize_filename(file_name)
            self._tap = ScanTap(limit=settings.BAOMI_IMPORT_MAX_BYTES)
            return
        target = _resolve_target(self.request)
        name = sanitize_filename(file_name)
        self.session = door.upload_begin(
            actor=target.actor,
            client_id=target.client_id,
            document=target.document,
            filename=name,
            content_type=clean_content_type(self.content_type or ""),
            limit=target.limit,
        )
        self._head = b""
        from baomi.classification.tap import ScanTap

        self._tap = ScanTap(filename=name, declared_size=self._declared)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if self._import_name is not None:
            self._tap.feed(raw_data)
            if self._tap.overflow:
                raise UploadTooLarge(detail={"limit_bytes": settings.BAOMI_IMPORT_MAX_BYTES})
            return
        assert self.session is not None  # noqa: S101  (new_file ran first)
        if len(self._head) < SNIFF_BYTES:
            self._head += raw_data[: SNIFF_BYTES - len(self._head)]
        self.session.write(raw_data)
        if self._tap is not None:
            self._tap.feed(raw_data)

    def file_complete(self, file_size: int) -> SealedUpload | None:  # type: ignore[override]  # Django only needs a closeable object
        if self._import_name is not None:
            from baomi.imports.uploads import ImportUpload

            return ImportUpload(self._import_name, self._tap)  # type: ignore[return-value]  # closeable like SealedUpload
        session = self.session
        if session is None:
            return None
        session.finish()
        sealed = SealedUpload(session, sniff_kind(self._head, session.filename))
        sealed.scan_tap = self._tap
        return sealed

    def upload_interrupted(self) -> None:
        if self.session is not None:
            self.session.abort()


def files_abort(request: HttpRequest, handler_error: BaseException | None = None) -> None:
    """After a failed parse: abort any half-written upload and stop Django from trying
    to parse the (consumed) body again."""
    for handler in getattr(request, "_upload_handlers", []) or []:
        session = getattr(handler, "session", None)
        if session is not None:
            session.abort()
    mark = getattr(request, "_mark_post_parse_error", None)
    if mark is not None:
        mark()
