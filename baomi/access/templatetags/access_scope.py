"""Template filters of the access pages."""

from __future__ import annotations

from typing import Any

from django import template

from baomi.access.selectors import review_item_scope, scope_text

register = template.Library()


@register.filter
def scope(row: Any) -> str:
    """The scope of a client authorization or query request as people read it (labels
    in the active language, `selectors.scope_text`)."""
    return scope_text(row.scope_levels, row.scope_categories, row.scope_document_ids)


@register.filter
def review_scope(item: Any) -> str:
    """What a reviewed grant covers (`selectors.review_item_scope`)."""
    return review_item_scope(item)
