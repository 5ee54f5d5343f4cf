"""People who use Baomi: staff, auditors, partners and client portal users."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from baomi.accounts.security import normalize_username


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    MANAGER = "manager", _("Manager")
    ACCOUNTANT = "accountant", _("Accountant")
    COMPLIANCE = "compliance", _("Compliance officer")
    INTERNAL_AUDITOR = "internal_auditor", _("Internal auditor")
    EXTERNAL_AUDITOR = "external_auditor", _("External auditor")
    PARTNER = "partner", _("Partner staff")
    CLIENT = "client", _("Client user")


STAFF_ROLES = frozenset(
    {Role.ADMIN, Role.MANAGER, Role.ACCOUNTANT, Role.COMPLIANCE, Role.INTERNAL_AUDITOR}
)
# Roles a staff account is never moved into by an edit (`services.staff_change`): a
# client user belongs to a client company and a partner to a partner organisation, which
# an edit does not give.
NOT_STAFF_ROLES = frozenset({Role.CLIENT, Role.PARTNER})
# Roles that must use two-factor authentication regardless of clearance (F04).
MFA_ROLES = frozenset({Role.ADMIN, Role.MANAGER, Role.COMPLIANCE})


class Level(models.TextChoices):
    """Classification levels, ordered from least to most sensitive (F05)."""

    PUBLIC = "public", _("Public")
    INTERNAL = "internal", _("Internal")
    CONFIDENTIAL = "confidential", _("Confidential")
    SECRET = "secret", _("Top secret")


LEVEL_ORDER = {Level.PUBLIC: 0, Level.INTERNAL: 1, Level.CONFIDENTIAL: 2, Level.SECRET: 3}


class StaffStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    LEFT = "left", _("Left the firm")


class Department(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("department")

    def __str__(self) -> str:
        return self.name


class BaomiUserManager(UserManager["User"]):
    def get_by_natural_key(self, username: str | None) -> User:
        # Usernames are stored normalized, so look them up normalized too.
        return self.get(username=normalize_username(username or ""))


class User(AbstractUser):
    """A person who signs in. Usernames are stored NFKC-casefolded and stripped."""

    display_name = models.CharField(_("name"), max_length=100, blank=True)
    role = models.CharField(_("role"), max_length=32, choices=Role.choices, default=Role.ACCOUNTANT)
    department = models.ForeignKey(
        Department,
        verbose_name=_("department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
    )
    post = models.CharField(_("post"), max_length=100, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=StaffStatus.choices, default=StaffStatus.ACTIVE
    )
    clearance = models.CharField(
        _("clearance"), max_length=16, choices=Level.choices, default=Level.INTERNAL
    )
    portal_client = models.ForeignKey(
        "clients.Client",
        verbose_name=_("client company"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="portal_users",
        help_text=_("For client portal users: the company they belong to."),
    )
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)
    partner_org = models.ForeignKey(
        "access.PartnerOrganisation",
        verbose_name=_("partner organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
        help_text=_("For partner staff: the outside firm they work for."),
    )
    # Staff personal data, sealed by the vault door under the firm key (docs/vault.md).
    # `email` stays plaintext: Django's authentication and password reset need it.
    mobile_sealed = models.BinaryField(null=True, editable=False)
    mobile_bidx = models.CharField(max_length=32, blank=True, db_index=True, editable=False)
    id_number_sealed = models.BinaryField(null=True, editable=False)
    id_number_bidx = models.CharField(max_length=32, blank=True, db_index=True, editable=False)

    objects = BaomiUserManager()  # type: ignore[misc]  # django-stubs types the base manager as a ClassVar

    class Meta:
        ordering = ["username"]
        verbose_name = _("user")

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def requires_mfa(self) -> bool:
        """Two-factor is mandatory for privileged roles and anyone cleared for 机密/绝密."""
        return (
            self.role in MFA_ROLES
            or LEVEL_ORDER[Level(self.clearance)] >= LEVEL_ORDER[Level.CONFIDENTIAL]
        )

    @property
    def is_firm_staff(self) -> bool:
        return self.role in STAFF_ROLES


class ApiToken(models.Model):
    """A bearer token for scripts. Only a SHA-256 of the secret part is stored.

    Tokens are 256-bit random strings, so a fast hash is enough: there is nothing to
    brute-force, unlike passwords.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix} ({self.user})"

    def is_usable(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class UserSession(models.Model):
    """Which server-side sessions belong to whom, so they can be ended at once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tracked_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"session of {self.user_id}"


class EndedSession(models.Model):
    """A session the firm ended (leaving, transfer, deactivation), kept by the SHA-256 of
    its key until it would have expired anyway: a request still carrying its cookie is
    refused with the reason and recorded, instead of looking like any signed-out visit."""

    key_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=20)
    ended_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"ended session of {self.user_id}"


class RecoveryCode(models.Model):
    """One-time two-factor recovery code; only a salted SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}"
