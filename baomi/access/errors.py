"""Turn a policy refusal into the error every layer renders (403, or 404 when hiding)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from baomi import policy
from baomi.errors import AccessDenied, NotFound, ValidationFailed
from baomi.policy.text import PURPOSE_LIMIT, REASON_LIMIT


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


# Typed text longer than its limit is refused, never cut: by kind, the code, the
# message and the limit (`baomi.policy.text`).
_TOO_LONG: dict[str, tuple[str, Promise, int]] = {
    "purpose": ("purpose_too_long", _("A purpose may have at most %(limit)d characters."),
                PURPOSE_LIMIT),
    "reason": ("reason_too_long", _("A reason may have at most %(limit)d characters."),
               REASON_LIMIT),
    "note": ("note_too_long", _("A note may have at most %(limit)d characters."),
             REASON_LIMIT),
}


def too_long(kind: str, text: str, *, field_name: str = "") -> ValidationFailed | None:
    """422 `purpose_too_long` / `reason_too_long` / `note_too_long` (by `kind`) naming
    `field_name` (default: the kind) when `text`, as stated, is over its limit; else
    None. `detail.max_length` is the limit."""
    code, message, limit = _TOO_LONG[kind]
    if len(text) <= limit:
        return None
    text_of = str(message) % {"limit": limit}
    return ValidationFailed(text_of, code=code, detail={
        "code": code, "fields": {field_name or kind: [text_of]}, "max_length": limit})
