from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from baomi.accounts.models import StaffStatus, User
from baomi.accounts.security import normalize_username


class NormalizedUsernameBackend(ModelBackend):
    """ModelBackend that normalizes the username and refuses departed staff."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None or password is None:
            return None
        user = super().authenticate(
            request, username=normalize_username(username), password=password, **kwargs
        )
        if isinstance(user, User) and user.status == StaffStatus.LEFT:
            return None
        return user if isinstance(user, User) else None

    def user_can_authenticate(self, user: Any) -> bool:
        return (
            bool(super().user_can_authenticate(user))
            and getattr(user, "status", StaffStatus.ACTIVE) != StaffStatus.LEFT
        )
