"""`{{ entry.reason|rule_title }}`: the policy rule an entry's reason starts with, in a few
words of the page's language ("" when the reason is not a policy rule's code)."""

from __future__ import annotations

from django import template
from django.utils.translation import get_language

from baomi import policy

register = template.Library()


@register.filter
def rule_title(reason: object) -> str:
    code = str(reason or "").split(" ", 1)[0].split(":", 1)[0]
    try:
        rule = policy.Rule(code)
    except ValueError:
        return ""
    zh, en = policy.RULE_TITLES[rule]
    return en if (get_language() or "").startswith("en") else zh


@register.filter
def action_label(code: object) -> str:
    """A ledger action code's label in the page's language ("" when it has none)."""
    from baomi.audit.actions import action_label as label

    return label(str(code or ""))
