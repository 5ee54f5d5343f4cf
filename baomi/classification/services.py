"""Classification suggestions, confirmations, overrides and the review queue (F05).

Writes here change a document's label (level, category: metadata on `vault.Document`,
not protected content) and always append to the ledger in the same transaction:
- ``document.scan``      the scanner's suggestion for a version (counts, never values);
- ``document.classify``  a person confirmed or overrode the label; the reason holds the
                         suggested and the chosen level/category;
- ``classification.review.fill`` / ``classification.review`` the review queue.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from baomi import policy
from baomi.access.relabel import grants_end_for_raised_label
from baomi.accounts.models import LEVEL_ORDER, Level, Role, User
from baomi.audit.events import record
from baomi.classification.models import (
    DocumentLabel,
    LabelSource,
    ReviewItem,
    ReviewReason,
    ReviewStatus,
)
from baomi.classification.reasons import stored as stored_reasons
from baomi.classification.tap import ScanTap, StreamedScan
from baomi.detect import FileScan
from baomi.errors import AccessDenied, Conflict, ValidationFailed
from baomi.vault import door
from baomi.vault.models import Category, Document, DocumentVersion

REVIEWER_ROLES = frozenset({Role.COMPLIANCE, Role.ADMIN})


@dataclass
class Suggested:
    """What the scanner suggests for one file, safe to show and store (no values)."""

    level: str
    category: str
    # English texts (as `baomi scan` prints them) and the stable codes with parameters
    # that pages and the API render in the reader's language (`reasons.localized`).
    reasons: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    error: str = ""
    reason_codes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error_code(self) -> str:
        return self.error.split(":", 1)[0] if self.error else ""


def suggestion_from_scan(scan: FileScan | StreamedScan) -> Suggested:
    """Reduce a scan to what may be stored: level, category, reasons, counts per type.

    A file that could not be scanned gets no level ("" - the person decides) and the
    error string (code and message, which never contain file content).
    """
    if scan.error or scan.suggestion is None:
        return Suggested(level="", category="", counts={}, error=(scan.error or "")[:300])
    if isinstance(scan, StreamedScan):
        counts = dict(scan.counts)
    else:
        counts = dict(Counter(f.type for f in scan.findings))
    return Suggested(
        level=scan.suggestion.level,
        category=scan.suggestion.category,
        reasons=[str(r) for r in scan.suggestion.reasons],
        counts=counts,
        reason_codes=stored_reasons(scan.suggestion.reasons),
    )


def label_record_scan(
    *,
    actor: User | str,
    document: Document,
    version: DocumentVersion | None,
    suggested: Suggested,
    now: dt.datetime | None = None,
) -> DocumentLabel:
    """Store the scanner's suggestion for `document`'s (new) version.

    Ledger ``document.scan`` (reason: suggested level/category, number of findings or
    the error code). The label itself is unchanged until a person confirms it.
    """
    now = now or timezone.now()
    reason = (
        f"error={suggested.error_code}"
        if suggested.error
        else f"suggested={suggested.level}/{suggested.category} "
        f"findings={sum(suggested.counts.values())}"
    )
    with transaction.atomic():
        label, _created = DocumentLabel.objects.select_for_update().get_or_create(
            document=document, defaults={"labelled_at": now}
        )
        label.version = version
        label.scanned_at = now
        label.suggested_level = suggested.level
        label.suggested_category = suggested.category
        label.reasons = suggested.reasons
        label.reason_codes = suggested.reason_codes
        label.findings_summary = suggested.counts
        label.scan_error = suggested.error
        label.save()
        record(
            actor,
            "document.scan",
            object_type="document",
            object_id=document.pk,
            client_id=document.client_id,
            reason=reason,
        )
    return label


def label_get(*, document: Document) -> DocumentLabel | None:
    return DocumentLabel.objects.filter(document=document).first()


def _check_label(level: str, category: str) -> None:
    errors: dict[str, list[str]] = {}
    if level not in Level.values:
        errors["level"] = [_("Choose a classification level.")]
    if category not in Category.values:
        errors["category"] = [_("Choose a category.")]
    if errors:
        raise ValidationFailed(detail={"fields": errors})


def document_classify(
    *,
    actor: User,
    document: Document,
    level: str,
    category: str,
    now: dt.datetime | None = None,
) -> DocumentLabel:
    """A person confirms the suggestion or overrides it with `level`/`category`.

    Decided by the access matrix's ``document.classify`` through the vault door
    (`door.document_classify_authorize`), at the higher of the document's current level
    and the new one: nobody lowers a label they could not set, and nobody raises one
    above what they may touch (an accountant never labels 绝密; an administrator only
    for clients assigned to them from 机密 up). The document's label is set;
    `DocumentLabel.overridden` tells whether the choice differs from the suggestion.
    Ledger: the door's ``document.classify`` decision (allowed or refused, with its rule
    and level) before anything changes, then ``document.classify`` with
    ``suggested=L/C chosen=L/C previous=L/C override|confirm`` in the transaction that
    changes the label. Raises ValidationFailed (nothing decided), AccessDenied with the
    decision's reason (nothing changed).
    """
    _check_label(level, category)
    # Decided on the label as stored now, outside the transaction so that a refusal's
    # entry is not rolled back with it.
    stored = Document.objects.filter(pk=document.pk).values_list("level", "category").first()
    if stored is not None:
        document.level, document.category = stored
    door.document_classify_authorize(
        actor=actor, document=document, level=level, category=category
    )
    now = now or timezone.now()
    with transaction.atomic():
        current = Document.objects.select_for_update().get(pk=document.pk)
        if (current.level, current.category) != (document.level, document.category):
            # Relabelled by someone else since: decide again on the label really replaced.
            door.document_classify_authorize(
                actor=actor, document=current, level=level, category=category
            )
            document.level, document.category = current.level, current.category
        label, _created = DocumentLabel.objects.select_for_update().get_or_create(
            document=document, defaults={"labelled_at": now}
        )
        suggested = f"{label.suggested_level or '-'}/{label.suggested_category or '-'}"
        overridden = bool(label.suggested_level) and (
            label.suggested_level != level or label.suggested_category != category
        )
        previous = f"{document.level}/{document.category}"
        previous_level = document.level
        Document.objects.filter(pk=document.pk).update(level=level, category=category)
        document.level, document.category = level, category
        grants_end_for_raised_label(actor=actor, document=document, previous_level=previous_level)
        label.source = LabelSource.OVERRIDDEN if overridden else LabelSource.SUGGESTED
        if not label.suggested_level:
            label.source = LabelSource.OVERRIDDEN
        label.overridden = overridden
        label.labelled_at = now
        label.labelled_by = actor
        label.save()
        record(
            actor,
            "document.classify",
            object_type="document",
            object_id=document.pk,
            client_id=document.client_id,
            reason=f"suggested={suggested} chosen={level}/{category} previous={previous} "
            + ("override" if overridden else "confirm"),
        )
    return label


# --- Review queue (定期审查分类) ---------------------------------------------------------


def review_period_days() -> int:
    return int(settings.BAOMI_CLASSIFICATION_REVIEW_DAYS)


def _under_labelled(label: DocumentLabel, level: str) -> bool:
    """The findings call for a higher level than the label has (the risky direction:
    a document labelled above its findings is a person knowing more than the scanner)."""
    if not label.suggested_level:
        return False
    return LEVEL_ORDER[Level(label.suggested_level)] > LEVEL_ORDER[Level(level)]


def review_fill(*, now: dt.datetime | None = None, actor: str = "system:scheduler") -> int:
    """Put documents that need a fresh look into the review queue; returns how many.

    A document enters when its label was last set or confirmed more than
    `BAOMI_CLASSIFICATION_REVIEW_DAYS` ago, or when the scan of its current version
    suggests a higher level than its label. Idempotent: a document with an open review
    is skipped (a unique constraint backs this up when two runs overlap). Ledger
    ``classification.review.fill`` with the count.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=review_period_days())
    open_ids = ReviewItem.objects.filter(status=ReviewStatus.OPEN).values("document_id")
    candidates = (
        Document.objects.exclude(pk__in=open_ids)
        .filter(
            Q(label_state__isnull=True, created_at__lt=cutoff)
            | Q(label_state__labelled_at__lt=cutoff)
            | Q(label_state__suggested_level__gt="")
        )
        .select_related("label_state")
        .order_by("id")
    )
    created = 0
    for doc in candidates.iterator(chunk_size=500):
        label: DocumentLabel | None = getattr(doc, "label_state", None)
        if label is not None and _under_labelled(label, doc.level):
            reason, detail = (
                ReviewReason.DISAGREES,
                f"suggested={label.suggested_level}/{label.suggested_category} "
                f"label={doc.level}/{doc.category}",
            )
        elif (label.labelled_at if label is not None else doc.created_at) < cutoff:
            reason, detail = ReviewReason.AGE, f"older than {review_period_days()} days"
        else:
            continue
        try:
            with transaction.atomic():
                ReviewItem.objects.create(
                    document=doc,
                    reason=reason,
                    detail=detail,
                    level_at_entry=doc.level,
                    created_at=now,
                )
        except IntegrityError:
            continue  # another run queued it meanwhile
        created += 1
    record(actor, "classification.review.fill", object_type="document", reason=f"queued={created}")
    return created


def classify_levels(
    *, actor: User, document: Document, facts: policy.Facts | None = None
) -> list[str]:
    """The levels `actor` may set `document` to, lowest first
    (`door.document_classify_levels`): what the confirmation page, the review queue and
    the API offer. Decides and records nothing; the relabel itself is decided by the
    door, so a level not offered is still refused if submitted."""
    return door.document_classify_levels(actor=actor, document=document, facts=facts)


def classify_levels_for(
    *, actor: User, documents: list[Document]
) -> dict[int, list[str]]:
    """`classify_levels` for many documents (by id), the actor's facts gathered once
    (for the one client when they all belong to it). Load the documents with
    `select_related("client")`. Decides and records nothing."""
    from baomi.access import selectors as access

    if not documents:
        return {}
    clients = {d.client_id for d in documents}
    facts = access.facts_for(actor, client_id=clients.pop() if len(clients) == 1 else None)
    return {
        d.pk: classify_levels(actor=actor, document=d, facts=facts) for d in documents
    }


@dataclass(frozen=True)
class ReviewChoice:
    """What a reviewer may choose for one review item: `levels` and `categories` (codes,
    in their order). The document's own label is always among them (confirming it
    changes nothing); the rest are the relabels the matrix allows them."""

    levels: tuple[str, ...]
    categories: tuple[str, ...]

    @property
    def relabel(self) -> bool:
        return len(self.levels) > 1 or len(self.categories) > 1


def review_choices(*, actor: User, items: list[ReviewItem]) -> dict[int, ReviewChoice]:
    """Per review item (by id), what `actor` may choose: the levels `classify_levels`
    allows, and every category where they may relabel at the document's own level (a
    category change is decided there); the document's own level and category always.
    So a reviewer the matrix does not let relabel a document may only confirm it. The
    actor's facts are gathered once for the whole list. Decides and records nothing."""
    levels = classify_levels_for(actor=actor, documents=[item.document for item in items])
    out: dict[int, ReviewChoice] = {}
    for item in items:
        document = item.document
        allowed = set(levels[document.pk])
        out[item.pk] = ReviewChoice(
            levels=tuple(v for v in Level.values if v in allowed or v == document.level),
            categories=tuple(Category.values)
            if document.level in allowed
            else (document.category,),
        )
    return out


def review_can(actor: User) -> bool:
    return actor.role in REVIEWER_ROLES and actor.is_active


def review_resolve(
    *,
    actor: User,
    item: ReviewItem,
    level: str,
    category: str,
    now: dt.datetime | None = None,
) -> ReviewItem:
    """The compliance officer confirms the label (same level/category) or relabels.

    Reviewing classifications is the compliance officer's duty (F05); administrators may
    resolve reviews too. Confirming the label and relabelling alike, by anyone (the
    compliance officer included), are the access matrix's ``document.classify`` as
    everywhere else: decided through the vault door at the
    higher of the two levels (`door.document_classify_authorize`), before the label
    changes and again on the locked row if it was relabelled meanwhile, refused with the
    decision's reason and recorded: the queue is no way round it (`classify_levels`
    says which levels a reviewer may choose). Ledger ``document.classify`` (reason
    ``review=<id> from=L/C to=L/C confirmed|relabelled``). Raises AccessDenied (not a
    compliance officer or administrator, or a relabel the matrix refuses), Conflict
    (already resolved), ValidationFailed.
    """
    if not review_can(actor):
        record(
            actor,
            "classification.review",
            object_type="review",
            object_id=item.pk,
            decision="refused",
            reason="not_reviewer",
        )
        raise AccessDenied(_("Only compliance officers review classifications."))
    _check_label(level, category)
    decided: tuple[str, str] | None = None
    # Decided on the label as stored now, outside the transaction so that a refusal's
    # entry is not rolled back with it. Confirming the label unchanged is a
    # classification too: decided the same way, so that nobody the door refuses the
    # document stamps a label on it (or is shown its title in the answer).
    stored = Document.objects.filter(pk=item.document_id).first()
    if stored is not None:
        door.document_classify_authorize(
            actor=actor, document=stored, level=level, category=category
        )
        decided = (stored.level, stored.category)
    now = now or timezone.now()
    with transaction.atomic():
        locked = ReviewItem.objects.select_for_update().get(pk=item.pk)
        if locked.status != ReviewStatus.OPEN:
            raise Conflict(_("This review was already resolved."), code="review_resolved")
        document = Document.objects.select_for_update().get(pk=locked.document_id)
        before = f"{document.level}/{document.category}"
        changed = (document.level, document.category) != (level, category)
        if decided != (document.level, document.category):
            # Not decided yet, or relabelled by someone else since: decide on this label.
            door.document_classify_authorize(
                actor=actor, document=document, level=level, category=category
            )
        previous_level = document.level
        Document.objects.filter(pk=document.pk).update(level=level, category=category)
        document.level, document.category = level, category
        grants_end_for_raised_label(actor=actor, document=document, previous_level=previous_level)
        label, _created = DocumentLabel.objects.get_or_create(
            document=document, defaults={"labelled_at": now}
        )
        label.source = LabelSource.REVIEWED
        label.overridden = bool(label.suggested_level) and (
            label.suggested_level != level or label.suggested_category != category
        )
        label.labelled_at = now
        label.labelled_by = actor
        label.save()
        locked.status = ReviewStatus.RELABELLED if changed else ReviewStatus.CONFIRMED
        locked.resolved_at = now
        locked.resolved_by = actor
        locked.new_level, locked.new_category = level, category
        locked.save()
        record(
            actor,
            "document.classify",
            object_type="document",
            object_id=document.pk,
            client_id=document.client_id,
            reason=f"review={locked.pk} from={before} to={level}/{category} {locked.status}",
        )
    return locked


def review_queue(*, actor: User) -> list[ReviewItem]:
    """The open reviews, for compliance officers and administrators: they name documents
    and their clients, so the list is recorded (``classification.review.list``), and so
    is a refusal. Raises AccessDenied."""
    if not review_can(actor):
        record(actor, "classification.review.list", object_type="review", decision="refused",
               reason="role_not_permitted")
        raise AccessDenied(_("Only compliance officers review classifications."))
    record(actor, "classification.review.list", object_type="review")
    return _visible(actor, review_open())


def _visible(actor: User, items: list[ReviewItem]) -> list[ReviewItem]:
    """The items whose document `actor` may see the metadata of (title, level, category:
    `document.metadata`, as the door decides it): the queue shows nothing the document's
    own page would refuse, such as a 机密 title to a reviewer without the clearance or
    without a two-factor session."""
    from baomi.access import selectors as access

    facts: dict[int, policy.Facts] = {}
    out = []
    for item in items:
        document = item.document
        if document.client_id not in facts:
            facts[document.client_id] = access.facts_for(actor, client_id=document.client_id)
        if access.permitted_for(actor, policy.Action.DOCUMENT_METADATA,
                                access.document_resource(document), facts[document.client_id]):
            out.append(item)
    return out


def review_open() -> list[ReviewItem]:
    return list(
        ReviewItem.objects.filter(status=ReviewStatus.OPEN)
        .select_related("document", "document__client", "document__label_state")
        .order_by("created_at", "id")[:500]
    )


def _scan_upload(document: Document, upload: object) -> Suggested:
    tap = getattr(upload, "scan_tap", None)
    name = getattr(upload, "name", "") or document.title
    if isinstance(tap, ScanTap):
        return suggestion_from_scan(tap.scan(name))
    return suggestion_from_scan(
        FileScan(path=name, error="not_scanned: no plaintext tap on this upload")
    )


def upload_suggest(*, actor: User, document: Document, upload: object) -> DocumentLabel:
    """Scan the plaintext the sealing handler tapped for this upload (in memory) and
    store the suggestion for the document's current version. Never raises for a bad
    file: the error is stored and shown instead."""
    return label_record_scan(
        actor=actor,
        document=document,
        version=document.current_version,
        suggested=_scan_upload(document, upload),
    )


def version_rescan(
    *,
    actor: User,
    document: Document,
    upload: object,
    now: dt.datetime | None = None,
) -> tuple[DocumentLabel, ReviewItem | None]:
    """Scan a new version of `document` and compare the findings with its label.

    The suggestion is stored for the new version (ledger ``document.scan``) and the label
    is left as it is: whoever uploads a version does not relabel the document. When the
    suggestion is above the label (the risky direction, as in `review_fill`), the
    document enters the review queue at once with reason ``disagrees`` (ledger
    ``classification.review.queue``), unless it already has an open review. Returns the
    label and the queued item (or None). Never raises for a bad file.
    """
    now = now or timezone.now()
    document.refresh_from_db(fields=["level", "category", "current_version"])
    label = label_record_scan(
        actor=actor,
        document=document,
        version=document.current_version,
        suggested=_scan_upload(document, upload),
        now=now,
    )
    if not _under_labelled(label, document.level):
        return label, None
    detail = (
        f"suggested={label.suggested_level}/{label.suggested_category} "
        f"label={document.level}/{document.category} "
        f"version={document.current_version.number if document.current_version else '-'}"
    )
    try:
        with transaction.atomic():
            item = ReviewItem.objects.create(
                document=document,
                reason=ReviewReason.DISAGREES,
                detail=detail,
                level_at_entry=document.level,
                created_at=now,
            )
            record(
                actor,
                "classification.review.queue",
                object_type="document",
                object_id=document.pk,
                client_id=document.client_id,
                reason=f"review={item.pk} reason=disagrees {detail}",
            )
    except IntegrityError:
        return label, None  # an open review of this document is already waiting
    return label, item
