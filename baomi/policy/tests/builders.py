"""Small builders for policy tests: a fixed clock, windows, actors, objects and facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from baomi.policy import (
    Actor,
    Authorization,
    Category,
    Facts,
    Level,
    ObjectKind,
    QueryRequest,
    QueryStatus,
    Resource,
    Role,
    Scope,
    Window,
)

NOW = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
DAY = timedelta(days=1)

CLIENT = 10  # the client the tests act on
OTHER_CLIENT = 20
DEPT = "d-north"
ME = 1
SOMEONE_ELSE = 2
PARTNER_ORG = 500


def current() -> Window:
    """A window around NOW."""
    return Window(NOW - 30 * DAY, NOW + 30 * DAY)


def expired() -> Window:
    """A window that ended yesterday."""
    return Window(NOW - 30 * DAY, NOW - DAY)


def not_yet() -> Window:
    """A window that starts tomorrow."""
    return Window(NOW + DAY, NOW + 30 * DAY)


def inverted() -> Window:
    """End before start, and NOW between them: must never grant."""
    return Window(NOW + 30 * DAY, NOW - 30 * DAY)


def actor(role: Role, **kw: object) -> Actor:
    """A fully qualified, active actor of `role` (secret clearance, MFA done)."""
    defaults: dict[str, object] = {
        "user_id": ME,
        "role": role,
        "clearance": Level.SECRET,
        "department": DEPT,
        "mfa_verified": True,
    }
    if role is Role.EXTERNAL_AUDITOR:
        defaults["engagement"] = current()
    if role is Role.PARTNER:
        defaults["partner_org_id"] = PARTNER_ORG
    if role is Role.CLIENT:
        defaults["client_id"] = CLIENT
    defaults.update(kw)
    return Actor(**defaults)  # type: ignore[arg-type]


def doc(
    level: Level = Level.CONFIDENTIAL,
    *,
    client: int = CLIENT,
    category: Category | None = Category.FINANCIAL,
    doc_id: int = 100,
    kind: ObjectKind = ObjectKind.DOCUMENT,
    **kw: object,
) -> Resource:
    """A document (or other client object) of `client`."""
    return Resource(kind=kind, id=doc_id, client_id=client, level=level, category=category, **kw)  # type: ignore[arg-type]


def client_obj(level: Level = Level.INTERNAL, client: int = CLIENT) -> Resource:
    """The client itself as an object."""
    return Resource(kind=ObjectKind.CLIENT, id=client, client_id=client, level=level)


def query_request(**kw: object) -> QueryRequest:
    """An approved, current query request by ME for CLIENT's confidential+secret data."""
    defaults: dict[str, object] = {
        "id": 900,
        "requester_id": ME,
        "client_id": CLIENT,
        "scope": Scope(levels=frozenset({Level.CONFIDENTIAL, Level.SECRET})),
        "window": current(),
        "status": QueryStatus.APPROVED,
        "approved_by": SOMEONE_ELSE,
        # The purpose the rule table's reads state (a request grants only for its own).
        "purpose": "记账",
    }
    defaults.update(kw)
    return QueryRequest(**defaults)  # type: ignore[arg-type]


def authorization(**kw: object) -> Authorization:
    """A live authorization of CLIENT for PARTNER_ORG over financial data, all levels."""
    defaults: dict[str, object] = {
        "id": 700,
        "client_id": CLIENT,
        "scope": Scope(categories=frozenset({Category.FINANCIAL})),
        "window": current(),
        "grantee_partner_org_id": PARTNER_ORG,
    }
    defaults.update(kw)
    return Authorization(**defaults)  # type: ignore[arg-type]


def facts(**kw: object) -> Facts:
    """Facts with a current agreement and training and nothing else, plus overrides."""
    defaults: dict[str, object] = {"agreements": [current()], "trainings": [current()]}
    defaults.update(kw)
    return Facts.build(**defaults)  # type: ignore[arg-type]


def everything(**kw: object) -> Facts:
    """Facts that satisfy every reach requirement for CLIENT (used by matrix tests)."""
    defaults: dict[str, object] = {
        "assigned_client_ids": [CLIENT],
        "department_client_ids": [CLIENT],
        "agreements": [current()],
        "trainings": [current()],
        "query_requests": [
            query_request(scope=Scope(levels=frozenset(Level)), purpose="审计"),
        ],
        "authorizations": [authorization(scope=Scope(levels=frozenset(Level)))],
    }
    defaults.update(kw)
    return Facts.build(**defaults)  # type: ignore[arg-type]
