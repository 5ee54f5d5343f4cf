"""Hypothesis properties of `decide` over arbitrary (including nonsensical) inputs."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from baomi.policy import (
    ACTION_KINDS,
    CONTENT_READS,
    WATERMARKED,
    Action,
    Actor,
    ActorStatus,
    Authorization,
    Category,
    Facts,
    Level,
    ObjectKind,
    Obligation,
    QueryRequest,
    QueryStatus,
    Resource,
    Role,
    Rule,
    Scope,
    Window,
    decide,
    permitted,
)
from baomi.policy.tests.builders import NOW

# Keyword arguments for Facts.build, drawn by `fact_parts`.
Parts = dict[str, Any]

CLIENTS = [10, 20, 30]
USERS = [1, 2, 3]
ORGS = [500, 501]
DEPTS = ["d-north", "d-south"]

offsets = st.integers(min_value=-40, max_value=40).map(lambda d: NOW + timedelta(days=d))
windows = st.builds(Window, offsets, offsets)  # inverted and empty windows included
levels = st.sampled_from(Level)
level_sets = st.frozensets(levels, max_size=4)
category_sets = st.frozensets(st.sampled_from(Category), max_size=3)
scopes = st.builds(
    Scope,
    object_ids=st.frozensets(st.integers(100, 103), max_size=2),
    levels=level_sets,
    categories=category_sets,
)
authorizations = st.builds(
    Authorization,
    id=st.integers(1, 10_000),
    client_id=st.sampled_from(CLIENTS),
    scope=scopes,
    window=windows,
    grantee_user_id=st.none() | st.sampled_from(USERS),
    grantee_partner_org_id=st.none() | st.sampled_from(ORGS),
    revoked=st.booleans(),
)
query_requests = st.builds(
    QueryRequest,
    id=st.integers(1, 10_000),
    requester_id=st.sampled_from(USERS),
    client_id=st.sampled_from(CLIENTS),
    scope=scopes,
    window=windows,
    status=st.sampled_from(QueryStatus),
    approved_by=st.none() | st.sampled_from(USERS),
)
actors = st.builds(
    Actor,
    user_id=st.sampled_from(USERS),
    role=st.sampled_from(Role),
    clearance=levels,
    department=st.none() | st.sampled_from(DEPTS),
    status=st.sampled_from(ActorStatus),
    is_active=st.booleans(),
    mfa_verified=st.booleans(),
    engagement=st.none() | windows,
    partner_org_id=st.none() | st.sampled_from(ORGS),
    client_id=st.none() | st.sampled_from(CLIENTS),
)
purposes = st.none() | st.sampled_from(["", " ", "\u3000", "记账", "报税", "审计"]) | st.text(
    max_size=5
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[Action, Resource | None]:
    action = draw(st.sampled_from(Action))
    # Mostly a fitting object kind, sometimes any kind to exercise bad input.
    kinds = sorted(ACTION_KINDS[action], key=lambda k: "" if k is None else k.value)
    kind = draw(st.sampled_from(kinds) if draw(st.integers(0, 9)) else st.none())
    if kind is None:
        return action, None
    obj = Resource(
        kind=kind,
        id=draw(st.integers(100, 103)),
        client_id=draw(st.none() | st.sampled_from(CLIENTS)),
        client_department=draw(st.none() | st.sampled_from(DEPTS)),
        level=draw(levels),
        category=draw(st.none() | st.sampled_from(Category)),
        owner_id=draw(st.none() | st.sampled_from(USERS)),
    )
    return action, obj


fact_parts = st.fixed_dictionaries(
    {
        "assigned_client_ids": st.lists(st.sampled_from(CLIENTS), max_size=3),
        "department_client_ids": st.lists(st.sampled_from(CLIENTS), max_size=3),
        "agreements": st.lists(windows, max_size=2),
        "trainings": st.lists(windows, max_size=2),
        "authorizations": st.lists(authorizations, max_size=3),
        "query_requests": st.lists(query_requests, max_size=3),
        "break_glass": st.booleans(),
        "break_glass_reason": st.sampled_from(["", "  ", "税务稽查"]),
    }
)


@given(actors, requests(), purposes, fact_parts)
@settings(max_examples=600)
def test_refusals_explain_and_allows_are_clean(
    who: Actor, request: tuple[Action, Resource | None], purpose: str | None, parts: Parts
) -> None:
    action, obj = request
    decision = decide(who, action, obj, purpose, NOW, Facts.build(**parts))
    if decision.allowed:
        assert decision.rule.value.startswith("allow_")
        assert decision.reasons == ()
        assert (Obligation.WATERMARK in decision.obligations) == (action in WATERMARKED)
        assert Obligation.APPROVAL_REQUIRED not in decision.obligations
    else:
        assert decision.reasons
        assert decision.reasons[0].code == decision.rule
        for reason in decision.reasons:
            assert reason.zh.strip()
            assert reason.en.strip()
        assert (Obligation.APPROVAL_REQUIRED in decision.obligations) == any(
            r.code is Rule.APPROVAL_REQUIRED for r in decision.reasons
        )


@given(actors, requests(), purposes, fact_parts)
@settings(max_examples=300)
def test_departed_or_inactive_actor_is_never_allowed(
    who: Actor, request: tuple[Action, Resource | None], purpose: str | None, parts: Parts
) -> None:
    action, obj = request
    the_facts = Facts.build(**parts)
    left = replace(who, status=ActorStatus.LEFT)
    decision = decide(left, action, obj, purpose, NOW, the_facts)
    assert not decision.allowed
    assert decision.rule is Rule.ACTOR_DEPARTED
    assert not decide(replace(who, is_active=False), action, obj, purpose, NOW,
                      the_facts).allowed


def _weaken(data: st.DataObject, parts: Parts) -> Parts:
    """Remove an arbitrary selection of facts (and revoke or un-approve some grants)."""
    keep = st.booleans()
    draw = data.draw
    out = {key: [x for x in value if draw(keep)] if isinstance(value, list) else value
           for key, value in parts.items()}
    out["authorizations"] = [
        replace(a, revoked=True) if draw(keep) else a for a in out["authorizations"]
    ]
    out["query_requests"] = [
        replace(q, status=QueryStatus.REVOKED) if draw(keep) else q
        for q in out["query_requests"]
    ]
    if draw(keep):
        out["break_glass"] = False
    if draw(keep):
        out["break_glass_reason"] = ""
    return out


@given(actors, requests(), purposes, fact_parts, st.data())
@settings(max_examples=600)
def test_removing_facts_never_turns_a_refusal_into_an_allow(
    who: Actor,
    request: tuple[Action, Resource | None],
    purpose: str | None,
    parts: Parts,
    data: st.DataObject,
) -> None:
    action, obj = request
    weaker = _weaken(data, parts)
    full = decide(who, action, obj, purpose, NOW, Facts.build(**parts))
    reduced = decide(who, action, obj, purpose, NOW, Facts.build(**weaker))
    if reduced.allowed:
        assert full.allowed, (full, reduced)


@given(actors, requests(), fact_parts, st.lists(windows, min_size=1, max_size=3))
@settings(max_examples=300)
def test_inverted_windows_never_grant(
    who: Actor, request: tuple[Action, Resource | None], parts: Parts, extra: list[Window]
) -> None:
    action, obj = request
    inverted = [Window(w.valid_to, w.valid_from) if not w.inverted else w for w in extra]
    inverted = [w for w in inverted if w.inverted]
    base = decide(who, action, obj, "审计", NOW, Facts.build(**parts))
    grants = dict(parts)
    grants["agreements"] = [*parts["agreements"], *inverted]
    grants["trainings"] = [*parts["trainings"], *inverted]
    grants["authorizations"] = [
        *parts["authorizations"],
        *(replace(a, window=inverted[0]) for a in parts["authorizations"]),
    ]
    grants["query_requests"] = [
        *parts["query_requests"],
        *(replace(q, window=inverted[0]) for q in parts["query_requests"]),
    ]
    widened = replace(who, engagement=inverted[0]) if who.engagement is None else who
    assert decide(who, action, obj, "审计", NOW, Facts.build(**grants)) == base
    if not decide(who, action, obj, "审计", NOW, Facts.build(**parts)).allowed:
        assert not decide(widened, action, obj, "审计", NOW, Facts.build(**parts)).allowed


@given(actors, requests(), fact_parts)
@settings(max_examples=300)
def test_secret_content_needs_a_request_or_break_glass_for_staff(
    who: Actor, request: tuple[Action, Resource | None], parts: Parts
) -> None:
    action, obj = request
    if obj is None or who.role is Role.CLIENT or action not in CONTENT_READS:
        return
    decision = decide(who, action, replace(obj, level=Level.SECRET), "审计", NOW,
                      Facts.build(**parts))
    if decision.allowed:
        assert decision.rule in {Rule.ALLOW_QUERY_REQUEST, Rule.ALLOW_BREAK_GLASS}
        assert who.mfa_verified
        assert who.clearance is Level.SECRET


@given(actors, requests(), fact_parts)
@settings(max_examples=300)
def test_permitted_agrees_with_decide_given_a_purpose(
    who: Actor, request: tuple[Action, Resource | None], parts: Parts
) -> None:
    action, obj = request
    the_facts = Facts.build(**parts)
    assert permitted(who, action, obj, the_facts, NOW) == decide(
        who, action, obj, "报税", NOW, the_facts
    ).allowed


# --- Listed ids are document ids (review finding: "#1" opened client 1's sealed fields) ---


@given(scopes, st.sampled_from(ObjectKind), st.integers(100, 103), levels,
       st.none() | st.sampled_from(Category))
@settings(max_examples=400)
def test_listed_ids_cover_documents_and_nothing_else(
    scope: Scope, kind: ObjectKind, oid: int, level: Level, category: Category | None
) -> None:
    obj = Resource(kind=kind, id=oid, client_id=CLIENTS[0], level=level, category=category)
    by_label = replace(scope, object_ids=frozenset()).covers(obj)
    if kind is ObjectKind.DOCUMENT:
        assert scope.covers(obj) == (oid in scope.object_ids or by_label)
    else:
        assert scope.covers(obj) == by_label


def _without_listed_ids(parts: Parts) -> Parts:
    out = dict(parts)
    out["authorizations"] = [replace(a, scope=replace(a.scope, object_ids=frozenset()))
                             for a in parts["authorizations"]]
    out["query_requests"] = [replace(q, scope=replace(q.scope, object_ids=frozenset()))
                             for q in parts["query_requests"]]
    return out


@given(actors, requests(), purposes, fact_parts)
@settings(max_examples=600)
def test_a_listed_document_id_decides_nothing_about_other_objects(
    who: Actor, request: tuple[Action, Resource | None], purpose: str | None, parts: Parts
) -> None:
    action, obj = request
    if obj is None or obj.kind is ObjectKind.DOCUMENT:
        return
    listed = decide(who, action, obj, purpose, NOW, Facts.build(**parts))
    unlisted = decide(who, action, obj, purpose, NOW, Facts.build(**_without_listed_ids(parts)))
    assert (listed.allowed, listed.rule) == (unlisted.allowed, unlisted.rule)
