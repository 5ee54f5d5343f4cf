"""`baomi bench policy` (core half): decisions/s and p99 latency of `baomi.policy.decide`.

Generates a firm (staff, clients, client authorizations, query requests), draws a mix of
requests, and times `decide` beside pycasbin's `FastEnforcer` with an RBAC-with-domains
model (domain = client) loaded with the same people, roles and grants, in the same run.

The comparison is deliberately generous to casbin: its model only answers "does the user
hold a role in this client's domain whose permission covers (level, action)". It checks
none of clearance, MFA, agreement, training, purpose, validity windows, authorization
scope, query requests, self-approval or break-glass, all of which `decide` does. Casbin is
loaded only with grants that are live now (it has no notion of time); `decide` gets all
of them, revoked and expired ones included.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from baomi.policy import (
    LEVELS,
    MATRIX,
    Action,
    Actor,
    Authorization,
    Category,
    Decision,
    Facts,
    Id,
    Level,
    ObjectKind,
    QueryRequest,
    QueryStatus,
    Req,
    Resource,
    Role,
    Scope,
    Window,
    decide,
)

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
DEPARTMENTS = 20
LEVEL_WEIGHTS = (20, 40, 30, 10)  # public, internal, confidential, secret
ACTION_MIX: tuple[tuple[Action, int], ...] = (
    (Action.DOCUMENT_READ, 30),
    (Action.DOCUMENT_METADATA, 20),
    (Action.DOCUMENT_LIST, 8),
    (Action.DOCUMENT_DOWNLOAD, 10),
    (Action.CLIENT_SENSITIVE_READ, 10),
    (Action.CLIENT_VIEW, 12),
    (Action.EXPORT_CREATE, 5),
    (Action.QUERY_REQUEST_APPROVE, 5),
)
_KIND_FOR: dict[Action, ObjectKind] = {
    Action.DOCUMENT_READ: ObjectKind.DOCUMENT,
    Action.DOCUMENT_METADATA: ObjectKind.DOCUMENT,
    Action.DOCUMENT_LIST: ObjectKind.CLIENT,
    Action.DOCUMENT_DOWNLOAD: ObjectKind.DOCUMENT,
    Action.CLIENT_SENSITIVE_READ: ObjectKind.RECORD,
    Action.CLIENT_VIEW: ObjectKind.CLIENT,
    Action.EXPORT_CREATE: ObjectKind.CLIENT,
    Action.QUERY_REQUEST_APPROVE: ObjectKind.QUERY_REQUEST,
}

CASBIN_MODEL = """
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = (g(r.sub, p.sub, r.dom) || g(r.sub, p.sub, "*")) && r.obj == p.obj && r.act == p.act
"""


@dataclass(frozen=True, slots=True)
class Request:
    """One generated decision to make."""

    actor: Actor
    facts: Facts
    action: Action
    obj: Resource
    purpose: str


@dataclass(slots=True)
class World:
    """The generated firm: requests for `decide` and rows for casbin."""

    requests: list[Request]
    casbin_grouping: list[list[str]]  # g: user, role, client ("*": firm-wide roles)
    casbin_policy: list[list[str]]  # p: role, *, level, action


def _window(rng: random.Random, *, bad_share: float) -> Window:
    if rng.random() < bad_share:
        return Window(NOW - timedelta(days=60), NOW - timedelta(days=1))  # expired
    start = NOW - timedelta(days=rng.randint(1, 300))
    return Window(start, NOW + timedelta(days=rng.randint(1, 300)))


def _role_for(index: int) -> Role:
    slot = index % 100
    if slot < 2:
        return Role.ADMIN
    if slot < 5:
        return Role.COMPLIANCE
    if slot < 10:
        return Role.INTERNAL_AUDITOR
    if slot < 15:
        return Role.EXTERNAL_AUDITOR
    if slot < 25:
        return Role.MANAGER
    return Role.ACCOUNTANT


_CLEARANCE = {
    Role.ADMIN: Level.CONFIDENTIAL,
    Role.MANAGER: Level.SECRET,
    Role.ACCOUNTANT: Level.CONFIDENTIAL,
    Role.COMPLIANCE: Level.SECRET,
    Role.INTERNAL_AUDITOR: Level.SECRET,
    Role.EXTERNAL_AUDITOR: Level.CONFIDENTIAL,
    Role.PARTNER: Level.CONFIDENTIAL,
    Role.CLIENT: Level.PUBLIC,
}
_FIRM_WIDE = {Role.ADMIN, Role.COMPLIANCE, Role.INTERNAL_AUDITOR}


def generate(staff: int, clients: int, grants: int, decisions: int, seed: int = 7) -> World:
    """Generate a firm and `decisions` requests against it, deterministically from `seed`."""
    rng = random.Random(seed)
    client_ids = list(range(1, clients + 1))
    dept_of = {c: f"d{c % DEPARTMENTS}" for c in client_ids}
    by_dept: dict[str, list[int]] = {}
    for c in client_ids:
        by_dept.setdefault(dept_of[c], []).append(c)
    dept_clients = {d: frozenset(cs) for d, cs in by_dept.items()}

    staff_actors = [
        Actor(
            user_id=i,
            role=_role_for(i),
            clearance=_CLEARANCE[_role_for(i)],
            department=f"d{i % DEPARTMENTS}",
            mfa_verified=rng.random() < 0.9,
            engagement=_window(rng, bad_share=0.05)
            if _role_for(i) is Role.EXTERNAL_AUDITOR
            else None,
        )
        for i in range(1, staff + 1)
    ]
    # Each client gets two accountants; external auditors get twenty engagement clients.
    accountants = [a for a in staff_actors if a.role is Role.ACCOUNTANT] or staff_actors
    assigned: dict[Id, set[int]] = {a.user_id: set() for a in staff_actors}
    for c in client_ids:
        for a in rng.sample(accountants, min(2, len(accountants))):
            assigned[a.user_id].add(c)
    for a in staff_actors:
        if a.role is Role.EXTERNAL_AUDITOR:
            assigned[a.user_id].update(rng.sample(client_ids, min(20, clients)))

    # Partner users (ten per organisation) and client portal users.
    partner_users = [
        Actor(
            user_id=staff + 1 + i,
            role=Role.PARTNER,
            clearance=Level.CONFIDENTIAL,
            partner_org_id=i // 10,
            mfa_verified=True,
        )
        for i in range(max(10, staff // 10))
    ]
    portal_users = [
        Actor(
            user_id=staff + len(partner_users) + 1 + i,
            role=Role.CLIENT,
            client_id=rng.choice(client_ids),
            mfa_verified=rng.random() < 0.8,
        )
        for i in range(max(10, clients // 20))
    ]
    orgs = sorted({p.partner_org_id for p in partner_users if p.partner_org_id is not None})

    # Client authorizations: half to a whole partner org, half to one partner user.
    auths_for: dict[Id, list[Authorization]] = {p.user_id: [] for p in partner_users}
    org_members: dict[Id | None, list[Actor]] = {}
    for p in partner_users:
        org_members.setdefault(p.partner_org_id, []).append(p)
    for g in range(grants):
        to_org = rng.random() < 0.5
        grantee_user = rng.choice(partner_users)
        auth = Authorization(
            id=g,
            client_id=rng.choice(client_ids),
            scope=Scope(
                levels=frozenset(rng.sample(LEVELS[:3], rng.randint(1, 3))),
                categories=frozenset(rng.sample(list(Category), rng.randint(1, 4))),
            ),
            window=_window(rng, bad_share=0.05),
            grantee_user_id=None if to_org else grantee_user.user_id,
            grantee_partner_org_id=rng.choice(orgs) if to_org else None,
            revoked=rng.random() < 0.05,
        )
        named = org_members[auth.grantee_partner_org_id] if to_org else [grantee_user]
        for p in named:
            auths_for[p.user_id].append(auth)

    # Query requests: three per staff member, approved by someone else.
    requests_for: dict[Id, list[QueryRequest]] = {a.user_id: [] for a in staff_actors}
    for a in staff_actors:
        reach = sorted(assigned[a.user_id]) or client_ids
        for k in range(3):
            requests_for[a.user_id].append(
                QueryRequest(
                    id=int(a.user_id) * 10 + k,
                    requester_id=a.user_id,
                    client_id=rng.choice(reach),
                    scope=Scope(levels=frozenset({Level.CONFIDENTIAL, Level.SECRET})),
                    window=_window(rng, bad_share=0.1),
                    status=QueryStatus.APPROVED,
                    approved_by=0,
                )
            )

    agreement = (Window(NOW - timedelta(days=400), NOW + timedelta(days=400)),)
    facts_of: dict[Id, Facts] = {}
    for a in staff_actors:
        good = rng.random() < 0.95
        facts_of[a.user_id] = Facts.build(
            assigned_client_ids=assigned[a.user_id],
            department_client_ids=dept_clients[str(a.department)]
            if a.role is Role.MANAGER
            else (),
            agreements=agreement if good else (),
            trainings=agreement,
            query_requests=requests_for[a.user_id],
        )
    for partner in partner_users:
        facts_of[partner.user_id] = Facts.build(
            agreements=agreement, trainings=agreement, authorizations=auths_for[partner.user_id]
        )
    for portal in portal_users:
        facts_of[portal.user_id] = Facts()

    everyone = staff_actors + partner_users + portal_users
    actions = [a for a, _ in ACTION_MIX]
    weights = [w for _, w in ACTION_MIX]
    out: list[Request] = []
    for _ in range(decisions):
        who = rng.choice(everyone)
        the_facts = facts_of[who.user_id]
        action = rng.choices(actions, weights)[0]
        # Most requests are for data the actor plausibly works on, some are probes.
        client: int
        if who.role is Role.CLIENT and rng.random() < 0.9:
            client = int(who.client_id or 0)
        elif who.role is Role.PARTNER and auths_for[who.user_id] and rng.random() < 0.8:
            client = int(rng.choice(auths_for[who.user_id]).client_id)
        elif the_facts.assigned_client_ids and rng.random() < 0.8:
            client = int(rng.choice(sorted(map(int, the_facts.assigned_client_ids))))
        else:
            client = rng.choice(client_ids)
        obj = Resource(
            kind=_KIND_FOR[action],
            id=rng.randint(1, 10 * clients),
            client_id=client,
            client_department=dept_of[client],
            level=rng.choices(LEVELS, LEVEL_WEIGHTS)[0],
            category=rng.choice(list(Category)),
            owner_id=rng.choice(everyone).user_id,
        )
        out.append(Request(who, the_facts, action, obj, rng.choice(["记账", "报税", "审计"])))

    # The same firm as casbin rows.
    grouping: list[list[str]] = []
    for a in staff_actors:
        if a.role in _FIRM_WIDE:
            grouping.append([f"u{a.user_id}", a.role.value, "*"])
            continue
        domains = set(assigned[a.user_id])
        if a.role is Role.MANAGER:
            domains |= dept_clients[str(a.department)]
        grouping.extend([f"u{a.user_id}", a.role.value, f"c{c}"] for c in sorted(domains))
    live = {
        (p.user_id, auth.client_id)
        for p in partner_users
        for auth in auths_for[p.user_id]
        if not auth.revoked and auth.window.contains(NOW)
    }
    grouping.extend([f"u{u}", Role.PARTNER.value, f"c{c}"] for u, c in sorted(live))
    grouping.extend([f"u{u.user_id}", Role.CLIENT.value, f"c{u.client_id}"] for u in portal_users)
    policy = [
        [role.value, "*", level.value, action.value]
        for role, rows in MATRIX.items()
        for action, cells in rows.items()
        for level, req in zip(LEVELS, cells, strict=True)
        if req is not Req.DENY
    ]
    return World(out, grouping, policy)


def casbin_enforcer(world: World) -> tuple[Any, str]:
    """A loaded casbin enforcer and its class name (FastEnforcer if available).

    Firm-wide roles are grouped in the literal domain "*" and the matcher asks `g` twice,
    because in pycasbin 1.43 `FastModel.add_def` drops its return value, so a model loaded
    by FastEnforcer keeps only the first `g` definition (a second `g2` is silently lost).
    """
    import casbin

    # pycasbin logs its model and every policy load at INFO on the root handler; that is
    # not benchmark output.
    logging.getLogger("casbin").setLevel(logging.WARNING)
    fd, path = tempfile.mkstemp(suffix=".conf")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(CASBIN_MODEL)
        fast = getattr(casbin, "FastEnforcer", None)
        if fast is not None:
            # Index p rows by (obj, act) so each check only scans the roles for that cell.
            enforcer = fast(path, cache_key_order=[2, 3])
            name = "casbin.FastEnforcer"
        else:
            enforcer = casbin.Enforcer(path)
            name = "casbin.Enforcer (FastEnforcer not available)"
    finally:
        os.unlink(path)
    enforcer.add_policies(world.casbin_policy)
    enforcer.add_grouping_policies(world.casbin_grouping)
    return enforcer, name


def _measure(calls: Sequence[Callable[[], object]], latency_sample: int) -> dict[str, float]:
    # Throughput: a tight loop over all calls. Latency: each call of a sample timed alone.
    # The generated firm is millions of long-lived objects; freezing them keeps full
    # garbage collections over that heap out of both engines' figures, as a long-running
    # server process that loaded its data at start would see it.
    gc.collect()
    gc.freeze()
    start = time.perf_counter()
    for call in calls:
        call()
    elapsed = time.perf_counter() - start
    timings: list[float] = []
    clock = time.perf_counter_ns
    for call in calls[:latency_sample]:
        t0 = clock()
        call()
        timings.append((clock() - t0) / 1e6)
    timings.sort()
    return {
        "decisions_per_s": len(calls) / elapsed,
        "p50_ms": statistics.median(timings),
        "p99_ms": timings[min(len(timings) - 1, int(len(timings) * 0.99))],
        "max_ms": timings[-1],
    }


def _policy_call(r: Request) -> Callable[[], Decision]:
    actor, action, obj, purpose, facts = r.actor, r.action, r.obj, r.purpose, r.facts
    return lambda: decide(actor, action, obj, purpose, NOW, facts)


def _casbin_call(enforcer: Any, r: Request) -> Callable[[], bool]:
    # Strings are built up front, as a caller holding ids would cache them.
    args = (f"u{r.actor.user_id}", f"c{r.obj.client_id}", r.obj.level.value, r.action.value)
    return lambda: bool(enforcer.enforce(*args))


def run(
    staff: int = 1000,
    clients: int = 10000,
    grants: int = 100000,
    decisions: int = 200_000,
    *,
    casbin_decisions: int | None = 50_000,
) -> dict[str, Any]:
    """Generate data, time `decide` and casbin on it, and return figures as a dict."""
    t0 = time.perf_counter()
    world = generate(staff, clients, grants, decisions)
    generate_s = time.perf_counter() - t0

    reqs = world.requests
    policy_calls = [_policy_call(r) for r in reqs]
    allowed = sum(1 for call in policy_calls if call().allowed)
    policy = _measure(policy_calls, latency_sample=min(len(reqs), 100_000))

    t0 = time.perf_counter()
    enforcer, casbin_name = casbin_enforcer(world)
    casbin_load_s = time.perf_counter() - t0
    n_casbin = min(len(reqs), casbin_decisions if casbin_decisions is not None else len(reqs))
    casbin_calls = [_casbin_call(enforcer, r) for r in reqs[:n_casbin]]
    casbin_allowed = sum(1 for call in casbin_calls if call())
    casbin = _measure(casbin_calls, latency_sample=min(n_casbin, 20_000))

    return {
        "staff": staff,
        "clients": clients,
        "grants": grants,
        "decisions": len(reqs),
        "generate_s": round(generate_s, 2),
        "policy": {**policy, "allowed_share": allowed / len(reqs)},
        "casbin": {
            **casbin,
            "enforcer": casbin_name,
            "decisions": n_casbin,
            "load_s": round(casbin_load_s, 2),
            "grouping_rows": len(world.casbin_grouping),
            "policy_rows": len(world.casbin_policy),
            "allowed_share": casbin_allowed / max(1, n_casbin),
        },
        "ratio_decisions_per_s": policy["decisions_per_s"] / casbin["decisions_per_s"],
        "target": {"decisions_per_s": 100_000, "p99_ms": 0.05},
        "meets_target": policy["decisions_per_s"] >= 100_000 and policy["p99_ms"] < 0.05,
        "python": sys.version.split()[0],
    }


def main(argv: list[str]) -> int:
    """`baomi bench policy-core [--json] [--staff N] [--clients N] [--grants N] ...`."""
    parser = argparse.ArgumentParser(prog="baomi bench policy-core", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--staff", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--grants", type=int, default=100000)
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument(
        "--casbin-decisions",
        type=int,
        default=50_000,
        help="casbin is ~50x slower; time it on the first N of the same requests",
    )
    args = parser.parse_args(argv)
    result = run(
        args.staff,
        args.clients,
        args.grants,
        args.decisions,
        casbin_decisions=args.casbin_decisions,
    )
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    p, c = result["policy"], result["casbin"]
    print(
        f"data: {result['staff']} staff, {result['clients']} clients, "
        f"{result['grants']} grants, {result['decisions']} decisions "
        f"(generated in {result['generate_s']} s)"
    )
    print(f"{'engine':<28}{'decisions/s':>14}{'p50 ms':>10}{'p99 ms':>10}{'allowed':>9}")
    print(
        f"{'baomi.policy.decide':<28}{p['decisions_per_s']:>14,.0f}{p['p50_ms']:>10.4f}"
        f"{p['p99_ms']:>10.4f}{p['allowed_share']:>9.1%}"
    )
    print(
        f"{c['enforcer'][:27]:<28}{c['decisions_per_s']:>14,.0f}{c['p50_ms']:>10.4f}"
        f"{c['p99_ms']:>10.4f}{c['allowed_share']:>9.1%}"
    )
    print(
        f"ratio decide/casbin: {result['ratio_decisions_per_s']:.1f}x; "
        f"target >= 100000/s and p99 < 0.05 ms: {'met' if result['meets_target'] else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
