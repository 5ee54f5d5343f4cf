"""Suggest a classification level and category (F05) from findings and keywords.

The suggestion is advice shown to the person filing the document, never applied silently;
every rule that fired is returned as a reason so the person can judge it. A reason carries
a stable code and parameters (`Reason`); the Django layer renders it in the reader's
language, since this package is framework-free and has no translations.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

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


# Stable reason codes: part of the API (stored with a suggestion, returned by the REST API
# as `reason_code`). The web layer renders them in the reader's language from the code and
# its parameters; the English text of a `Reason` is only what the CLI prints.
REASON_FOUND = "found"
REASON_BULK_PERSONAL = "bulk_personal"
REASON_PERSONAL = "personal"
REASON_KEYWORDS = "keywords"
REASON_CONTACT_ONLY = "contact_only"
REASON_USCC_ONLY = "uscc_only"
REASON_NOTHING_FOUND = "nothing_found"
REASON_CODES: tuple[str, ...] = (
    REASON_FOUND,
    REASON_BULK_PERSONAL,
    REASON_PERSONAL,
    REASON_KEYWORDS,
    REASON_CONTACT_ONLY,
    REASON_USCC_ONLY,
    REASON_NOTHING_FOUND,
)


class Reason(str):
    """One rule that fired: a stable `code` with JSON-ready `params`, and English text.

    A `str` subclass so `Suggestion.reasons` stays a list of strings for every existing
    reader (the CLI's JSON, old stored suggestions) while the localizing layer reads
    `code` and `params`. Parameters hold counts, type codes and the fixed classification
    keywords only, never a detected value.
    """

    code: str
    params: dict[str, object]

    def __new__(cls, code: str, text: str, params: Mapping[str, object] | None = None) -> Reason:
        obj = super().__new__(cls, text)
        obj.code = code
        obj.params = dict(params or {})
        return obj

    def as_dict(self) -> dict[str, object]:
        """Storable form: {"code": ..., "params": {...}}."""
        return {"code": self.code, "params": self.params}


def suggest(findings: Iterable[Finding], *, keywords: Collection[str] = ()) -> Suggestion:
    """Suggest level and category for a document from its findings and keywords.

    Counts distinct values per type and applies `suggest_from_counts`.
    """
    distinct: dict[str, set[str]] = {}
    for f in findings:
        distinct.setdefault(f.type, set()).add(f.value)
    return suggest_from_counts({t: len(v) for t, v in distinct.items()}, keywords=keywords)


def suggest_from_counts(
    distinct: Mapping[str, int],
    *,
    keywords: Collection[str] = (),
    at_least: Collection[str] = (),
) -> Suggestion:
    """Suggest level and category from the number of distinct values per type.

    Rules, strongest first: ≥ 10 distinct personal IDs, or personal IDs together with bank
    cards → secret (a bulk list that enables identity fraud); any personal ID or bank card
    → confidential/personal; business keywords (财务报表, 股权转让, 流水…) → confidential in
    their category; only mobiles/e-mails → internal/contact; only USCCs (public registry
    data) → internal/other. With nothing found the suggestion is internal/other: a client
    document is never suggested as public automatically.

    `at_least` names types whose count is a lower bound (a streamed scan stops counting
    distinct values at a cap to keep its memory bounded); every rule threshold lies below
    such a cap, so the suggestion is the same as with exact counts. Each reason is a
    `Reason` (code, parameters, English text).
    """
    counts = {t: n for t, n in distinct.items() if n > 0}
    ids = sum(counts.get(t, 0) for t in _PERSONAL_IDS)
    cards = counts.get(BANK_CARD, 0)
    contacts = counts.get(CN_MOBILE, 0) + counts.get(EMAIL, 0)
    usccs = counts.get(CN_USCC, 0)
    reasons: list[str] = []
    level, category = "internal", "other"

    if counts:
        ordered = dict(sorted(counts.items()))
        lower = sorted(t for t in at_least if t in ordered)
        text = ", ".join(
            f"{'at least ' if t in lower else ''}{n} distinct {t}" for t, n in ordered.items()
        )
        params: dict[str, object] = {"counts": ordered}
        if lower:
            params["at_least"] = lower
        reasons.append(Reason(REASON_FOUND, "found: " + text, params))
    if ids >= MANY_IDS or (ids and cards) or cards >= MANY_IDS:
        level, category = "secret", "personal"
        reasons.append(
            Reason(
                REASON_BULK_PERSONAL,
                "many personal identifiers or identifiers with bank cards together "
                "(批量个人身份信息/银行卡) → 绝密",
                {"ids": ids, "cards": cards, "level": level},
            )
        )
    elif ids or cards:
        level, category = "confidential", "personal"
        reasons.append(
            Reason(
                REASON_PERSONAL,
                "personal ID document or bank card numbers (个人信息) → 机密",
                {"ids": ids, "cards": cards, "level": level},
            )
        )

    hinted = {KEYWORDS[k] for k in keywords if k in KEYWORDS}
    for cat in _KEYWORD_PRIORITY:
        if cat not in hinted:
            continue
        words = sorted(k for k in keywords if KEYWORDS.get(k) == cat)
        reasons.append(
            Reason(
                REASON_KEYWORDS,
                f"keywords {'、'.join(words)} → {cat} ({CATEGORY_NAMES[cat]})",
                {"keywords": words, "category": cat},
            )
        )
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
            reasons.append(
                Reason(
                    REASON_CONTACT_ONLY, "only contact details (联系方式) → 内部", {"level": level}
                )
            )
        elif usccs:
            reasons.append(
                Reason(
                    REASON_USCC_ONLY,
                    "only company credit codes, which are public registry data → 内部",
                    {"level": level},
                )
            )
        else:
            reasons.append(
                Reason(
                    REASON_NOTHING_FOUND,
                    "nothing sensitive found; client documents default to 内部",
                    {"level": level},
                )
            )
    return Suggestion(level=level, category=category, reasons=reasons)
