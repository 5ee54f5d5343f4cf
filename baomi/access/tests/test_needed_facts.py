"""`needed_facts` lets the door read only the facts a matrix cell can use. Skipping the
others must be exact: for every role, action, level and set of facts, the decision made
with only the needed facts is the decision made with all of them."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from baomi import policy
from baomi.access.selectors import ALL_FACTS, needed_facts
from baomi.policy import Action, Actor, Facts, Level, Resource
from baomi.policy.tests.builders import NOW
from baomi.policy.tests.test_properties import actors, fact_parts, purposes, requests

# Which `Facts.build` arguments each fact name fills (`access.selectors.facts_for`).
FIELDS = {
    "assignments": ("assigned_client_ids",),
    "gates": ("agreements", "trainings"),
    "authorizations": ("authorizations",),
    "requests": ("query_requests",),
}


def _only(parts: dict[str, Any], need: frozenset[str]) -> dict[str, Any]:
    out = dict(parts)
    for name, fields in FIELDS.items():
        if name not in need:
            for f in fields:
                out[f] = []
    return out


def test_every_fact_name_is_mapped() -> None:
    assert set(FIELDS) == set(ALL_FACTS)


@given(actors, requests(), purposes, fact_parts)
@settings(max_examples=1500)
def test_the_needed_facts_decide_exactly_as_all_facts(
    who: Actor, request: tuple[Action, Resource | None], purpose: str | None,
    parts: dict[str, Any]
) -> None:
    action, obj = request
    # `facts_for` never fills the department set: a manager's department reach comes from
    # the object's department.
    parts = {**parts, "department_client_ids": []}
    need = needed_facts(who.role.value, action, obj.level if obj is not None else Level.PUBLIC)
    full = policy.decide(who, action, obj, purpose, NOW, Facts.build(**parts))
    some = policy.decide(who, action, obj, purpose, NOW, Facts.build(**_only(parts, need)))
    assert some == full, (need, full, some)


def test_firm_level_cells_read_no_assignments() -> None:
    # The menu decides `staff.view` on every page; a manager's decision needs no query
    # about their assignments for it.
    for role in policy.Role:
        assert "assignments" not in needed_facts(role.value, Action.STAFF_VIEW, Level.PUBLIC)
