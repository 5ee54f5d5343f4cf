"""Access governance for `baomi demo` (idempotent): agreements and training for the demo
staff, a partner organisation with `partner1` and a client authorization for it, and one
deliberately lapsed case (acct2's agreement expired) so the gate can be seen working."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from baomi.access.models import (
    AuthorizationVia,
    ClientAuthorization,
    ConfidentialityAgreement,
    PartnerOrganisation,
    TrainingRecord,
)
from baomi.access.selectors import gate_agreement_kind
from baomi.access.services import _agreement_create
from baomi.accounts.models import Role, User
from baomi.audit.events import record
from baomi.clients.models import Client

LAPSED = "acct2"
PARTNER_ORG = "华信税务师事务所有限公司"


def demo_agreements(*, users: dict[str, User]) -> int:
    """Agreements and training for the demo staff (acct2's agreement lapsed)."""
    now = timezone.now()
    year_start = now.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    created = 0
    scan = b""
    for username, user in users.items():
        if user.role == Role.CLIENT:
            continue
        kind = gate_agreement_kind(user.role)
        if not ConfidentialityAgreement.objects.filter(person=user).exists():
            if username == LAPSED:
                start, end = year_start - timedelta(days=730), year_start - timedelta(days=30)
            else:
                start, end = year_start - timedelta(days=365), year_start + timedelta(days=3 * 365)
            # Registered as the registry does, with a (sample) signed scan sealed by
            # the vault: the registry requires one.
            scan = scan or _sample_scan()
            _agreement_create(actor=users["admin"], person=user, kind=kind, start=start,
                              end=end, scan=scan, scan_name="保密协议（演示）.pdf")
            created += 1
        if not TrainingRecord.objects.filter(person=user).exists():
            TrainingRecord.objects.create(
                person=user, course="客户信息保密培训（年度）", valid_from=year_start,
                valid_to=year_start + timedelta(days=400), recorded_by=users["admin"],
            )
            record("baomi-demo", "training.record", object_type="user", object_id=user.pk)
            created += 1
    return created


def _sample_scan() -> bytes:
    """A one-page PDF standing in for the signed agreements' scans (one for all)."""
    from baomi.access.exports import _page, _pdf

    return _pdf(_page("保密协议（演示）", "<p>演示数据：本页代替已签署保密协议的扫描件。</p>"))


def demo_partner(*, users: dict[str, User], clients: list[Client]) -> dict[str, Any]:
    """partner1's organisation and a live client authorization for it (idempotent)."""
    now = timezone.now()
    created = 0
    org, _new = PartnerOrganisation.objects.get_or_create(
        name=PARTNER_ORG, defaults={"registration_no": "91310000MA1FL0XX0X"[:18]}
    )
    partner = users.get("partner1")
    if partner is not None and partner.partner_org_id != org.pk:
        partner.partner_org = org
        partner.save(update_fields=["partner_org"])
        record("baomi-demo", "permission.change", object_type="user", object_id=partner.pk,
               reason=f"partner_org:->{org.pk}")
    client = clients[1]
    if not ClientAuthorization.objects.filter(client=client, grantee_org=org).exists():
        row = ClientAuthorization.objects.create(
            client=client, grantee_org=org, scope_levels=["public", "internal"],
            scope_categories=[], valid_from=now - timedelta(days=1),
            valid_to=now + timedelta(days=180), via=AuthorizationVia.FORM,
            recorded_by=users["manager"],
        )
        record("baomi-demo", "authorization.grant", object_type="authorization",
               object_id=row.pk, client_id=client.pk, reason=f"org={org.pk}")
        created += 1
    return {"created": created, "partner_org": org.pk, "authorized_client": client.pk}
