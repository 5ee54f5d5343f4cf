"""Reads for clients. Every list is filtered to what the actor may see.

Visibility is `baomi.policy`'s `client.view` (docs/access-matrix.md): the reach part of
the matrix cell is a SQL filter, the remaining conditions (agreement, training, actor
status) are decided by the policy (`baomi.access.selectors.clients_visible_to`).
Creating and editing are `client.create` / `client.update`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from baomi.accounts.models import User
from baomi.audit.events import record
from baomi.clients.models import Client, Contact, ServiceType
from baomi.clients.uscc import normalize as uscc_normalize
from baomi.errors import NotFound


def clients_visible_to(actor: User) -> QuerySet[Client]:
    """Clients `actor` may see, as a queryset (distinct)."""
    from baomi.access.selectors import clients_visible_to as visible

    return visible(actor)


def client_list(
    *, actor: User, search: str = "", status: str = "", also: Q | None = None
) -> QuerySet[Client]:
    """Visible clients matching a free-text search (name, USCC, legal representative),
    or the extra condition `also` (the blind-index matches of `protected_search`).

    Ledger: `client.list` (the search text itself is not recorded: it may be client data).
    """
    record(actor, "client.list", object_type="client", reason="search" if search else "")
    qs = clients_visible_to(actor)
    term = search.strip()[:100]
    if term:
        match = (
            Q(name__icontains=term)
            | Q(uscc=uscc_normalize(term))
            | Q(legal_representative__icontains=term)
        )
        qs = qs.filter(match | also if also is not None else match)
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


# Shapes a search term must have before it is looked up in a blind index: exact-match
# search needs the whole value, and each look-up is a recorded `record.search`.
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]|[0-9]{15}|[A-Z]{1,2}[0-9]{6,10}")
_PHONE_CHARS = re.compile(r"[0-9+\s\-()]+")
_ACCOUNT_CHARS = re.compile(r"[0-9\s\-]+")


@dataclass
class ProtectedSearch:
    """What an exact-match search on sealed fields found (nothing was decrypted).

    `clients`: a condition on `Client` for the clients found (by the legal representative's
    ID number, the bank account, or a contact's ID number or mobile); `contacts`: the
    matching contacts of visible clients; `searched`: the fields looked up; `refused`: why
    the look-up was refused (the role may not search protected fields), else "".
    """

    clients: Q | None = None
    contacts: list[Contact] = field(default_factory=list)
    searched: list[str] = field(default_factory=list)
    refused: str = ""


def protected_search(*, actor: User, term: str, purpose: str) -> ProtectedSearch:
    """Exact-match search of sealed fields through their blind indexes, for a term that
    has the shape of a whole ID number (resident ID, passport, permit), a mainland mobile
    number or a bank account; any other term searches nothing and records nothing.

    A match confirms a protected value, so each field looked up is decided by the vault
    door as a read of it for `purpose` (F08: a blank purpose is refused,
    `purpose_required`) and recorded (ledger event ``record.search`` with the field name
    and the purpose, never the value). The results are restricted to clients `actor` may
    see. A refusal is returned in `refused`, not raised.
    """
    from baomi.errors import AccessDenied, ValidationFailed
    from baomi.vault import door, normalize

    text = unicodedata.normalize("NFKC", term).strip()[:100]
    out = ProtectedSearch()
    if not text:
        return out
    lookups: list[tuple[type[Client] | type[Contact], str]] = []
    if _ID_SHAPE.fullmatch(normalize.id_number(text)):
        lookups += [(Client, "legal_rep_id_number"), (Contact, "id_number")]
    digits = normalize.phone(text)
    if _PHONE_CHARS.fullmatch(text) and len(digits) == 11 and digits.startswith("1"):
        lookups.append((Contact, "mobile"))
    if _ACCOUNT_CHARS.fullmatch(text) and 12 <= len(normalize.account(text)) <= 32:
        lookups.append((Client, "bank_account"))
    if not lookups:
        return out
    visible = clients_visible_to(actor)
    client_q = Q(pk__in=[])
    contact_q = Q(pk__in=[])
    try:
        for model, name in lookups:
            token = door.search_token(
                actor=actor, model=model, field_name=name, value=text, purpose=purpose
            )
            out.searched.append(name)
            if not token:
                continue
            # A match is shown only where the actor may read the field it confirms
            # (`door.search_reach`: an administrator reads 机密 only where assigned).
            if model is Client:
                found = visible.filter(**{f"{name}_bidx": token}).values_list("pk", flat=True)
                client_q |= Q(pk__in=door.search_reach(
                    actor=actor, model=model, field_names=[name], client_ids=found[:50],
                    purpose=purpose,
                ))
            else:
                pairs = list(
                    Contact.objects.filter(client__in=visible, **{f"{name}_bidx": token})
                    .values_list("pk", "client_id")[:50]
                )
                reach = door.search_reach(
                    actor=actor, model=model, field_names=[name],
                    client_ids=[client_id for _pk, client_id in pairs],
                    purpose=purpose,
                )
                contact_q |= Q(pk__in=[pk for pk, client_id in pairs if client_id in reach])
    except (AccessDenied, ValidationFailed) as exc:  # refused, or a purpose too long
        out.refused = str(exc.message)
        return out
    out.contacts = list(
        Contact.objects.filter(contact_q, client__in=visible)
        .select_related("client")
        .order_by("client__name", "id")[:50]
    )
    out.clients = client_q | Q(pk__in=[c.client_id for c in out.contacts])
    return out
