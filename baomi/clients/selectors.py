"""Reads for clients. Every list is filtered to what the actor may see.

Until the access-governance policy lands, visibility is: admin, compliance and internal
audit see all clients' records (metadata only); a manager sees the clients of their
department and those they are assigned to; everyone else only assigned clients; a
client portal user only their own company.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from baomi.accounts.models import Role, StaffStatus, User
from baomi.audit.events import record
from baomi.clients.models import Client, ServiceType
from baomi.clients.uscc import normalize as uscc_normalize
from baomi.errors import NotFound

_SEE_ALL = frozenset({Role.ADMIN, Role.COMPLIANCE, Role.INTERNAL_AUDITOR})
_EDITORS = frozenset({Role.ADMIN, Role.MANAGER, Role.ACCOUNTANT})


def clients_visible_to(actor: User) -> QuerySet[Client]:
    """Clients `actor` may see, as a queryset (distinct)."""
    base = Client.objects.all()
    if not actor.is_active or actor.status == StaffStatus.LEFT:
        return base.none()
    if actor.role in _SEE_ALL:
        return base
    if actor.role == Role.CLIENT:
        return base.filter(pk=actor.portal_client_id) if actor.portal_client_id else base.none()
    if actor.role == Role.MANAGER:
        scope = Q(assignments__user=actor)
        if actor.department_id:
            scope |= Q(department_id=actor.department_id)
        return base.filter(scope).distinct()
    return base.filter(assignments__user=actor).distinct()


def client_list(*, actor: User, search: str = "", status: str = "") -> QuerySet[Client]:
    """Visible clients matching a free-text search (name, USCC, legal representative).

    Ledger: `client.list` (the search text itself is not recorded: it may be client data).
    """
    record(actor, "client.list", object_type="client", reason="search" if search else "")
    qs = clients_visible_to(actor)
    term = search.strip()[:100]
    if term:
        qs = qs.filter(
            Q(name__icontains=term)
            | Q(uscc=uscc_normalize(term))
            | Q(legal_representative__icontains=term)
        )
    if status:
        qs = qs.filter(status=status)
    return qs.select_related("department").prefetch_related("service_types").order_by("name", "id")


def client_get(*, actor: User, client_id: int) -> Client:
    """A visible client, or NotFound (also when it exists but is not visible).

    Ledger: `client.read`, allowed or refused (`not_visible`), written before the record
    is returned; raises `LedgerUnavailable` if it cannot be written (fail closed).
    """
    client = clients_visible_to(actor).filter(pk=client_id).first()
    if client is None:
        exists = Client.objects.filter(pk=client_id).exists()
        record(actor, "client.read", object_type="client", object_id=client_id,
               client_id=client_id if exists else None, decision="refused",
               reason="not_visible" if exists else "not_found")
        raise NotFound(code="client_not_found")
    record(actor, "client.read", object_type="client", object_id=client.pk, client_id=client.pk)
    return client


def client_can_create(actor: User) -> bool:
    return actor.is_active and actor.role in _EDITORS


def client_can_edit(actor: User, client: Client) -> bool:
    if not actor.is_active or actor.role not in _EDITORS:
        return False
    return clients_visible_to(actor).filter(pk=client.pk).exists()


def service_types() -> QuerySet[ServiceType]:
    return ServiceType.objects.all()
