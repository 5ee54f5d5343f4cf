"""Reads for accounts."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from baomi.accounts.models import STAFF_ROLES, Role, User
from baomi.errors import AccessDenied, NotFound


def staff_list(*, actor: User, search: str = "") -> QuerySet[User]:
    """Accounts of the firm's people, for firm staff only. Raises AccessDenied."""
    if actor.role not in STAFF_ROLES:
        raise AccessDenied(code="staff_only")
    qs = User.objects.exclude(role=Role.CLIENT).select_related("department")
    term = search.strip()[:100]
    if term:
        qs = qs.filter(
            Q(username__icontains=term)
            | Q(display_name__icontains=term)
            | Q(department__name__icontains=term)
            | Q(post__icontains=term)
        )
    return qs.order_by("username")


def staff_get(*, actor: User, user_id: int) -> User:
    user = staff_list(actor=actor).filter(pk=user_id).first()
    if user is None:
        raise NotFound(code="staff_not_found")
    return user


def staff_can_manage(actor: User) -> bool:
    """`staff.manage` (create and edit staff accounts, their sealed personal data)."""
    from baomi import policy
    from baomi.access import selectors as access

    return access.permitted_for(actor, policy.Action.STAFF_MANAGE, None)
