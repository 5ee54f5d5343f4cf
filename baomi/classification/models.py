"""Classification state of documents (F05): the scanner's suggestion, the label people
confirmed or overrode, and the periodic review queue (定期审查分类).

Nothing here holds an identifier found in a document: only counts per type, the
suggestion and its reasons (rule texts). The document's label itself stays on
`vault.Document` (level, category); these rows say where it came from and when it was
last confirmed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from baomi.accounts.models import Level


class LabelSource(models.TextChoices):
    SUGGESTED = "suggested", _("Suggestion accepted")
    OVERRIDDEN = "overridden", _("Overridden by a person")
    REVIEWED = "reviewed", _("Confirmed in review")
    UNCONFIRMED = "unconfirmed", _("Not yet confirmed")


class DocumentLabel(models.Model):
    """One per document: the last scan of its current version and the label's history head."""

    document = models.OneToOneField(
        "vault.Document", on_delete=models.CASCADE, related_name="label_state"
    )
    version = models.ForeignKey(
        "vault.DocumentVersion", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    scanned_at = models.DateTimeField(null=True, blank=True)
    suggested_level = models.CharField(max_length=16, blank=True, choices=Level.choices)
    suggested_category = models.CharField(max_length=20, blank=True)
    # English texts of the rules that fired (what `baomi scan` prints), kept for readers
    # of the old field; `reason_codes` is what pages and the API render in the reader's
    # language: [{"code": "bulk_personal", "params": {"ids": 3, ...}}] (see reasons.py).
    reasons = models.JSONField(default=list)
    reason_codes = models.JSONField(default=list)
    # {"cn_resident_id": 3, "bank_card": 1}: counts per type, never values.
    findings_summary = models.JSONField(default=dict)
    scan_error = models.CharField(max_length=300, blank=True)
    source = models.CharField(
        max_length=16, choices=LabelSource.choices, default=LabelSource.UNCONFIRMED
    )
    # The level and category the person chose when they differ from the suggestion.
    overridden = models.BooleanField(default=False)
    labelled_at = models.DateTimeField(default=timezone.now)
    labelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"label of document {self.document_id}"

    def reason_items(self) -> list[dict[str, object]]:
        """The suggestion's reasons in the active language: reason_code, reason, params."""
        from baomi.classification.reasons import localized

        return localized(self.reason_codes, self.reasons)

    def above_label(self) -> bool:
        """The scan suggests a higher level than the document's label has."""
        from baomi.accounts.models import LEVEL_ORDER

        if self.suggested_level not in Level.values or self.document.level not in Level.values:
            return False
        return LEVEL_ORDER[Level(self.suggested_level)] > LEVEL_ORDER[Level(self.document.level)]

    def reason_texts(self) -> list[str]:
        """The suggestion's reasons as sentences in the active language."""
        return [str(r["reason"]) for r in self.reason_items()]


class ReviewReason(models.TextChoices):
    AGE = "age", _("Label older than the review period")
    DISAGREES = "disagrees", _("Findings disagree with the label")


class ReviewStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CONFIRMED = "confirmed", _("Label confirmed")
    RELABELLED = "relabelled", _("Relabelled")


class ReviewItem(models.Model):
    """A document waiting for the compliance officer to confirm or change its label."""

    document = models.ForeignKey(
        "vault.Document", on_delete=models.CASCADE, related_name="label_reviews"
    )
    reason = models.CharField(max_length=16, choices=ReviewReason.choices)
    detail = models.CharField(max_length=300, blank=True)
    level_at_entry = models.CharField(max_length=16, choices=Level.choices)
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.OPEN, db_index=True
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    new_level = models.CharField(max_length=16, blank=True, choices=Level.choices)
    new_category = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # At most one open review per document: the scheduler job may run again early.
            models.UniqueConstraint(
                fields=["document"],
                condition=models.Q(status="open"),
                name="one_open_label_review",
            )
        ]

    def __str__(self) -> str:
        return f"review of document {self.document_id} ({self.reason})"
