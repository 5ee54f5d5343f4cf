"""Bilingual reasons for decisions. Built only on the refusal path, never when allowing."""

from __future__ import annotations

from dataclasses import dataclass

from baomi.policy.vocab import ACTION_NAMES, LEVEL_ZH, ROLE_NAMES, Level, Rule


@dataclass(frozen=True, slots=True)
class Reason:
    """One condition that decided, with a stable `code` and text in Chinese and English."""

    code: Rule
    zh: str
    en: str

    def text(self, lang: str) -> str:
        """The message in `lang` (`zh` or `en`); anything else falls back to Chinese."""
        return self.en if lang == "en" else self.zh


# Templates take keyword arguments named in braces; `level`/`clearance` are filled with
# both the code and the Chinese name by `reason()`.
_TEMPLATES: dict[Rule, tuple[str, str]] = {
    Rule.ALLOW_FIRM: ("角色允许此操作。", "The role permits this action."),
    Rule.ALLOW_ASSIGNED: ("已分配该客户，允许。", "Allowed: the client is assigned to you."),
    Rule.ALLOW_QUERY_REQUEST: (
        "已批准的查询申请覆盖此对象。",
        "An approved query request covers this object.",
    ),
    Rule.ALLOW_AUTHORIZATION: (
        "客户授权覆盖此对象。",
        "A client authorization covers this object.",
    ),
    Rule.ALLOW_OWN: ("本公司的数据。", "This is your own company's data."),
    Rule.ALLOW_BREAK_GLASS: (
        "紧急访问：将通知保密专员并事后复核。",
        "Emergency access: compliance is alerted and the access is reviewed afterwards.",
    ),
    Rule.BAD_REQUEST: (
        "请求无效：{detail_zh}",
        "Invalid request: {detail_en}",
    ),
    Rule.ACTOR_DEPARTED: (
        "该用户已离职，所有访问均被拒绝。",
        "The user has left the firm; all access is refused.",
    ),
    Rule.ACTOR_INACTIVE: (
        "该账户未启用或已停用。",
        "The account is not active.",
    ),
    Rule.ENGAGEMENT_WINDOW: (
        "外部审计人员不在审计委托期内。",
        "The external auditor is outside the engagement period.",
    ),
    Rule.ROLE_NOT_PERMITTED: (
        "角色“{role_zh}”不允许{action_zh}{level_clause_zh}。",
        "The role {role_en} may not {action_en}{level_clause_en}.",
    ),
    Rule.SELF_APPROVAL: (
        "不能审批自己提交的查询申请。",
        "You cannot approve your own query request.",
    ),
    Rule.NOT_ASSIGNED: (
        "您未被分配负责该客户。",
        "The client is not assigned to you.",
    ),
    Rule.NOT_OWN_CLIENT: (
        "只能访问本公司的数据。",
        "Only your own company's data can be accessed.",
    ),
    Rule.APPROVAL_REQUIRED: (
        "需要已批准且在有效期内的查询申请（查询管理）。",
        "An approved, current query request covering this object is required.",
    ),
    Rule.AUTHORIZATION_REQUIRED: (
        "没有该客户对您的有效授权。",
        "There is no client authorization for you for this client.",
    ),
    Rule.AUTHORIZATION_REVOKED: (
        "客户授权已被撤销。",
        "The client authorization has been revoked.",
    ),
    Rule.AUTHORIZATION_EXPIRED: (
        "客户授权不在有效期内。",
        "The client authorization is not within its validity period.",
    ),
    Rule.OUTSIDE_AUTHORIZATION_SCOPE: (
        "该对象超出客户授权范围。",
        "The object is outside the scope of the client authorization.",
    ),
    Rule.CLEARANCE_INSUFFICIENT: (
        "需要{level_zh}级涉密许可，您的许可为{clearance_zh}。",
        "Clearance '{level}' is required; yours is '{clearance}'.",
    ),
    Rule.MFA_REQUIRED: (
        "访问机密及以上数据需要双因素认证的会话。",
        "A two-factor-verified session is required for confidential data and above.",
    ),
    Rule.AGREEMENT_MISSING: (
        "没有在有效期内的保密协议。",
        "There is no confidentiality agreement in force.",
    ),
    Rule.TRAINING_LAPSED: (
        "保密培训已过期或未完成。",
        "Confidentiality training is missing or has lapsed.",
    ),
    Rule.PURPOSE_REQUIRED: (
        "请填写查询目的。",
        "A purpose for this access must be stated.",
    ),
    Rule.PURPOSE_NOT_ALLOWED: (
        "查询目的须从允许的列表中选择。",
        "The purpose must be one of the permitted purposes.",
    ),
    Rule.PURPOSE_NOT_APPROVED: (
        "查询目的须与已批准的查询申请所写的目的一致。",
        "The purpose must be the one your query request was approved for.",
    ),
    Rule.BREAK_GLASS_REASON_REQUIRED: (
        "紧急访问必须填写理由。",
        "An emergency access needs a stated reason.",
    ),
    Rule.BREAK_GLASS_NOT_PERMITTED: (
        "只有主管可以发起紧急访问。",
        "Only managers may make an emergency access.",
    ),
}


def reason(code: Rule, **params: str) -> Reason:
    """Build the bilingual reason for `code`, filling template parameters.

    `level` and `clearance`, when given as level codes, also fill `level_zh` and
    `clearance_zh` with the Chinese names.
    """
    for key in ("level", "clearance"):
        value = params.get(key)
        if value is not None and f"{key}_zh" not in params:
            params[f"{key}_zh"] = LEVEL_ZH.get(Level(value), value)
    # Roles and actions by name, not code (a StrEnum key matches its plain-string code);
    # an unknown code is shown as it is.
    role, action = params.get("role"), params.get("action")
    if role is not None:
        names = ROLE_NAMES.get(role)  # type: ignore[call-overload]  # str codes match
        params.setdefault("role_zh", names[0] if names else role)
        params.setdefault("role_en", names[1] if names else role)
    if action is not None:
        verbs = ACTION_NAMES.get(action)  # type: ignore[call-overload]  # str codes match
        params.setdefault("action_zh", verbs[0] if verbs else f"执行“{action}”")
        params.setdefault("action_en", verbs[1] if verbs else f"perform '{action}'")
    # A firm-level action has no object, so no level to name.
    level = params.get("level")
    params.setdefault("level_clause_zh", f"（{params['level_zh']}级对象）" if level else "")
    params.setdefault("level_clause_en", f" ({level} objects)" if level else "")
    zh, en = _TEMPLATES[code]
    return Reason(code, zh.format(**params), en.format(**params))
