from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from baomi.policy.text import PURPOSE_LIMIT, REASON_LIMIT


def baomi(request: HttpRequest) -> dict[str, Any]:
    """Values every page's layout needs."""
    from baomi.access.selectors import notifications_unread
    from baomi.accounts.models import User
    from baomi.accounts.selectors import staff_can_view
    from baomi.audit.access import can_view_ledger

    user = getattr(request, "user", None)
    signed_in = isinstance(user, User) and user.is_authenticated
    return {
        "BAOMI_VERSION": settings.BAOMI_VERSION,
        "CAN_VIEW_STAFF": signed_in and staff_can_view(user),  # type: ignore[arg-type]  # narrowed above
        "CAN_VIEW_LEDGER": isinstance(user, User) and can_view_ledger(user),
        "UNREAD_NOTIFICATIONS": notifications_unread(user) if signed_in else 0,  # type: ignore[arg-type]  # narrowed above
        # The `maxlength` of purpose and reason/note inputs (the services check again).
        "PURPOSE_LIMIT": PURPOSE_LIMIT,
        "REASON_LIMIT": REASON_LIMIT,
    }
