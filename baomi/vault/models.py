"""Vault models: wrapped client keys, documents, versions and download watermarks.

Nothing here holds a plaintext key or plaintext content. `ClientKey.wrapped` is a
client key wrapped by the master key; `DocumentVersion.wrapped_data_key` is a data key
wrapped by the client key; the content itself is a sealed stream in the blob store.
Only `baomi.vault.door` reads or writes these fields.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from baomi.accounts.models import Level


class Category(models.TextChoices):
    """Data categories (F05 分类)."""

    FINANCIAL = "financial", _("Financial data")
    BUSINESS_PLAN = "business_plan", _("Business plan")
    PERSONAL = "personal", _("Personal information")
    TRADE_SECRET = "trade_secret", _("Trade secret")
    TRANSACTION = "transaction", _("Transaction records")
    CONTACT = "contact", _("Contact details")
    OTHER = "other", _("Other")


class ClientKey(models.Model):
    """One per-client key (scope ``client:<id>``), or a firm-wide key (``firm`` for
    staff records, ``index`` for blind indexes), stored only wrapped by the master key.

    Destroying it (`wrapped` = NULL, `destroyed_at` set) makes everything under it
    unreadable for good.
    """

    scope = models.CharField(max_length=40, unique=True)
    client = models.OneToOneField(
        "clients.Client",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="vault_key",
    )
    wrapped = models.BinaryField(null=True)
    master_key_id = models.CharField(max_length=16, blank=True)
    key_id = models.CharField(max_length=16, blank=True)
    suite = models.CharField(max_length=16)
    generation = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)
    master_rewrapped_at = models.DateTimeField(null=True, blank=True)
    usage_count = models.BigIntegerField(default=0)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.scope


class Document(models.Model):
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="documents")
    title = models.CharField(_("title"), max_length=200)
    level = models.CharField(_("classification"), max_length=16, choices=Level.choices)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    current_version = models.ForeignKey(
        "DocumentVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("document")

    def __str__(self) -> str:
        return self.title


class DocumentVersion(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    original_filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(max_length=150)
    # pdf, png, jpeg, xlsx, docx, zip or other (from the first bytes): how it is watermarked
    kind = models.CharField(max_length=10, default="other")
    size = models.BigIntegerField(_("size"))
    sha256 = models.CharField(max_length=64)
    wrapped_data_key = models.BinaryField()
    blob_key = models.CharField(max_length=200, unique=True)
    sealed_size = models.BigIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="uniq_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.document_id} v{self.number}"


class Watermark(models.Model):
    """One watermarked (or recorded) download: who, when, why, which version."""

    id = models.CharField(primary_key=True, max_length=24)
    version = models.ForeignKey(DocumentVersion, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    purpose = models.TextField()
    kind = models.CharField(max_length=10)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.id
