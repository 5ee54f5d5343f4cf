"""Inputs of `decide`: the actor, the object, and the facts a selector gathered.

All inputs are frozen dataclasses: `decide` is a pure function of them, so the same
inputs always give the same decision and a decision can be replayed from the ledger.
Ids are whatever the database uses (`int` or `str`); a selector must use one type
consistently, because `1 != "1"` and a mismatch fails closed (no access), never open.

Time windows are half-open, `valid_from <= now < valid_to`. A window whose end is not
after its start (inverted or empty) contains no instant, so it can never grant anything.
Datetimes must be timezone-aware; a naive one is rejected when the window is built,
because comparing naive and aware datetimes raises in the middle of a decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from baomi.policy.text import stated
from baomi.policy.vocab import (
    DEFAULT_PURPOSES,
    ActorStatus,
    Category,
    Level,
    ObjectKind,
    QueryStatus,
    Role,
)

Id = int | str


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")


def _coerce(obj: object, name: str, enum: type[StrEnum]) -> None:
    value = getattr(obj, name)
    if type(value) is not enum:
        # Frozen dataclass: set through object.__setattr__, once, at construction.
        object.__setattr__(obj, name, enum(value))


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open validity period `[valid_from, valid_to)` of timezone-aware datetimes."""

    valid_from: datetime
    valid_to: datetime

    def __post_init__(self) -> None:
        _require_aware(self.valid_from, "valid_from")
        _require_aware(self.valid_to, "valid_to")

    def contains(self, now: datetime) -> bool:
        """True when `now` lies in the window; always False for an inverted window."""
        return self.valid_from <= now < self.valid_to

    @property
    def inverted(self) -> bool:
        """True when the window is empty (end not after start): such data is suspect."""
        return self.valid_to <= self.valid_from


@dataclass(frozen=True, slots=True)
class Scope:
    """Which objects of one client an authorization or a query request covers.

    An object is covered when it is a document whose id is listed in `object_ids` (the
    documents the grant names one by one), or when the label clause is used (at least one
    of `levels` / `categories` non-empty) and every non-empty one contains the object's
    label. An empty scope covers nothing. An object with no category is covered by a label
    clause only if `categories` is empty.

    Listed ids are document ids and nothing else: a client record, a contact or any other
    kind of object with the same number is not covered by them (ids of different tables
    run 1, 2, 3… each, so "#1" names a document, never client 1's sealed fields).
    """

    object_ids: frozenset[Id] = frozenset()
    levels: frozenset[Level] = frozenset()
    categories: frozenset[Category] = frozenset()

    def covers(self, obj: Resource) -> bool:
        """True when `obj` falls inside this scope (see the class docstring)."""
        if obj.kind is ObjectKind.DOCUMENT and obj.id is not None and obj.id in self.object_ids:
            return True
        if not self.levels and not self.categories:
            return False
        if self.levels and obj.level not in self.levels:
            return False
        return not self.categories or (
            obj.category is not None and obj.category in self.categories
        )


@dataclass(frozen=True, slots=True)
class Authorization:
    """A client's written authorization (客户授权, F07) for a named person or partner org.

    It grants the partner-role actions of the access matrix on objects of `client_id` that
    `scope` covers, while `window` contains now and it is not revoked. For a client-level
    object (kind `client`, e.g. `document.list`), any live authorization of that client
    is enough; each document is then checked against the scope on its own.
    """

    id: Id
    client_id: Id
    scope: Scope
    window: Window
    grantee_user_id: Id | None = None
    grantee_partner_org_id: Id | None = None
    revoked: bool = False

    def names(self, actor: Actor) -> bool:
        """True when the authorization is addressed to `actor` (as a user or as an org)."""
        if self.grantee_user_id is not None and self.grantee_user_id == actor.user_id:
            return True
        return (
            self.grantee_partner_org_id is not None
            and self.grantee_partner_org_id == actor.partner_org_id
        )


@dataclass(frozen=True, slots=True)
class QueryRequest:
    """A query request (查询申请, F08) to read classified data of one client.

    It covers an object only when approved by someone other than the requester, inside
    its window, for the same client, and with the object inside its scope; and, for a
    read whose purpose is known, only for the purpose it was approved for (`purpose`, as
    stated: `baomi.policy.text.stated`).
    """

    id: Id
    requester_id: Id
    client_id: Id
    scope: Scope
    window: Window
    status: QueryStatus
    approved_by: Id | None = None
    purpose: str = ""

    def __post_init__(self) -> None:
        _coerce(self, "status", QueryStatus)

    def covers(self, actor: Actor, obj: Resource, now: datetime,
               purpose: str | None = None) -> bool:
        """True when this request lets `actor` read `obj` at `now` for `purpose` (already
        stated, `baomi.policy.text.stated`); None when no purpose is known yet (`permitted`:
        the UI offering the read), when any purpose is taken as the approved one."""
        return (
            self.status is QueryStatus.APPROVED
            and self.requester_id == actor.user_id
            # A request approved by its own requester never counts, whatever produced it.
            and self.approved_by is not None
            and self.approved_by != self.requester_id
            and self.client_id == obj.client_id
            and self.window.contains(now)
            and self.scope.covers(obj)
            and (purpose is None or purpose == stated(self.purpose))
        )


@dataclass(frozen=True, slots=True)
class Actor:
    """The user asking. `clearance` caps the levels they may touch (staff and partners)."""

    user_id: Id
    role: Role
    clearance: Level = Level.PUBLIC
    department: Id | None = None
    status: ActorStatus = ActorStatus.ACTIVE
    is_active: bool = True
    mfa_verified: bool = False
    engagement: Window | None = None  # external auditors: the engagement period
    partner_org_id: Id | None = None  # partners: their organisation
    client_id: Id | None = None  # client portal users: their company

    def __post_init__(self) -> None:
        # Coerce plain strings from the database into the enums (unknown codes raise here,
        # not in the middle of a decision); `decide` compares members by identity.
        _coerce(self, "role", Role)
        _coerce(self, "clearance", Level)
        _coerce(self, "status", ActorStatus)


@dataclass(frozen=True, slots=True)
class Resource:
    """The object acted on. `client_id` is None only for firm-level objects (staff, ledger).

    For a client, `level` is the client profile's label; for a record or document it is the
    object's own label. For `document.classify` the selector passes the higher of the old
    and the new level, so relabelling cannot be used to reach above one's clearance.
    For `query_request.approve`, `owner_id` is the requester.
    """

    kind: ObjectKind
    id: Id | None = None
    client_id: Id | None = None
    client_department: Id | None = None
    level: Level = Level.PUBLIC
    category: Category | None = None
    owner_id: Id | None = None

    def __post_init__(self) -> None:
        _coerce(self, "kind", ObjectKind)
        _coerce(self, "level", Level)
        if self.category is not None:
            _coerce(self, "category", Category)


def _no_authorizations() -> Mapping[Id, tuple[Authorization, ...]]:
    return MappingProxyType({})


def _no_query_requests() -> Mapping[Id, tuple[QueryRequest, ...]]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything about the actor that a selector gathered from the database.

    Every fact can only widen access: removing one never turns a refusal into an allow
    (the property tests check this). Authorizations and query requests are indexed by
    client id so a decision looks at one client's handful, not at all of them; use
    `Facts.build` to index lists.
    """

    assigned_client_ids: frozenset[Id] = frozenset()
    department_client_ids: frozenset[Id] = frozenset()  # managers: their department's
    agreements: tuple[Window, ...] = ()  # 保密协议 (F23): any one current is enough
    trainings: tuple[Window, ...] = ()  # 培训 (F24): any one current is enough
    authorizations: Mapping[Id, tuple[Authorization, ...]] = field(
        default_factory=_no_authorizations
    )
    query_requests: Mapping[Id, tuple[QueryRequest, ...]] = field(
        default_factory=_no_query_requests
    )
    break_glass: bool = False
    break_glass_reason: str = ""

    @staticmethod
    def build(
        *,
        assigned_client_ids: Iterable[Id] = (),
        department_client_ids: Iterable[Id] = (),
        agreements: Iterable[Window] = (),
        trainings: Iterable[Window] = (),
        authorizations: Iterable[Authorization] = (),
        query_requests: Iterable[QueryRequest] = (),
        break_glass: bool = False,
        break_glass_reason: str = "",
    ) -> Facts:
        """Build `Facts` from plain iterables, indexing grants by client id."""
        auths: dict[Id, list[Authorization]] = {}
        for auth in authorizations:
            auths.setdefault(auth.client_id, []).append(auth)
        requests: dict[Id, list[QueryRequest]] = {}
        for request in query_requests:
            requests.setdefault(request.client_id, []).append(request)
        return Facts(
            assigned_client_ids=frozenset(assigned_client_ids),
            department_client_ids=frozenset(department_client_ids),
            agreements=tuple(agreements),
            trainings=tuple(trainings),
            authorizations=MappingProxyType({k: tuple(v) for k, v in auths.items()}),
            query_requests=MappingProxyType({k: tuple(v) for k, v in requests.items()}),
            break_glass=break_glass,
            break_glass_reason=break_glass_reason,
        )


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Deployment settings of the policy. The default accepts any non-blank purpose."""

    purposes: tuple[str, ...] = DEFAULT_PURPOSES
    free_text_purpose: bool = True


DEFAULT_CONFIG = PolicyConfig()
