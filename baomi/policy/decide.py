"""The access decision: `decide(actor, action, obj, purpose, now, facts) -> Decision`.

A pure function: no I/O, no clock, no globals that change. The vault door calls it first,
appends the decision to the ledger, and only then decrypts; the UI calls `permitted` /
`visible_actions` to hide what the user may not do (the door still decides).

Order of evaluation:
1. the actor: departed or inactive actors are refused everything; external auditors
   outside their engagement window too;
2. the request's shape (the object kind fits the action) and the access matrix cell for
   role × action × level (`deny` refuses; self-approval of a query request is refused);
3. every remaining condition, all evaluated so a refusal lists each one that failed:
   reach (the cell's requirement: assignment, query request, client authorization, own
   company, break-glass), clearance, MFA, confidentiality agreement, training, purpose,
   break-glass reason. The first failure in that order is the decision's `rule`.

The allow path builds no strings; reasons are made only when refusing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from baomi.policy.facts import DEFAULT_CONFIG, Actor, Facts, PolicyConfig, Resource, Window
from baomi.policy.matrix import _DENIED, _MATRIX, Req
from baomi.policy.reasons import Reason, reason
from baomi.policy.text import stated
from baomi.policy.vocab import (
    CONTENT_READS,
    LEVEL_RANK,
    WATERMARKED,
    Action,
    ActorStatus,
    Level,
    ObjectKind,
    Obligation,
    Role,
    Rule,
)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome. A refusal always has at least one reason; an allow has none.

    `rule` is the path that allowed (`allow_*`) or the first condition that failed.
    `obligations` are duties for the caller: watermark the output, record the purpose,
    alert compliance, schedule a post-review; on a refusal, `approval_required` tells the
    UI to offer a query request.
    """

    allowed: bool
    rule: Rule
    reasons: tuple[Reason, ...] = ()
    obligations: frozenset[Obligation] = frozenset()


_K = ObjectKind
_ACTION_KINDS: dict[Action, frozenset[ObjectKind | None]] = {
    Action.CLIENT_LIST: frozenset({None}),
    Action.CLIENT_VIEW: frozenset({_K.CLIENT}),
    Action.CLIENT_CREATE: frozenset({None}),
    Action.CLIENT_UPDATE: frozenset({_K.CLIENT, _K.RECORD}),
    Action.CLIENT_SENSITIVE_READ: frozenset({_K.CLIENT, _K.RECORD}),
    Action.DOCUMENT_LIST: frozenset({_K.CLIENT}),
    Action.DOCUMENT_METADATA: frozenset({_K.DOCUMENT}),
    Action.DOCUMENT_READ: frozenset({_K.DOCUMENT}),
    Action.DOCUMENT_DOWNLOAD: frozenset({_K.DOCUMENT}),
    Action.DOCUMENT_UPLOAD: frozenset({_K.CLIENT, _K.DOCUMENT}),
    Action.DOCUMENT_VERSION: frozenset({_K.DOCUMENT}),
    Action.DOCUMENT_CLASSIFY: frozenset({_K.DOCUMENT}),
    Action.STAFF_VIEW: frozenset({None, _K.STAFF}),
    Action.STAFF_MANAGE: frozenset({None, _K.STAFF}),
    Action.ASSIGNMENT_MANAGE: frozenset({None, _K.ASSIGNMENT, _K.CLIENT}),
    Action.AUTHORIZATION_GRANT: frozenset({_K.AUTHORIZATION, _K.CLIENT}),
    Action.AUTHORIZATION_REVOKE: frozenset({_K.AUTHORIZATION, _K.CLIENT}),
    Action.QUERY_REQUEST_CREATE: frozenset({_K.CLIENT, _K.RECORD, _K.DOCUMENT}),
    Action.QUERY_REQUEST_APPROVE: frozenset({_K.QUERY_REQUEST}),
    Action.LEDGER_VIEW: frozenset({None, _K.LEDGER}),
    Action.LEDGER_VIEW_CLIENT: frozenset({_K.CLIENT}),
    Action.ACCESS_REVIEW_MANAGE: frozenset({None, _K.ACCESS_REVIEW}),
    Action.EXPORT_CREATE: frozenset({_K.CLIENT, _K.RECORD, _K.DOCUMENT, _K.EXPORT}),
    Action.BREAK_GLASS_READ: frozenset({_K.DOCUMENT, _K.RECORD}),
}
ACTION_KINDS = _ACTION_KINDS
"""Which object kinds each action applies to (`None`: no object, a firm-level action)."""

# Reads a manager may turn into an emergency read by setting the break-glass fact.
# Exports are left out: an emergency calls for looking, not for taking data away.
_BREAK_GLASS_UPGRADABLE: frozenset[Action] = frozenset(
    {Action.DOCUMENT_READ, Action.DOCUMENT_DOWNLOAD, Action.CLIENT_SENSITIVE_READ}
)

_RANK_INTERNAL = LEVEL_RANK[Level.INTERNAL]
_RANK_CONFIDENTIAL = LEVEL_RANK[Level.CONFIDENTIAL]
_ACTIVE = ActorStatus.ACTIVE

# Allow decisions are immutable and few, so they are made once and shared.
_ALLOW_CACHE: dict[tuple[Rule, bool, bool, bool], Decision] = {}


def _allow(rule: Rule, watermark: bool, record: bool, emergency: bool) -> Decision:
    key = (rule, watermark, record, emergency)
    decision = _ALLOW_CACHE.get(key)
    if decision is None:
        obligations: set[Obligation] = set()
        if watermark:
            obligations.add(Obligation.WATERMARK)
        if record:
            obligations.add(Obligation.RECORD_PURPOSE)
        if emergency:
            obligations.update((Obligation.ALERT_COMPLIANCE, Obligation.POST_REVIEW))
        decision = Decision(True, rule, (), frozenset(obligations))
        _ALLOW_CACHE[key] = decision
    return decision


def _refuse(reasons: list[Reason]) -> Decision:
    obligations: frozenset[Obligation] = frozenset()
    if any(r.code is Rule.APPROVAL_REQUIRED for r in reasons):
        obligations = frozenset({Obligation.APPROVAL_REQUIRED})
    return Decision(False, reasons[0].code, tuple(reasons), obligations)


def _bad(zh: str, en: str) -> Decision:
    return _refuse([reason(Rule.BAD_REQUEST, detail_zh=zh, detail_en=en)])


def _assigned(actor: Actor, obj: Resource, facts: Facts) -> bool:
    client = obj.client_id
    if client is None:
        return False
    if client in facts.assigned_client_ids:
        return True
    if actor.role is Role.MANAGER:
        # A manager reaches the clients of their department, whether the selector passed
        # the department's client set or labelled the object with its client's department.
        if client in facts.department_client_ids:
            return True
        return actor.department is not None and obj.client_department == actor.department
    return False


def _requested(actor: Actor, obj: Resource, now: datetime, facts: Facts,
               purpose: str | None = None) -> bool:
    """Whether an approved query request covers `obj` now, for `purpose` (stated) when it
    is given: a request grants reads for the purpose it was approved for (F08)."""
    if obj.client_id is None:
        return False
    return any(q.covers(actor, obj, now, purpose)
               for q in facts.query_requests.get(obj.client_id, ()))


def _request_missing(actor: Actor, obj: Resource, now: datetime, facts: Facts,
                     purpose: str | None) -> Reason:
    """Why no query request counted: none covers the object now (`approval_required`),
    or one does but was approved for another purpose (`purpose_not_approved`)."""
    if purpose is not None and _requested(actor, obj, now, facts):
        return reason(Rule.PURPOSE_NOT_APPROVED)
    return reason(Rule.APPROVAL_REQUIRED)


def _authorized(actor: Actor, obj: Resource, now: datetime, facts: Facts) -> bool:
    if obj.client_id is None:
        return False
    whole_client = obj.kind is ObjectKind.CLIENT
    for auth in facts.authorizations.get(obj.client_id, ()):
        if (
            not auth.revoked
            and auth.names(actor)
            and auth.window.contains(now)
            and (whole_client or auth.scope.covers(obj))
        ):
            return True
    return False


def _reach(
    req: Req, actor: Actor, obj: Resource | None, now: datetime, facts: Facts, *,
    purpose: str | None = None,
) -> Rule | None:
    """The allow rule if the cell's requirement is met, else None. `purpose` (stated) is
    what a query request must have been approved for; None when none is asked for."""
    if req is Req.FIRM:
        return Rule.ALLOW_FIRM
    if obj is None:
        return None
    if req is Req.ASSIGNED:
        return Rule.ALLOW_ASSIGNED if _assigned(actor, obj, facts) else None
    if req is Req.REQUEST:
        return Rule.ALLOW_QUERY_REQUEST if _requested(actor, obj, now, facts, purpose) else None
    if req is Req.ASSIGNED_REQUEST:
        if _assigned(actor, obj, facts) and _requested(actor, obj, now, facts, purpose):
            return Rule.ALLOW_QUERY_REQUEST
        return None
    if req is Req.ASSIGNED_OR_REQUEST:
        if _assigned(actor, obj, facts):
            return Rule.ALLOW_ASSIGNED
        return (Rule.ALLOW_QUERY_REQUEST if _requested(actor, obj, now, facts, purpose)
                else None)
    if req is Req.AUTHORIZED:
        return Rule.ALLOW_AUTHORIZATION if _authorized(actor, obj, now, facts) else None
    if req is Req.OWN:
        own = actor.client_id is not None and actor.client_id == obj.client_id
        return Rule.ALLOW_OWN if own else None
    if req is Req.BREAK_GLASS:
        return Rule.ALLOW_BREAK_GLASS
    return None


def _authorization_failure(actor: Actor, obj: Resource, now: datetime, facts: Facts) -> Rule:
    """Which way the client authorizations failed, for the refusal's reason."""
    if obj.client_id is None:
        return Rule.AUTHORIZATION_REQUIRED
    mine = [a for a in facts.authorizations.get(obj.client_id, ()) if a.names(actor)]
    if not mine:
        return Rule.AUTHORIZATION_REQUIRED
    whole_client = obj.kind is ObjectKind.CLIENT
    in_scope = [a for a in mine if whole_client or a.scope.covers(obj)]
    if not in_scope:
        return Rule.OUTSIDE_AUTHORIZATION_SCOPE
    if any(not a.revoked for a in in_scope):
        # Not revoked yet still failing: the only remaining condition is the window.
        return Rule.AUTHORIZATION_EXPIRED
    return Rule.AUTHORIZATION_REVOKED


def _reach_reasons(
    req: Req, actor: Actor, action: Action, obj: Resource | None, *, now: datetime, facts: Facts,
    purpose: str | None = None,
) -> list[Reason]:
    if obj is None or obj.client_id is None:
        return [
            reason(
                Rule.BAD_REQUEST,
                detail_zh="该操作需要指定所属客户的对象。",
                detail_en="this action needs an object that belongs to a client.",
            )
        ]
    if req is Req.ASSIGNED:
        return [reason(Rule.NOT_ASSIGNED)]
    if req is Req.REQUEST:
        return [_request_missing(actor, obj, now, facts, purpose)]
    if req is Req.ASSIGNED_OR_REQUEST:
        # Either would do; the request is what the user can act on, so it leads.
        return [_request_missing(actor, obj, now, facts, purpose), reason(Rule.NOT_ASSIGNED)]
    if req is Req.ASSIGNED_REQUEST:
        out: list[Reason] = []
        if not _assigned(actor, obj, facts):
            out.append(reason(Rule.NOT_ASSIGNED))
        if not _requested(actor, obj, now, facts, purpose):
            out.append(_request_missing(actor, obj, now, facts, purpose))
        return out
    if req is Req.AUTHORIZED:
        return [reason(_authorization_failure(actor, obj, now, facts))]
    if req is Req.OWN:
        return [reason(Rule.NOT_OWN_CLIENT)]
    # FIRM and BREAK_GLASS always reach; kept so a new Req can only ever refuse.
    return [reason(Rule.ROLE_NOT_PERMITTED, role=actor.role, action=action, level=obj.level)]


def _current(windows: tuple[Window, ...], now: datetime) -> bool:
    return any(w.contains(now) for w in windows)


def decide(  # noqa: PLR0917 - the positional signature is the published contract
    actor: Actor,
    action: Action,
    obj: Resource | None,
    purpose: str | None,
    now: datetime,
    facts: Facts,
    config: PolicyConfig = DEFAULT_CONFIG,
) -> Decision:
    """Decide whether `actor` may do `action` to `obj` for `purpose` at `now`.

    `obj` is None only for firm-level actions (`client.list`, `client.create`,
    `staff.*`, `ledger.view`, `access_review.manage`, `assignment.manage`). `now` must be
    timezone-aware. Never raises for a well-typed call; any doubt refuses (rule
    `bad_request`). Pure: the same arguments always give the same decision.
    """
    return _decide(actor, action, obj, purpose, now, facts, config, check_purpose=True)


def decide_unasked(
    actor: Actor,
    action: Action,
    obj: Resource | None,
    now: datetime,
    facts: Facts,
    *,
    config: PolicyConfig = DEFAULT_CONFIG,
) -> Decision:
    """`decide` for a caller that asks for no purpose: every condition except the purpose
    is checked, and a refusal carries its reasons (where `permitted` only says yes or no).

    For checks whose caller has no purpose to give yet (the vault door's blind-index
    search when its caller states none). A purpose that *is* given, even a blank one, must
    go through `decide`, which refuses it when it states nothing.
    """
    return _decide(actor, action, obj, None, now, facts, config, check_purpose=False)


def permitted(
    actor: Actor,
    action: Action,
    obj: Resource | None,
    facts: Facts,
    now: datetime,
    *,
    config: PolicyConfig = DEFAULT_CONFIG,
) -> bool:
    """Whether the UI should offer `action`: `decide` with the purpose assumed given.

    The purpose is asked for when the user acts, so it cannot be known when drawing the
    page; everything else is checked exactly as `decide` checks it.
    """
    return _decide(actor, action, obj, None, now, facts, config, check_purpose=False).allowed


def visible_actions(
    actor: Actor,
    obj: Resource | None,
    facts: Facts,
    now: datetime,
    *,
    config: PolicyConfig = DEFAULT_CONFIG,
) -> frozenset[Action]:
    """The actions applicable to `obj`'s kind that `permitted` allows, for the UI."""
    kind = obj.kind if obj is not None else None
    return frozenset(
        action
        for action, kinds in _ACTION_KINDS.items()
        if kind in kinds and permitted(actor, action, obj, facts, now, config=config)
    )


def _decide(  # noqa: PLR0917 - mirrors decide(); the hot path avoids keyword packing
    actor: Actor,
    action: Action,
    obj: Resource | None,
    purpose: str | None,
    now: datetime,
    facts: Facts,
    config: PolicyConfig,
    *,
    check_purpose: bool,
) -> Decision:
    # 1. The actor. Departure wins over everything: no fact can bring a leaver back.
    if actor.status is not _ACTIVE or not actor.is_active:
        if actor.status is ActorStatus.LEFT:
            return _refuse([reason(Rule.ACTOR_DEPARTED)])
        return _refuse([reason(Rule.ACTOR_INACTIVE)])
    if now.tzinfo is None:
        return _bad("时间缺少时区。", "`now` is not timezone-aware.")
    role = actor.role
    if role is Role.EXTERNAL_AUDITOR:
        engagement = actor.engagement
        if engagement is None or not engagement.contains(now):
            return _refuse([reason(Rule.ENGAGEMENT_WINDOW)])

    # 2. Shape and matrix.
    kinds = _ACTION_KINDS.get(action)
    if kinds is None or (obj.kind if obj is not None else None) not in kinds:
        return _bad("对象类型与操作不符。", "the object kind does not fit the action.")
    level = obj.level if obj is not None else Level.PUBLIC
    rank = LEVEL_RANK[level]
    req = _MATRIX[role].get(action, _DENIED)[rank]
    if req is Req.DENY:
        if action == Action.BREAK_GLASS_READ:
            return _refuse([reason(Rule.BREAK_GLASS_NOT_PERMITTED)])
        named = {"level": level} if obj is not None else {}  # firm-level: no object
        return _refuse(
            [reason(Rule.ROLE_NOT_PERMITTED, role=role.value, action=str(action), **named)]
        )
    # `==`, not `is`: `action` may arrive as a plain string, and this check must not be
    # skipped because of that.
    if action == Action.QUERY_REQUEST_APPROVE:
        # The kind check above already demands a query request object; this narrows it.
        if obj is None or obj.owner_id is None:
            return _bad("查询申请缺少申请人。", "the query request has no requester.")
        if obj.owner_id == actor.user_id:
            return _refuse([reason(Rule.SELF_APPROVAL)])

    # 3. Conditions. Each is evaluated; the allow path only combines booleans.
    staff = role is not Role.CLIENT
    content_read = action in CONTENT_READS
    purpose_needed = check_purpose and staff and content_read and rank >= _RANK_INTERNAL
    # A purpose of invisible or control characters alone states nothing (`stated`).
    said = stated(purpose) if purpose_needed else ""
    # A query request grants the read for the purpose it was approved for (F08), so the
    # stated purpose is what it must match; none is matched where no purpose is asked
    # for, or where none is stated (refused below as `purpose_required`).
    allow_rule = _reach(req, actor, obj, now, facts, purpose=said or None)
    emergency = req is Req.BREAK_GLASS
    if (
        allow_rule is None
        and facts.break_glass
        and role is Role.MANAGER
        and action in _BREAK_GLASS_UPGRADABLE
    ):
        # Break-glass is used only when the ordinary path fails, so setting the flag can
        # never make a decision worse, and an unneeded flag raises no false alarm.
        allow_rule = Rule.ALLOW_BREAK_GLASS
        emergency = True
    clearance_ok = not staff or rank <= LEVEL_RANK[actor.clearance]
    mfa_ok = rank < _RANK_CONFIDENTIAL or actor.mfa_verified
    # Clients are not bound by the firm's agreements, training or query purposes when
    # looking at their own data; staff and partners are, for anything above public.
    agreement_ok = not staff or rank == 0 or _current(facts.agreements, now)
    training_ok = not staff or rank == 0 or _current(facts.trainings, now)
    purpose_ok = True
    purpose_listed = True
    if purpose_needed:
        purpose_ok = bool(said)
        purpose_listed = config.free_text_purpose or said in config.purposes
    reason_ok = not emergency or bool(stated(facts.break_glass_reason))

    if (
        allow_rule is not None
        and clearance_ok
        and mfa_ok
        and agreement_ok
        and training_ok
        and purpose_ok
        and purpose_listed
        and reason_ok
    ):
        return _allow(allow_rule, action in WATERMARKED, staff and content_read, emergency)

    # Refusal: list every failed condition, in the documented order.
    reasons: list[Reason] = []
    if allow_rule is None:
        reasons.extend(_reach_reasons(req, actor, action, obj, now=now, facts=facts,
                                      purpose=said or None))
    if not clearance_ok:
        reasons.append(
            reason(Rule.CLEARANCE_INSUFFICIENT, level=level, clearance=actor.clearance)
        )
    if not mfa_ok:
        reasons.append(reason(Rule.MFA_REQUIRED))
    if not agreement_ok:
        reasons.append(reason(Rule.AGREEMENT_MISSING))
    if not training_ok:
        reasons.append(reason(Rule.TRAINING_LAPSED))
    if not purpose_ok:
        reasons.append(reason(Rule.PURPOSE_REQUIRED))
    elif not purpose_listed:
        reasons.append(reason(Rule.PURPOSE_NOT_ALLOWED))
    if not reason_ok:
        reasons.append(reason(Rule.BREAK_GLASS_REASON_REQUIRED))
    return _refuse(reasons)


_OBLIGATION_TEXT: dict[Obligation, tuple[str, str]] = {
    Obligation.WATERMARK: ("输出文件将加水印", "the output is watermarked"),
    Obligation.RECORD_PURPOSE: ("查询目的将被记录", "the purpose is recorded"),
    Obligation.ALERT_COMPLIANCE: ("将通知保密专员", "compliance is alerted"),
    Obligation.POST_REVIEW: ("将进行事后复核", "the access is reviewed afterwards"),
    Obligation.APPROVAL_REQUIRED: ("可提交查询申请", "a query request can be filed"),
}


def explain(decision: Decision, lang: str = "zh") -> str:
    """A one-paragraph explanation of `decision` in `lang` (`zh` or `en`) for the user."""
    en = lang == "en"
    if decision.allowed:
        head = reason(decision.rule).text(lang)
        body = "Allowed. " + head if en else "允许。" + head
    else:
        texts = [r.text(lang) for r in decision.reasons]
        body = ("Refused: " + " ".join(texts)) if en else ("拒绝：" + "".join(texts))
    if decision.obligations:
        notes = sorted(_OBLIGATION_TEXT[o][1 if en else 0] for o in decision.obligations)
        body += (" (" + "; ".join(notes) + ")") if en else ("（" + "；".join(notes) + "）")
    return body
