"""Turn a policy refusal into the error every layer renders (403, or 404 when hiding)."""

from __future__ import annotations

from django.utils.translation import get_language

from baomi import policy
from baomi.errors import AccessDenied, NotFound


def lang() -> str:
    return "en" if (get_language() or "").startswith("en") else "zh"


def reason_text(decision: policy.Decision) -> str:
    """The refusal's reasons in the active language (zh or en)."""
    language = lang()
    sep = " " if language == "en" else ""
    return sep.join(r.text(language) for r in decision.reasons)


# Refusals the caller fixes by sending something else keep their own error code; every
# other refusal is `access_denied`, with the policy's rule in `detail.rule`.
_OWN_CODES = frozenset({policy.Rule.PURPOSE_REQUIRED, policy.Rule.PURPOSE_NOT_ALLOWED,
                        policy.Rule.PURPOSE_NOT_APPROVED,
                        policy.Rule.BREAK_GLASS_REASON_REQUIRED, policy.Rule.SELF_APPROVAL})


def error_code(decision: policy.Decision) -> str:
    return decision.rule.value if decision.rule in _OWN_CODES else "access_denied"


def denied(decision: policy.Decision) -> AccessDenied:
    """403 with the policy's reasons; `detail.rule` is the rule code (vocab.Rule)."""
    return AccessDenied(
        reason_text(decision),
        code=error_code(decision),
        detail={
            "rule": decision.rule.value,
            "reasons": [{"code": r.code.value, "zh": r.zh, "en": r.en} for r in decision.reasons],
        },
    )


def hidden(code: str = "not_found") -> NotFound:
    return NotFound(code=code)
