"""Writes for clients: create, update, contacts, engagements, assignments.

Validation happens here, not in forms or schemas, so the web UI, the API and the CLI
refuse the same bad input with the same field errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from baomi.accounts.models import Department, User
from baomi.audit.events import record
from baomi.clients import uscc
from baomi.clients.models import Assignment, Client, ClientStatus, Contact, ServiceType
from baomi.clients.selectors import client_can_create, client_can_edit
from baomi.errors import AccessDenied, Conflict, ValidationFailed
from baomi.vault import door
from baomi.vault.validate import checked_sealed

_MAX_NAME = 200
USCC_INVALID = gettext_lazy(
    "Not a valid unified social credit code (wrong format or check character)."
)


@dataclass
class ClientInput:
    """Fields a client create/update may set; `None` means "leave unchanged"."""

    name: str | None = None
    uscc: str | None = None
    legal_representative: str | None = None
    status: str | None = None
    service_types: list[str] | None = None
    department_id: int | None = None
    service_started_on: date | None = None
    service_ended_on: date | None = None
    deregistered_on: date | None = None
    clear_fields: set[str] = field(default_factory=set)
    # Protected fields, sealed by the vault door; `None` leaves them unchanged and ""
    # clears them.
    notes: str | None = None
    address: str | None = None
    bank_account: str | None = None
    legal_rep_id_number: str | None = None

    def sealed_values(self) -> dict[str, str | None]:
        return {
            name: getattr(self, name)
            for name in SEALED_CLIENT_FIELDS
            if getattr(self, name) is not None
        }


SEALED_CLIENT_FIELDS = ("notes", "address", "bank_account", "legal_rep_id_number")


def _clean_text(value: str, *, field_name: str, max_len: int, errors: dict[str, list[str]]) -> str:
    text = value.strip()
    if not text:
        errors.setdefault(field_name, []).append(_("This field is required."))
    elif len(text) > max_len:
        errors.setdefault(field_name, []).append(_("At most %(n)d characters.") % {"n": max_len})
    elif any(not ch.isprintable() for ch in text):
        errors.setdefault(field_name, []).append(_("Control characters are not allowed."))
    return text


def _apply(
    client: Client, data: ClientInput, *, creating: bool
) -> tuple[list[ServiceType] | None, dict[str, str | None]]:
    """Check `data` and set the client's plain fields from it; returns the service types
    to set (None: unchanged) and the sealed values to write, normalized as a form would
    have sent them. `data` itself is left as the caller gave it. Raises ValidationFailed
    with every problem found."""
    errors: dict[str, list[str]] = {}
    if data.name is not None or creating:
        client.name = _clean_text(
            data.name or "", field_name="name", max_len=_MAX_NAME, errors=errors
        )
    if data.legal_representative is not None or creating:
        client.legal_representative = _clean_text(
            data.legal_representative or "",
            field_name="legal_representative",
            max_len=100,
            errors=errors,
        )
    if data.uscc is not None or creating:
        code = uscc.normalize(data.uscc or "")
        if not uscc.is_valid(code):
            errors.setdefault("uscc", []).append(str(USCC_INVALID))
        client.uscc = code
    if data.status is not None:
        if data.status not in ClientStatus.values:
            errors.setdefault("status", []).append(_("Unknown status."))
        else:
            client.status = data.status
    for name in ("service_started_on", "service_ended_on", "deregistered_on"):
        value = getattr(data, name)
        if value is not None:
            setattr(client, name, value)
        elif name in data.clear_fields:
            setattr(client, name, None)
    if data.department_id is not None:
        if not Department.objects.filter(pk=data.department_id).exists():
            errors.setdefault("department_id", []).append(_("Unknown department."))
        else:
            client.department_id = data.department_id
    if (
        client.service_started_on
        and client.service_ended_on
        and client.service_ended_on < client.service_started_on
    ):
        errors.setdefault("service_ended_on", []).append(
            _("The service cannot end before it started.")
        )
    if client.status == ClientStatus.DEREGISTERED and not client.deregistered_on:
        errors.setdefault("deregistered_on", []).append(
            _("Give the deregistration date for a deregistered client.")
        )
    if client.status == ClientStatus.SERVICE_ENDED and not client.service_ended_on:
        errors.setdefault("service_ended_on", []).append(_("Give the date the service ended."))
    sealed = checked_sealed(data.sealed_values(), errors)
    services: list[ServiceType] | None = None
    if data.service_types is not None:
        codes = sorted(set(data.service_types))
        services = list(ServiceType.objects.filter(code__in=codes))
        if len(services) != len(codes):
            errors.setdefault("service_types", []).append(_("Unknown service type."))
    if errors:
        raise ValidationFailed(detail={"fields": errors})
    return services, sealed


def client_create(*, actor: User, data: ClientInput) -> Client:
    """Create a client; the creating accountant is assigned to it.

    Raises AccessDenied, ValidationFailed, Conflict (code `uscc_taken`).
    """
    if not client_can_create(actor):
        record(
            actor,
            "client.create",
            object_type="client",
            decision="refused",
            reason="role_not_permitted",
        )
        raise AccessDenied(_("Your role may not create clients."))
    client = Client(created_by=actor)
    if data.department_id is None and actor.department_id:
        client.department_id = actor.department_id
    services, sealed = _apply(client, data, creating=True)
    try:
        with transaction.atomic():
            client.save()
            if services is not None:
                client.service_types.set(services)
            if actor.role == "accountant":
                Assignment.objects.create(client=client, user=actor, assigned_by=actor)
                record(
                    actor,
                    "assignment.add",
                    object_type="user",
                    object_id=actor.pk,
                    client_id=client.pk,
                    reason="creator",
                )
            if sealed:
                door.record_write(actor=actor, obj=client, values=sealed)
            record(
                actor,
                "client.create",
                object_type="client",
                object_id=client.pk,
                client_id=client.pk,
            )
    except IntegrityError as exc:
        raise _uscc_conflict() from exc
    return client


def _uscc_conflict() -> Conflict:
    return Conflict(
        _("A client with this unified social credit code already exists."),
        code="uscc_taken",
        detail={"fields": {"uscc": [_("Already registered.")]}},
    )


def client_update(*, actor: User, client: Client, data: ClientInput) -> Client:
    """Update a client. Raises AccessDenied, ValidationFailed, Conflict."""
    if not client_can_edit(actor, client):
        record(
            actor,
            "client.update",
            object_type="client",
            object_id=client.pk,
            client_id=client.pk,
            decision="refused",
            reason="not_permitted",
        )
        raise AccessDenied(_("You may not edit this client."))
    services, sealed = _apply(client, data, creating=False)
    try:
        with transaction.atomic():
            client.save()
            if services is not None:
                client.service_types.set(services)
            if sealed:
                door.record_write(actor=actor, obj=client, values=sealed)
            record(
                actor,
                "client.update",
                object_type="client",
                object_id=client.pk,
                client_id=client.pk,
                reason=" ".join(sorted(_changed_fields(data))),
            )
    except IntegrityError as exc:
        raise _uscc_conflict() from exc
    return client


def _changed_fields(data: ClientInput) -> set[str]:
    # Field names only: values are client data and never go into the ledger.
    return {k for k, v in vars(data).items() if v is not None and k != "clear_fields"} | set(
        data.clear_fields
    )


CONTACT_SEALED_FIELDS = ("mobile", "email", "id_number", "address", "notes")


def contact_add(*, actor: User, client: Client, data: dict[str, Any]) -> Contact:
    """Add a contact person to a client; mobile, e-mail, ID number, address and notes
    are sealed by the vault door (ledger event ``client.update``) in the same
    transaction. Raises AccessDenied, ValidationFailed, KeyDestroyed.
    """
    if not client_can_edit(actor, client):
        record(actor, "client.update", object_type="contact", client_id=client.pk,
               decision="refused", reason="not_permitted")
        raise AccessDenied(_("You may not edit this client."))
    errors: dict[str, list[str]] = {}
    name = _clean_text(str(data.get("name", "")), field_name="name", max_len=100, errors=errors)
    title = str(data.get("title", "") or "").strip()
    if len(title) > 100:
        errors.setdefault("title", []).append(_("At most %(n)d characters.") % {"n": 100})
    sealed = checked_sealed(
        {f: str(data.get(f, "") or "") for f in CONTACT_SEALED_FIELDS}, errors
    )
    if errors:
        raise ValidationFailed(detail={"fields": errors})
    with transaction.atomic():
        contact = Contact.objects.create(
            client=client,
            name=name,
            title=title,
            is_primary=bool(data.get("is_primary", False)),
        )
        door.record_write(actor=actor, obj=contact, values=sealed)
    return contact


def contact_update(
    *,
    actor: User,
    contact: Contact,
    name: str,
    title: str,
    is_primary: bool,
    sealed: dict[str, str],
) -> Contact:
    """Change a contact person: name, title and primary flag, and the sealed fields in
    `sealed` (field → new value, "" clears; fields not named are left unchanged), written
    by the vault door in the same transaction.

    Ledger: ``client.update`` on the contact (field names only), plus the door's
    ``client.update`` decision for the sealed fields. Raises AccessDenied,
    ValidationFailed, KeyDestroyed.
    """
    client = contact.client
    if not client_can_edit(actor, client):
        record(actor, "client.update", object_type="contact", object_id=contact.pk,
               client_id=client.pk, decision="refused", reason="not_permitted")
        raise AccessDenied(_("You may not edit this client."))
    errors: dict[str, list[str]] = {}
    clean_name = _clean_text(name, field_name="name", max_len=100, errors=errors)
    clean_title = title.strip()
    if len(clean_title) > 100:
        errors.setdefault("title", []).append(_("At most %(n)d characters.") % {"n": 100})
    unknown = set(sealed) - set(CONTACT_SEALED_FIELDS)
    if unknown:
        raise ValueError(f"not sealed contact fields: {sorted(unknown)}")
    checked = checked_sealed(sealed, errors)
    if errors:
        raise ValidationFailed(detail={"fields": errors})
    changed = sorted(
        {n for n, old, new in (("name", contact.name, clean_name),
                               ("title", contact.title, clean_title),
                               ("is_primary", contact.is_primary, is_primary)) if old != new}
        | set(sealed)
    )
    with transaction.atomic():
        contact.name, contact.title, contact.is_primary = clean_name, clean_title, is_primary
        contact.save(update_fields=["name", "title", "is_primary"])
        if checked:
            door.record_write(actor=actor, obj=contact, values=checked)
        record(actor, "client.update", object_type="contact", object_id=contact.pk,
               client_id=client.pk, reason=" ".join(changed))
    return contact


def assignment_add(*, actor: User, client: Client, user: User) -> Assignment:
    """Assign `user` to `client` (idempotent), decided by the policy
    (`assignment.manage`); see `baomi.access.services.assignment_add`."""
    from baomi.access.services import assignment_add as governed_add

    return governed_add(actor=actor, client=client, user=user)


SERVICE_TYPES = (
    ("bookkeeping", "代理记账", "Bookkeeping"),
    ("registration", "工商注册", "Company registration"),
    ("transfer", "公司转让", "Company transfer"),
    ("deregistration", "工商注销", "Deregistration"),
)


def service_types_ensure() -> None:
    """Create the standard service types (idempotent; also run by a data migration)."""
    for code, zh, en in SERVICE_TYPES:
        ServiceType.objects.update_or_create(code=code, defaults={"name_zh": zh, "name_en": en})
