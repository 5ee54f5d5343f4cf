"""Template filters of the access pages."""

from __future__ import annotations

from typing import Any

from django import template

from baomi.access.selectors import scope_text

register = template.Library()


@register.filter
def scope(row: Any) -> str:
    """The scope of a client authorization or query request as people read it (labels
    in the active language, `selectors.scope_text`)."""
    return scope_text(row.scope_levels, row.scope_categories, row.scope_document_ids)
