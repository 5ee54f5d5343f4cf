"""Reads for accounts."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from baomi.accounts.models import Role, StaffStatus, User
from baomi.errors import NotFound


def staff_can_view(actor: User) -> bool:
    """`staff.view` (the staff directory): the roles the access matrix gives it."""
    from baomi import policy
    from baomi.access import selectors as access

    return access.decide_for(actor, policy.Action.STAFF_VIEW, None).allowed


def staff_list(*, actor: User, search: str = "") -> QuerySet[User]:
    """Accounts of the firm's people, for those the access matrix gives `staff.view`.

    Raises AccessDenied with the policy's reason; the refusal is recorded
    (``staff.view``), like every refused look at a register.
    """
    from baomi import policy
    from baomi.access.services import require_allowed

    require_allowed(actor, policy.Action.STAFF_VIEW, None, ledger_action="staff.view",
                    object_type="staff")
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
    """One staff account: any, for those `staff_list` admits; their own, for every member
    of staff (an accountant or a partner may always see what the firm holds as their
    profile). Portal (client) users are not staff and get `staff_list`'s refusal."""
    own = user_id == actor.pk and actor.role != Role.CLIENT
    if own and actor.is_active and actor.status != StaffStatus.LEFT:
        return User.objects.select_related("department").get(pk=actor.pk)
    user = staff_list(actor=actor).filter(pk=user_id).first()
    if user is None:
        raise NotFound(code="staff_not_found")
    return user


def staff_can_manage(actor: User) -> bool:
    """`staff.manage` (create and edit staff accounts, their sealed personal data)."""
    from baomi import policy
    from baomi.access import selectors as access

    return access.permitted_for(actor, policy.Action.STAFF_MANAGE, None)
