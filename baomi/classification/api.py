"""REST endpoints: a document's classification suggestion, confirm/override, review queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import Field

from baomi.accounts.models import User
from baomi.api.base import api
from baomi.classification import services
from baomi.classification.models import DocumentLabel, ReviewItem
from baomi.errors import NotFound
from baomi.vault import selectors as vault_selectors
from baomi.vault.api import ERRORS
from baomi.vault.models import Document


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101  (auth classes only return User)
    return user


class ReasonOut(Schema):
    reason_code: str = Field(description="Stable code of the rule that fired.")
    reason: str = Field(description="The rule in the request's language.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Counts, type codes and keywords; never values."
    )


class ClassificationOut(Schema):
    document_id: int
    level: str
    category: str
    suggested_level: str | None
    suggested_category: str | None
    reasons: list[str] = Field(description="Why, in the request's language.")
    reason_details: list[ReasonOut] = Field(default_factory=list)
    findings_summary: dict[str, int] = Field(description="Counts per type, never values.")
    scan_error: str | None
    source: str
    overridden: bool
    labelled_at: datetime | None
    settable_levels: list[str] = Field(
        default_factory=list,
        description=(
            "The levels the caller may set this document to, lowest first (the access "
            "matrix's document.classify, decided at the higher of the current level and "
            "the new one); empty when they may not relabel it. Any other level is refused."
        ),
    )


class LabelIn(Schema):
    level: str
    category: str


class ReviewOut(Schema):
    id: int
    document_id: int
    document_title: str
    client_id: int
    reason: str
    detail: str
    level: str
    category: str
    created_at: datetime
    status: str


def _out(actor: User, document: Document, label: DocumentLabel | None) -> dict:  # type: ignore[type-arg]
    return {
        "document_id": document.pk,
        "level": document.level,
        "category": document.category,
        "suggested_level": (label.suggested_level or None) if label else None,
        "suggested_category": (label.suggested_category or None) if label else None,
        "reasons": label.reason_texts() if label else [],
        "reason_details": label.reason_items() if label else [],
        "findings_summary": dict(label.findings_summary) if label else {},
        "scan_error": (label.scan_error or None) if label else None,
        "source": label.source if label else "unconfirmed",
        "overridden": bool(label and label.overridden),
        "labelled_at": label.labelled_at if label else None,
        "settable_levels": services.classify_levels(actor=actor, document=document),
    }


def _review_out(item: ReviewItem) -> dict:  # type: ignore[type-arg]
    doc = item.document
    return {
        "id": item.pk,
        "document_id": doc.pk,
        "document_title": doc.title,
        "client_id": doc.client_id,
        "reason": item.reason,
        "detail": item.detail,
        "level": doc.level,
        "category": doc.category,
        "created_at": item.created_at,
        "status": item.status,
    }


@api.get(
    "/documents/{document_id}/classification",
    response={200: ClassificationOut, **ERRORS},
    tags=["classification"],
)
def classification_get(request: HttpRequest, document_id: int) -> dict:  # type: ignore[type-arg]
    """The label, the scanner's suggestion with its reasons, finding counts, and the levels
    the caller may set it to."""
    actor = _actor(request)
    document = vault_selectors.document_get(actor=actor, document_id=document_id)
    return _out(actor, document, services.label_get(document=document))


@api.post(
    "/documents/{document_id}/classification",
    response={200: ClassificationOut, **ERRORS},
    tags=["classification"],
)
def classification_set(request: HttpRequest, document_id: int, body: LabelIn) -> dict:  # type: ignore[type-arg]
    """Confirm the suggestion or override it; an override is recorded as such. A level
    the caller may not set (see `settable_levels`) is refused (403) and recorded."""
    actor = _actor(request)
    document = vault_selectors.document_get(actor=actor, document_id=document_id)
    label = services.document_classify(
        actor=actor, document=document, level=body.level, category=body.category
    )
    return _out(actor, document, label)


@api.get(
    "/classification/review",
    response={200: list[ReviewOut], **ERRORS},
    tags=["classification"],
)
def review_list(request: HttpRequest) -> list[dict]:  # type: ignore[type-arg]
    """Open reviews (compliance officers and administrators)."""
    return [_review_out(i) for i in services.review_queue(actor=_actor(request))]


@api.post(
    "/classification/review/{item_id}",
    response={200: ReviewOut, **ERRORS},
    tags=["classification"],
)
def review_resolve(request: HttpRequest, item_id: int, body: LabelIn) -> dict:  # type: ignore[type-arg]
    """Confirm the label (same level/category) or relabel the document."""
    item = ReviewItem.objects.filter(pk=item_id).select_related("document").first()
    if item is None:
        raise NotFound(_("No such review."), code="review_not_found")
    done = services.review_resolve(
        actor=_actor(request), item=item, level=body.level, category=body.category
    )
    done.document.refresh_from_db()
    return _review_out(done)
