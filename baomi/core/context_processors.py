from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def baomi(request: HttpRequest) -> dict[str, Any]:
    """Values every page's layout needs."""
    return {"BAOMI_VERSION": settings.BAOMI_VERSION}
