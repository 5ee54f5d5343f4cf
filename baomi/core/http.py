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
