"""Username normalization shared by login, storage and lockout counting."""

from __future__ import annotations

import unicodedata
from typing import Any


def normalize_username(raw: str) -> str:
    """NFKC, strip, casefold: 'ＡＣＣＴ1 ' and 'acct1' are the same account.

    Used for storing usernames, for authentication and for django-axes lockout
    counting, so an attacker cannot reset the failure counter by varying the form.
    """
    return unicodedata.normalize("NFKC", raw).strip().casefold()


def axes_username(request: Any, credentials: dict[str, Any] | None) -> str:
    """AXES_USERNAME_CALLABLE: the normalized username of a login attempt."""
    raw = ""
    if credentials:
        raw = str(credentials.get("username") or "")
    elif request is not None and hasattr(request, "POST"):
        raw = str(request.POST.get("username", ""))
    return normalize_username(raw)
