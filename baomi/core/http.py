"""Small helpers for views."""

from __future__ import annotations

from django.http import HttpRequest

from baomi.accounts.models import User
from baomi.errors import Unauthenticated


def actor_of(request: HttpRequest) -> User:
    """The signed-in user of a view that is behind `login_required`."""
    user = request.user
    if not isinstance(user, User):
        raise Unauthenticated()
    return user


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


# The largest id a 64-bit id column holds; a form value beyond it names nothing.
MAX_ID = 2**63 - 1


def positive_id(raw: str | None) -> int | None:
    """A database id typed into a form or query string, or None when it cannot be one.

    Only ASCII digits count: `str.isdigit()` also accepts "²" and other digits that
    `int()` refuses. At most 19 of them, within 1…2**63-1 (a 64-bit id column): a longer
    string names nothing, and past 4,300 digits `int()` itself raises. Callers answer
    None as they answer an id that does not exist (404, "choose a person"…).
    """
    text = (raw or "").strip()
    if not text or len(text) > len(str(MAX_ID)) or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None
