"""Reads for the vault: document metadata lists and look-ups (no content, no keys).

Metadata (title, level, category, sizes) is visible to whoever may see the client
(`clients_visible_to`); content goes through the door. Objects the actor may not see
are reported as not found, so their existence is not revealed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet

from baomi.accounts.models import User
from baomi.clients.models import Client, Contact
from baomi.clients.selectors import clients_visible_to
from baomi.core.rawrows import Rows, cached_sql, fetch, fetch_by_id
from baomi.errors import NotFound
from baomi.vault import door
from baomi.vault.models import Document, DocumentVersion, Watermark


def documents_visible_to(actor: User) -> QuerySet[Document]:
    """Documents of clients the actor may view (each document is still decided on its
    own: `document_list` and `document_get` apply `document.metadata`)."""
    return Document.objects.filter(client__in=clients_visible_to(actor))


def document_list(*, actor: User, client: Client) -> QuerySet[Document]:
    """Documents of a visible client whose metadata the policy lets `actor` see (a
    partner's authorization scope, clearance…), newest first, with their current version.
    """
    from baomi import policy
    from baomi.access import selectors as access

    qs = (
        Document.objects.filter(client=client)
        .select_related("client", "current_version", "created_by")
        .order_by("-created_at", "-id")
    )
    if not clients_visible_to(actor).filter(pk=client.pk).exists():
        return qs.none()
    facts = access.facts_for(actor, client_id=client.pk)
    allowed = [
        d.pk
        for d in qs
        if access.permitted_for(
            actor, policy.Action.DOCUMENT_METADATA, access.document_resource(d), facts
        )
    ]
    return qs.filter(pk__in=allowed)


_DOCUMENT_ROWS = Rows(Document)
_VERSION_ROWS = Rows(DocumentVersion)
_USER_ROWS = Rows(User)


def _with_creator_sql(rows: Rows[Any], where: str, newest_first: str = "") -> Callable[
    [BaseDatabaseWrapper], str
]:
    """SELECT `rows`' model (alias ``o``) with its creator (``u``, LEFT JOIN) where the
    column `where` equals the parameter, ordered by `newest_first` descending if given."""

    def build(db: BaseDatabaseWrapper) -> str:
        q = db.ops.quote_name
        return (
            f"SELECT {rows.columns('o', db)}, {_USER_ROWS.columns('u', db)} "  # noqa: S608  (names from the models' meta)
            f"FROM {q(rows.table)} o LEFT JOIN {q(_USER_ROWS.table)} u "
            f"ON u.{q(_USER_ROWS.pk_column)} = o.{q('created_by_id')} "
            f"WHERE o.{q(where)} = %s"
            + (f" ORDER BY o.{q(newest_first)} DESC" if newest_first else "")
        )

    return build


_DOCUMENT_SQL = _with_creator_sql(_DOCUMENT_ROWS, "id")
_VERSIONS_SQL = _with_creator_sql(_VERSION_ROWS, "document_id", "number")


def document_get(*, actor: User, document_id: int) -> Document:
    """A document whose metadata `actor` may read, or NotFound (code
    `document_not_found`; also when refused, so its existence is not revealed). The
    decision is made and recorded by the vault door (``document.metadata``).

    The document comes with its creator, its versions (newest first, each with its
    creator; see `document_versions`) and its current version; its client loads on first
    use. Two raw reads (`baomi.core.rawrows`): this is the hot path of every document
    request, where compiling ORM queries cost more than running them.
    """
    from baomi.errors import AccessDenied

    rows = fetch_by_id(cached_sql("vault.document_get", _DOCUMENT_SQL), int(document_id))
    if not rows:
        raise NotFound(code="document_not_found")
    document = _DOCUMENT_ROWS.load(rows[0])
    document.created_by = _USER_ROWS.load_optional(rows[0], _DOCUMENT_ROWS.width)
    try:
        door.document_metadata(actor=actor, document=document)
    except AccessDenied as exc:
        from baomi.access.selectors import HIDING_RULES

        # Reach refusals hide the document; a gate (agreement, training, MFA, clearance)
        # is the actor's own state, so its reason is shown.
        rule = str(exc.detail.get("rule", exc.code)) if isinstance(exc.detail, dict) else ""
        if rule in HIDING_RULES or rule in {"no_client", ""}:
            raise NotFound(code="document_not_found") from exc
        raise
    current = [v for v in _load_versions(document) if v.pk == document.current_version_id]
    if current:
        document.current_version = current[0]
    return document


# Versions loaded with a document: (its current_version_id then, the versions).
_VERSIONS_ATTR = "_baomi_versions"


def _load_versions(document: Document) -> list[DocumentVersion]:
    versions = []
    for row in fetch(cached_sql("vault.document_versions", _VERSIONS_SQL), [document.pk]):
        version = _VERSION_ROWS.load(row)
        version.created_by = _USER_ROWS.load_optional(row, _VERSION_ROWS.width)
        version.document = document
        versions.append(version)
    setattr(document, _VERSIONS_ATTR, (document.current_version_id, versions))
    return versions


def document_versions(*, document: Document) -> list[DocumentVersion]:
    """The versions of `document`, newest first, each with its creator.

    Those `document_get` loaded with the document are reused as long as its current
    version is the same (adding a version changes it); otherwise they are read again.
    """
    cached = getattr(document, _VERSIONS_ATTR, None)
    if cached is not None and cached[0] == document.current_version_id:
        return list(cached[1])
    return _load_versions(document)


def version_get(*, document: Document, number: int | None = None) -> DocumentVersion:
    """A version of `document` (default: the current one); NotFound otherwise."""
    qs = document.versions.select_related("document")
    version = (
        qs.filter(number=number).first()
        if number is not None
        else qs.filter(pk=document.current_version_id or 0).first()
    )
    if version is None:
        raise NotFound(code="version_not_found")
    return version


def watermark_get(*, watermark_id: str) -> Watermark | None:
    return (
        Watermark.objects.select_related("version__document__client", "user")
        .filter(pk=watermark_id.strip().upper())
        .first()
    )


def contact_find(
    *, actor: User, purpose: str, mobile: str = "", id_number: str = "", email: str = ""
) -> QuerySet[Contact]:
    """Contacts whose mobile / ID number / e-mail equals the value given, across every
    client the actor may see, through the blind index (nothing is decrypted).

    A match confirms a protected value, so each field searched is decided by the door as
    a read of it for `purpose` (F08: 内部 and above need a stated purpose) and recorded
    (``record.search`` with the purpose, never the value). Raises `AccessDenied` (code
    `purpose_required` for a blank purpose) before anything is looked up."""
    qs = Contact.objects.filter(client__in=clients_visible_to(actor))
    searched = []
    for field_name, value in (("mobile", mobile), ("id_number", id_number), ("email", email)):
        if value.strip():
            token = door.search_token(
                actor=actor, model=Contact, field_name=field_name, value=value, purpose=purpose
            )
            qs = qs.filter(**{f"{field_name}_bidx": token or "-"})
            searched.append(field_name)
    # Only matches whose every searched field the actor may read there (`search_reach`).
    reach = door.search_reach(
        actor=actor,
        model=Contact,
        field_names=searched,
        client_ids=qs.values_list("client_id", flat=True),
        purpose=purpose,
    )
    return qs.filter(client_id__in=reach).select_related("client")


def client_find_by_legal_rep_id(
    *, actor: User, id_number: str, purpose: str
) -> QuerySet[Client]:
    """Clients whose legal representative's ID number equals `id_number`, among those
    whose ID number the actor may read (`door.search_reach`). Decided and recorded as a
    read of the ID number for `purpose` (`door.search_token`); raises `AccessDenied`."""
    token = door.search_token(
        actor=actor,
        model=Client,
        field_name="legal_rep_id_number",
        value=id_number,
        purpose=purpose,
    )
    matches = clients_visible_to(actor).filter(legal_rep_id_number_bidx=token or "-")
    reach = door.search_reach(
        actor=actor,
        model=Client,
        field_names=["legal_rep_id_number"],
        client_ids=matches.values_list("pk", flat=True),
        purpose=purpose,
    )
    return matches.filter(pk__in=reach)


_CLIENT_ROWS = Rows(Client)
_CLIENT_SQL = _CLIENT_ROWS.where_sql(_CLIENT_ROWS.pk_column)


def client_sealed_read(
    *, actor: User, client_id: int, fields: tuple[str, ...], purpose: str
) -> dict[str, str]:
    """Open `fields` of a client's sealed values for `purpose` through the door: one
    decision and one ledger entry (``client.sensitive.read``, allowed or refused), not a
    ``client.read`` beside it, as the client record itself is not returned.

    NotFound (code `client_not_found`) when the client does not exist or is out of the
    actor's reach (refused and recorded, so its existence is not revealed); a refusal of
    a client the actor may see (no purpose, no second factor, approval needed…) is
    `AccessDenied` with its reason. Only on a refusal about reach is a second decision
    made, whether the actor may view the client at all, to choose between the two; it is
    not recorded, as the refusal already is. The entry names the fields opened (never
    their values). The client is read raw (`baomi.core.rawrows`): this is the hot path of
    every sealed-field read from the API.
    """
    from baomi import policy
    from baomi.access import selectors as access
    from baomi.access.errors import too_long
    from baomi.audit.events import record
    from baomi.errors import AccessDenied, ValidationFailed
    from baomi.policy.text import stated

    rows = fetch_by_id(cached_sql("vault.client_sealed", _CLIENT_SQL), int(client_id))
    if not rows:
        said = stated(purpose)
        record(
            actor,
            str(door.Action.RECORD_READ),
            object_type="client",
            object_id=client_id,
            purpose="" if too_long("purpose", said) else said,
            decision="refused",
            reason="not_found",
        )
        raise NotFound(code="client_not_found")
    client = _CLIENT_ROWS.load(rows[0])
    try:
        return door.record_read(actor=actor, obj=client, fields=fields, purpose=purpose)
    except ValidationFailed as exc:
        # An over-long purpose is refused before reach is decided: to whom the client
        # is hidden, it is as absent as a client that does not exist.
        view = access.decide_for(
            actor, policy.Action.CLIENT_VIEW, access.client_resource(client)
        )
        if not view.allowed:
            raise NotFound(code="client_not_found") from exc
        raise
    except AccessDenied as exc:
        rule = str(exc.detail.get("rule", exc.code)) if isinstance(exc.detail, dict) else ""
        if rule in access.HIDING_RULES or rule in {"no_client", ""}:
            # Hide the client only from those who may not even see it (the refusal is
            # already recorded); to those who may, the reason is shown.
            view = access.decide_for(
                actor, policy.Action.CLIENT_VIEW, access.client_resource(client)
            )
            if not view.allowed:
                raise NotFound(code="client_not_found") from exc
        raise
