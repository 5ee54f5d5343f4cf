"""Client services and visibility, with the real database."""

from __future__ import annotations

from datetime import date

import pytest

from baomi.accounts.models import Role
from baomi.clients import uscc
from baomi.clients.models import Client
from baomi.clients.selectors import client_list, clients_visible_to
from baomi.clients.services import ClientInput, assignment_add, client_create, client_update
from baomi.core.demo import make_uscc
from baomi.errors import AccessDenied, Conflict, ValidationFailed

pytestmark = pytest.mark.django_db

# Published example codes with a correct GB 32100 check character.
VALID = ["91350100M000100Y43", "91110000600037341L", "911100007109310534"]


@pytest.mark.parametrize("code", VALID)
def test_uscc_valid(code):
    assert uscc.is_valid(code)


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y44",
        "91350100M000100Y4",
        "91350100M000100Y433",
        "9135O100M000100Y43",
        "",
        "ABCDEFGHIJKLMNOPQR",
    ],
)
def test_uscc_invalid(code):
    assert not uscc.is_valid(code)


def test_uscc_normalization():
    assert uscc.normalize("９１３５０１００ｍ０００１００ｙ４３") == "91350100M000100Y43"
    assert uscc.normalize("9135-0100 M000 100Y43") == "91350100M000100Y43"


def test_generated_codes_validate():
    import random

    rng = random.Random(1)
    assert all(uscc.is_valid(make_uscc(rng, "110105")) for _ in range(200))


def test_create_validates_and_assigns_creator(make_user):
    acct = make_user("a1", role=Role.ACCOUNTANT, department="一部")
    mgr = make_user("m1", role=Role.MANAGER, department="一部")
    # Accountants do not create clients (docs/access-matrix.md); managers do, for their
    # department, and assign the accountant.
    with pytest.raises(AccessDenied):
        client_create(actor=acct, data=ClientInput(name="x", uscc="91350100M000100Y43",
                                                   legal_representative="李四"))
    client = client_create(
        actor=mgr,
        data=ClientInput(
            name=" 上海测试有限公司 ",
            uscc="91350100m000100y43",
            legal_representative="李四",
            status="active",
        ),
    )
    assert client.name == "上海测试有限公司"
    assert client.uscc == "91350100M000100Y43"
    assert client.department_id == mgr.department_id
    assignment_add(actor=mgr, client=client, user=acct)
    assert client.assignments.filter(user=acct).exists()


@pytest.mark.parametrize(
    ("field", "data"),
    [
        ("uscc", {"uscc": "91350100M000100Y44"}),
        ("name", {"name": "   "}),
        ("name", {"name": "坏\x00名字"}),
        ("status", {"status": "bogus"}),
        ("service_types", {"service_types": ["nonexistent"]}),
        (
            "service_ended_on",
            {"service_started_on": date(2024, 5, 1), "service_ended_on": date(2024, 4, 1)},
        ),
        ("deregistered_on", {"status": "deregistered"}),
    ],
)
def test_create_rejects_bad_input_and_saves_nothing(make_user, field, data):
    admin = make_user("adm", role=Role.ADMIN)
    base = {"name": "好名字有限公司", "uscc": VALID[0], "legal_representative": "王五"}
    base.update(data)
    with pytest.raises(ValidationFailed) as exc:
        client_create(actor=admin, data=ClientInput(**base))
    assert field in exc.value.detail["fields"]
    assert Client.objects.count() == 0


def test_duplicate_uscc_is_a_conflict_and_keeps_the_original(make_user):
    admin = make_user("adm2", role=Role.ADMIN)
    first = client_create(
        actor=admin, data=ClientInput(name="甲有限公司", uscc=VALID[1], legal_representative="甲")
    )
    with pytest.raises(Conflict) as exc:
        client_create(
            actor=admin,
            data=ClientInput(name="乙有限公司", uscc=VALID[1], legal_representative="乙"),
        )
    assert exc.value.code == "uscc_taken"
    assert Client.objects.get().pk == first.pk and Client.objects.get().name == "甲有限公司"


def test_visibility_by_role(make_user, make_client):
    admin = make_user("admx", role=Role.ADMIN)
    a1 = make_user("acc1", role=Role.ACCOUNTANT, department="一部")
    a2 = make_user("acc2", role=Role.ACCOUNTANT, department="二部")
    mgr = make_user("mgr", role=Role.MANAGER, department="一部")
    partner = make_user("p1", role=Role.PARTNER)
    c1 = make_client(a1)
    c2 = make_client(a2)
    c3 = make_client(admin, department_id=a1.department_id)
    assert set(clients_visible_to(a1)) == {c1}
    assert set(clients_visible_to(a2)) == {c2}
    assert set(clients_visible_to(mgr)) == {c1, c3}
    assert set(clients_visible_to(admin)) == {c1, c2, c3}
    assert list(clients_visible_to(partner)) == []
    portal = make_user("cli", role=Role.CLIENT, portal_client_id=c2.pk)
    assert list(clients_visible_to(portal)) == [c2]
    assert list(client_list(actor=a1, search=c2.uscc)) == []


def test_update_by_unassigned_accountant_is_refused(make_user, make_client):
    a1 = make_user("u1")
    a2 = make_user("u2")
    c1 = make_client(a1)
    with pytest.raises(AccessDenied):
        client_update(actor=a2, client=c1, data=ClientInput(name="改名"))
    c1.refresh_from_db()
    assert c1.name != "改名"
    with pytest.raises(AccessDenied):  # an accountant does not hand out access
        assignment_add(actor=a1, client=c1, user=a2)
    assignment_add(actor=make_user("boss", role=Role.ADMIN), client=c1, user=a2)
    client_update(actor=a2, client=c1, data=ClientInput(name="改名有限公司"))
    c1.refresh_from_db()
    assert c1.name == "改名有限公司"
