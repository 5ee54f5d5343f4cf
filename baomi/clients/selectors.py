"""Reads for clients. Every list is filtered to what the actor may see.

Visibility is `baomi.policy`'s `client.view` (docs/access-matrix.md): the reach part of
the matrix cell is a SQL filter, the remaining conditions (agreement, training, actor
status) are decided by the policy (`baomi.access.selectors.clients_visible_to`).
Creating and editing are `client.create` / `client.update`.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from baomi.accounts.models import User
from baomi.audit.events import record
from baomi.clients.models import Client, ServiceType
from baomi.clients.uscc import normalize as uscc_normalize
from baomi.errors import NotFound


def clients_visible_to(actor: User) -> QuerySet[Client]:
    """Clients `actor` may see, as a queryset (distinct)."""
    from baomi.access.selectors import clients_visible_to as visible

    return visible(actor)


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
    """A client `actor` may view (`client.view`), or NotFound (also when it exists but
    is out of reach, so its existence is not revealed); a refusal for the actor's own
    state (no agreement in force, training lapsed…) is `AccessDenied` with the reason.

    Ledger: `client.read`, allowed or refused (with the policy's rule code), written
    before the record is returned; raises `LedgerUnavailable` if it cannot be written.
    """
    from baomi import policy
    from baomi.access import selectors as access
    from baomi.access.errors import denied

    client = Client.objects.filter(pk=client_id).first()
    if client is None:
        record(actor, "client.read", object_type="client", object_id=client_id,
               decision="refused", reason="not_found")
        raise NotFound(code="client_not_found")
    decision = access.decide_for(actor, policy.Action.CLIENT_VIEW, access.client_resource(client))
    if not decision.allowed:
        record(actor, "client.read", object_type="client", object_id=client.pk,
               client_id=client.pk, decision="refused", reason=decision.rule.value)
        if access.hides_existence(decision):
            raise NotFound(code="client_not_found")
        raise denied(decision)
    record(actor, "client.read", object_type="client", object_id=client.pk, client_id=client.pk,
           reason=decision.rule.value)
    return client


def client_can_create(actor: User) -> bool:
    """`client.create` (a firm-level action)."""
    from baomi import policy
    from baomi.access import selectors as access

    return access.permitted_for(actor, policy.Action.CLIENT_CREATE, None)


def client_can_edit(actor: User, client: Client) -> bool:
    """`client.update` on the client's profile."""
    from baomi import policy
    from baomi.access import selectors as access

    return access.permitted_for(actor, policy.Action.CLIENT_UPDATE, access.client_resource(client))


def service_types() -> QuerySet[ServiceType]:
    return ServiceType.objects.all()
