"""Bulk import jobs: progress and per-row/per-file errors, never the imported values.

A job is run by the CLI (in its own process) or, for the web pages, by a worker thread
of the web process that received the upload (`baomi.imports.runner`). Either way the
runner touches `heartbeat_at` while it works; a job whose heartbeat stopped (the process
died or was restarted) is marked interrupted by the scheduler, and choosing the same
file again resumes it (`processed` rows or files are skipped, and re-importing is
idempotent anyway).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ImportKind(models.TextChoices):
    CLIENTS = "clients", _("Clients and contacts")
    DOCUMENTS = "documents", _("Documents")


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", _("Finished")
    FAILED = "failed", _("Failed")
    INTERRUPTED = "interrupted", _("Interrupted")


# The states in which a job is not finished and may be resumed.
UNFINISHED = (
    ImportStatus.PENDING,
    ImportStatus.RUNNING,
    ImportStatus.FAILED,
    ImportStatus.INTERRUPTED,
)


MAX_ERRORS = 1000


class ImportJob(models.Model):
    kind = models.CharField(max_length=12, choices=ImportKind.choices)
    status = models.CharField(
        max_length=12, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    source_name = models.CharField(max_length=255)
    # SHA-256 of the source file: a re-run of the same file resumes this job.
    source_sha256 = models.CharField(max_length=64, db_index=True)
    client = models.ForeignKey(
        "clients.Client", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mapping = models.JSONField(default=dict)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # [{"item": "row 5" | "a/b.pdf", "code": "...", "message": "..."}] - no values.
    errors = models.JSONField(default=list)
    error = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Touched by whoever runs the job (at least every `runner.HEARTBEAT_S` seconds).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.kind})"

    @property
    def percent(self) -> int:
        return int(100 * self.processed / self.total) if self.total else 0

    @property
    def active(self) -> bool:
        return self.status in {ImportStatus.PENDING, ImportStatus.RUNNING}


class ImportedDocument(models.Model):
    """A document a documents job created, or found already imported (for the bulk
    classification confirmation of that job)."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="documents")
    document = models.ForeignKey("vault.Document", on_delete=models.CASCADE, related_name="+")
    new = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "document"], name="one_row_per_imported_doc")
        ]

    def __str__(self) -> str:
        return f"document {self.document_id} of import {self.job_id}"
