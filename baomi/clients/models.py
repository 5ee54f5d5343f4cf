"""Client companies, their contacts, engagements (服务合同) and staff assignments."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ClientStatus(models.TextChoices):
    PROSPECT = "prospect", _("Prospect")
    ACTIVE = "active", _("In service")
    SERVICE_ENDED = "service_ended", _("Service ended")
    DEREGISTERED = "deregistered", _("Deregistered")


class ServiceType(models.Model):
    """A service the firm sells: 代理记账, 工商注册, 公司转让, 工商注销 …"""

    code = models.SlugField(max_length=40, unique=True)
    name_zh = models.CharField(max_length=60)
    name_en = models.CharField(max_length=60)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        from django.utils.translation import get_language

        return self.name_en if (get_language() or "").startswith("en") else self.name_zh


class Client(models.Model):
    name = models.CharField(_("enterprise name"), max_length=200)
    uscc = models.CharField(_("unified social credit code"), max_length=18, unique=True)
    legal_representative = models.CharField(_("legal representative"), max_length=100)
    status = models.CharField(
        _("status"), max_length=20, choices=ClientStatus.choices, default=ClientStatus.PROSPECT
    )
    service_types = models.ManyToManyField(
        ServiceType, verbose_name=_("services"), blank=True, related_name="clients"
    )
    department = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("responsible department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="clients",
    )
    service_started_on = models.DateField(_("service started"), null=True, blank=True)
    service_ended_on = models.DateField(_("service ended"), null=True, blank=True)
    deregistered_on = models.DateField(_("deregistered on"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Sealed by the vault door under the client's key (docs/vault.md); never plaintext.
    # The USCC above stays plaintext: it is public registration data.
    notes_sealed = models.BinaryField(null=True, editable=False)
    address_sealed = models.BinaryField(null=True, editable=False)
    bank_account_sealed = models.BinaryField(null=True, editable=False)
    bank_account_bidx = models.CharField(max_length=32, blank=True, db_index=True, editable=False)
    legal_rep_id_number_sealed = models.BinaryField(null=True, editable=False)
    legal_rep_id_number_bidx = models.CharField(
        max_length=32, blank=True, db_index=True, editable=False
    )

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("client")

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(_("name"), max_length=100)
    title = models.CharField(_("title"), max_length=100, blank=True)
    # Sealed by the vault door under the client's key; `*_bidx` are blind indexes.
    mobile_sealed = models.BinaryField(null=True, editable=False)
    mobile_bidx = models.CharField(max_length=32, blank=True, db_index=True, editable=False)
    email_sealed = models.BinaryField(null=True, editable=False)
    email_bidx = models.CharField(max_length=32, blank=True, db_index=True, editable=False)
    id_number_sealed = models.BinaryField(null=True, editable=False)
    id_number_bidx = models.CharField(max_length=32, blank=True, db_index=True, editable=False)
    address_sealed = models.BinaryField(null=True, editable=False)
    notes_sealed = models.BinaryField(null=True, editable=False)
    is_primary = models.BooleanField(_("primary contact"), default=False)

    class Meta:
        ordering = ["-is_primary", "id"]

    def __str__(self) -> str:
        return self.name


class EngagementStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("In force")
    ENDED = "ended", _("Ended")


class Engagement(models.Model):
    """A service contract (服务合同) for one service with one client."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="engagements")
    service_type = models.ForeignKey(ServiceType, on_delete=models.PROTECT, related_name="+")
    contract_no = models.CharField(_("contract number"), max_length=60)
    signed_on = models.DateField(_("signed on"), null=True, blank=True)
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=EngagementStatus.choices, default=EngagementStatus.DRAFT
    )

    class Meta:
        ordering = ["-starts_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["client", "contract_no"], name="uniq_contract_no"),
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="engagement_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.contract_no


class Assignment(models.Model):
    """A staff member assigned to work on a client (the basis of least privilege)."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    assigned_at = models.DateTimeField(default=timezone.now)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "user"], name="uniq_assignment"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.client_id}"
