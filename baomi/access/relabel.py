"""What a raised label does to grants that name the document one by one (F07, F08).

A client authorization or a query request may list documents by id. Such a listing was
given, or approved, for each document as it was labelled at the time: a client who
authorized "invoice #12" at 内部, or a manager who approved a request for it, did not
authorize or approve reading it at 绝密. When a document's label is raised, every live
grant that covered it only because it is listed (its levels/categories clause does not
cover the new label) ends at once, in the relabel's transaction:

- an approved query request is revoked (``query_request.revoke``, reason
  ``document_relabelled doc=<id>``); its requester is told and may ask again, and the
  new request is approved at the new level (`services.request_level`);
- a client authorization is revoked (``authorization.revoke``, same reason); the firm
  asks the client to sign a new one.

A pending request needs nothing: its approval is decided on the labels as they are then.
A lowered label ends nothing.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from baomi import policy
from baomi.access import selectors
from baomi.access.models import ClientAuthorization, QueryRequest, RequestStatus
from baomi.access.services import _revoke_authorization, notify
from baomi.accounts.models import LEVEL_ORDER, Level, User
from baomi.audit.events import record
from baomi.vault.models import Document

REASON = "document_relabelled"


def _listed(ids: object, document_id: int) -> bool:
    return isinstance(ids, list) and any(str(i) == str(document_id) for i in ids)


def _labels_cover(levels: object, categories: object, document: Document) -> bool:
    """Whether the grant's levels/categories clause alone covers `document` as labelled
    now (its listed ids left out)."""
    scope = selectors._scope(levels if isinstance(levels, list) else [],
                             categories if isinstance(categories, list) else [], [])
    category = policy.Category(document.category) if document.category else None
    return scope.covers(policy.Resource(kind=policy.ObjectKind.DOCUMENT, id=document.pk,
                                        client_id=document.client_id,
                                        level=policy.Level(document.level), category=category))


def grants_end_for_raised_label(*, actor: User, document: Document, previous_level: str) -> int:
    """End the live grants that named `document` one by one and no longer cover it by
    label, if its label (already changed on `document`) is higher than `previous_level`.
    Runs in the caller's transaction; returns how many grants ended."""
    if LEVEL_ORDER[Level(document.level)] <= LEVEL_ORDER[Level(previous_level)]:
        return 0
    now = timezone.now()
    why = f"{REASON} doc={document.pk}"
    ended = 0
    with transaction.atomic():
        requests = QueryRequest.objects.select_for_update().filter(
            client_id=document.client_id, status=RequestStatus.APPROVED, valid_to__gt=now)
        for row in requests:
            if not _listed(row.scope_document_ids, document.pk) or _labels_cover(
                    row.scope_levels, row.scope_categories, document):
                continue
            QueryRequest.objects.filter(pk=row.pk).update(status=RequestStatus.REVOKED)
            record(actor, "query_request.revoke", object_type="query_request",
                   object_id=row.pk, client_id=row.client_id, reason=why)
            notify([row.requester], "request_relabelled", {"id": row.pk, "document": document.pk},
                   url="/access/")
            ended += 1
        authorizations = ClientAuthorization.objects.filter(
            client_id=document.client_id, revoked_at__isnull=True, valid_to__gt=now)
        for auth in authorizations:
            if not _listed(auth.scope_document_ids, document.pk) or _labels_cover(
                    auth.scope_levels, auth.scope_categories, document):
                continue
            _revoke_authorization(actor, auth, why)
            ended += 1
    return ended
