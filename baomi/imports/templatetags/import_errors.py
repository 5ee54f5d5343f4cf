"""Template filters: import errors in the reader's language (`baomi.imports.messages`)."""

from __future__ import annotations

from django import template

from baomi.imports.messages import error_text, failure_text

register = template.Library()


@register.filter
def import_error(entry: dict[str, str]) -> str:
    """A row's or file's error (`{"code", "message"}`) as shown."""
    return error_text(str(entry.get("code", "")), str(entry.get("message", "")))


@register.filter
def import_failure(stored: str) -> str:
    """A job's `error` as shown."""
    return failure_text(stored)
