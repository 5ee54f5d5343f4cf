"""Suggestion reasons carry stable codes and parameters (rendered per language by the
Django layer), keep their English text for the CLI, and never hold a detected value."""

from __future__ import annotations

import json

import pytest

from baomi.detect import Finding, Location, suggest
from baomi.detect.classify import REASON_CODES, Reason, suggest_from_counts

ID = "11010519491231002X"
CARD = "6222021234567890128"


def finding(type_: str, value: str) -> Finding:
    return Finding(type_, value, "***", Location("line 1, col 1", 0, len(value)), 1.0)


@pytest.mark.parametrize(
    ("findings", "keywords", "codes", "level", "category"),
    [
        ([], (), ["nothing_found"], "internal", "other"),
        ([finding("email", "a@b.cn")], (), ["found", "contact_only"], "internal", "contact"),
        (
            [finding("cn_uscc", "91350100M000100Y43")],
            (),
            ["found", "uscc_only"],
            "internal",
            "other",
        ),
        ([finding("cn_resident_id", ID)], (), ["found", "personal"], "confidential", "personal"),
        (
            [finding("cn_resident_id", ID), finding("bank_card", CARD)],
            ("股权转让",),
            ["found", "bulk_personal", "keywords"],
            "secret",
            "personal",
        ),
        ([], ("资产负债表", "凭证"), ["keywords"], "confidential", "financial"),
    ],
)
def test_each_rule_has_a_code(
    findings: list[Finding], keywords: tuple[str, ...], codes: list[str], level: str, category: str
) -> None:
    s = suggest(findings, keywords=keywords)
    assert (s.level, s.category) == (level, category)
    assert all(isinstance(r, Reason) for r in s.reasons)
    assert [r.code for r in s.reasons if isinstance(r, Reason)] == codes
    assert set(codes) <= set(REASON_CODES)
    stored = json.dumps([r.as_dict() for r in s.reasons if isinstance(r, Reason)])
    assert ID not in stored and CARD not in stored  # counts and rule words only


def test_parameters_and_english_text() -> None:
    s = suggest(
        [finding("cn_resident_id", ID), finding("cn_resident_id", ID), finding("bank_card", CARD)],
        keywords={"对账单", "流水"},
    )
    found, bulk, words = s.reasons
    assert isinstance(found, Reason) and isinstance(bulk, Reason) and isinstance(words, Reason)
    assert found.params == {"counts": {"bank_card": 1, "cn_resident_id": 1}}  # distinct
    assert found == "found: 1 distinct bank_card, 1 distinct cn_resident_id"
    assert bulk.params == {"ids": 1, "cards": 1, "level": "secret"}
    assert words.params == {"keywords": ["对账单", "流水"], "category": "transaction"}
    assert words == "keywords 对账单、流水 → transaction (交易记录)"
    # A str subclass: JSON and string comparisons see the English text.
    assert json.loads(json.dumps(s.reasons))[2] == str(words)


def test_counts_that_are_lower_bounds_are_marked() -> None:
    s = suggest_from_counts({"cn_resident_id": 10_000, "email": 0}, at_least=["cn_resident_id"])
    assert s.level == "secret"
    found = s.reasons[0]
    assert isinstance(found, Reason)
    assert found.params == {"counts": {"cn_resident_id": 10_000}, "at_least": ["cn_resident_id"]}
    assert "at least 10000 distinct cn_resident_id" in found


def test_counts_give_the_same_suggestion_as_findings() -> None:
    findings = [finding("cn_resident_id", f"{i:017d}X") for i in range(12)]
    assert suggest(findings) == suggest_from_counts({"cn_resident_id": 12})
