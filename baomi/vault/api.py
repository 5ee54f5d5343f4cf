"""REST endpoints of the vault under /api/v1/: documents, contacts, sensitive fields.

Uploads are multipart (`file`, `level`, `category`, `title`) and are sealed while they
arrive by `baomi.vault.uploads.SealingUploadHandler`; downloads stream the verified
plaintext (watermarked for PDF, XLSX, DOCX, PNG and JPEG). Objects the caller may not
see are 404; content the caller may see but not read is 403 with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from ninja import Query, Schema
from ninja.responses import Status
from pydantic import ConfigDict, Field

from baomi.accounts.models import Level, User
from baomi.api.base import api, typed_text
from baomi.clients import selectors as client_selectors
from baomi.clients import services as client_services
from baomi.clients.models import Contact
from baomi.errors import InvalidInput
from baomi.policy.text import PURPOSE_LIMIT
from baomi.vault import door, selectors, services, uploads
from baomi.vault.models import Category, Document, DocumentVersion
from baomi.vault.views import download_response

MASK = "••••••"


class ErrorOut(Schema):
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="Human-readable, localized message.")
    detail: dict[str, object] = Field(default_factory=dict)


ERRORS = {c: ErrorOut for c in (400, 401, 403, 404, 409, 410, 413, 422, 500, 503)}


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101  (auth classes only return User)
    return user


class VersionOut(Schema):
    number: int
    original_filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    created_by: str | None

    @staticmethod
    def resolve_created_by(obj: DocumentVersion) -> str | None:
        return obj.created_by.username if obj.created_by else None


class DocumentOut(Schema):
    id: int
    client_id: int
    title: str
    level: Level
    category: Category
    created_at: datetime
    created_by: str | None
    current_version: VersionOut | None

    @staticmethod
    def resolve_created_by(obj: Document) -> str | None:
        return obj.created_by.username if obj.created_by else None


class DocumentDetailOut(DocumentOut):
    versions: list[VersionOut]

    @staticmethod
    def resolve_versions(obj: Document) -> list[DocumentVersion]:
        return list(selectors.document_versions(document=obj))


class ContentQuery(Schema):
    purpose: str = typed_text(PURPOSE_LIMIT, default="", description="Why you read it (查询目的).")
    version: int | None = Field(default=None, ge=1)


def _read_upload(request: HttpRequest) -> object:
    try:
        return request.FILES.get(uploads.UPLOAD_FIELD)
    except BaseException:
        uploads.files_abort(request)
        raise


class SuggestionReasonOut(Schema):
    reason_code: str = Field(description="Stable code of the rule that fired.")
    reason: str = Field(description="The rule in the request's language.")
    params: dict[str, Any] = Field(default_factory=dict)


class DocumentUploadOut(DocumentOut):
    suggested_level: Level | None = Field(
        default=None, description="The scanner's suggested level (null: not scanned)."
    )
    suggested_category: Category | None = None
    suggestion_reasons: list[str] = Field(
        default_factory=list, description="Why, in the request's language."
    )
    suggestion_reason_details: list[SuggestionReasonOut] = Field(default_factory=list)
    findings_summary: dict[str, int] = Field(
        default_factory=dict, description="Findings per type (counts, never values)."
    )
    scan_error: str | None = None


@api.post(
    "/clients/{client_id}/documents",
    response={201: DocumentUploadOut, **ERRORS},
    tags=["documents"],
    url_name="vault_document_upload",
)
def documents_upload(request: HttpRequest, client_id: int) -> Status[Document]:
    """Upload a document: multipart `file`, `level` (public|internal|confidential|secret),
    `category` (financial|business_plan|personal|trade_secret|transaction|contact|other)
    and `title` (default: the file name). Limit: `BAOMI_MAX_UPLOAD_BYTES`."""
    actor = _actor(request)
    if getattr(request, "_baomi_upload_target", None) is None:
        uploads.set_upload_target(
            request, uploads.target_for_client(actor=actor, client_id=client_id)
        )
    client = client_selectors.client_get(actor=actor, client_id=client_id)
    upload = _read_upload(request)
    document = services.document_upload(
        actor=actor,
        client=client,
        upload=upload,
        title=request.POST.get("title", ""),
        level=request.POST.get("level", ""),
        category=request.POST.get("category", ""),
    )
    from baomi.classification import services as classification

    label = classification.upload_suggest(actor=actor, document=document, upload=upload)
    document.suggested_level = label.suggested_level or None  # type: ignore[attr-defined]  # response annotation
    document.suggested_category = label.suggested_category or None  # type: ignore[attr-defined]
    document.suggestion_reasons = label.reason_texts()  # type: ignore[attr-defined]
    document.suggestion_reason_details = label.reason_items()  # type: ignore[attr-defined]
    document.findings_summary = label.findings_summary  # type: ignore[attr-defined]
    document.scan_error = label.scan_error or None  # type: ignore[attr-defined]
    return Status(201, document)


@api.get(
    "/clients/{client_id}/documents",
    response={200: list[DocumentOut], **ERRORS},
    tags=["documents"],
)
def documents_list(request: HttpRequest, client_id: int) -> list[Document]:
    """Documents of a client (metadata only)."""
    actor = _actor(request)
    client = client_selectors.client_get(actor=actor, client_id=client_id)
    return list(selectors.document_list(actor=actor, client=client))


@api.get(
    "/documents/{document_id}", response={200: DocumentDetailOut, **ERRORS}, tags=["documents"]
)
def documents_get(request: HttpRequest, document_id: int) -> Document:
    """One document with its versions (metadata only)."""
    return selectors.document_get(actor=_actor(request), document_id=document_id)


@api.post(
    "/documents/{document_id}/versions",
    response={201: VersionOut, **ERRORS},
    tags=["documents"],
    url_name="vault_version_upload",
)
def documents_version_add(request: HttpRequest, document_id: int) -> Status[DocumentVersion]:
    """Upload a new version (multipart `file`); it becomes the current version."""
    actor = _actor(request)
    if getattr(request, "_baomi_upload_target", None) is None:
        uploads.set_upload_target(
            request, uploads.target_for_document(actor=actor, document_id=document_id)
        )
    document = selectors.document_get(actor=actor, document_id=document_id)
    upload = _read_upload(request)
    version = services.document_version_add(actor=actor, document=document, upload=upload)
    from baomi.classification import services as classification

    # The new content may call for a higher label: scanned, and queued for review if so.
    classification.version_rescan(actor=actor, document=document, upload=upload)
    return Status(201, version)


@api.get(
    "/documents/{document_id}/content",
    response={200: None, **ERRORS},
    tags=["documents"],
)
def documents_content(
    request: HttpRequest, document_id: int, query: Query[ContentQuery]
) -> HttpResponseBase:
    """The plaintext of the current (or the given) version, for a stated purpose.

    PDF, XLSX, DOCX, PNG and JPEG copies are watermarked; the id is in the
    `X-Baomi-Watermark` header. A corrupted document is refused with 500
    `document_corrupted` and never served."""
    actor = _actor(request)
    document = selectors.document_get(actor=actor, document_id=document_id)
    prepared = services.document_download(
        actor=actor, document=document, purpose=query.purpose, version_number=query.version
    )
    return download_response(prepared)


# --- Contacts and sensitive client fields ---------------------------------------------


class ContactOut(Schema):
    id: int
    client_id: int
    name: str
    title: str
    is_primary: bool
    revealed: bool = Field(description="True when the sealed values below were opened.")
    mobile: str
    email: str
    id_number: str
    address: str
    notes: str


class ContactIn(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=100)
    title: str = Field(default="", max_length=100)
    mobile: str = Field(default="", max_length=32)
    email: str = Field(default="", max_length=254)
    id_number: str = Field(default="", max_length=32)
    address: str = Field(default="", max_length=300)
    notes: str = Field(default="", max_length=5000)
    is_primary: bool = False


class PurposeQuery(Schema):
    purpose: str = typed_text(
        PURPOSE_LIMIT, default="", description="Reveal sealed values for this purpose."
    )


def contact_out(actor: User, contact: Contact, purpose: str) -> dict[str, object]:
    """A contact as JSON: sealed values masked, or opened through the door for `purpose`."""
    fields = client_services.CONTACT_SEALED_FIELDS
    out: dict[str, object] = {
        "id": contact.pk,
        "client_id": contact.client_id,
        "name": contact.name,
        "title": contact.title,
        "is_primary": contact.is_primary,
        "revealed": bool(purpose.strip()),
    }
    if purpose.strip():
        out.update(door.record_read(actor=actor, obj=contact, fields=fields, purpose=purpose))
    else:
        out.update({f: MASK if door.record_present(contact, f) else "" for f in fields})
    return out


@api.get(
    "/clients/{client_id}/contacts", response={200: list[ContactOut], **ERRORS}, tags=["contacts"]
)
def contacts_list(
    request: HttpRequest, client_id: int, query: Query[PurposeQuery]
) -> list[dict[str, object]]:
    """Contacts of a client; sealed values are masked unless `purpose` is given (then
    each contact is a recorded read)."""
    actor = _actor(request)
    client = client_selectors.client_get(actor=actor, client_id=client_id)
    return [contact_out(actor, c, query.purpose) for c in client.contacts.all()]


@api.post("/clients/{client_id}/contacts", response={201: ContactOut, **ERRORS}, tags=["contacts"])
def contacts_create(
    request: HttpRequest, client_id: int, payload: ContactIn
) -> Status[dict[str, object]]:
    """Add a contact; mobile, e-mail, ID number, address and notes are sealed."""
    actor = _actor(request)
    client = client_selectors.client_get(actor=actor, client_id=client_id)
    contact = client_services.contact_add(actor=actor, client=client, data=payload.model_dump())
    return Status(201, contact_out(actor, contact, ""))


class ContactSearch(Schema):
    mobile: str = Field(default="", max_length=40)
    id_number: str = Field(default="", max_length=40)
    email: str = Field(default="", max_length=254)
    purpose: str = typed_text(
        PURPOSE_LIMIT,
        default="",
        description=(
            "Why you search (查询目的). Required: a match confirms a protected value "
            "(mobile and e-mail 内部, ID number 机密), so the search is decided and recorded "
            "as a read of each field searched; without a purpose it is refused "
            "(403 `purpose_required`) and the refusal is recorded."
        ),
    )


@api.get("/contacts/search", response={200: list[ContactOut], **ERRORS}, tags=["contacts"])
def contacts_search(request: HttpRequest, query: Query[ContactSearch]) -> list[dict[str, object]]:
    """Exact-match search across visible clients by mobile, ID number or e-mail, through
    blind indexes (nothing is decrypted; values come back masked). Needs a `purpose`,
    which is recorded with the search (never the value searched for)."""
    actor = _actor(request)
    if not (query.mobile.strip() or query.id_number.strip() or query.email.strip()):
        raise InvalidInput(
            _("Give a mobile number, an ID number or an e-mail address."),
            code="search_term_missing",
        )
    found = selectors.contact_find(
        actor=actor,
        purpose=query.purpose,
        mobile=query.mobile,
        id_number=query.id_number,
        email=query.email,
    )
    return [contact_out(actor, c, "") for c in found]


class ClientSensitiveOut(Schema):
    """A sealed field not asked for (see `fields`) is null: it was not opened."""

    notes: str | None
    address: str | None
    bank_account: str | None
    legal_rep_id_number: str | None


class SensitiveQuery(PurposeQuery):
    fields: str = Field(
        default="",
        max_length=200,
        description=(
            "Comma-separated sealed fields to open (notes, address, bank_account, "
            "legal_rep_id_number); all of them when empty. Open only what the work needs: "
            "the read is decided and recorded at the highest level among them, so a token "
            "(no second factor) may open the internal-level address but not the "
            "confidential fields."
        ),
    )


def sealed_fields_asked(raw: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The fields named in `raw` (comma-separated, in `allowed` order), or all of
    `allowed` for a blank value. Raises `ValidationFailed` for an unknown name."""
    from baomi.errors import ValidationFailed

    names = [part.strip() for part in raw.split(",") if part.strip()]
    if not names:
        return allowed
    unknown = sorted({n for n in names if n not in allowed})
    if unknown:
        raise ValidationFailed(
            detail={
                "fields": {
                    "fields": [
                        _("Unknown sealed field: %(names)s. Choose from: %(allowed)s.")
                        % {"names": ", ".join(unknown)[:100], "allowed": ", ".join(allowed)}
                    ]
                }
            }
        )
    return tuple(n for n in allowed if n in names)


@api.get(
    "/clients/{client_id}/sensitive",
    response={200: ClientSensitiveOut, **ERRORS},
    tags=["clients"],
)
def clients_sensitive(
    request: HttpRequest, client_id: int, query: Query[SensitiveQuery]
) -> dict[str, str | None]:
    """The client's sealed fields (or those named in `fields`), opened for `purpose`
    (a recorded read)."""
    fields = sealed_fields_asked(query.fields, client_services.SEALED_CLIENT_FIELDS)
    out: dict[str, str | None] = dict.fromkeys(client_services.SEALED_CLIENT_FIELDS)
    out.update(
        selectors.client_sealed_read(
            actor=_actor(request), client_id=client_id, fields=fields, purpose=query.purpose
        )
    )
    return out
