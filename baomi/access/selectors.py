"""Reads for access governance, and the bridge from database rows to `baomi.policy`.

`policy_actor` and `facts_for` gather what `baomi.policy.decide` needs for one actor (and
optionally one client) in a handful of small indexed queries; `decide_for` runs the
pure decision. Every fact only widens access, so a row these selectors fail to load can
only refuse, never allow.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from baomi import policy
from baomi.access import context
from baomi.access.models import (
    AgreementKind,
    BreakGlassRead,
    ClientAuthorization,
    ConfidentialityAgreement,
    EndedAssignment,
    GrantKind,
    Notification,
    Purpose,
    QueryRequest,
    RequestStatus,
    ReviewCampaign,
    ReviewItem,
    TrainingRecord,
)
from baomi.accounts.models import Level, Role, StaffStatus, User
from baomi.clients.models import Assignment, Client
from baomi.core.rawrows import cached_sql, fetch
from baomi.vault.models import Category

# The client profile (name, legal representative, status, contacts' names) is labelled
# internal: staff need an agreement and training in force to see it at all (F23, F24).
CLIENT_PROFILE_LEVEL = policy.Level.INTERNAL


# The confidentiality agreement that opens reads above 公开 (F23) is the one a person
# signs in their role: the firm's staff an employee agreement, a partner's staff a
# partner agreement, an external auditor their engagement agreement (which is also their
# engagement window). A client's agreement, or one of another role's type, opens nothing.
GATE_AGREEMENT_KINDS: dict[str, str] = {
    Role.ADMIN: AgreementKind.EMPLOYEE,
    Role.MANAGER: AgreementKind.EMPLOYEE,
    Role.ACCOUNTANT: AgreementKind.EMPLOYEE,
    Role.COMPLIANCE: AgreementKind.EMPLOYEE,
    Role.INTERNAL_AUDITOR: AgreementKind.EMPLOYEE,
    Role.EXTERNAL_AUDITOR: AgreementKind.AUDITOR,
    Role.PARTNER: AgreementKind.PARTNER,
}


def gate_agreement_kind(role: str) -> str:
    """The agreement type that counts for `role` (F23); "" (no type) for any other role,
    so that nothing counts."""
    return str(GATE_AGREEMENT_KINDS.get(role, ""))


def registry_agreement_kind(role: str) -> str:
    """The one agreement type the registry records for a person of `role`: the type
    that opens their reads (`gate_agreement_kind`), and for a client's portal user the
    client agreement (kept on record; portal users pass no agreement gate). Any other
    type would silently do nothing, so `services.agreement_record` refuses it."""
    if role == Role.CLIENT:
        return str(AgreementKind.CLIENT)
    return gate_agreement_kind(role)


def _window(start: datetime, end: datetime) -> policy.Window:
    return policy.Window(start, end)


def policy_actor(user: User, *, mfa_verified: bool | None = None) -> policy.Actor:
    """The policy's view of `user`. `mfa_verified` defaults to the request's session."""
    if mfa_verified is None:
        mfa_verified = context.current().mfa_verified
    engagement = None
    if user.role == Role.EXTERNAL_AUDITOR:
        # An external auditor's engagement is the span of their engagement agreement
        # (auditor type: an agreement of another type is no engagement).
        rows = list(
            ConfidentialityAgreement.objects.filter(person=user, ended_at__isnull=True,
                                                    kind=AgreementKind.AUDITOR)
            .order_by("-valid_to")
            .values_list("valid_from", "valid_to")[:1]
        )
        if rows:
            engagement = _window(*rows[0])
    return policy.Actor(
        user_id=user.pk,
        role=policy.Role(user.role),
        clearance=policy.Level(user.clearance),
        department=user.department_id,
        status=policy.ActorStatus.LEFT
        if user.status == StaffStatus.LEFT
        else policy.ActorStatus.ACTIVE,
        is_active=user.is_active,
        mfa_verified=mfa_verified,
        engagement=engagement,
        partner_org_id=user.partner_org_id,
        client_id=user.portal_client_id,
    )


def _scope(levels: Iterable[str], categories: Iterable[str], ids: Iterable[Any]) -> policy.Scope:
    return policy.Scope(
        object_ids=frozenset(int(i) for i in ids),
        levels=frozenset(policy.Level(v) for v in levels if v in policy.Level._value2member_map_),
        categories=frozenset(
            policy.Category(v) for v in categories if v in policy.Category._value2member_map_
        ),
    )


def authorization_fact(row: ClientAuthorization) -> policy.Authorization:
    return policy.Authorization(
        id=row.pk,
        client_id=row.client_id,
        scope=_scope(row.scope_levels, row.scope_categories, row.scope_document_ids),
        window=_window(row.valid_from, row.valid_to),
        grantee_user_id=row.grantee_user_id,
        grantee_partner_org_id=row.grantee_org_id,
        revoked=row.revoked_at is not None,
    )


def query_request_fact(row: QueryRequest) -> policy.QueryRequest:
    status = row.status if row.status in policy.QueryStatus._value2member_map_ else "revoked"
    return policy.QueryRequest(
        id=row.pk,
        requester_id=row.requester_id,
        client_id=row.client_id,
        scope=_scope(row.scope_levels, row.scope_categories, row.scope_document_ids),
        window=_window(row.valid_from, row.valid_to),
        status=policy.QueryStatus(status),
        approved_by=row.decided_by_id,
        purpose=row.purpose,
    )


ALL_FACTS = frozenset({"assignments", "gates", "authorizations", "requests"})


def needed_facts(role: str, action: policy.Action, level: policy.Level) -> frozenset[str]:
    """Which facts the matrix cell for (role, action, level) can use at all. A fact the
    cell cannot use can only leave the decision unchanged (every fact only widens, and
    a cell that does not name it never reads it), so skipping it is exact."""
    req = policy.cell(policy.Role(role), action, level)
    need = set()
    if level is not policy.Level.PUBLIC:
        need.add("gates")
    if req in {policy.Req.ASSIGNED, policy.Req.ASSIGNED_REQUEST, policy.Req.ASSIGNED_OR_REQUEST}:
        need.add("assignments")
    if req in {policy.Req.REQUEST, policy.Req.ASSIGNED_REQUEST, policy.Req.ASSIGNED_OR_REQUEST}:
        need.add("requests")
    if req is policy.Req.AUTHORIZED:
        need.add("authorizations")
    # Nothing more for managers: a failed ordinary path upgraded to break-glass needs no
    # fact, and their department reach compares the object's department with theirs.
    # So a firm-level cell (the menu's `staff.view`, for one) reads no assignments.
    return frozenset(need)


_AGREEMENT, _TRAINING, _ASSIGNMENT = 0, 1, 2


def _facts_sql(user_id: int, client_id: int | None, need: frozenset[str],
               agreement_kind: str = "") -> tuple[str, list[Any]]:
    """One UNION ALL read for the assignments and the gates (agreements in force are
    those not ended and of `agreement_kind`, the type of the person's role:
    `gate_agreement_kind`; training records), instead of one ORM query per kind: on the
    door's hot path the ORM's SQL compilation cost more than the queries themselves.

    Rows: (kind, assigned client id, valid_from, valid_to). The agreement part comes
    first so that the date columns keep their declared type (SQLite takes a compound
    select's column types from its first select), and its NULL client id is cast so
    that PostgreSQL can match it with the assignments' ids.
    """
    gates, assignments = "gates" in need, "assignments" in need
    one_client = assignments and client_id is not None

    def build(db: BaseDatabaseWrapper) -> str:
        q = db.ops.quote_name
        parts = []
        if gates:
            for kind, model, extra in (
                (_AGREEMENT, ConfidentialityAgreement,
                 f" AND {q('ended_at')} IS NULL AND {q('kind')} = %s"),
                (_TRAINING, TrainingRecord, ""),
            ):
                parts.append(
                    f"SELECT {kind}, CAST(NULL AS BIGINT), {q('valid_from')}, {q('valid_to')} "  # noqa: S608  (names from the models' meta)
                    f"FROM {q(model._meta.db_table)} WHERE {q('person_id')} = %s{extra}"
                )
        if assignments:
            where = f"{q('user_id')} = %s" + (f" AND {q('client_id')} = %s" if one_client else "")
            parts.append(
                f"SELECT {_ASSIGNMENT}, {q('client_id')}, NULL, NULL "  # noqa: S608  (names from the models' meta)
                f"FROM {q(Assignment._meta.db_table)} WHERE {where}"
            )
        return " UNION ALL ".join(parts)

    params: list[Any] = [user_id, agreement_kind, user_id] if gates else []
    if assignments:
        params += [user_id, client_id] if one_client else [user_id]
    return cached_sql(f"access.facts:{gates:d}{assignments:d}{one_client:d}", build), params


def _datetime_reader() -> Callable[[Any], datetime]:
    """Convert a raw `DateTimeField` value as the ORM would (aware, in UTC)."""
    return _datetime_reader_for(connection.vendor)


@functools.cache
def _datetime_reader_for(vendor: str) -> Callable[[Any], datetime]:
    # Worked out once per database vendor (the converters are the backend's; each runs
    # against the calling thread's connection): every door-checked read uses it.
    col = ConfidentialityAgreement._meta.get_field("valid_from").get_col(
        ConfidentialityAgreement._meta.db_table
    )
    converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)

    def read(value: Any) -> datetime:
        for convert in converters:
            value = convert(value, col, connection)
        if not isinstance(value, datetime):
            raise TypeError(f"not a datetime: {value!r}")
        return value

    return read


def facts_for(
    user: User,
    *,
    client_id: int | None = None,
    break_glass_reason: str | None = None,
    need: frozenset[str] = ALL_FACTS,
) -> policy.Facts:
    """The facts about `user` (restricted to `client_id`'s grants when given).

    Queries, each only when `need` names it: assignments, agreements and training (one
    UNION ALL read, `_facts_sql`); authorizations; approved query requests (the last
    two only for the client asked about when one is given).
    """
    if not user.is_active or user.status == StaffStatus.LEFT:
        return policy.Facts()
    if user.role == Role.CLIENT:
        return policy.Facts()  # own-company access needs no other fact
    assigned: list[int] = []
    agreements: list[policy.Window] = []
    trainings: list[policy.Window] = []
    if "assignments" in need or "gates" in need:
        sql, params = _facts_sql(user.pk, client_id, need, gate_agreement_kind(user.role))
        to_datetime = _datetime_reader()
        for kind, assigned_client, start, end in fetch(sql, params):
            if kind == _ASSIGNMENT:
                assigned.append(int(assigned_client))
            else:
                window = _window(to_datetime(start), to_datetime(end))
                (agreements if kind == _AGREEMENT else trainings).append(window)
    auths: list[policy.Authorization] = []
    if "authorizations" in need:
        grantee = Q(grantee_user=user)
        if user.partner_org_id is not None:
            grantee |= Q(grantee_org_id=user.partner_org_id)
        rows = ClientAuthorization.objects.filter(grantee)
        if client_id is not None:
            rows = rows.filter(client_id=client_id)
        auths = [authorization_fact(a) for a in rows]
    requests: list[policy.QueryRequest] = []
    if "requests" in need:
        reqs = QueryRequest.objects.filter(requester=user, status=RequestStatus.APPROVED)
        if client_id is not None:
            reqs = reqs.filter(client_id=client_id)
        requests = [query_request_fact(r) for r in reqs]
    reason = context.current().break_glass_reason if break_glass_reason is None else (
        break_glass_reason
    )
    return policy.Facts.build(
        assigned_client_ids=assigned,
        agreements=agreements,
        trainings=trainings,
        authorizations=auths,
        query_requests=requests,
        break_glass=bool(reason.strip()),
        break_glass_reason=reason,
    )


def approved_purposes(user: User, obj: policy.Resource) -> list[str]:
    """The purposes of `user`'s approved query requests that cover `obj` now, newest
    first: a read under a request states the purpose it was approved for (F08), so the
    forms that ask for a purpose offer them."""
    if obj.client_id is None:
        return []
    now, actor = timezone.now(), policy_actor(user)
    rows = QueryRequest.objects.filter(requester=user, status=RequestStatus.APPROVED,
                                       client_id=obj.client_id).order_by("-pk")
    out: list[str] = []
    for row in rows:
        if row.purpose not in out and query_request_fact(row).covers(actor, obj, now):
            out.append(row.purpose)
    return out


def scope_labels(levels: Iterable[str], categories: Iterable[str]
                 ) -> tuple[list[str], list[str]]:
    """A scope's levels (in rank order) and categories as people read them: the model
    choices' labels (`Level`, `Category`: 内部, 财务数据 …) in the active language. A
    value no choice has is shown as stored."""

    def labelled(choices: list[tuple[str, Any]], values: Iterable[str]) -> list[str]:
        chosen = {str(v) for v in values}
        known = {value for value, _label in choices}
        return [str(label) for value, label in choices if value in chosen] + sorted(
            chosen - known)

    return labelled(Level.choices, levels), labelled(Category.choices, categories)


def scope_text(levels: Iterable[str], categories: Iterable[str],
               document_ids: Iterable[int] = ()) -> str:
    """A scope on one line (`scope_labels`, then the listed documents as #id); "" for
    none. Shown for client authorizations and query requests."""
    level_labels, category_labels = scope_labels(levels, categories)
    documents = [f"#{i}" for i in document_ids]
    return " · ".join(", ".join(part) for part in (level_labels, category_labels, documents)
                      if part)


def review_item_scope(item: ReviewItem) -> str:
    """What a reviewed grant covers, as the review page and its exports show it: an
    assignment covers what its holder's role and clearance allow on the client; an
    authorization or query request its stored scope (`scope_text`; "" for an item of a
    campaign made before scopes were kept, whose grant had ended by then)."""
    if item.grant_kind == GrantKind.ASSIGNMENT:
        return str(_("By role and clearance"))
    return scope_text(item.scope_levels, item.scope_categories, item.scope_document_ids)


def client_resource(client: Client | None = None, *, client_id: int | None = None,
                    department_id: int | None = None) -> policy.Resource:
    """A client profile as a policy object (level: `CLIENT_PROFILE_LEVEL`)."""
    if client is not None:
        client_id, department_id = client.pk, client.department_id
    return policy.Resource(
        kind=policy.ObjectKind.CLIENT,
        id=client_id,
        client_id=client_id,
        client_department=department_id,
        level=CLIENT_PROFILE_LEVEL,
    )


def document_resource(document: Any) -> policy.Resource:
    known = policy.Category._value2member_map_
    category = document.category if document.category in known else None
    return policy.Resource(
        kind=policy.ObjectKind.DOCUMENT,
        id=document.pk,
        client_id=document.client_id,
        client_department=document.client.department_id,
        level=policy.Level(document.level),
        category=policy.Category(category) if category else None,
    )


def _client_of(obj: policy.Resource | None) -> int | None:
    if obj is None or obj.client_id is None:
        return None
    return int(obj.client_id)


def decide_for(
    user: User,
    action: policy.Action,
    obj: policy.Resource | None,
    *,
    purpose: str | None = None,
    facts: policy.Facts | None = None,
    now: datetime | None = None,
) -> policy.Decision:
    """`baomi.policy.decide` for a user, gathering the facts when not given."""
    if facts is None:
        need = ALL_FACTS
        if user.role in policy.Role._value2member_map_:
            need = needed_facts(user.role, policy.Action(action),
                                obj.level if obj is not None else policy.Level.PUBLIC)
        facts = facts_for(user, client_id=_client_of(obj), need=need)
    return policy.decide(
        policy_actor(user), action, obj, purpose, now or timezone.now(), facts, policy_config()
    )


def permitted_for(user: User, action: policy.Action, obj: policy.Resource | None,
                  facts: policy.Facts | None = None) -> bool:
    if facts is None:
        facts = facts_for(user, client_id=_client_of(obj))
    return policy.permitted(policy_actor(user), action, obj, facts, timezone.now(),
                            config=policy_config())


def visible_actions_for(user: User, obj: policy.Resource | None,
                        facts: policy.Facts | None = None) -> frozenset[str]:
    """The action codes the UI should offer for `obj` (the door still decides)."""
    if facts is None:
        facts = facts_for(user, client_id=_client_of(obj))
    return frozenset(
        str(a)
        for a in policy.visible_actions(
            policy_actor(user), obj, facts, timezone.now(), config=policy_config()
        )
    )


# Reach codes: refusals that mean "this object is not yours to know about" (404).
HIDING_RULES = frozenset(
    {
        policy.Rule.NOT_ASSIGNED,
        policy.Rule.NOT_OWN_CLIENT,
        policy.Rule.APPROVAL_REQUIRED,
        policy.Rule.AUTHORIZATION_REQUIRED,
        policy.Rule.AUTHORIZATION_REVOKED,
        policy.Rule.AUTHORIZATION_EXPIRED,
        policy.Rule.OUTSIDE_AUTHORIZATION_SCOPE,
        policy.Rule.ROLE_NOT_PERMITTED,
        policy.Rule.BAD_REQUEST,
    }
)


def hides_existence(decision: policy.Decision) -> bool:
    """True when a refusal is about reach, so the API answers 404 rather than 403."""
    return not decision.allowed and decision.rule in HIDING_RULES


_CONFIG = policy.PolicyConfig(free_text_purpose=True)


def policy_config() -> policy.PolicyConfig:
    """Free text is accepted beside the configured list (F08), so the list itself does
    not take part in decisions: no query on the hot path."""
    return _CONFIG


def purposes() -> list[str]:
    """The configured purpose list (查询目的), falling back to the defaults."""
    rows = list(Purpose.objects.filter(active=True).values_list("text", flat=True))
    return rows or list(policy.DEFAULT_PURPOSES)


# --- Visibility --------------------------------------------------------------------------


def _reach_queryset(user: User) -> QuerySet[Client]:
    """Clients the matrix's `client.view` cell could reach for `user` (before gates)."""
    base = Client.objects.all()
    cells = policy.cells(policy.Role(user.role), policy.Action.CLIENT_VIEW)
    req = cells[policy.LEVEL_RANK[CLIENT_PROFILE_LEVEL]]
    if req is policy.Req.FIRM:
        return base
    if req is policy.Req.ASSIGNED:
        scope = Q(assignments__user=user)
        if user.role == Role.MANAGER and user.department_id is not None:
            scope |= Q(department_id=user.department_id)
        return base.filter(scope).distinct()
    if req is policy.Req.OWN:
        return base.filter(pk=user.portal_client_id) if user.portal_client_id else base.none()
    if req is policy.Req.AUTHORIZED:
        now = timezone.now()
        grantee = Q(authorizations__grantee_user=user)
        if user.partner_org_id is not None:
            grantee |= Q(authorizations__grantee_org_id=user.partner_org_id)
        return base.filter(
            grantee,
            authorizations__revoked_at__isnull=True,
            authorizations__valid_from__lte=now,
            authorizations__valid_to__gt=now,
        ).distinct()
    return base.none()


def clients_visible_to(user: User) -> QuerySet[Client]:
    """Clients `user` may view (`client.view` allowed), as a queryset.

    The reach part of the matrix cell is expressed in SQL; the remaining conditions
    (actor status, agreement, training, clearance, MFA) are the same for every client
    profile, so they are decided once, on the first reachable client.
    """
    if not user.is_active or user.status == StaffStatus.LEFT:
        return Client.objects.none()
    qs = _reach_queryset(user)
    first = qs.order_by("pk").values_list("pk", "department_id").first()
    if first is None:
        return qs
    facts = facts_for(user, client_id=first[0])
    resource = client_resource(client_id=first[0], department_id=first[1])
    if not permitted_for(user, policy.Action.CLIENT_VIEW, resource, facts):
        return Client.objects.none()
    return qs


def gate_problems(user: User) -> list[str]:
    """Why `user` cannot see client data at all (agreement, training…), in the active
    language; empty when nothing general blocks them. Shown on the dashboard and lists."""
    from django.utils.translation import get_language

    if user.role == Role.CLIENT:
        return []
    facts = facts_for(user)
    probe = policy.Resource(
        kind=policy.ObjectKind.CLIENT, id=0, client_id=0, level=CLIENT_PROFILE_LEVEL
    )
    # A probe the actor reaches by construction (pretend assigned), so only gates show.
    facts = policy.Facts(
        assigned_client_ids=frozenset({0}),
        agreements=facts.agreements,
        trainings=facts.trainings,
    )
    decision = policy.decide(
        policy_actor(user), policy.Action.CLIENT_SENSITIVE_READ, probe, "-", timezone.now(),
        facts,
    )
    lang = "en" if (get_language() or "").startswith("en") else "zh"
    return [
        r.text(lang)
        for r in decision.reasons
        if r.code
        in {
            policy.Rule.AGREEMENT_MISSING,
            policy.Rule.TRAINING_LAPSED,
            policy.Rule.ACTOR_DEPARTED,
            policy.Rule.ACTOR_INACTIVE,
            policy.Rule.ENGAGEMENT_WINDOW,
        }
    ]


# --- Lists for pages ---------------------------------------------------------------------


def agreements_of(user: User) -> QuerySet[ConfidentialityAgreement]:
    return ConfidentialityAgreement.objects.filter(person=user)


def trainings_of(user: User) -> QuerySet[TrainingRecord]:
    return TrainingRecord.objects.filter(person=user)


def handover_clients(user: User) -> list[Client]:
    """The clients a handover of `user` would move (`services.staff_handover`): those
    they are assigned to, and those whose assignment ended when they left or were
    transferred and that were not handed over yet. Ordered by name."""
    ended = EndedAssignment.objects.filter(user=user, handed_over_at__isnull=True)
    return list(Client.objects.filter(
        Q(assignments__user=user) | Q(pk__in=ended.values("client_id"))
    ).distinct().order_by("name", "pk"))


def authorizations_for_client(client: Client) -> QuerySet[ClientAuthorization]:
    return ClientAuthorization.objects.filter(client=client).select_related(
        "grantee_user", "grantee_org"
    )


def authorizations_visible(user: User, client: Client) -> QuerySet[ClientAuthorization]:
    """The client's authorizations `user` may see (the client is visible to them): a
    partner sees only those naming them or their organisation (who else the client
    authorized, and for what, is not theirs to know); everyone else who sees the client
    sees them all."""
    rows = authorizations_for_client(client)
    if user.role == Role.PARTNER:
        mine = Q(grantee_user=user)
        if user.partner_org_id is not None:
            mine |= Q(grantee_org_id=user.partner_org_id)
        rows = rows.filter(mine)
    return rows


def requests_of(user: User) -> QuerySet[QueryRequest]:
    return QueryRequest.objects.filter(requester=user).select_related("client")


def requests_to_decide(user: User) -> list[QueryRequest]:
    """Pending requests `user` may decide (never their own, nor one whose requester's
    account is deactivated or has left: approving it is refused): for staff, those the
    approval itself would allow (`query_request.approve` on the request as
    `services.request_approve` decides it: reach, clearance for the request's highest
    level, two-factor session, gates); for a portal user, their company's requests of
    the levels the client decides (confidential and above only from a two-factor
    session). What the page and the API list is what they accept."""
    pending = (
        QueryRequest.objects.filter(status=RequestStatus.PENDING,
                                    requester__is_active=True)
        .exclude(requester=user)
        .exclude(requester__status=StaffStatus.LEFT)
        .select_related("client", "requester")
    )
    if user.role == Role.MANAGER and user.department_id is not None:
        pending = pending.filter(
            Q(client__department_id=user.department_id) | Q(client__assignments__user=user)
        ).distinct()
    elif user.role == Role.CLIENT:
        pending = pending.filter(client_id=user.portal_client_id or 0)
    elif user.role != Role.COMPLIANCE:
        return []
    from baomi.access.services import (
        client_may_approve,
        client_needs_second_factor,
        request_level,
        request_resource,
    )

    out = []
    facts: dict[int, policy.Facts] = {}
    for row in pending:
        if user.role == Role.CLIENT:
            level = request_level(row)
            if client_may_approve(level) and not client_needs_second_factor(level):
                out.append(row)
            continue
        if row.client_id not in facts:
            facts[row.client_id] = facts_for(user, client_id=row.client_id)
        if permitted_for(user, policy.Action.QUERY_REQUEST_APPROVE, request_resource(row),
                         facts[row.client_id]):
            out.append(row)
    return out


def notifications_unread(user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notifications_of(user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user)[:100]


def break_glass_open() -> QuerySet[BreakGlassRead]:
    return BreakGlassRead.objects.filter(reviewed_at__isnull=True).select_related(
        "actor", "client", "document"
    )


def campaign_items(campaign: ReviewCampaign, reviewer: User | None = None) -> list[ReviewItem]:
    """The items of `campaign`; with `reviewer`, only theirs that they still review
    (`services.review_eligible`): a manager moved out of a department, or who left, sees
    nothing more of its grants (clients, holders, purposes) than they may decide."""
    from baomi.access.services import review_eligible

    # The client too: eligibility reads its department.
    items = campaign.items.select_related("reviewer", "decided_by", "client")
    if reviewer is None:
        return list(items)
    return [i for i in items.filter(reviewer=reviewer) if review_eligible(reviewer, i)]


def reviewer_campaigns(reviewer: User) -> QuerySet[ReviewCampaign]:
    """Campaigns with items `reviewer` still reviews (as `campaign_items` shows them):
    their items read once, not once per campaign."""
    from baomi.access.services import review_eligible

    items = ReviewItem.objects.filter(reviewer=reviewer).select_related("client")
    return ReviewCampaign.objects.filter(
        pk__in={i.campaign_id for i in items if review_eligible(reviewer, i)})
