"""REST endpoints under /api/v1/: clients and staff."""

from __future__ import annotations

from datetime import date, datetime

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Schema
from ninja.responses import Status
from pydantic import ConfigDict, Field

from baomi.accounts import selectors as account_selectors
from baomi.accounts import services as account_services
from baomi.accounts.models import Level, Role, User
from baomi.api.base import ERRORS, api
from baomi.audit.events import record
from baomi.clients import selectors as client_selectors
from baomi.clients import services as client_services
from baomi.clients.models import Client, ClientStatus
from baomi.errors import AccessDenied


class StrictSchema(Schema):
    model_config = ConfigDict(extra="forbid")


class ClientOut(Schema):
    id: int
    name: str
    uscc: str
    legal_representative: str
    status: ClientStatus
    service_types: list[str]
    department_id: int | None
    service_started_on: date | None
    service_ended_on: date | None
    deregistered_on: date | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_service_types(obj: Client) -> list[str]:
        return [s.code for s in obj.service_types.all()]


class ClientPage(Schema):
    items: list[ClientOut]
    count: int
    limit: int
    offset: int


class ClientCreateIn(StrictSchema):
    name: str = Field(max_length=200)
    uscc: str = Field(max_length=40)
    legal_representative: str = Field(max_length=100)
    status: ClientStatus = ClientStatus.PROSPECT
    service_types: list[str] = Field(default_factory=list, max_length=10)
    department_id: int | None = None
    service_started_on: date | None = None
    service_ended_on: date | None = None
    deregistered_on: date | None = None
    # Sealed by the vault door; read them with GET /clients/{id}/sensitive?purpose=…
    notes: str | None = Field(default=None, max_length=5000)
    address: str | None = Field(default=None, max_length=300)
    bank_account: str | None = Field(default=None, max_length=64)
    legal_rep_id_number: str | None = Field(default=None, max_length=32)


class ClientPatchIn(StrictSchema):
    name: str | None = Field(default=None, max_length=200)
    uscc: str | None = Field(default=None, max_length=40)
    legal_representative: str | None = Field(default=None, max_length=100)
    status: ClientStatus | None = None
    service_types: list[str] | None = Field(default=None, max_length=10)
    department_id: int | None = None
    service_started_on: date | None = None
    service_ended_on: date | None = None
    deregistered_on: date | None = None
    notes: str | None = Field(default=None, max_length=5000)
    address: str | None = Field(default=None, max_length=300)
    bank_account: str | None = Field(default=None, max_length=64)
    legal_rep_id_number: str | None = Field(default=None, max_length=32)


class ListQuery(Schema):
    q: str = Field(default="", max_length=100, description="Search text.")
    status: ClientStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0)


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101  (auth classes only return User)
    return user


@api.get("/clients", response={200: ClientPage, **ERRORS}, tags=["clients"])
def clients_list(request: HttpRequest, query: Query[ListQuery]) -> dict[str, object]:
    """Clients visible to the caller, searchable by name, USCC or legal representative."""
    qs = client_selectors.client_list(
        actor=_actor(request), search=query.q, status=query.status or ""
    )
    return {
        "items": list(qs[query.offset : query.offset + query.limit]),
        "count": qs.count(),
        "limit": query.limit,
        "offset": query.offset,
    }


@api.post("/clients", response={201: ClientOut, **ERRORS}, tags=["clients"])
def clients_create(request: HttpRequest, payload: ClientCreateIn) -> Status[Client]:
    """Create a client. The USCC must carry a valid GB 32100 check character."""
    data = client_services.ClientInput(**payload.model_dump())
    client = client_services.client_create(actor=_actor(request), data=data)
    return Status(201, client)


@api.get("/clients/{client_id}", response={200: ClientOut, **ERRORS}, tags=["clients"])
def clients_get(request: HttpRequest, client_id: int) -> Client:
    """One client; 404 when it does not exist or is not visible to the caller."""
    return client_selectors.client_get(actor=_actor(request), client_id=client_id)


@api.patch("/clients/{client_id}", response={200: ClientOut, **ERRORS}, tags=["clients"])
def clients_patch(request: HttpRequest, client_id: int, payload: ClientPatchIn) -> Client:
    """Change some fields of a client; fields sent as null on dates clear them."""
    actor = _actor(request)
    client = client_selectors.client_get(actor=actor, client_id=client_id)
    sent = payload.model_dump(exclude_unset=True)
    clear = {k for k, v in sent.items() if v is None}
    data = client_services.ClientInput(
        **{k: v for k, v in sent.items() if v is not None}, clear_fields=clear
    )
    return client_services.client_update(actor=actor, client=client, data=data)


class StaffOut(Schema):
    id: int
    username: str
    display_name: str
    email: str
    role: Role
    department: str | None
    post: str
    status: str
    clearance: Level
    is_active: bool
    mfa_enrolled: bool

    @staticmethod
    def resolve_department(obj: User) -> str | None:
        return obj.department.name if obj.department else None

    @staticmethod
    def resolve_mfa_enrolled(obj: User) -> bool:
        return account_services.totp_device_for(obj) is not None


class StaffPage(Schema):
    items: list[StaffOut]
    count: int
    limit: int
    offset: int


class StaffCreateIn(StrictSchema):
    username: str = Field(max_length=150)
    password: str = Field(min_length=1, max_length=256)
    display_name: str = Field(default="", max_length=100)
    email: str = Field(default="", max_length=254)
    role: Role
    department: str | None = Field(default=None, max_length=100)
    post: str = Field(default="", max_length=100)
    clearance: Level = Level.INTERNAL


class StaffPatchIn(StrictSchema):
    display_name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254)
    role: Role | None = None
    department: str | None = Field(default=None, max_length=100)
    post: str | None = Field(default=None, max_length=100)
    clearance: Level | None = None
    is_active: bool | None = None


class StaffQuery(Schema):
    q: str = Field(default="", max_length=100)
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0)


def _require_staff_admin(actor: User, ledger_action: str, object_id: object = "") -> None:
    """`staff.manage` in the access matrix (administrators): a refusal is recorded and
    carries the policy's reason."""
    from baomi import policy
    from baomi.access.services import require_allowed

    require_allowed(actor, policy.Action.STAFF_MANAGE, None, ledger_action=ledger_action,
                    object_type="user", object_id=object_id)


@api.get("/staff", response={200: StaffPage, **ERRORS}, tags=["staff"])
def staff_list(request: HttpRequest, query: Query[StaffQuery]) -> dict[str, object]:
    """Staff of the firm (firm staff only; partners and clients get 403)."""
    qs = account_selectors.staff_list(actor=_actor(request), search=query.q)
    return {
        "items": list(qs[query.offset : query.offset + query.limit]),
        "count": qs.count(),
        "limit": query.limit,
        "offset": query.offset,
    }


@api.post("/staff", response={201: StaffOut, **ERRORS}, tags=["staff"])
def staff_create(request: HttpRequest, payload: StaffCreateIn) -> Status[User]:
    """Create a staff account (administrators only)."""
    actor = _actor(request)
    _require_staff_admin(actor, "staff.create")
    dept = (
        account_services.department_get_or_create(name=payload.department, actor=actor)
        if payload.department and payload.department.strip()
        else None
    )
    user = account_services.user_create(
        username=payload.username,
        password=payload.password,
        role=payload.role,
        display_name=payload.display_name,
        email=payload.email,
        department=dept,
        post=payload.post,
        clearance=payload.clearance,
        actor=actor,
    )
    return Status(201, user)


@api.get("/staff/me", response={200: StaffOut, **ERRORS}, tags=["staff"])
def staff_me(request: HttpRequest) -> User:
    """The caller's own staff account (every staff role; portal users get 403)."""
    actor = _actor(request)
    return account_selectors.staff_get(actor=actor, user_id=actor.pk)


@api.get("/staff/{int:user_id}", response={200: StaffOut, **ERRORS}, tags=["staff"])
def staff_get(request: HttpRequest, user_id: int) -> User:
    """One staff account: any, for roles the access matrix gives `staff.view`; one's
    own, for every staff role."""
    return account_selectors.staff_get(actor=_actor(request), user_id=user_id)


@api.patch("/staff/{int:user_id}", response={200: StaffOut, **ERRORS}, tags=["staff"])
def staff_patch(request: HttpRequest, user_id: int, payload: StaffPatchIn) -> User:
    """Change a staff account; `is_active: false` ends its sessions and tokens at once.

    A new `role`, or a `department` other than the person's (blank or null: out of
    theirs), is a transfer (调岗), as on the staff page: their grants, tokens and
    sessions end and their open query requests are cancelled. Nobody changes their own
    role (422 `validation_error`) or transfers themselves (403 `self_action`)."""
    actor = _actor(request)
    _require_staff_admin(actor, "staff.update", user_id)
    user = account_selectors.staff_get(actor=actor, user_id=user_id)
    sent = payload.model_dump(exclude_unset=True)
    # Refused before anything is written: a refused request changes nothing.
    if sent.get("is_active") is False and user.is_active and user.pk == actor.pk:
        record(actor, "staff.deactivate", object_type="user", object_id=user.pk,
               decision="refused", reason="self_deactivation")
        raise AccessDenied(_("You cannot deactivate yourself."), code="self_deactivation")
    if sent.get("is_active") is True and not user.is_active:
        account_services.reactivate_check(user=user, actor=actor)
    department = sent.get("department")
    if "department" in sent and department is None:
        department = ""  # null, like a blank name, takes the person out of theirs
    account_services.staff_change(
        actor=actor,
        user=user,
        display_name=sent.get("display_name"),
        email=sent.get("email"),
        role=sent.get("role"),
        department=department,
        post=sent.get("post"),
        clearance=sent.get("clearance"),
    )
    if sent.get("is_active") is False and user.is_active:
        account_services.user_deactivate(user=user, actor=actor)
    elif sent.get("is_active") is True and not user.is_active:
        account_services.user_reactivate(user=user, actor=actor)
    return user


class HealthOut(Schema):
    status: str
    version: str
    database: str
