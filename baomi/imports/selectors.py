"""Reads for the import pages: a person's jobs, and the documents a job imported with
their classification state (metadata only: titles, labels, counts of findings)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from baomi.accounts.models import Level, Role, User
from baomi.classification.models import DocumentLabel, LabelSource
from baomi.clients.selectors import client_can_edit
from baomi.errors import NotFound
from baomi.imports.models import ImportedDocument, ImportJob, ImportKind
from baomi.vault import selectors as vault_selectors
from baomi.vault.models import Category, Document

# The most documents one confirmation page lists (the rest follow once these are done).
PAGE_DOCUMENTS = 200


def job_get(*, actor: User, job_id: int) -> ImportJob:
    """One of `actor`'s own jobs, or NotFound (`import_not_found`): a job, its file
    name and its errors belong to the person who started it."""
    job = ImportJob.objects.filter(pk=job_id, created_by=actor).select_related("client").first()
    if job is None:
        raise NotFound(_("No such import."), code="import_not_found")
    return job


@dataclass(frozen=True)
class ImportedRow:
    document: Document
    suggested_level: str
    suggested_category: str
    findings: dict[str, int]
    confirmed: bool

    @property
    def findings_total(self) -> int:
        return sum(self.findings.values())

    @property
    def suggested_level_label(self) -> str:
        return str(Level(self.suggested_level).label) if self.suggested_level else ""

    @property
    def suggested_category_label(self) -> str:
        value = self.suggested_category
        return str(Category(value).label) if value in Category.values else ""


@dataclass(frozen=True)
class ImportedDocuments:
    rows: list[ImportedRow]  # unconfirmed first, at most PAGE_DOCUMENTS
    total: int  # documents of the job the actor may see
    unconfirmed: int
    can_classify: bool


def job_documents(*, actor: User, job: ImportJob) -> ImportedDocuments:
    """The documents `job` imported that `actor` may still see (the policy decides per
    document, as on the client's page), with their suggestion and findings counts."""
    if job.kind != ImportKind.DOCUMENTS or job.client is None:
        return ImportedDocuments([], 0, 0, can_classify=False)
    ids = ImportedDocument.objects.filter(job=job).values("document_id")
    visible = vault_selectors.document_list(actor=actor, client=job.client)
    documents = list(visible.filter(pk__in=ids))
    labels = {
        label.document_id: label
        for label in DocumentLabel.objects.filter(document__in=[d.pk for d in documents])
    }
    rows = []
    for d in documents:
        label = labels.get(d.pk)
        rows.append(
            ImportedRow(
                document=d,
                suggested_level=label.suggested_level if label else "",
                suggested_category=label.suggested_category if label else "",
                findings=dict(label.findings_summary) if label else {},
                confirmed=label is not None and label.source != LabelSource.UNCONFIRMED,
            )
        )
    rows.sort(key=lambda r: (r.confirmed, r.document.title, r.document.pk))
    unconfirmed = sum(1 for r in rows if not r.confirmed)
    return ImportedDocuments(
        rows=rows[:PAGE_DOCUMENTS],
        total=len(rows),
        unconfirmed=unconfirmed,
        can_classify=actor.role == Role.ADMIN or client_can_edit(actor, job.client),
    )
