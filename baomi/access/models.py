"""Access governance (F06, F07, F08, F23, F24, F25): the facts the policy decides on.

Agreements, training, client authorizations, query requests, break-glass reads,
notifications and access-review campaigns. Selectors turn these rows into
`baomi.policy.Facts`; services change them and write the ledger in the same transaction.
Validity periods are half-open `[valid_from, valid_to)`, like `baomi.policy.Window`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from baomi.policy.text import PURPOSE_LIMIT, REASON_LIMIT


class PartnerOrganisation(models.Model):
    """An outside firm (外部合作方, F25) whose staff reach client data only through a
    live client authorization."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    registration_no = models.CharField(_("registration number"), max_length=40, blank=True)
    vetted_on = models.DateField(_("vetted on"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # A deactivated organisation keeps its history but can be named in no new
    # authorization; deactivating it revokes its live ones and its people's accounts.
    active = models.BooleanField(_("active"), default=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("partner organisation")

    def __str__(self) -> str:
        return self.name


class AgreementKind(models.TextChoices):
    EMPLOYEE = "employee", _("Employee confidentiality agreement")
    PARTNER = "partner", _("Partner confidentiality agreement")
    AUDITOR = "auditor", _("External auditor engagement and confidentiality")
    CLIENT = "client", _("Client confidentiality agreement")


class ConfidentialityAgreement(models.Model):
    """A signed confidentiality agreement (保密协议, F23), minimal registry.

    The signed scan is sealed through the vault door under the firm key
    (`scan_sealed`); only its digest and size are kept in the clear.
    """

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="agreements"
    )
    kind = models.CharField(_("type"), max_length=16, choices=AgreementKind.choices)
    valid_from = models.DateTimeField(_("valid from"))
    valid_to = models.DateTimeField(_("valid to"))
    scan_sealed = models.BinaryField(null=True, editable=False)
    scan_name = models.CharField(max_length=200, blank=True)
    scan_sha256 = models.CharField(max_length=64, blank=True)
    scan_size = models.PositiveIntegerField(default=0)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-valid_to", "-id"]
        verbose_name = _("confidentiality agreement")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__gt=models.F("valid_from")),
                name="agreement_window_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.person_id}"


class TrainingRecord(models.Model):
    """Completed confidentiality training (保密培训, F24), minimal registry."""

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="trainings"
    )
    course = models.CharField(_("course"), max_length=200)
    valid_from = models.DateTimeField(_("valid from"))
    valid_to = models.DateTimeField(_("valid to"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-valid_to", "-id"]
        verbose_name = _("training record")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__gt=models.F("valid_from")),
                name="training_window_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"{self.course} {self.person_id}"


class AuthorizationVia(models.TextChoices):
    PORTAL = "portal", _("Granted by the client in the portal")
    FORM = "form", _("Recorded by staff from the client's signed form")


class AuthorizationForm(models.Model):
    """An authorization form (客户授权书) as Baomi issued it. The client signs the PDF
    electronically, which appends to it: the signed copy must begin with exactly these
    bytes (`access.formsig`). `nonce` is the one in the form's code.

    A form is valid for `BAOMI_AUTHORIZATION_FORM_DAYS` from `issued_at`; the scheduler
    deletes expired ones never used (`used_at` unset, `services.authorization_forms_expire`)."""

    nonce = models.CharField(max_length=32, unique=True)
    client = models.ForeignKey("clients.Client", on_delete=models.CASCADE, related_name="+")
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    issued_at = models.DateTimeField(default=timezone.now)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    # When an authorization was recorded from this form (a form grants once); set for
    # forms issued before this field existed that may have been used (migration 0007).
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("issued authorization form")

    def __str__(self) -> str:
        return f"form {self.nonce} client {self.client_id}"


class ClientAuthorization(models.Model):
    """A client's written authorization (客户授权, F07) for a named person or a partner
    organisation, over a scope, for a period; revocable."""

    client = models.ForeignKey(
        "clients.Client", on_delete=models.CASCADE, related_name="authorizations"
    )
    grantee_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="client_authorizations",
    )
    grantee_org = models.ForeignKey(
        PartnerOrganisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="client_authorizations",
    )
    scope_levels = models.JSONField(default=list, blank=True)
    scope_categories = models.JSONField(default=list, blank=True)
    scope_document_ids = models.JSONField(default=list, blank=True)
    valid_from = models.DateTimeField(_("valid from"))
    valid_to = models.DateTimeField(_("valid to"))
    via = models.CharField(max_length=8, choices=AuthorizationVia.choices)
    form_document = models.ForeignKey(
        "vault.Document", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    form_sha256 = models.CharField(max_length=64, blank=True)
    # SHA-256 of the signed form's code: a form grants once, so a client's revocation
    # cannot be undone by uploading the old signed form again ("" for portal grants).
    form_code = models.CharField(max_length=64, blank=True, default="")
    # The signed form's first signer: the certificate's SHA-256 (no names; the form is
    # sealed in the vault), and whether it chains to a configured trust root.
    form_signer_sha256 = models.CharField(max_length=64, blank=True, default="")
    form_signer_trusted = models.BooleanField(default=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoke_reason = models.CharField(max_length=REASON_LIMIT, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("client authorization")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__gt=models.F("valid_from")),
                name="authorization_window_ordered",
            ),
            models.UniqueConstraint(
                fields=["form_code"],
                condition=~models.Q(form_code=""),
                name="authorization_form_used_once",
            ),
            models.CheckConstraint(
                condition=models.Q(grantee_user__isnull=False)
                | models.Q(grantee_org__isnull=False),
                name="authorization_has_grantee",
            ),
        ]

    def __str__(self) -> str:
        return f"authorization {self.pk} for client {self.client_id}"


class Purpose(models.Model):
    """A purpose offered in the UI (查询目的, F08). Free text is accepted as well."""

    text = models.CharField(_("purpose"), max_length=100, unique=True)
    active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("purpose")

    def __str__(self) -> str:
        return self.text


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    REVOKED = "revoked", _("Revoked")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")


class QueryRequest(models.Model):
    """A query request (查询申请, F08): scope, purpose and window, decided by a manager,
    compliance, or the client (for the levels configured so)."""

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="query_requests"
    )
    client = models.ForeignKey(
        "clients.Client", on_delete=models.CASCADE, related_name="query_requests"
    )
    scope_levels = models.JSONField(default=list, blank=True)
    scope_categories = models.JSONField(default=list, blank=True)
    scope_document_ids = models.JSONField(default=list, blank=True)
    purpose = models.CharField(_("purpose"), max_length=PURPOSE_LIMIT)
    valid_from = models.DateTimeField(_("valid from"))
    valid_to = models.DateTimeField(_("valid to"))
    status = models.CharField(
        max_length=12, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=REASON_LIMIT, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("query request")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__gt=models.F("valid_from")),
                name="query_request_window_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"query request {self.pk}"


class BreakGlassRead(models.Model):
    """An emergency read by a manager; compliance is alerted and reviews it afterwards."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="break_glass_reads"
    )
    client = models.ForeignKey("clients.Client", on_delete=models.CASCADE, related_name="+")
    document = models.ForeignKey(
        "vault.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=REASON_LIMIT)
    created_at = models.DateTimeField(default=timezone.now)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=REASON_LIMIT, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"break-glass {self.pk}"


class Notification(models.Model):
    """A message shown in the UI (badge in the navigation). `kind` selects a
    translatable template; `params` fills it (ids and names only, never client data)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=40)
    params = models.JSONField(default=dict, blank=True)
    url = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.user_id}"


class ReviewCampaign(models.Model):
    """An access review (权限定期审查): every grant listed for its reviewer."""

    name = models.CharField(_("name"), max_length=200)
    deadline = models.DateTimeField(_("deadline"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    flagged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("access review")

    def __str__(self) -> str:
        return self.name


class GrantKind(models.TextChoices):
    ASSIGNMENT = "assignment", _("Assignment")
    AUTHORIZATION = "authorization", _("Client authorization")
    QUERY_REQUEST = "query_request", _("Approved query request")


class ReviewDecision(models.TextChoices):
    PENDING = "pending", _("Not reviewed")
    CONFIRMED = "confirmed", _("Confirmed")
    REVOKED = "revoked", _("Revoked")
    # The grant under review no longer existed when the reviewer decided (ended,
    # revoked, expired, or replaced by a new one): nothing was confirmed or revoked.
    ENDED = "ended", _("Grant had ended")


class ReviewItem(models.Model):
    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="items")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    grant_kind = models.CharField(max_length=16, choices=GrantKind.choices)
    grant_id = models.BigIntegerField()
    holder = models.CharField(max_length=200)
    client = models.ForeignKey(
        "clients.Client", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    client_name = models.CharField(max_length=200)
    # The period of an authorization, or the purpose of a query request (whole).
    description = models.CharField(max_length=PURPOSE_LIMIT, blank=True)
    # What an authorization or query request covered when the campaign was made (its
    # levels, categories and listed documents, as stored there): the reviewer confirms
    # or revokes exactly that, and the export keeps it after the grant is gone.
    scope_levels = models.JSONField(default=list, blank=True)
    scope_categories = models.JSONField(default=list, blank=True)
    scope_document_ids = models.JSONField(default=list, blank=True)
    decision = models.CharField(
        max_length=12, choices=ReviewDecision.choices, default=ReviewDecision.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    flagged = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.grant_kind} {self.grant_id}"


class EndedAssignment(models.Model):
    """An assignment that ended when its holder left (离职) or was transferred (调岗),
    kept until a handover (工作交接) moves the client to a colleague.

    The assignment itself is deleted at once, so it grants nothing from that moment on;
    this row only remembers which clients the person served, so that the firm does not
    lose track of them and the handover can move exactly those. It grants nothing and is
    never read by the policy."""

    client = models.ForeignKey("clients.Client", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ended_assignments"
    )
    assigned_at = models.DateTimeField()
    ended_at = models.DateTimeField(default=timezone.now)
    # Why it ended: "left" or "transferred" (the reason of its `assignment.remove` entry).
    reason = models.CharField(max_length=20)
    handed_over_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handed_over_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-ended_at", "-id"]
        constraints = [
            # One open (not yet handed over) record per client and person.
            models.UniqueConstraint(
                fields=["client", "user"],
                condition=models.Q(handed_over_at__isnull=True),
                name="ended_assignment_open_once",
            ),
        ]

    def __str__(self) -> str:
        return f"ended {self.user_id} → {self.client_id}"
