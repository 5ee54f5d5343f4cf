"""Suggest a classification level and category (F05) from findings and keywords.

The suggestion is advice shown to the person filing the document, never applied silently;
every rule that fired is returned as a reason so the person can judge it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from baomi.detect.model import (
    BANK_CARD,
    CN_MOBILE,
    CN_RESIDENT_ID,
    CN_USCC,
    EMAIL,
    HK_MO_PERMIT,
    PASSPORT,
    Finding,
    Suggestion,
)

LEVELS: tuple[str, ...] = ("public", "internal", "confidential", "secret")
LEVEL_NAMES = {"public": "公开", "internal": "内部", "confidential": "机密", "secret": "绝密"}
CATEGORY_NAMES = {
    "financial": "财务数据",
    "business_plan": "业务计划",
    "personal": "个人信息",
    "trade_secret": "公司机密",
    "transaction": "交易记录",
    "contact": "联系方式",
    "other": "其他",
}

# Keyword -> category. Order of `_KEYWORD_PRIORITY` decides between categories when a
# document mentions several (a share-transfer agreement with a payment schedule is about
# the transfer, not the payments).
KEYWORDS: dict[str, str] = {
    "资产负债表": "financial",
    "利润表": "financial",
    "现金流量表": "financial",
    "记账凭证": "financial",
    "凭证": "financial",
    "纳税申报": "financial",
    "财务报表": "financial",
    "总账": "financial",
    "明细账": "financial",
    "审计报告": "financial",
    "商业计划": "business_plan",
    "经营计划": "business_plan",
    "融资计划": "business_plan",
    "股权转让": "trade_secret",
    "保密协议": "trade_secret",
    "技术秘密": "trade_secret",
    "商业秘密": "trade_secret",
    "流水": "transaction",
    "交易": "transaction",
    "对账单": "transaction",
    "转账": "transaction",
}
_KEYWORD_PRIORITY = ("trade_secret", "business_plan", "financial", "transaction")

# Identifiers of a natural person that on their own allow impersonation or fraud.
_PERSONAL_IDS = (CN_RESIDENT_ID, PASSPORT, HK_MO_PERMIT)
MANY_IDS = 10


def find_keywords(text: str) -> set[str]:
    """Classification keywords present in `text`.

    One substring search per keyword: C-speed and no memory per occurrence, unlike a
    findall over a bank statement with a million "流水".
    """
    return {k for k in KEYWORDS if k in text}


def suggest(findings: Iterable[Finding], *, keywords: Collection[str] = ()) -> Suggestion:
    """Suggest level and category for a document.

    Rules, strongest first: ≥ 10 distinct personal IDs, or personal IDs together with bank
    cards → secret (a bulk list that enables identity fraud); any personal ID or bank card
    → confidential/personal; business keywords (财务报表, 股权转让, 流水…) → confidential in
    their category; only mobiles/e-mails → internal/contact; only USCCs (public registry
    data) → internal/other. With nothing found the suggestion is internal/other: a client
    document is never suggested as public automatically.
    """
    distinct: dict[str, set[str]] = {}
    for f in findings:
        distinct.setdefault(f.type, set()).add(f.value)
    ids = sum(len(distinct.get(t, ())) for t in _PERSONAL_IDS)
    cards = len(distinct.get(BANK_CARD, ()))
    contacts = len(distinct.get(CN_MOBILE, ())) + len(distinct.get(EMAIL, ()))
    usccs = len(distinct.get(CN_USCC, ()))
    reasons: list[str] = []
    level, category = "internal", "other"

    found = [f"{len(v)} distinct {t}" for t, v in sorted(distinct.items())]
    if found:
        reasons.append("found: " + ", ".join(found))
    if ids >= MANY_IDS or (ids and cards) or cards >= MANY_IDS:
        level, category = "secret", "personal"
        reasons.append(
            "many personal identifiers or identifiers with bank cards together "
            "(批量个人身份信息/银行卡) → 绝密"
        )
    elif ids or cards:
        level, category = "confidential", "personal"
        reasons.append("personal ID document or bank card numbers (个人信息) → 机密")

    hinted = {KEYWORDS[k] for k in keywords if k in KEYWORDS}
    for cat in _KEYWORD_PRIORITY:
        if cat not in hinted:
            continue
        words = "、".join(sorted(k for k in keywords if KEYWORDS.get(k) == cat))
        reasons.append(f"keywords {words} → {cat} ({CATEGORY_NAMES[cat]})")
        # Identity documents decide the category; a bank statement with card numbers but
        # no IDs is still a transaction record.
        if ids == 0:
            category = cat
        if LEVELS.index(level) < LEVELS.index("confidential"):
            level = "confidential"
        break

    if level == "internal" and category == "other":
        if contacts:
            category = "contact"
            reasons.append("only contact details (联系方式) → 内部")
        elif usccs:
            reasons.append("only company credit codes, which are public registry data → 内部")
        else:
            reasons.append("nothing sensitive found; client documents default to 内部")
    return Suggestion(level=level, category=category, reasons=reasons)
