"""Writes for access governance. Each action decides through `baomi.policy`, changes the
rows and writes its ledger entry in one transaction; a refusal is recorded too (with the
rule code) before `AccessDenied` is raised. Notifications are rows shown in the UI.

Ledger actions: agreement.record, training.record, partner.create / .update /
.deactivate / .reactivate, purpose.create / .rename / .retire / .restore / .reorder,
authorization.grant / .revoke, query_request.create / .approve / .reject / .cancel /
.expire, break_glass.read / .review, assignment.add / .remove, staff.leave /
.transfer / .handover, access_review.create / .confirm / .revoke / .flag.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from baomi import policy
from baomi.access import context, formsig, selectors
from baomi.access.errors import denied, too_long
from baomi.access.models import (
    AgreementKind,
    AuthorizationForm,
    AuthorizationVia,
    BreakGlassRead,
    ClientAuthorization,
    ConfidentialityAgreement,
    EndedAssignment,
    GrantKind,
    Notification,
    PartnerOrganisation,
    Purpose,
    QueryRequest,
    RequestStatus,
    ReviewCampaign,
    ReviewDecision,
    ReviewItem,
    TrainingRecord,
)
from baomi.accounts.models import Department, Role, StaffStatus, User
from baomi.accounts.services import (
    check_staff_text,
    sessions_end_for_user,
    tokens_revoke_for_user,
    user_deactivate,
    user_update,
)
from baomi.audit.events import record
from baomi.clients.models import Assignment, Client
from baomi.errors import AccessDenied, Conflict, InvalidInput, ValidationFailed
from baomi.policy.reasons import reason as policy_reason
from baomi.policy.text import stated

log = logging.getLogger(__name__)

MAX_REQUEST_DAYS = 90
# Default for `BAOMI_AUTHORIZATION_MAX_DAYS`: three years, with a leap day.
AUTHORIZATION_MAX_DAYS = 1096
# Default for `BAOMI_AUTHORIZATION_FORM_DAYS`: how long an issued form may be signed and
# recorded.
AUTHORIZATION_FORM_DAYS = 90
MAX_SCAN_BYTES = 10 * 1024 * 1024
# The words of a listed purpose (short, for a pick list); a purpose stated with a read or
# a request may be longer (`baomi.policy.text.PURPOSE_LIMIT`).
PURPOSE_MAX_CHARS = 100
# Signed scans are PDFs or images; recognised by their first bytes, not by name.
_SCAN_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)
FORM_SALT = "baomi.access.authorization-form.v1"
# The span a period, a request window or a deadline may lie in. Agreements and training
# of long-serving staff start decades back and an agreement may run for many years, but
# no record of a firm's lifetime lies outside these; a value that does is a typing error
# or a probe (year 1 or 9999 with an offset cannot even be converted to UTC).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


# --- Helpers ---------------------------------------------------------------------------


def _refuse_input(actor: Any, action: str, code: str, message: str, *, field_name: str = "",
                  object_type: str = "", object_id: Any = "", client_id: Any = None
                  ) -> ValidationFailed:
    """Record a refused input (in its own entry) and build the error to raise."""
    record(actor, action, object_type=object_type, object_id=object_id, client_id=client_id,
           decision="refused", reason=code)
    detail: dict[str, Any] = {"code": code}
    if field_name:
        detail["fields"] = {field_name: [message]}
    err = ValidationFailed(message, code=code, detail=detail)
    return err


def _check_length(actor: Any, action: str, kind: str, text: str, *, field_name: str,
                  object_type: str, object_id: Any = "", client_id: Any = None) -> None:
    """Refuse (and record) `text` over the limit of its `kind` (`access.errors.too_long`):
    typed text is never cut."""
    err = too_long(kind, text, field_name=field_name)
    if err is not None:
        record(actor, action, object_type=object_type, object_id=object_id,
               client_id=client_id, decision="refused", reason=err.code)
        raise err


def _typed(actor: Any, action: str, value: str, *, limit: int, field_name: str,
           object_type: str, object_id: Any = "", missing_code: str = "") -> str:
    """A typed name or number as stored: stated (`baomi.policy.text.stated`: control
    characters dropped, whitespace collapsed), refused (and recorded) when longer than
    `limit` (``too_long``, never cut) or, with `missing_code`, when blank."""
    clean = stated(value)
    if missing_code and not clean:
        raise _refuse_input(actor, action, missing_code, _("This field is required."),
                            field_name=field_name, object_type=object_type,
                            object_id=object_id)
    if len(clean) > limit:
        err = _refuse_input(actor, action, "too_long",
                            _("At most %(n)d characters.") % {"n": limit},
                            field_name=field_name, object_type=object_type,
                            object_id=object_id)
        err.detail["max_length"] = limit
        raise err
    return clean


def _refuse_self(actor: Any, action: str, message: str, *, field_name: str = "",
                 object_id: Any = "", client_id: Any = None) -> AccessDenied:
    """Record a refused grant to oneself (reason ``self``, as `_check_staff_manage`) and
    build the error to raise: 403 ``self_action``, naming the field when there is one."""
    record(actor, action, object_type="user", object_id=object_id, client_id=client_id,
           decision="refused", reason="self")
    detail: dict[str, Any] = {"fields": {field_name: [message]}} if field_name else {}
    return AccessDenied(message, code="self_action", detail=detail)


def require_allowed(
    actor: User,
    action: policy.Action,
    obj: policy.Resource | None,
    *,
    ledger_action: str,
    object_type: str,
    object_id: Any = "",
    purpose: str = "",
) -> policy.Decision:
    """Decide; record a refusal (rule code) and raise `AccessDenied`; return an allow."""
    decision = selectors.decide_for(actor, action, obj, purpose=purpose or None)
    if not decision.allowed:
        record(actor, ledger_action, object_type=object_type, object_id=object_id,
               client_id=obj.client_id if obj is not None else None, decision="refused",
               reason=decision.rule.value)
        raise denied(decision)
    return decision


def refusal_of(
    actor: User,
    action: policy.Action,
    obj: policy.Resource | None,
    *,
    ledger_action: str,
    object_type: str,
    object_id: Any = "",
) -> AccessDenied | None:
    """`require_allowed` for pages: None when allowed, else the refusal (recorded, with
    the policy's reason) for the page to show."""
    try:
        require_allowed(actor, action, obj, ledger_action=ledger_action,
                        object_type=object_type, object_id=object_id)
    except AccessDenied as exc:
        return exc
    return None


def _check_roles(actor: User, roles: Iterable[str], *, ledger_action: str, object_type: str,
                 object_id: Any = "") -> None:
    """Governance registries (agreements, training, partners) outside the matrix:
    administrators and the compliance officer, active only."""
    if actor.is_active and actor.status != StaffStatus.LEFT and actor.role in set(roles):
        return
    record(actor, ledger_action, object_type=object_type, object_id=object_id,
           decision="refused", reason="role_not_permitted")
    raise AccessDenied(_("Your role may not change this register."), code="role_not_permitted")


def _check_registrar(actor: User, person: User, ledger_action: str) -> None:
    """`_check_roles` for the agreement and training registers, and nobody records their
    own: an agreement or training in force is what opens reads above 公开 (F23, F24), so
    a registrar recording their own would unlock their own reads (403 ``self_action``,
    recorded with reason ``self``)."""
    _check_roles(actor, {Role.ADMIN, Role.COMPLIANCE}, ledger_action=ledger_action,
                 object_type="user", object_id=person.pk)
    if person.pk == actor.pk:
        message = (_("You cannot record your own confidentiality agreement.")
                   if ledger_action == "agreement.record"
                   else _("You cannot record your own training."))
        raise _refuse_self(actor, ledger_action, message, field_name="person",
                           object_id=person.pk)


def _period(actor: Any, action: str, valid_from: datetime | None, valid_to: datetime | None,
            *, object_type: str, client_id: Any = None) -> tuple[datetime, datetime]:
    if valid_from is None or valid_to is None:
        raise _refuse_input(actor, action, "period_missing", _("Give the start and the end."),
                            field_name="valid_to", object_type=object_type, client_id=client_id)
    if timezone.is_naive(valid_from) or timezone.is_naive(valid_to):
        raise _refuse_input(actor, action, "period_naive",
                            _("Dates need a time zone."), field_name="valid_from",
                            object_type=object_type, client_id=client_id)
    for name, value in (("valid_from", valid_from), ("valid_to", valid_to)):
        if not in_span(value):
            raise _refuse_input(actor, action, "period_out_of_range",
                                _("Dates must lie between the years 1900 and 2199."),
                                field_name=name, object_type=object_type, client_id=client_id)
    if valid_to <= valid_from:
        raise _refuse_input(actor, action, "period_inverted",
                            _("The period ends before it starts."), field_name="valid_to",
                            object_type=object_type, client_id=client_id)
    return valid_from, valid_to


def in_span(value: datetime) -> bool:
    """Whether the aware `value` lies in [EARLIEST, LATEST). False too when it cannot be
    converted to UTC at all (0001-01-01T00:00+14:00, 9999-12-31T23:59-14:00), which
    Django would otherwise raise as OverflowError when storing or comparing it."""
    try:
        return EARLIEST <= value.astimezone(UTC) < LATEST
    except OverflowError:
        return False


_R = TypeVar("_R")


def _create_unless_overlapping(holder: Any, overlapping: Any, create: Callable[[], _R]
                               ) -> _R | None:
    """`create()` in a transaction, unless `overlapping` (a queryset the caller has
    already checked once, to refuse early) has a row once `holder`'s row is held: a row
    lock on PostgreSQL, and on SQLite every write transaction already holds the
    database's write lock. So two simultaneous submissions store one. None when the
    other won; the caller records that refusal after this transaction, so its entry
    stays."""
    with transaction.atomic():
        type(holder).objects.select_for_update().filter(pk=holder.pk).values_list(
            "pk", flat=True).first()
        if overlapping.exists():
            return None
        return create()


def scan_media_type(data: bytes) -> str | None:
    """The media type of a signed scan from its first bytes (PDF, JPEG, PNG, TIFF);
    None for anything else."""
    return next((media for magic, media in _SCAN_MAGIC if data.startswith(magic)), None)


def notify(users: Iterable[User], kind: str, params: dict[str, Any], url: str = "") -> int:
    """Queue one notification per user (ids and names only, never client data values)."""
    rows = [Notification(user=u, kind=kind, params=params, url=url) for u in users]
    Notification.objects.bulk_create(rows)
    return len(rows)


def _compliance() -> list[User]:
    return list(User.objects.filter(role=Role.COMPLIANCE, is_active=True))


def notification_read_all(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


# --- Agreements (F23) and training (F24) -------------------------------------------------


def agreement_record(
    *,
    actor: User,
    person: User,
    kind: str,
    valid_from: datetime | None,
    valid_to: datetime | None,
    scan: bytes | None = None,
    scan_name: str = "",
) -> ConfidentialityAgreement:
    """Register a signed confidentiality agreement; the scan is sealed through the door.

    Refused (and recorded): one's own agreement (403 ``self_action``), inverted periods,
    an overlap with another agreement of the same type for the same person, unknown
    types, a type that does not serve the person's role (``agreement_kind_mismatch``,
    `selectors.registry_agreement_kind`), no scan (``scan_required``), scans over
    10 MiB or not a PDF or image. Ledger: ``agreement.record``.
    """
    _check_registrar(actor, person, "agreement.record")
    if kind not in AgreementKind.values:
        raise _refuse_input(actor, "agreement.record", "unknown_kind", _("Unknown type."),
                            field_name="kind", object_type="user")
    start, end = _period(actor, "agreement.record", valid_from, valid_to, object_type="user")
    _check_agreement_kind(actor, person, kind)
    if not scan:
        raise _refuse_input(actor, "agreement.record", "scan_required",
                            _("Attach the signed scan (PDF or image)."), field_name="scan",
                            object_type="user", object_id=person.pk)
    if len(scan) > MAX_SCAN_BYTES:
        raise _refuse_input(actor, "agreement.record", "scan_too_large",
                            _("The scan is larger than 10 MiB."), field_name="scan",
                            object_type="user")
    if scan and scan_media_type(scan) is None:
        raise _refuse_input(actor, "agreement.record", "scan_type",
                            _("The scan must be a PDF or an image (JPEG, PNG or TIFF)."),
                            field_name="scan", object_type="user")
    overlapping = ConfidentialityAgreement.objects.filter(
        person=person, kind=kind, ended_at__isnull=True, valid_from__lt=end, valid_to__gt=start
    )
    if overlapping.exists():
        raise _agreement_overlaps(actor, person)
    row = _create_unless_overlapping(person, overlapping, lambda: _agreement_create(
        actor=actor, person=person, kind=kind, start=start, end=end, scan=scan,
        scan_name=scan_name))
    if row is None:
        raise _agreement_overlaps(actor, person)
    return row


def _check_agreement_kind(actor: User, person: User, kind: str) -> None:
    """Refuse (and record) a type that cannot serve `person`'s role: the read gate
    counts only the role's own type (`selectors.gate_agreement_kind`), so any other
    would be on record yet open nothing. `detail.allowed_kinds` names the one that fits."""
    fitting = selectors.registry_agreement_kind(person.role)
    if kind == fitting:
        return
    if fitting:
        message = _("“%(kind)s” does not apply to the role “%(role)s”: record "
                    "“%(fitting)s” instead.") % {
            "kind": AgreementKind(kind).label, "role": person.get_role_display(),
            "fitting": AgreementKind(fitting).label}
    else:
        message = _("No confidentiality agreement can be recorded for this person's role.")
    err = _refuse_input(actor, "agreement.record", "agreement_kind_mismatch", message,
                        field_name="kind", object_type="user", object_id=person.pk)
    err.detail["allowed_kinds"] = [fitting] if fitting else []
    raise err


def _agreement_overlaps(actor: User, person: User) -> ValidationFailed:
    return _refuse_input(actor, "agreement.record", "period_overlaps",
                         _("This period overlaps another agreement of the same type."),
                         field_name="valid_from", object_type="user", object_id=person.pk)


def _agreement_create(*, actor: User, person: User, kind: str, start: datetime,
                      end: datetime, scan: bytes, scan_name: str
                      ) -> ConfidentialityAgreement:
    """Store the agreement and its sealed scan, in the caller's transaction."""
    from baomi.vault import door

    row = ConfidentialityAgreement.objects.create(
        person=person, kind=kind, valid_from=start, valid_to=end, recorded_by=actor,
        scan_name=scan_name[:200],
    )
    if scan:
        door.sealed_file_write(actor=actor, obj=row, name="scan", data=scan)
        row.scan_sha256 = hashlib.sha256(scan).hexdigest()
        row.scan_size = len(scan)
        row.save(update_fields=["scan_sha256", "scan_size"])
    record(actor, "agreement.record", object_type="agreement", object_id=row.pk,
           reason=f"person={person.pk} kind={kind} to={end.date().isoformat()}")
    return row


def agreement_renew(*, actor: User, agreement: ConfidentialityAgreement,
                    valid_to: datetime | None, scan: bytes | None = None,
                    scan_name: str = "", now: datetime | None = None
                    ) -> ConfidentialityAgreement:
    """Renew an agreement: a new agreement of the same person and type, with its own
    signed scan, from the end of the old one (or from now, if it has lapsed) to
    `valid_to`. The old row is kept unchanged. Refused as `agreement_record` refuses,
    and `not_latest` when a later agreement of that type already exists.
    Ledger: ``agreement.record`` (reason names the agreement renewed)."""
    _check_registrar(actor, agreement.person, "agreement.record")
    now = now or timezone.now()
    later = ConfidentialityAgreement.objects.filter(
        person_id=agreement.person_id, kind=agreement.kind, ended_at__isnull=True,
        valid_to__gt=agreement.valid_to).exists()
    if later:
        raise _refuse_input(actor, "agreement.record", "not_latest",
                            _("A later agreement of this type is already on record."),
                            field_name="valid_to", object_type="agreement",
                            object_id=agreement.pk)
    start = max(agreement.valid_to, now)
    return agreement_record(actor=actor, person=agreement.person, kind=agreement.kind,
                            valid_from=start, valid_to=valid_to, scan=scan,
                            scan_name=scan_name)


def agreement_scan_read(*, actor: User, agreement: ConfidentialityAgreement,
                        purpose: str) -> bytes:
    """The signed scan of an agreement, opened through the vault door (administrators
    and compliance; ledger ``sealed_file.read`` with the purpose). Raises
    `AccessDenied`, `RecordCorrupted`."""
    from baomi.vault import door

    return door.sealed_file_read(actor=actor, obj=agreement, name="scan", purpose=purpose)


def training_record(
    *, actor: User, person: User, course: str, valid_from: datetime | None,
    valid_to: datetime | None,
) -> TrainingRecord:
    """Register completed training. Refused: one's own (403 ``self_action``), blank
    course, inverted or overlapping periods for the same course. Ledger: ``training.record``."""
    _check_registrar(actor, person, "training.record")
    name = _typed(actor, "training.record", course, limit=200, field_name="course",
                  object_type="user", missing_code="course_missing")
    start, end = _period(actor, "training.record", valid_from, valid_to, object_type="user")
    overlapping = TrainingRecord.objects.filter(person=person, course=name, valid_from__lt=end,
                                                valid_to__gt=start)
    def create() -> TrainingRecord:
        made = TrainingRecord.objects.create(person=person, course=name, valid_from=start,
                                             valid_to=end, recorded_by=actor)
        record(actor, "training.record", object_type="training", object_id=made.pk,
               reason=f"person={person.pk} to={end.date().isoformat()}")
        return made

    row = None if overlapping.exists() else _create_unless_overlapping(
        person, overlapping, create)
    if row is None:
        raise _refuse_input(actor, "training.record", "period_overlaps",
                            _("This period overlaps another record of the same course."),
                            field_name="valid_from", object_type="user", object_id=person.pk)
    return row


def training_renew(*, actor: User, training: TrainingRecord, valid_to: datetime | None,
                   now: datetime | None = None) -> TrainingRecord:
    """Record renewed training of the same course, from the end of the old record (or
    from now, if it has lapsed) to `valid_to`. Refused as `training_record` refuses,
    and `not_latest` when a later record of the course exists. Ledger:
    ``training.record``."""
    _check_registrar(actor, training.person, "training.record")
    now = now or timezone.now()
    if TrainingRecord.objects.filter(person_id=training.person_id, course=training.course,
                                     valid_to__gt=training.valid_to).exists():
        raise _refuse_input(actor, "training.record", "not_latest",
                            _("A later record of this course is already on record."),
                            field_name="valid_to", object_type="training",
                            object_id=training.pk)
    return training_record(actor=actor, person=training.person, course=training.course,
                           valid_from=max(training.valid_to, now), valid_to=valid_to)


def partner_org_create(*, actor: User, name: str, registration_no: str = "",
                       vetted_on: date | None = None, exists_ok: bool = True
                       ) -> PartnerOrganisation:
    """Register a partner organisation (F25). With `exists_ok` (the default, for scripts
    and the demo) an existing organisation of the same name is returned; without it the
    name is refused as `name_taken`. Ledger: ``partner.create``."""
    _check_roles(actor, {Role.ADMIN, Role.COMPLIANCE}, ledger_action="partner.create",
                 object_type="partner_org")
    clean = _typed(actor, "partner.create", name, limit=200, field_name="name",
                   object_type="partner_org", missing_code="name_missing")
    number = _typed(actor, "partner.create", registration_no, limit=40,
                    field_name="registration_no", object_type="partner_org")
    if not exists_ok and PartnerOrganisation.objects.filter(name__iexact=clean).exists():
        raise _refuse_input(actor, "partner.create", "name_taken",
                            _("A partner organisation with this name already exists."),
                            field_name="name", object_type="partner_org")
    with transaction.atomic():
        org, created = PartnerOrganisation.objects.get_or_create(
            name=clean, defaults={"registration_no": number,
                                  "vetted_on": vetted_on}
        )
        if created:
            record(actor, "partner.create", object_type="partner_org", object_id=org.pk)
    return org


def partner_org_update(*, actor: User, org: PartnerOrganisation, name: str,
                       registration_no: str = "", vetted_on: date | None = None
                       ) -> PartnerOrganisation:
    """Rename or correct a partner organisation. Refused (and recorded): a blank name, a
    name another organisation has (`name_taken`). Ledger: ``partner.update``."""
    act = "partner.update"
    _check_roles(actor, {Role.ADMIN, Role.COMPLIANCE}, ledger_action=act,
                 object_type="partner_org", object_id=org.pk)
    clean = _typed(actor, act, name, limit=200, field_name="name", object_type="partner_org",
                   object_id=org.pk, missing_code="name_missing")
    number = _typed(actor, act, registration_no, limit=40, field_name="registration_no",
                    object_type="partner_org", object_id=org.pk)
    if PartnerOrganisation.objects.filter(name__iexact=clean).exclude(pk=org.pk).exists():
        raise _refuse_input(actor, act, "name_taken",
                            _("A partner organisation with this name already exists."),
                            field_name="name", object_type="partner_org", object_id=org.pk)
    with transaction.atomic():
        row = PartnerOrganisation.objects.select_for_update().get(pk=org.pk)
        fields = (("name", clean), ("registration_no", number), ("vetted_on", vetted_on))
        changed = [f for f, v in fields if getattr(row, f) != v]
        for f, v in fields:
            setattr(row, f, v)
        if changed:
            row.save(update_fields=changed)
            record(actor, act, object_type="partner_org", object_id=row.pk,
                   reason="fields=" + ",".join(changed))
    return row


def partner_org_deactivate(*, actor: User, org: PartnerOrganisation) -> dict[str, int]:
    """Deactivate a partner organisation (合作终止): every live authorization naming it
    is revoked and each of its people's accounts is deactivated (their own
    authorizations, tokens and sessions end too), in one transaction. The organisation
    stays listed, with its history, and can be named in no new authorization.
    Idempotent. Ledger: ``partner.deactivate`` plus one entry per grant ended."""
    act = "partner.deactivate"
    _check_roles(actor, {Role.ADMIN, Role.COMPLIANCE}, ledger_action=act,
                 object_type="partner_org", object_id=org.pk)
    out = {"authorizations": 0, "people": 0}
    with transaction.atomic():
        row = PartnerOrganisation.objects.select_for_update().get(pk=org.pk)
        if not row.active:
            return out
        row.active = False
        row.deactivated_at = timezone.now()
        row.save(update_fields=["active", "deactivated_at"])
        record(actor, act, object_type="partner_org", object_id=row.pk)
        for auth in ClientAuthorization.objects.filter(grantee_org=row, revoked_at__isnull=True):
            _revoke_authorization(actor, auth, "partner_deactivated")
            out["authorizations"] += 1
        # Every member, also one whose account is deactivated for now: their own
        # authorizations must end too, or a later reactivation of the account would
        # reach client data again through them.
        for person in User.objects.filter(partner_org=row):
            _end_grants(actor, person, "partner_deactivated")
            if person.is_active:
                user_deactivate(user=person, actor=actor)
            out["people"] += 1
    org.refresh_from_db()
    return out


def partner_org_reactivate(*, actor: User, org: PartnerOrganisation) -> PartnerOrganisation:
    """Make a deactivated organisation nameable again. Its people's accounts and its
    revoked authorizations stay as they are (each is restored on its own, deliberately).
    Ledger: ``partner.reactivate``."""
    act = "partner.reactivate"
    _check_roles(actor, {Role.ADMIN, Role.COMPLIANCE}, ledger_action=act,
                 object_type="partner_org", object_id=org.pk)
    with transaction.atomic():
        n = PartnerOrganisation.objects.filter(pk=org.pk, active=False).update(
            active=True, deactivated_at=None)
        if n:
            record(actor, act, object_type="partner_org", object_id=org.pk)
    org.refresh_from_db()
    return org


# --- Purposes (查询目的, F08) --------------------------------------------------------------


def _purpose_text(actor: User, act: str, text: str, *, exclude: int | None = None,
                  object_id: Any = "") -> str:
    # As a stated purpose is read (`stated`): invisible and control characters say
    # nothing, so a list entry of them alone is no purpose.
    clean = stated(text)
    if not clean:
        raise _refuse_input(actor, act, "purpose_required", _("Enter the purpose."),
                            field_name="text", object_type="purpose", object_id=object_id)
    if len(clean) > PURPOSE_MAX_CHARS:
        raise _refuse_input(actor, act, "purpose_too_long",
                            _("A purpose may have at most 100 characters."),
                            field_name="text", object_type="purpose", object_id=object_id)
    taken = Purpose.objects.filter(text__iexact=clean)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise _refuse_input(actor, act, "purpose_taken",
                            _("This purpose is already on the list."),
                            field_name="text", object_type="purpose", object_id=object_id)
    return clean


def purpose_add(*, actor: User, text: str) -> Purpose:
    """Add a purpose to the end of the list offered with reads of 内部 and above.
    Refused (and recorded): blank or whitespace-only, over 100 characters, already
    listed (retired ones count: restore them instead). Ledger: ``purpose.create``."""
    act = "purpose.create"
    _check_roles(actor, {Role.ADMIN, Role.COMPLIANCE}, ledger_action=act, object_type="purpose")
    clean = _purpose_text(actor, act, text)
    with transaction.atomic():
        last = Purpose.objects.order_by("-position").values_list("position", flat=True).first()
        row = Purpose.objects.create(text=clean, position=(last or 0) + 1)
        record(actor, act, object_type="purpose", object_id=row.pk)
    return row


def purpose_rename(*, actor: User, purpose: Purpose, text: str) -> Purpose:
    """Reword a purpose. Reads already recorded keep the words they were made with.
    Refused as for `purpose_add`. Ledger: ``purpose.rename``."""
    act = "purpose.rename"
    _check_roles(actor, {Role.ADMIN, Role.COMPLIANCE}, ledger_action=act, object_type="purpose",
                 object_id=purpose.pk)
    clean = _purpose_text(actor, act, text, exclude=purpose.pk, object_id=purpose.pk)
    with transaction.atomic():
        if Purpose.objects.filter(pk=purpose.pk).exclude(text=clean).update(text=clean):
            record(actor, act, object_type="purpose", object_id=purpose.pk)
    purpose.refresh_from_db()
    return purpose


def purpose_set_active(*, actor: User, purpose: Purpose, active: bool) -> Purpose:
    """Retire a purpose (no longer offered) or restore it. The last offered purpose
    cannot be retired (`purpose_last`): an empty list would silently fall back to the
    built-in defaults. Ledger: ``purpose.retire`` / ``purpose.restore``."""
    act = "purpose.restore" if active else "purpose.retire"
    _check_roles(actor, {Role.ADMIN, Role.COMPLIANCE}, ledger_action=act, object_type="purpose",
                 object_id=purpose.pk)
    with transaction.atomic():
        others = Purpose.objects.select_for_update().filter(active=True).exclude(pk=purpose.pk)
        last = not active and not others.exists()
        if not last and Purpose.objects.filter(pk=purpose.pk).exclude(active=active).update(
                active=active):
            record(actor, act, object_type="purpose", object_id=purpose.pk)
    if last:
        # Recorded outside the transaction above, so the refusal is kept.
        raise _refuse_input(actor, act, "purpose_last",
                            _("At least one purpose must stay on the list."),
                            field_name="text", object_type="purpose", object_id=purpose.pk)
    purpose.refresh_from_db()
    return purpose


def purpose_move(*, actor: User, purpose: Purpose, up: bool) -> Purpose:
    """Move a purpose one place up or down the list (positions are renumbered 1…n so
    ties left by older data cannot stall a move). Ledger: ``purpose.reorder``."""
    act = "purpose.reorder"
    _check_roles(actor, {Role.ADMIN, Role.COMPLIANCE}, ledger_action=act, object_type="purpose",
                 object_id=purpose.pk)
    with transaction.atomic():
        rows = list(Purpose.objects.select_for_update().order_by("position", "id"))
        i = next(n for n, r in enumerate(rows) if r.pk == purpose.pk)
        j = i - 1 if up else i + 1
        if 0 <= j < len(rows):
            rows[i], rows[j] = rows[j], rows[i]
            for n, r in enumerate(rows, start=1):
                if r.position != n:
                    Purpose.objects.filter(pk=r.pk).update(position=n)
            record(actor, act, object_type="purpose", object_id=purpose.pk,
                   reason="up" if up else "down")
    purpose.refresh_from_db()
    return purpose


# --- Client authorizations (F07) ---------------------------------------------------------


@dataclass(frozen=True)
class ScopeInput:
    levels: Sequence[str] = ()
    categories: Sequence[str] = ()
    document_ids: Sequence[int] = ()
    # What a form sent that names no level, category or document id: a scope with any
    # is refused (`scope_unreadable`), never narrowed to the rest without a word.
    unreadable: Sequence[str] = ()

    def clean(self) -> ScopeInput:
        levels, categories = policy.Level._value2member_map_, policy.Category._value2member_map_
        unknown = [*(v for v in self.levels if v not in levels),
                   *(v for v in self.categories if v not in categories), *self.unreadable]
        return ScopeInput(
            tuple(sorted({v for v in self.levels if v in levels})),
            tuple(sorted({v for v in self.categories if v in categories})),
            tuple(sorted({int(v) for v in self.document_ids})),
            tuple(str(v) for v in unknown),
        )

    @property
    def empty(self) -> bool:
        return not (self.levels or self.categories or self.document_ids)

    def as_dict(self) -> dict[str, list[Any]]:
        return {"levels": list(self.levels), "categories": list(self.categories),
                "document_ids": list(self.document_ids)}


@dataclass(frozen=True)
class AuthorizationTerms:
    """What a client authorization says: who, which client, what scope, which period."""

    client_id: int
    grantee_user_id: int | None
    grantee_org_id: int | None
    scope: ScopeInput
    valid_from: datetime
    valid_to: datetime
    extra: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {
            "client": self.client_id,
            "user": self.grantee_user_id,
            "org": self.grantee_org_id,
            "scope": self.scope.clean().as_dict(),
            "from": self.valid_from.isoformat(),
            "to": self.valid_to.isoformat(),
        }


def authorization_form_issue(*, actor: User, client: Client, grantee_user_id: int | None,
                             grantee_org_id: int | None, scope: ScopeInput,
                             valid_from: datetime | None, valid_to: datetime | None) -> bytes:
    """The form (PDF) for these terms, for the client to sign, for those who may record
    an authorization. Refused (and recorded) like a grant: no grantee or one who is not a
    partner, a scope that is empty or names something unknown, a period missing, without
    a time zone, inverted or too long.
    Ledger: ``authorization.form``."""
    act = "authorization.form"
    require_allowed(actor, policy.Action.AUTHORIZATION_GRANT, selectors.client_resource(client),
                    ledger_action=act, object_type="client", object_id=client.pk)
    user = User.objects.filter(pk=grantee_user_id).first() if grantee_user_id else None
    org = (PartnerOrganisation.objects.filter(pk=grantee_org_id).first()
           if grantee_org_id else None)
    if (user is None) == (org is None):
        raise _refuse_input(actor, act, "grantee_missing",
                            _("Name exactly one person or one partner organisation."),
                            field_name="grantee", object_type="client", client_id=client.pk)
    _check_grantee_partner(actor, act, client, user)
    scope = _scope_checked(actor, act, client, scope)
    start, end = _authorization_period(actor, act, client, valid_from, valid_to)
    terms = AuthorizationTerms(client.pk, user.pk if user else None, org.pk if org else None,
                               scope, start, end)
    record(actor, act, object_type="client", object_id=client.pk, client_id=client.pk)
    return authorization_form_pdf(terms, client_name=client.name, grantee=str(user or org),
                                  issued_by=actor)


def _form_terms(token: str | None) -> tuple[dict[str, Any] | None, str]:
    """The terms a form's code signs (without its nonce), or None if it is not valid, and
    its nonce ("" in forms printed before nonces were added)."""
    try:
        signed = signing.loads(token or "", salt=FORM_SALT)
    except signing.BadSignature:
        return None, ""
    if not isinstance(signed, dict):
        return None, ""
    return signed, str(signed.pop("n", "") or "")


class _IssuedAt(signing.TimestampSigner):
    """`signing.dumps`' signer, stamped at a given time instead of the clock's."""

    def __init__(self, at: datetime) -> None:
        super().__init__(salt=FORM_SALT)
        self.at = at

    def timestamp(self) -> str:
        return signing.b62_encode(int(self.at.timestamp()))


def authorization_form_pdf(terms: AuthorizationTerms, *, client_name: str, grantee: str,
                           issued_by: User | None = None,
                           issued_at: datetime | None = None) -> bytes:
    """The authorization form (PDF) for the client to sign electronically, registered as
    issued (`AuthorizationForm`). Its code (HMAC, server key) carries the terms and a
    nonce: every form is a different code, and a code grants once (`form_code`), however
    alike the terms of two forms are. The code's timestamp is the issue time: the form
    is valid for `authorization_form_days` from then (printed on it), checked from the
    code alone, so also after the scheduler deleted the expired registration."""
    from baomi.access import exports

    issued_at = issued_at or timezone.now()
    nonce = secrets.token_hex(8)
    code = _IssuedAt(issued_at).sign_object({**terms.payload(), "n": nonce}, compress=True)
    pdf = exports.authorization_form(terms, code, client_name=client_name, grantee=grantee,
                                     expires=authorization_form_expiry(issued_at))
    AuthorizationForm.objects.create(nonce=nonce, client_id=terms.client_id,
                                     issued_by=issued_by, issued_at=issued_at, size=len(pdf),
                                     sha256=hashlib.sha256(pdf).hexdigest())
    return pdf


def authorization_form_days() -> int:
    """How long an issued authorization form may be signed and recorded, in days
    (`BAOMI_AUTHORIZATION_FORM_DAYS`, default 90; at least one day)."""
    return max(1, int(getattr(settings, "BAOMI_AUTHORIZATION_FORM_DAYS",
                              AUTHORIZATION_FORM_DAYS)))


def authorization_form_expiry(issued_at: datetime) -> datetime:
    """When a form issued at `issued_at` expires (a whole second, as its code's stamp)."""
    return issued_at.replace(microsecond=0) + timedelta(days=authorization_form_days())


def _form_expired(token: str) -> bool:
    """Whether a (valid) form code is older than `authorization_form_days`."""
    try:
        signing.loads(token, salt=FORM_SALT,
                      max_age=timedelta(days=authorization_form_days()))
    except signing.SignatureExpired:
        return True
    except signing.BadSignature:  # checked before: the terms matched
        return False
    return False


# How early compliance hears that a configured revocation list needs renewing.
REVOCATION_LIST_NOTICE = timedelta(days=2)


def revocation_lists_check(*, now: datetime | None = None) -> int:
    """Tell compliance (a notification each, once per list and next update) of every
    configured revocation list (`formsig.revocation_lists_due`) due within
    `REVOCATION_LIST_NOTICE` or already out of date: past its next update, every signed
    form under that CA is refused (`form_revocation_stale`) until the file is renewed.
    Returns how many lists are due. An unreadable list is the system check's to report
    (`baomi.E002`): logged here, nothing sent."""
    now = now or timezone.now()
    try:
        due = formsig.revocation_lists_due(now, REVOCATION_LIST_NOTICE)
    except formsig.FormRefused:
        log.error("BAOMI_FORM_CRLS: a revocation list cannot be read (see baomi.E002)")
        return 0
    officers = _compliance()
    for item in due:
        when = (timezone.localtime(item.next_update).strftime("%Y-%m-%d %H:%M")
                if item.next_update else "—")  # (a list without one is never current)
        params = {"issuer": item.issuer, "due": when}
        told = {n.user_id for n in Notification.objects.filter(
            kind="revocation_list_due", params=params)}
        notify([u for u in officers if u.pk not in told], "revocation_list_due", params)
        log.warning("revocation list of %s is due by %s", item.issuer, when)
    return len(due)


def authorization_forms_expire(*, now: datetime | None = None) -> int:
    """Scheduler job: delete the issued forms past their validity that never recorded an
    authorization (`used_at` unset); used ones are kept. Nothing is lost: an upload of an
    expired form is refused as ``form_expired`` from its code alone, and a used one as
    ``form_reused`` from the authorization's `form_code`. Ledger:
    ``authorization.form_expire`` by ``scheduler``, one entry per client (``count=N``)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=authorization_form_days())
    done = 0
    stale = AuthorizationForm.objects.filter(used_at__isnull=True, issued_at__lt=cutoff)
    for client_id in sorted(set(stale.values_list("client_id", flat=True))):
        with transaction.atomic():
            n, _by_model = stale.filter(client_id=client_id).delete()
            if n:
                record("scheduler", "authorization.form_expire", object_type="client",
                       object_id=client_id, client_id=client_id, reason=f"count={n}")
                done += n
    return done


def _form_token_from(data: bytes) -> str | None:
    from baomi.access import exports

    return exports.form_token(data)


def authorization_grant(
    *,
    actor: User,
    client: Client,
    grantee_user: User | None = None,
    grantee_org: PartnerOrganisation | None = None,
    scope: ScopeInput,
    valid_from: datetime | None,
    valid_to: datetime | None,
    form: bytes | None = None,
    form_name: str = "authorization.pdf",
    form_document: Any = None,
) -> ClientAuthorization:
    """Record a client authorization.

    A client portal user grants for their own company (`via=portal`). Staff record the
    client's signed form: `form` must be the PDF Baomi issued for these exact terms,
    signed electronically (`formsig.check`: refused as `form_tampered`,
    `form_unsigned`, `form_signature_invalid`, `form_signer_untrusted`,
    `form_signer_not_client`, `form_signer_revoked`, `form_revocation_unknown`,
    `form_revocation_stale`, `form_check_unavailable`, `form_expired`, `form_outdated`,
    `form_reused`, `form_too_large`), and it
    is stored as a confidential document of the client through the vault door.
    Refused (and recorded): the actor naming themselves (403 ``self_action``), no
    grantee, a person who is not a partner's staff (``grantee_not_partner``), empty
    scope, inverted periods, periods longer than `authorization_max_days`
    (``period_too_long``), overlap with a live authorization for the same grantee.
    Ledger: ``authorization.grant``.
    """
    obj = selectors.client_resource(client)
    require_allowed(actor, policy.Action.AUTHORIZATION_GRANT, obj,
                    ledger_action="authorization.grant", object_type="client",
                    object_id=client.pk)
    act = "authorization.grant"
    if grantee_user is not None and grantee_user.pk == actor.pk:
        # Recording a client's consent is a grant like any other: not to oneself.
        raise _refuse_self(actor, act, _("You cannot record an authorization naming yourself."),
                           field_name="grantee", object_id=grantee_user.pk,
                           client_id=client.pk)
    if (grantee_user is None) == (grantee_org is None):
        raise _refuse_input(actor, act, "grantee_missing",
                            _("Name exactly one person or one partner organisation."),
                            field_name="grantee", object_type="client", client_id=client.pk)
    if grantee_user is not None and (not grantee_user.is_active
                                     or grantee_user.status == StaffStatus.LEFT):
        raise _refuse_input(actor, act, "grantee_inactive",
                            _("This person's account is no longer active."),
                            field_name="grantee", object_type="client", client_id=client.pk)
    _check_grantee_partner(actor, act, client, grantee_user)
    clean = _scope_checked(actor, act, client, scope)
    if grantee_org is not None and not grantee_org.active:
        raise _refuse_input(actor, act, "partner_inactive",
                            _("This partner organisation has been deactivated."),
                            field_name="grantee", object_type="client", client_id=client.pk)
    start, end = _authorization_period(actor, act, client, valid_from, valid_to)
    same = Q(grantee_user=grantee_user) if grantee_user else Q(grantee_org=grantee_org)
    overlapping = ClientAuthorization.objects.filter(
        same, client=client, revoked_at__isnull=True, valid_from__lt=end, valid_to__gt=start)
    if overlapping.exists():
        raise _authorization_overlaps(actor, client)
    terms = AuthorizationTerms(client.pk, grantee_user.pk if grantee_user else None,
                               grantee_org.pk if grantee_org else None, clean, start, end)
    via = AuthorizationVia.PORTAL if actor.role == Role.CLIENT else AuthorizationVia.FORM
    if via == AuthorizationVia.FORM and form is None and form_document is not None:
        form = _document_bytes(actor, form_document)
    if via == AuthorizationVia.FORM and form and len(form) > MAX_SCAN_BYTES:
        raise _refuse_form(actor, client, "form_too_large")
    if via == AuthorizationVia.FORM:
        if not form:
            raise _refuse_input(actor, act, "form_missing",
                                _("Upload the client's signed authorization form."),
                                field_name="form", object_type="client", client_id=client.pk)
        token = _form_token_from(form)
        signed, nonce = _form_terms(token)
        if signed != terms.payload():
            raise _refuse_form(actor, client, "form_tampered")
        # Reuse first: it is known from the authorizations alone, so it stays
        # `form_reused` after the issued form's registration is gone.
        form_code = hashlib.sha256((token or "").encode()).hexdigest()
        if ClientAuthorization.objects.filter(form_code=form_code).exists():
            raise _form_reused(actor, act, client)
        if _form_expired(token or ""):
            raise _refuse_form(actor, client, "form_expired")
        issued = AuthorizationForm.objects.filter(nonce=nonce, client=client).first()
        if issued is None:
            # Printed before forms were registered: there is nothing to check its
            # signature against. The client signs a new one.
            raise _refuse_form(actor, client, "form_outdated")
        try:
            signature = formsig.check(form, issued_size=issued.size,
                                      issued_sha256=issued.sha256, uscc=client.uscc)
        except formsig.FormRefused as exc:
            raise _refuse_form(actor, client, exc.code) from exc
    else:
        form_code, signature, issued = "", None, None
    try:
        row = _create_unless_overlapping(client, overlapping, lambda: _grant(
            actor=actor, client=client, grantee_user=grantee_user, grantee_org=grantee_org,
            clean=clean, start=start, end=end, via=via, form=form, form_name=form_name,
            form_document=form_document, form_code=form_code, signature=signature,
            issued=issued))
    except IntegrityError as exc:
        if form_code and ClientAuthorization.objects.filter(form_code=form_code).exists():
            raise _form_reused(actor, act, client) from exc  # a simultaneous upload won
        raise
    if row is None:  # a simultaneous grant overlaps: refused outside its transaction
        raise _authorization_overlaps(actor, client)
    return row


def _refuse_form(actor: User, client: Client, code: str) -> ValidationFailed:
    """Refuse (and record) a grant whose signed form is not accepted (`formsig.MESSAGES`
    has every such code's message)."""
    return _refuse_input(actor, "authorization.grant", code, str(formsig.MESSAGES[code]),
                         field_name="form", object_type="client", client_id=client.pk)


def _check_grantee_partner(actor: User, act: str, client: Client, user: User | None) -> None:
    """Only partners reach client data through an authorization (the matrix's
    `authorized` cells): naming staff, an auditor or a portal user gives them nothing,
    yet tells them the client's name and shows a grant in the reviews."""
    if user is not None and user.role != Role.PARTNER:
        raise _refuse_input(actor, act, "grantee_not_partner",
                            _("Only a partner's staff or a partner organisation can be named "
                              "in a client authorization."),
                            field_name="grantee", object_type="client", client_id=client.pk)
    if user is not None and user.partner_org is not None and not user.partner_org.active:
        raise _refuse_input(actor, act, "partner_inactive",
                            _("This partner organisation has been deactivated."),
                            field_name="grantee", object_type="client", client_id=client.pk)


def _scope_checked(actor: User, act: str, client: Client, scope: ScopeInput) -> ScopeInput:
    """`scope` cleaned; refused (and recorded) when it names something unknown
    (`scope_unreadable`), nothing (`scope_empty`) or a document that is not this
    client's (`scope_unknown_document`, also for no document at all)."""
    clean = scope.clean()
    if clean.unreadable:
        raise _refuse_input(actor, act, "scope_unreadable",
                            _("The scope names a level, category or document that does not "
                              "exist."),
                            field_name="scope", object_type="client", client_id=client.pk)
    if clean.empty:
        raise _refuse_input(actor, act, "scope_empty",
                            _("Choose at least one level, category or document."),
                            field_name="scope", object_type="client", client_id=client.pk)
    if clean.document_ids:
        from baomi.vault.models import Document

        known = set(Document.objects.filter(client=client, pk__in=clean.document_ids)
                    .values_list("pk", flat=True))
        if known != set(clean.document_ids):
            raise _refuse_input(actor, act, "scope_unknown_document",
                                _("A listed document does not belong to this client."),
                                field_name="scope", object_type="client", client_id=client.pk)
    return clean


def _authorization_period(actor: User, act: str, client: Client, valid_from: datetime | None,
                          valid_to: datetime | None) -> tuple[datetime, datetime]:
    """The period of an authorization (or of its form): as `_period`, and at most
    `authorization_max_days` long (F07/F25: access is time-limited; a century-long
    consent is a typing error or a way round the periodic review)."""
    start, end = _period(actor, act, valid_from, valid_to, object_type="client",
                         client_id=client.pk)
    longest = authorization_max_days()
    if end - start > timedelta(days=longest):
        raise _refuse_input(actor, act, "period_too_long",
                            _("A client authorization may cover at most %(days)d days.")
                            % {"days": longest},
                            field_name="valid_to", object_type="client", client_id=client.pk)
    return start, end


def authorization_max_days() -> int:
    """The longest period a client authorization may cover, in days
    (`BAOMI_AUTHORIZATION_MAX_DAYS`, default three years; at least one day)."""
    return max(1, int(getattr(settings, "BAOMI_AUTHORIZATION_MAX_DAYS",
                              AUTHORIZATION_MAX_DAYS)))


def _authorization_overlaps(actor: User, client: Client) -> ValidationFailed:
    return _refuse_input(actor, "authorization.grant", "period_overlaps",
                         _("A live authorization for this grantee overlaps this period."),
                         field_name="valid_from", object_type="client", client_id=client.pk)


def _form_reused(actor: User, act: str, client: Client) -> ValidationFailed:
    return _refuse_input(actor, act, "form_reused", str(formsig.MESSAGES["form_reused"]),
                         field_name="form", object_type="client", client_id=client.pk)


def _grant(*, actor: User, client: Client, grantee_user: User | None,
           grantee_org: PartnerOrganisation | None, clean: ScopeInput, start: datetime,
           end: datetime, via: str, form: bytes | None, form_name: str, form_document: Any,
           form_code: str, signature: formsig.Signature | None,
           issued: AuthorizationForm | None) -> ClientAuthorization:
    """Store the authorization, in the caller's transaction, and mark the issued form
    used (kept past its validity). The client's portal users are told of one recorded
    from a signed form, so a form they did not sign is seen."""
    form_doc = form_document
    if form and via == AuthorizationVia.FORM and form_doc is None:
        form_doc = _store_client_file(actor, client, form, form_name,
                                      title=_("Signed client authorization form"))
    row = ClientAuthorization.objects.create(
        client=client, grantee_user=grantee_user, grantee_org=grantee_org,
        scope_levels=list(clean.levels), scope_categories=list(clean.categories),
        scope_document_ids=list(clean.document_ids), valid_from=start, valid_to=end,
        via=via, form_document=form_doc,
        form_sha256=hashlib.sha256(form).hexdigest() if form else "",
        form_code=form_code,
        form_signer_sha256=signature.signer_sha256 if signature else "",
        form_signer_trusted=bool(signature and signature.trusted),
        recorded_by=actor,
    )
    if issued is not None:
        AuthorizationForm.objects.filter(pk=issued.pk).update(used_at=row.created_at)
    who = f"user={grantee_user.pk}" if grantee_user else f"org={grantee_org.pk}"  # type: ignore[union-attr]  # one is set
    signed = (f" signer={signature.signer_sha256[:16]} trusted={int(signature.trusted)}"
              if signature else "")
    record(actor, "authorization.grant", object_type="authorization", object_id=row.pk,
           client_id=client.pk, reason=f"{who} via={via} to={end.date().isoformat()}{signed}")
    recipients = [grantee_user] if grantee_user else list(grantee_org.members.all())  # type: ignore[union-attr]
    notify(recipients, "authorization_granted", {"client": client.name},
           url=reverse("access:home") + "#notifications")
    if via == AuthorizationVia.FORM:
        portal = User.objects.filter(portal_client=client, role=Role.CLIENT, is_active=True)
        notify(portal, "authorization_recorded",
               {"id": row.pk, "grantee": str(grantee_user or grantee_org),
                "to": timezone.localtime(end).date().isoformat()},
               url=f"/access/clients/{client.pk}/")
    return row


def _document_bytes(actor: User, document: Any) -> bytes:
    """The content of an uploaded signed form, opened through the vault door."""
    from baomi.vault import door
    from baomi.vault.selectors import version_get

    version = version_get(document=document)
    if version.size > MAX_SCAN_BYTES:
        raise _refuse_form(actor, document.client, "form_too_large")
    opened = door.document_open(actor=actor, version=version, purpose="核验客户授权书")
    return b"".join(opened.chunks())


def _store_client_file(actor: User, client: Client, data: bytes, filename: str, *,
                       title: str) -> Any:
    """Seal `data` as a confidential document of `client` through the vault door."""
    from baomi.vault import door
    from baomi.vault import services as vault_services
    from baomi.vault.uploads import SealedUpload

    session = door.upload_begin(actor=actor, client_id=client.pk, document=None,
                                filename=filename, content_type="application/pdf",
                                limit=MAX_SCAN_BYTES)
    try:
        session.write(data)
        session.finish()
    except BaseException:
        session.abort()
        raise
    kind = "pdf" if data.startswith(b"%PDF-") else "other"
    return vault_services.document_upload(
        actor=actor, client=client, upload=SealedUpload(session, kind), title=title,
        level="confidential", category="other",
    )


def authorization_revoke(*, actor: User, authorization: ClientAuthorization,
                         reason: str = "") -> ClientAuthorization:
    """Revoke at once (idempotent). A reason over `REASON_LIMIT` is refused (422
    `reason_too_long`). Ledger: ``authorization.revoke``."""
    obj = selectors.client_resource(authorization.client)
    require_allowed(actor, policy.Action.AUTHORIZATION_REVOKE, obj,
                    ledger_action="authorization.revoke", object_type="authorization",
                    object_id=authorization.pk)
    reason = stated(reason)  # no control characters (PostgreSQL refuses NUL) or surrogates
    _check_length(actor, "authorization.revoke", "reason", reason, field_name="reason",
                  object_type="authorization", object_id=authorization.pk,
                  client_id=authorization.client_id)
    # The typed reason is kept on the row; the ledger gets a code (free text may carry
    # client data, and nothing of that kind goes into an entry).
    return _revoke_authorization(actor, authorization, reason, code="by_request")


def _revoke_authorization(actor: Any, authorization: ClientAuthorization, reason: str, *,
                          code: str | None = None) -> ClientAuthorization:
    """`reason` is kept on the row; the entry's reason is `code`, or `reason` itself when
    that is a code of the system's own (partner deactivated, access review, leaving)."""
    with transaction.atomic():
        row = ClientAuthorization.objects.select_for_update().get(pk=authorization.pk)
        if row.revoked_at is None:
            row.revoked_at = timezone.now()
            row.revoked_by = actor if isinstance(actor, User) else None
            row.revoke_reason = stated(reason)
            row.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
            record(actor, "authorization.revoke", object_type="authorization",
                   object_id=row.pk, client_id=row.client_id,
                   reason=code if code is not None else row.revoke_reason[:100])
    return row


# --- Query requests (F08) ----------------------------------------------------------------


def client_approval_levels() -> frozenset[str]:
    raw = getattr(settings, "BAOMI_CLIENT_APPROVES_LEVELS", "")
    return frozenset(v.strip() for v in str(raw).split(",") if v.strip())


def client_may_approve(level: str) -> bool:
    """Whether requests whose highest level is `level` may be decided by the client."""
    return level in client_approval_levels()


def client_needs_second_factor(level: str) -> bool:
    """Whether a portal user deciding a request of `level` needs a two-factor session
    they do not have in this request (confidential and above, as the policy asks of
    staff)."""
    rank = policy.LEVEL_RANK[policy.Level(level)]
    return rank >= policy.LEVEL_RANK[policy.Level.CONFIDENTIAL] and not (
        context.current().mfa_verified)


def request_level(row: QueryRequest) -> str:
    """The highest level a request can reach (listed documents count with their own)."""
    levels = {str(v) for v in row.scope_levels}
    if row.scope_document_ids:
        from baomi.vault.models import Document

        levels |= set(Document.objects.filter(pk__in=row.scope_document_ids)
                      .values_list("level", flat=True))
    if not levels or (row.scope_categories and not row.scope_levels):
        return policy.Level.SECRET.value
    return max(levels, key=lambda v: policy.LEVEL_RANK.get(policy.Level(v), 3))


def _approvers(client: Client) -> list[User]:
    managers = User.objects.filter(role=Role.MANAGER, is_active=True).filter(
        Q(department_id=client.department_id) | Q(assignments__client=client)
    ) if client.department_id else User.objects.filter(role=Role.MANAGER, is_active=True,
                                                      assignments__client=client)
    return list({u.pk: u for u in [*managers, *_compliance()]}.values())


def request_create(
    *,
    actor: User,
    client: Client,
    scope: ScopeInput,
    purpose: str,
    valid_from: datetime | None,
    valid_to: datetime | None,
) -> QueryRequest:
    """File a query request. Refused (and recorded): blank purpose, a purpose over
    `PURPOSE_LIMIT` (422 `purpose_too_long`, never cut), empty scope,
    inverted windows or windows over 90 days, documents that are not this client's
    (another client's, or no document at all: `scope_unknown_document`, as
    `authorization_grant` refuses them). Approvers are notified. Ledger:
    ``query_request.create``."""
    act = "query_request.create"
    require_allowed(actor, policy.Action.QUERY_REQUEST_CREATE, selectors.client_resource(client),
                    ledger_action=act, object_type="client", object_id=client.pk)
    # Control and invisible format characters are removed (`stated`): a purpose of
    # nothing else (a zero-width space, a BOM, an escape sequence) states nothing.
    text = stated(purpose)
    if not text:
        raise _refuse_input(actor, act, "purpose_required",
                            _("State the purpose of this query (查询目的)."),
                            field_name="purpose", object_type="client", client_id=client.pk)
    # Never cut: a read under the request restates this purpose exactly.
    _check_length(actor, act, "purpose", text, field_name="purpose", object_type="client",
                  client_id=client.pk)
    clean = _scope_checked(actor, act, client, scope)
    start, end = _period(actor, act, valid_from, valid_to, object_type="client",
                         client_id=client.pk)
    if end - start > timedelta(days=MAX_REQUEST_DAYS):
        raise _refuse_input(actor, act, "period_too_long",
                            _("A query request may cover at most 90 days."),
                            field_name="valid_to", object_type="client", client_id=client.pk)
    with transaction.atomic():
        row = QueryRequest.objects.create(
            requester=actor, client=client, scope_levels=list(clean.levels),
            scope_categories=list(clean.categories), scope_document_ids=list(clean.document_ids),
            purpose=text, valid_from=start, valid_to=end,
        )
        record(actor, act, object_type="query_request", object_id=row.pk, client_id=client.pk,
               purpose=text)
        approvers = [u for u in _approvers(client) if u.pk != actor.pk]
        if client_may_approve(request_level(row)):
            approvers += list(User.objects.filter(role=Role.CLIENT, portal_client=client,
                                                  is_active=True))
        notify(approvers, "request_filed", {"id": row.pk, "by": str(actor)},
               url=reverse("access:home") + "#to-decide")
    return row


def request_resource(row: QueryRequest) -> policy.Resource:
    """A query request as the policy object its decision is made on (its level is the
    highest it can reach, `request_level`)."""
    return policy.Resource(
        kind=policy.ObjectKind.QUERY_REQUEST, id=row.pk, client_id=row.client_id,
        client_department=row.client.department_id,
        level=policy.Level(request_level(row)), owner_id=row.requester_id,
    )


def _decide_request(actor: User, row: QueryRequest, status: str, note: str) -> QueryRequest:
    act = "query_request.approve" if status == RequestStatus.APPROVED else "query_request.reject"
    obj = request_resource(row)
    if actor.role == Role.CLIENT:
        # The client decides requests for its own company, for the levels configured so.
        if not (actor.portal_client_id == row.client_id and client_may_approve(str(obj.level))
                and actor.is_active):
            record(actor, act, object_type="query_request", object_id=row.pk,
                   client_id=row.client_id, decision="refused", reason="role_not_permitted")
            raise AccessDenied(_("This request is not yours to decide."),
                               code="role_not_permitted")
        if row.requester_id == actor.pk:
            record(actor, act, object_type="query_request", object_id=row.pk,
                   client_id=row.client_id, decision="refused", reason="self_approval")
            raise AccessDenied(_("You cannot approve your own query request."),
                               code="self_approval")
        if client_needs_second_factor(str(obj.level)):
            # As for staff (the policy's `mfa_required`): opening 机密 data to someone
            # takes a two-factor session, as reading it does.
            record(actor, act, object_type="query_request", object_id=row.pk,
                   client_id=row.client_id, decision="refused",
                   reason=policy.Rule.MFA_REQUIRED.value)
            refusal = policy.Decision(False, policy.Rule.MFA_REQUIRED,
                                      (policy_reason(policy.Rule.MFA_REQUIRED),))
            raise denied(refusal)
    else:
        require_allowed(actor, policy.Action.QUERY_REQUEST_APPROVE, obj, ledger_action=act,
                        object_type="query_request", object_id=row.pk)
    note = stated(note)  # no control characters (PostgreSQL refuses NUL) or surrogates
    _check_length(actor, act, "note", note, field_name="note",
                  object_type="query_request", object_id=row.pk, client_id=row.client_id)
    with transaction.atomic():
        locked = QueryRequest.objects.select_for_update().get(pk=row.pk)
        decided = locked.status != RequestStatus.PENDING
        # An approval whose window has already ended would grant nothing and show as
        # approved; it is refused, and the scheduler closes the request
        # (`requests_expire`). A rejection is still taken.
        ended = (not decided and status == RequestStatus.APPROVED
                 and locked.valid_to <= timezone.now())
        # A requester whose account is deactivated (or who left) is given nothing: the
        # approval would grant again the day the account is reactivated.
        gone = (not decided and not ended and status == RequestStatus.APPROVED
                and not _in_office(locked.requester))
        if not decided and not ended and not gone:
            _decide_locked(actor, locked, act, status, note)
    # Refusals are recorded outside the transaction above, so their entries stay.
    if gone:
        record(actor, act, object_type="query_request", object_id=row.pk,
               client_id=row.client_id, decision="refused", reason="requester_inactive")
        raise Conflict(_("The requester's account is no longer active: the request can "
                         "only be rejected."), code="requester_inactive")
    if decided:
        record(actor, act, object_type="query_request", object_id=row.pk,
               client_id=row.client_id, decision="refused", reason="not_pending")
        raise InvalidInput(_("This request has already been decided."), code="not_pending")
    if ended:
        record(actor, act, object_type="query_request", object_id=row.pk,
               client_id=row.client_id, decision="refused", reason="request_expired")
        raise Conflict(_("This request's period has already ended: it can no longer be "
                         "approved."), code="request_expired")
    return locked


def _decide_locked(actor: User, locked: QueryRequest, act: str, status: str,
                   note: str) -> None:
    """Decide the pending request `locked` (row-locked by the caller's transaction)."""
    locked.status = status
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    locked.decision_note = stated(note)
    locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    record(actor, act, object_type="query_request", object_id=locked.pk,
           client_id=locked.client_id, purpose=locked.purpose,
           reason=f"until={locked.valid_to.isoformat()}" if status == "approved" else "")
    notify([locked.requester], f"request_{status}", {"id": locked.pk},
           url=reverse("access:home") + "#my-requests")


def request_approve(*, actor: User, request: QueryRequest, note: str = "") -> QueryRequest:
    """Approve: a time-boxed grant from now on. Nobody approves their own request
    (refused as `self_approval`), and a request whose window has already ended is not
    approved (409 `request_expired`, recorded). A note over `REASON_LIMIT` is refused
    (422 `note_too_long`), as on a rejection. Ledger: ``query_request.approve``."""
    return _decide_request(actor, request, RequestStatus.APPROVED, note)


def request_reject(*, actor: User, request: QueryRequest, note: str = "") -> QueryRequest:
    return _decide_request(actor, request, RequestStatus.REJECTED, note)


def request_cancel(*, actor: User, request: QueryRequest) -> QueryRequest:
    """The requester withdraws a pending or approved request. Ledger: ``.cancel``."""
    if request.requester_id != actor.pk:
        record(actor, "query_request.cancel", object_type="query_request", object_id=request.pk,
               client_id=request.client_id, decision="refused", reason="not_requester")
        raise AccessDenied(_("Only the requester may withdraw a request."), code="not_requester")
    with transaction.atomic():
        n = QueryRequest.objects.filter(
            pk=request.pk, status__in=[RequestStatus.PENDING, RequestStatus.APPROVED]
        ).update(status=RequestStatus.CANCELLED)
        if n:
            record(actor, "query_request.cancel", object_type="query_request",
                   object_id=request.pk, client_id=request.client_id)
    if not n:  # rejected, expired, revoked or withdrawn already: refused, recorded
        record(actor, "query_request.cancel", object_type="query_request", object_id=request.pk,
               client_id=request.client_id, decision="refused", reason="not_pending")
        raise InvalidInput(_("This request is no longer pending or approved: there is nothing "
                             "to withdraw."), code="not_pending")
    request.refresh_from_db()
    return request


def requests_expire(*, now: datetime | None = None) -> int:
    """Scheduler job: approved requests past their window become `expired` (they grant
    nothing already; this makes the state visible), and so do pending ones whose window
    ended before anyone decided them (they can no longer be approved, `request_approve`;
    reason ``pending``). Ledger: ``query_request.expire``."""
    now = now or timezone.now()
    done = 0
    for row in QueryRequest.objects.filter(
        status__in=[RequestStatus.APPROVED, RequestStatus.PENDING], valid_to__lte=now
    ):
        with transaction.atomic():
            if QueryRequest.objects.filter(pk=row.pk, status=row.status).update(
                status=RequestStatus.EXPIRED
            ):
                record("scheduler", "query_request.expire", object_type="query_request",
                       object_id=row.pk, client_id=row.client_id,
                       reason="pending" if row.status == RequestStatus.PENDING else "")
                notify([row.requester], "request_expired", {"id": row.pk})
                done += 1
    return done


# --- Break-glass -------------------------------------------------------------------------


def break_glass_opened(*, actor: User, client_id: int, document_id: int | None,
                       reason: str) -> BreakGlassRead:
    """Called by the vault door when it acts on an allowed break-glass decision (its
    `alert_compliance` and `post_review` obligations): compliance is notified at once and
    a post-review item opened, in the door's transaction. The reason is stored whole
    (`break_glass_download` refuses one over `REASON_LIMIT`). Ledger: ``break_glass.read``."""
    row = BreakGlassRead.objects.create(actor=actor, client_id=client_id,
                                        document_id=document_id, reason=stated(reason))
    record(actor, "break_glass.read", object_type="break_glass", object_id=row.pk,
           client_id=client_id, reason="alert_compliance post_review")
    notify(_compliance(), "break_glass", {"id": row.pk, "by": str(actor)},
           url="/access/break-glass/")
    return row


def break_glass_review(*, actor: User, item: BreakGlassRead, note: str) -> BreakGlassRead:
    """Compliance closes the post-review of an emergency read, once, with a note.

    Refused (and recorded): anyone but compliance, the reader themselves
    (`self_review`), a blank note (422 `note_required`: control and invisible
    characters alone state nothing, `stated`), a note over `REASON_LIMIT` (422
    `note_too_long`), and an item already reviewed (409
    `review_not_pending`: the first review stands, it is never overwritten).
    Ledger: ``break_glass.review``."""
    act = "break_glass.review"
    _check_roles(actor, {Role.COMPLIANCE}, ledger_action=act,
                 object_type="break_glass", object_id=item.pk)
    if item.actor_id == actor.pk:
        record(actor, act, object_type="break_glass", object_id=item.pk,
               client_id=item.client_id, decision="refused", reason="self_review")
        raise AccessDenied(_("You cannot review your own emergency access."), code="self_review")
    text = stated(note)
    if not text:
        raise _refuse_input(actor, act, "note_required",
                            _("Write what the review found."), field_name="note",
                            object_type="break_glass", object_id=item.pk,
                            client_id=item.client_id)
    _check_length(actor, act, "note", text, field_name="note", object_type="break_glass",
                  object_id=item.pk, client_id=item.client_id)
    with transaction.atomic():
        locked = BreakGlassRead.objects.select_for_update().get(pk=item.pk)
        reviewed = locked.reviewed_at is not None
        if not reviewed:
            locked.reviewed_by = actor
            locked.reviewed_at = timezone.now()
            locked.review_note = text
            locked.save(update_fields=["reviewed_by", "reviewed_at", "review_note"])
            record(actor, act, object_type="break_glass", object_id=locked.pk,
                   client_id=locked.client_id)
    for name in ("reviewed_by_id", "reviewed_at", "review_note"):
        setattr(item, name, getattr(locked, name))
    if reviewed:
        # Recorded outside the transaction above, so the refusal's entry stays.
        record(actor, act, object_type="break_glass", object_id=item.pk,
               client_id=item.client_id, decision="refused", reason="review_not_pending")
        raise Conflict(_("This emergency read has already been reviewed."),
                       code="review_not_pending")
    return item


# --- Assignments and staff lifecycle (F06) -----------------------------------------------


ASSIGNABLE_ROLES = frozenset({Role.MANAGER, Role.ACCOUNTANT, Role.ADMIN, Role.EXTERNAL_AUDITOR})


def _assignable(user: User) -> bool:
    """Whether `user` may be assigned to clients: active firm staff or external auditors."""
    return user.is_active and user.status != StaffStatus.LEFT and user.role in ASSIGNABLE_ROLES


def _assignee_refused(actor: User, client: Client) -> ValidationFailed:
    return _refuse_input(actor, "assignment.add", "assignee_not_eligible",
                         _("Only active firm staff and external auditors can be assigned."),
                         field_name="user", object_type="user", client_id=client.pk)


def _handover_target_refused(actor: User, from_user: User) -> ValidationFailed:
    return _refuse_input(actor, "staff.handover", "handover_target_invalid",
                         _("Choose an active colleague other than the person handing over."),
                         field_name="to_user", object_type="user", object_id=from_user.pk)


def _lock_users(*users: User) -> dict[int, User]:
    """Lock the rows of `users` (in the caller's transaction, in primary-key order, so two
    lifecycle steps never wait on each other crosswise) and return them as stored now.

    A departure, transfer, assignment or handover decides on the person's current state
    under this lock: a colleague who leaves while clients are being handed to them is
    either gone before the handover looks (it is refused) or leaves after it (and the
    clients it gave them end with the departure). On SQLite the transaction's write lock
    (BEGIN IMMEDIATE, settings) already serializes them; this is for PostgreSQL.
    """
    pks = sorted({u.pk for u in users})
    return {u.pk: u for u in User.objects.select_for_update().filter(pk__in=pks).order_by("pk")}


def assignment_add(*, actor: User, client: Client, user: User) -> Assignment:
    """Assign `user` to `client` (idempotent). Ledger: ``assignment.add``."""
    require_allowed(actor, policy.Action.ASSIGNMENT_MANAGE, selectors.client_resource(client),
                    ledger_action="assignment.add", object_type="user", object_id=user.pk)
    if user.pk == actor.pk:
        raise _refuse_self(actor, "assignment.add", _("You cannot assign yourself to a client."),
                           field_name="user", object_id=user.pk, client_id=client.pk)
    if not _assignable(user):
        raise _assignee_refused(actor, client)
    with transaction.atomic():
        # Decided again on the person's row as stored now, under its lock (`_lock_users`):
        # they may have left or been deactivated since the check above.
        fresh = _lock_users(user).get(user.pk)
        row = None
        if fresh is not None and _assignable(fresh):
            row, created = Assignment.objects.get_or_create(
                client=client, user=user, defaults={"assigned_by": actor}
            )
            if created:
                record(actor, "assignment.add", object_type="user", object_id=user.pk,
                       client_id=client.pk)
                notify([user], "assigned", {"client": client.name}, url=f"/clients/{client.pk}/")
    if row is None:
        raise _assignee_refused(actor, client)
    return row


def assignment_remove(*, actor: User, client: Client, user: User) -> bool:
    """Unassign (idempotent). Ledger: ``assignment.remove``."""
    require_allowed(actor, policy.Action.ASSIGNMENT_MANAGE, selectors.client_resource(client),
                    ledger_action="assignment.remove", object_type="user", object_id=user.pk)
    with transaction.atomic():
        n, _detail = Assignment.objects.filter(client=client, user=user).delete()
        if n:
            record(actor, "assignment.remove", object_type="user", object_id=user.pk,
                   client_id=client.pk)
    return bool(n)


def _end_grants(actor: Any, user: User, why: str) -> dict[str, int]:
    """End every grant `user` holds, in the caller's transaction, each change recorded."""
    out = {"assignments": 0, "requests": 0, "authorizations": 0, "tokens": 0, "sessions": 0}
    for a in list(Assignment.objects.filter(user=user)):
        # The assignment goes (it grants nothing from now on), but which clients were
        # the person's is kept for the handover (`staff_handover`) that follows.
        a.delete()
        EndedAssignment.objects.get_or_create(
            client_id=a.client_id, user=user, handed_over_at__isnull=True,
            defaults={"assigned_at": a.assigned_at, "reason": why},
        )
        record(actor, "assignment.remove", object_type="user", object_id=user.pk,
               client_id=a.client_id, reason=why)
        out["assignments"] += 1
    for q in QueryRequest.objects.filter(requester=user, status__in=[RequestStatus.PENDING,
                                                                      RequestStatus.APPROVED]):
        pending = q.status == RequestStatus.PENDING
        new = RequestStatus.CANCELLED if pending else RequestStatus.REVOKED
        QueryRequest.objects.filter(pk=q.pk).update(status=new)
        record(actor, f"query_request.{'cancel' if new == 'cancelled' else 'revoke'}",
               object_type="query_request", object_id=q.pk, client_id=q.client_id, reason=why)
        out["requests"] += 1
    for auth in ClientAuthorization.objects.filter(grantee_user=user, revoked_at__isnull=True):
        _revoke_authorization(actor, auth, why)
        out["authorizations"] += 1
    out["tokens"] = tokens_revoke_for_user(user=user, actor=actor, reason=why)
    out["sessions"] = sessions_end_for_user(user=user, reason=why)
    return out


def staff_manage_check(*, actor: User, user: User, ledger_action: str) -> None:
    """Refuse (recorded, outside any transaction of the caller's) what `staff_transfer`
    and the other lifecycle steps refuse: not an administrator, or one's own account."""
    _check_staff_manage(actor, user, ledger_action)


def _check_staff_manage(actor: User, user: User, ledger_action: str) -> None:
    require_allowed(actor, policy.Action.STAFF_MANAGE, None, ledger_action=ledger_action,
                    object_type="user", object_id=user.pk)
    if user.pk == actor.pk:
        record(actor, ledger_action, object_type="user", object_id=user.pk,
               decision="refused", reason="self")
        raise AccessDenied(_("You cannot do this to your own account."), code="self_action")


def staff_leave(*, actor: User, user: User, now: datetime | None = None) -> dict[str, int]:
    """Mark `user` as having left (离职): every assignment, query request, authorization,
    token and session ends at once, in one transaction. Which clients were theirs is kept
    (`EndedAssignment`) for the handover, which may come later; the review items they
    were to decide pass to compliance (`reviews_reviewer_gone`). Ledger: ``staff.leave``
    plus one entry per grant ended."""
    _check_staff_manage(actor, user, "staff.leave")
    with transaction.atomic():
        _lock_users(user)
        record(actor, "staff.leave", object_type="user", object_id=user.pk)
        ended = _end_grants(actor, user, "left")
        user_deactivate(user=user, now=now, left=True, actor=actor)
    return ended


def staff_transfer(*, actor: User, user: User, department: Department | None,
                   post: str = "", role: str | None = None) -> dict[str, int]:
    """Transfer `user` to another post (调岗): their grants, tokens and sessions end at
    once (new ones follow the new post) and their open query requests are cancelled. A
    new department, leaving one, or a new `role` is a transfer wherever it is made (the
    staff page and ``PATCH /api/v1/staff/{id}`` come here through
    `accounts.services.staff_change`). Which clients were theirs is kept for a handover.
    The access review items waiting for them that the new post no longer lets them
    decide (another department's clients, or every item once they are neither a manager
    nor a compliance officer) pass to compliance (`reviews_reviewer_gone`).

    Ledger: ``staff.transfer`` (the new department, and the new role if any), one entry
    per grant ended, the ``permission.change`` of the edit, and ``access_review.flag``
    per campaign with items passed on."""
    _check_staff_manage(actor, user, "staff.transfer")
    check_staff_text(post=post)
    reason = f"department={department.pk if department else ''}"
    if role is not None and role != user.role:
        reason += f" role={role}"
    with transaction.atomic():
        # Decided on the row as stored now (locked), not as the caller loaded it: the old
        # values recorded are the real ones, and nothing else about the person is written.
        fresh = _lock_users(user)[user.pk]
        record(actor, "staff.transfer", object_type="user", object_id=user.pk, reason=reason)
        ended = _end_grants(actor, fresh, "transferred")
        user_update(user=fresh, department=department, clear_department=department is None,
                    post=post or None, role=role, actor=actor)
        reviews_reviewer_gone(actor=actor, user=fresh)
    user.refresh_from_db()
    return ended


def staff_handover(*, actor: User, from_user: User, to_user: User) -> int:
    """Handover (工作交接): move every client of `from_user` to `to_user` in one step, in
    one transaction: the clients they are assigned to, and those whose assignment ended
    when they left or were transferred (`EndedAssignment`), which is how a departed
    person's clients are handed over after the departure ended their access. The
    colleague must be assignable (`_assignable`). Returns the number of clients moved.

    Ledger: ``staff.handover`` (the colleague and the number of clients), one
    ``assignment.add`` per client the colleague did not have yet, and one
    ``assignment.remove`` per live assignment of `from_user` (an ended one was recorded
    as removed when it ended)."""
    _check_staff_manage(actor, from_user, "staff.handover")
    if to_user.pk == actor.pk:
        # Nobody hands clients to themselves: an administrator would gain the access
        # (secret content of assigned clients) that only another administrator may give.
        raise _refuse_self(actor, "staff.handover", _("You cannot hand clients over to yourself."),
                           field_name="to_user", object_id=from_user.pk)
    if to_user.pk == from_user.pk or not _assignable(to_user):
        raise _handover_target_refused(actor, from_user)
    now = timezone.now()
    moved = _handover_locked(actor, from_user, to_user, now)
    if moved is None:
        # The colleague left or was deactivated while this was being asked for.
        raise _handover_target_refused(actor, from_user)
    return moved


def _handover_locked(actor: User, from_user: User, to_user: User, now: datetime) -> int | None:
    """`staff_handover`'s transaction: None (nothing done) if `to_user`, as stored now
    under its row lock, may no longer be assigned."""
    with transaction.atomic():
        fresh = _lock_users(from_user, to_user).get(to_user.pk)
        if fresh is None or not _assignable(fresh):
            return None
        live = list(Assignment.objects.select_for_update().filter(user=from_user))
        ended = list(EndedAssignment.objects.select_for_update().filter(
            user=from_user, handed_over_at__isnull=True))
        client_ids = sorted({a.client_id for a in live} | {e.client_id for e in ended})
        record(actor, "staff.handover", object_type="user", object_id=from_user.pk,
               reason=f"to={to_user.pk} clients={len(client_ids)}")
        for client_id in client_ids:
            _row, created = Assignment.objects.get_or_create(
                client_id=client_id, user=to_user, defaults={"assigned_by": actor})
            if created:
                record(actor, "assignment.add", object_type="user", object_id=to_user.pk,
                       client_id=client_id, reason="handover")
        for a in live:
            a.delete()
            record(actor, "assignment.remove", object_type="user", object_id=from_user.pk,
                   client_id=a.client_id, reason="handover")
        EndedAssignment.objects.filter(pk__in=[e.pk for e in ended]).update(
            handed_over_to=to_user, handed_over_at=now)
        notify([to_user], "handover", {"from": str(from_user), "count": len(client_ids)},
               url="/clients/")
    return len(client_ids)


# --- Access review campaigns (权限定期审查) ------------------------------------------------


def _reviewers_for(client: Client | None) -> list[User]:
    """Who may review a grant on `client`, in order: the managers of its department,
    then the compliance officers."""
    managers: list[User] = []
    if client is not None and client.department_id is not None:
        managers = list(User.objects.filter(role=Role.MANAGER, is_active=True,
                                            department_id=client.department_id).order_by("pk"))
    return [*managers, *User.objects.filter(role=Role.COMPLIANCE, is_active=True).order_by("pk")]


def _reviewer_for(candidates: Sequence[User], holder_id: int | None) -> User | None:
    """The first candidate who does not hold the grant: nobody reviews their own access,
    so a manager's own assignment goes to the next manager of the department, or to
    compliance. None when nobody else is left; the item is then flagged to compliance at
    once, and a compliance officer who does not hold the grant decides it
    (`review_may_decide`)."""
    return next((u for u in candidates if u.pk != holder_id), None)


def _holder_id(item: ReviewItem) -> int | None:
    """The user who holds the grant `item` reviews (None for a partner organisation, or
    when the grant is gone)."""
    if item.grant_kind == GrantKind.ASSIGNMENT:
        return Assignment.objects.filter(pk=item.grant_id).values_list(
            "user_id", flat=True).first()
    if item.grant_kind == GrantKind.AUTHORIZATION:
        return ClientAuthorization.objects.filter(pk=item.grant_id).values_list(
            "grantee_user_id", flat=True).first()
    return QueryRequest.objects.filter(pk=item.grant_id).values_list(
        "requester_id", flat=True).first()


def _scope_of(grant: ClientAuthorization | QueryRequest) -> dict[str, list[Any]]:
    """A grant's scope as a review item keeps it (copies: the grant may change or go)."""
    return {
        "scope_levels": list(grant.scope_levels or []),
        "scope_categories": list(grant.scope_categories or []),
        "scope_document_ids": list(grant.scope_document_ids or []),
    }


def review_campaign_create(*, actor: User, name: str, deadline: datetime) -> ReviewCampaign:
    """List every live grant (assignments, client authorizations, approved query
    requests) for its reviewer: the manager of the client's department (compliance when
    there is none), never the holder of the grant (`_reviewer_for`). Reviewers are
    notified. Refused (and recorded): a blank name, a deadline without a time zone,
    past, or outside `EARLIEST`…`LATEST`. Ledger: ``access_review.create``."""
    require_allowed(actor, policy.Action.ACCESS_REVIEW_MANAGE, None,
                    ledger_action="access_review.create", object_type="access_review")
    clean = _typed(actor, "access_review.create", name, limit=200, field_name="name",
                   object_type="access_review", missing_code="name_missing")
    now = timezone.now()
    if timezone.is_naive(deadline):
        raise _refuse_input(actor, "access_review.create", "period_naive",
                            _("Dates need a time zone."), field_name="deadline",
                            object_type="access_review")
    if not in_span(deadline):
        raise _refuse_input(actor, "access_review.create", "period_out_of_range",
                            _("Dates must lie between the years 1900 and 2199."),
                            field_name="deadline", object_type="access_review")
    if deadline <= now:
        raise _refuse_input(actor, "access_review.create", "period_inverted",
                            _("The deadline must be in the future."), field_name="deadline",
                            object_type="access_review")
    with transaction.atomic():
        campaign = ReviewCampaign.objects.create(name=clean, deadline=deadline, created_by=actor)
        items: list[ReviewItem] = []
        candidates: dict[int | None, list[User]] = {}

        def reviewer(client: Client, holder_id: int | None) -> User | None:
            if client.department_id not in candidates:
                candidates[client.department_id] = _reviewers_for(client)
            return _reviewer_for(candidates[client.department_id], holder_id)

        for a in Assignment.objects.select_related("client", "user"):
            items.append(  # noqa: PERF401  (three sources, one list: loops read better)
                ReviewItem(campaign=campaign, reviewer=reviewer(a.client, a.user_id),
                           grant_kind=GrantKind.ASSIGNMENT, grant_id=a.pk,
                           holder=str(a.user), client=a.client, client_name=a.client.name)
            )
        for auth in ClientAuthorization.objects.filter(
            revoked_at__isnull=True, valid_to__gt=now
        ).select_related("client", "grantee_user", "grantee_org"):
            holder = str(auth.grantee_user or auth.grantee_org)
            items.append(ReviewItem(
                campaign=campaign, reviewer=reviewer(auth.client, auth.grantee_user_id),
                grant_kind=GrantKind.AUTHORIZATION, grant_id=auth.pk, holder=holder,
                client=auth.client, client_name=auth.client.name,
                description=f"{auth.valid_from.date()}–{auth.valid_to.date()}",
                **_scope_of(auth),
            ))
        for q in QueryRequest.objects.filter(status=RequestStatus.APPROVED, valid_to__gt=now
                                             ).select_related("client", "requester"):
            items.append(ReviewItem(  # noqa: PERF401
                campaign=campaign, reviewer=reviewer(q.client, q.requester_id),
                grant_kind=GrantKind.QUERY_REQUEST,
                grant_id=q.pk, holder=str(q.requester), client=q.client,
                client_name=q.client.name, description=q.purpose, **_scope_of(q),
            ))
        # An item nobody could be chosen for is flagged to compliance now, not at the
        # deadline: only a compliance officer may decide it (`review_may_decide`).
        unassigned = 0
        for item in items:
            if item.reviewer is None:
                item.flagged = True
                unassigned += 1
        ReviewItem.objects.bulk_create(items)
        record(actor, "access_review.create", object_type="access_review",
               object_id=campaign.pk, reason=f"items={len(items)}")
        notify(list({i.reviewer.pk: i.reviewer for i in items if i.reviewer}.values()),
               "review_assigned", {"name": campaign.name}, url=f"/access/reviews/{campaign.pk}/")
        if unassigned:
            record(actor, "access_review.flag", object_type="access_review",
                   object_id=campaign.pk, reason=f"no_reviewer={unassigned}")
            notify(_compliance(), "review_no_reviewer",
                   {"name": campaign.name, "count": unassigned},
                   url=f"/access/reviews/{campaign.pk}/")
    return campaign


REVIEW_EXPORT_FORMATS = ("xlsx", "pdf")


def review_export(*, actor: User, campaign: ReviewCampaign, fmt: str) -> bytes:
    """The campaign's result as XLSX or PDF (`fmt`), for those who manage reviews.

    The file lists clients, grant holders and purposes, so it is an export: recorded
    (`access_review.export`) before it is built, and refused if the entry cannot be
    written. Raises `AccessDenied` (recorded) for anyone else, `InvalidInput` for an
    unknown format.
    """
    from baomi.access import exports

    if fmt not in REVIEW_EXPORT_FORMATS:
        raise InvalidInput(_("Unknown export format."), code="unknown_format")
    require_allowed(actor, policy.Action.ACCESS_REVIEW_MANAGE, None,
                    ledger_action="access_review.export", object_type="access_review",
                    object_id=campaign.pk)
    record(actor, "access_review.export", object_type="access_review", object_id=campaign.pk,
           reason=f"format={fmt}")
    return exports.review_pdf(campaign) if fmt == "pdf" else exports.review_xlsx(campaign)


def _in_office(user: User) -> bool:
    return user.is_active and user.status != StaffStatus.LEFT


def review_eligible(user: User, item: ReviewItem) -> bool:
    """Whether `user` is still one a reviewer of `item` would be chosen from now
    (`_reviewers_for`): in office, and a compliance officer or a manager of the
    department the item's client is in. A reviewer who has left, was deactivated, or was
    transferred (调岗: another role or department, by any path) is no longer."""
    if not _in_office(user):
        return False
    if user.role == Role.COMPLIANCE:
        return True
    if user.role != Role.MANAGER or user.department_id is None:
        return False
    client = item.client
    return client is not None and client.department_id == user.department_id


def review_orphaned(item: ReviewItem) -> bool:
    """Whether `item` has nobody to decide it as its reviewer: none could be chosen, or
    the reviewer has left, was deactivated or no longer reviews the client's grants
    (`review_eligible`, e.g. after a transfer). Such items pass to compliance."""
    reviewer = item.reviewer
    return reviewer is None or not review_eligible(reviewer, item)


def review_may_decide(actor: User, item: ReviewItem) -> bool:
    """Whether `actor` may decide `item` (the holder check aside, `review_decide`): its
    reviewer while still eligible (`review_eligible`), or, when the item has none left
    (`review_orphaned`), a compliance officer, so that no grant stays beyond review
    because its reviewer has gone, and nobody keeps deciding a department's grants
    after being moved out of it."""
    if not _in_office(actor):
        return False
    if item.reviewer_id == actor.pk:
        return review_eligible(actor, item)
    return actor.role == Role.COMPLIANCE and review_orphaned(item)


def review_decide(*, actor: User, item: ReviewItem, confirm: bool) -> ReviewItem:
    """The reviewer confirms or revokes one pending grant; revoking ends it at once. An
    item whose reviewer has left (or that has none) is decided by a compliance officer
    in their place (`review_may_decide`).

    Refused (and recorded): anyone else (`not_reviewer`), the holder of the grant
    (`self_review`: items listed before reviewers were chosen apart from holders may
    still name one, and a compliance officer may hold an orphaned item's grant), and an
    item already decided (`review_not_pending`, 409: a revoked grant confirmed afterwards
    would read as confirmed while it is gone). An item whose grant no longer exists or
    grants (ended, revoked, expired, or replaced by a new row) is closed as `ended`
    whichever was asked: neither confirmed nor revoked would be true. Ledger:
    ``access_review.confirm`` / ``access_review.revoke`` / ``access_review.close``
    (``in_place_of=<reviewer id>`` in the reason when compliance decided for a reviewer
    who has gone, ``grant_ended`` when closed)."""
    act = "access_review.confirm" if confirm else "access_review.revoke"
    if not review_may_decide(actor, item):
        record(actor, act, object_type="review_item", object_id=item.pk,
               client_id=item.client_id, decision="refused", reason="not_reviewer")
        raise AccessDenied(_("This item is for another reviewer."), code="not_reviewer")
    if _holder_id(item) == actor.pk:
        record(actor, act, object_type="review_item", object_id=item.pk,
               client_id=item.client_id, decision="refused", reason="self_review")
        raise AccessDenied(_("You cannot review your own access."), code="self_review")
    in_place = "" if item.reviewer_id == actor.pk else f" in_place_of={item.reviewer_id or ''}"
    with transaction.atomic():
        locked = ReviewItem.objects.select_for_update().get(pk=item.pk)
        decided = locked.decision != ReviewDecision.PENDING
        if not decided:
            now = timezone.now()
            live = _grant_live(locked, now)
            if not live:
                # Neither "confirmed" nor "revoked" would be true of a grant that is gone
                # (a new assignment of the same person is another grant, for the next
                # campaign): the item says so.
                act = "access_review.close"
                locked.decision = ReviewDecision.ENDED
            elif confirm:
                locked.decision = ReviewDecision.CONFIRMED
            else:
                _revoke_grant(actor, locked)
                locked.decision = ReviewDecision.REVOKED
            locked.decided_by = actor
            locked.decided_at = now
            locked.save(update_fields=["decision", "decided_by", "decided_at"])
            record(actor, act, object_type="review_item", object_id=locked.pk,
                   client_id=locked.client_id,
                   reason=f"{locked.grant_kind}={locked.grant_id}{in_place}"
                   + ("" if live else " grant_ended"))
    for name in ("decision", "decided_by_id", "decided_at"):
        setattr(item, name, getattr(locked, name))
    if decided:
        # Recorded outside the transaction above, so the refusal's entry stays.
        record(actor, act, object_type="review_item", object_id=item.pk,
               client_id=item.client_id, decision="refused", reason="review_not_pending")
        raise Conflict(_("This item has already been decided."), code="review_not_pending")
    return item


def _grant_live(item: ReviewItem, now: datetime) -> bool:
    """Whether the grant `item` reviews still exists and grants (or will, within its
    period): the very row, not another grant of the same person."""
    if item.grant_kind == GrantKind.ASSIGNMENT:
        return Assignment.objects.filter(pk=item.grant_id).exists()
    if item.grant_kind == GrantKind.AUTHORIZATION:
        return ClientAuthorization.objects.filter(pk=item.grant_id, revoked_at__isnull=True,
                                                  valid_to__gt=now).exists()
    return QueryRequest.objects.filter(pk=item.grant_id, status=RequestStatus.APPROVED,
                                       valid_to__gt=now).exists()


def _revoke_grant(actor: User, item: ReviewItem) -> None:
    if item.grant_kind == GrantKind.ASSIGNMENT:
        for a in Assignment.objects.filter(pk=item.grant_id):
            a.delete()
            record(actor, "assignment.remove", object_type="user", object_id=a.user_id,
                   client_id=a.client_id, reason="access_review")
    elif item.grant_kind == GrantKind.AUTHORIZATION:
        for auth in ClientAuthorization.objects.filter(pk=item.grant_id):
            _revoke_authorization(actor, auth, "access_review")
    elif QueryRequest.objects.filter(pk=item.grant_id, status=RequestStatus.APPROVED).update(
        status=RequestStatus.REVOKED
    ):
        record(actor, "query_request.revoke", object_type="query_request",
               object_id=item.grant_id, client_id=item.client_id, reason="access_review")


def reviews_reviewer_gone(*, actor: User | str, user: User) -> int:
    """`user` has left, was deactivated or was transferred (调岗): the review items still
    waiting for them that they may no longer decide (`review_eligible`; after leaving,
    all of them) are flagged and compliance is notified once per campaign, since from now
    on only a compliance officer can decide them (`review_may_decide`). Call it after
    the change, in the caller's transaction. Ledger: ``access_review.flag``
    (``reviewer_gone=<user id> items=<n>``) per campaign. Returns the number of items."""
    gone = [item for item in ReviewItem.objects.select_related("client").filter(
        reviewer=user, decision=ReviewDecision.PENDING) if not review_eligible(user, item)]
    counts: dict[int, int] = {}
    for item in gone:
        counts[item.campaign_id] = counts.get(item.campaign_id, 0) + 1
    if not counts:
        return 0
    ReviewItem.objects.filter(pk__in=[item.pk for item in gone]).update(flagged=True)
    officers = [u for u in _compliance() if u.pk != user.pk]
    for campaign in ReviewCampaign.objects.filter(pk__in=counts).order_by("pk"):
        n = counts[campaign.pk]
        record(actor, "access_review.flag", object_type="access_review", object_id=campaign.pk,
               reason=f"reviewer_gone={user.pk} items={n}")
        notify(officers, "review_reviewer_gone",
               {"name": campaign.name, "count": n, "who": str(user)},
               url=f"/access/reviews/{campaign.pk}/")
    return sum(counts.values())


def reviews_flag_overdue(*, now: datetime | None = None) -> int:
    """Scheduler job: items still unreviewed after their campaign's deadline are flagged
    and compliance is notified once per campaign (the count includes items flagged
    earlier because their reviewer had gone and that are still waiting). Ledger:
    ``access_review.flag``."""
    now = now or timezone.now()
    flagged = 0
    for campaign in ReviewCampaign.objects.filter(deadline__lte=now, flagged_at__isnull=True):
        with transaction.atomic():
            pending = campaign.items.filter(decision=ReviewDecision.PENDING)
            n = pending.count()
            pending.filter(flagged=False).update(flagged=True)
            campaign.flagged_at = now
            campaign.save(update_fields=["flagged_at"])
            if n:
                record("scheduler", "access_review.flag", object_type="access_review",
                       object_id=campaign.pk, reason=f"unreviewed={n}")
                notify(_compliance(), "review_overdue", {"name": campaign.name, "count": n},
                       url=f"/access/reviews/{campaign.pk}/")
            flagged += n
    return flagged


# Stands in for the reason and the purpose when deciding whether the break-glass form
# may be shown at all: both are asked for on the form itself.
_FORM_STATEMENT = "break_glass.form"


def break_glass_refusal(*, actor: User, document: Any) -> policy.Rule | None:
    """Whether `actor` could make an emergency read of `document` once they state a
    reason and a purpose: None if so, else the rule that refuses. Decided as the door
    would decide the read, with the break-glass fact set: `break_glass.read` (role,
    status, clearance, two-factor session, agreement, training), then
    `document.download` (a cell the matrix closes to managers stays closed). Records
    nothing; the caller records the refusal."""
    obj = selectors.document_resource(document)
    facts = selectors.facts_for(actor, client_id=document.client_id,
                                break_glass_reason=_FORM_STATEMENT)
    for action in (policy.Action.BREAK_GLASS_READ, policy.Action.DOCUMENT_DOWNLOAD):
        decision = selectors.decide_for(actor, action, obj, purpose=_FORM_STATEMENT,
                                        facts=facts)
        if not decision.allowed:
            return decision.rule
    return None


def break_glass_download(*, actor: User, document: Any, reason: str, purpose: str) -> Any:
    """An emergency read (紧急访问) of one document by a manager, with a mandatory reason:
    the vault door decides with the break-glass fact set, and on an allowed break-glass
    decision alerts compliance and opens the post-review item itself. Refused (and
    recorded): a blank reason, any role but manager, a reason over `REASON_LIMIT` (422
    `reason_too_long`; the door refuses a purpose over `PURPOSE_LIMIT`). Returns the vault
    `Download`."""
    from baomi.access.context import session_facts
    from baomi.vault import services as vault_services

    # A reason of control or invisible characters alone states nothing (`stated`).
    text = stated(reason)
    if not text:
        record(actor, "break_glass.read", object_type="document", object_id=document.pk,
               client_id=document.client_id, decision="refused",
               reason=policy.Rule.BREAK_GLASS_REASON_REQUIRED.value)
        from baomi.policy.reasons import reason as policy_reason

        rule = policy.Rule.BREAK_GLASS_REASON_REQUIRED
        raise denied(policy.Decision(False, rule, (policy_reason(rule),)))
    if actor.role != Role.MANAGER:
        record(actor, "break_glass.read", object_type="document", object_id=document.pk,
               client_id=document.client_id, decision="refused",
               reason=policy.Rule.BREAK_GLASS_NOT_PERMITTED.value)
        raise AccessDenied(_("Only managers may make an emergency access."),
                           code=policy.Rule.BREAK_GLASS_NOT_PERMITTED.value)
    _check_length(actor, "break_glass.read", "reason", text, field_name="reason",
                  object_type="document", object_id=document.pk, client_id=document.client_id)
    with session_facts(break_glass_reason=text):
        return vault_services.document_download(actor=actor, document=document, purpose=purpose)
