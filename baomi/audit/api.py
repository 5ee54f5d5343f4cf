"""Ledger endpoints under /api/v1/ledger/ and a client's access history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Query, Schema
from ninja.responses import Status
from pydantic import ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from baomi.accounts.models import Role, User
from baomi.api.base import ERRORS, api
from baomi.audit import selectors, verify_jobs
from baomi.audit.access import require_ledger_view
from baomi.audit.events import record
from baomi.audit.messages import ledger_message
from baomi.audit.models import VerificationRun, VerificationStatus
from baomi.clients.selectors import client_get
from baomi.errors import Conflict, IntegrityFailure, InvalidInput, NotFound
from baomi.ledger.errors import LedgerError

# Far beyond any real log, and within every database's integer range (a larger offset
# reached the database as a number it cannot hold).
MAX_OFFSET = 10**9
OFFSET_DESCRIPTION = f"Entries to skip, 0 to {MAX_OFFSET:,}."

# Codes of an exported checkpoint that is genuine but that this log does not extend
# (409); any other failure is the checkpoint's own (400).
_CONFLICT_CODES = frozenset({"fork", "rollback", "hash_mismatch", "origin_mismatch"})
_NO_NUL = r"^[^\x00]*$"


class EntryOut(Schema):
    unreadable: bool = Field(
        default=False,
        description="The stored bytes do not decode (the entry was altered in the "
        "database); only `seq`, `time` and `leaf_hash` are given, and "
        "`baomi ledger verify` names the entry.",
    )
    seq: int
    time: datetime | None = Field(
        description="When it was recorded; null only for an `unreadable` entry whose time "
        "column is unreadable too."
    )
    actor: str
    action: str
    object_type: str
    object_id: str
    client_id: str | None
    purpose: str
    decision: str
    reason: str
    request: dict[str, str]
    leaf_hash: str


class EntryPage(Schema):
    items: list[EntryOut]
    count: int
    limit: int
    offset: int


class EntryQuery(Schema):
    # No NUL: no stored value holds one, and PostgreSQL refuses it in a query.
    client: str | None = Field(default=None, max_length=64, pattern=_NO_NUL)
    actor: str | None = Field(default=None, max_length=150, pattern=_NO_NUL)
    action: str | None = Field(default=None, max_length=60, pattern=_NO_NUL)
    decision: str | None = Field(default=None, pattern="^(allowed|refused)$")
    since: datetime | None = Field(
        default=None, description="From this instant on (no offset: the server's time zone)."
    )
    until: datetime | None = Field(default=None, description="Before this instant.")
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description=OFFSET_DESCRIPTION)

    @field_validator("since", "until")
    @classmethod
    def _storable(cls, value: datetime | None) -> datetime | None:
        """An instant the database can compare with: aware, and still a datetime in UTC
        (`0001-01-01T00:00:00+14:00` is not)."""
        if value is None:
            return None
        if timezone.is_naive(value):
            value = timezone.make_aware(value)  # as Django itself would read it
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise PydanticCustomError(
                "datetime_out_of_range", str(_("This date is out of range."))
            ) from None


class HistoryQuery(Schema):
    limit: int = Field(default=50, description="Entries per page, 1 to 500 (others are capped).")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description=OFFSET_DESCRIPTION)


class CheckpointOut(Schema):
    size: int
    root: str
    text: str = Field(description="Signed note (Ed25519); verify with `public_key`.")
    created_at: datetime
    public_key: str
    key_name: str


class StateOut(Schema):
    size: int
    root: str
    hash: str
    latest_checkpoint: CheckpointOut | None
    last_verification: dict[str, Any] | None


class VerificationOut(Schema):
    """A full verification: its progress while it runs, then its verdict."""

    id: int
    status: str = Field(
        description="`running`, `done` (the verdict is in `ok`) or `interrupted` (it "
        "stopped without one: its process died, or it failed; start another)."
    )
    requested_by: str = Field(description="Who asked; empty for the scheduler and the CLI.")
    started_at: datetime
    heartbeat_at: datetime | None
    finished_at: datetime | None
    checked: int = Field(description="Entries verified so far.")
    target: int = Field(description="Entries to verify: the log's size when it started.")
    percent: int
    ok: bool | None = Field(description="The verdict; null until `status` is `done`.")
    size: int
    checkpoints: int
    code: str = Field(
        description="Stable code of the failure (or, `interrupted`, of why it stopped: "
        "`heartbeat_lost`, `internal_error`); empty when `ok` or running."
    )
    first_bad_seq: int | None
    message: str = Field(description="Human-readable, localized; empty when `ok` or running.")
    reason: str = Field(
        description="The ledger core's own account of the failure (English: which entry "
        "and why); empty when `ok` or running."
    )


class VerifyQuery(Schema):
    wait: bool = Field(
        default=False,
        description="Verify before answering (200 with the verdict) instead of in the "
        "background (202: poll `GET /ledger/verify/{id}`).",
    )


class ProofOut(Schema):
    seq: int
    tree_size: int
    leaf_hash: str
    entry: str
    proof: list[str]
    hash: str
    checkpoint: str | None
    public_key: str
    key_name: str


class ConsistencyIn(Schema):
    model_config = ConfigDict(extra="forbid")
    checkpoint: str = Field(max_length=10000, description="An exported signed checkpoint.")


class ConsistencyOut(Schema):
    old_size: int
    new_size: int
    new_root: str
    proof: list[str]


def _viewer(request: HttpRequest, ledger_action: str = "ledger.view") -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101  (auth classes return User)
    require_ledger_view(user, ledger_action)
    return user


def _checkpoint_out(cp: Any) -> dict[str, Any] | None:
    if cp is None:
        return None
    from baomi.audit import signing

    return {
        "size": cp.size,
        "root": bytes(cp.root).hex(),
        "text": cp.text,
        "created_at": cp.created_at,
        "public_key": signing.signing_public_key().hex(),
        "key_name": signing.KEY_NAME,
    }


@api.get("/ledger/entries", response={200: EntryPage, **ERRORS}, tags=["ledger"])
def ledger_entries(request: HttpRequest, query: Query[EntryQuery]) -> dict[str, Any]:
    """Ledger entries, newest first, as recorded (decoded from the hashed bytes)."""
    actor = _viewer(request)
    record(actor, "ledger.view", object_type="ledger")
    qs = selectors.entry_list(
        client_id=query.client,
        actor=query.actor,
        action=query.action,
        decision=query.decision,
        since=query.since,
        until=query.until,
    )
    items = [selectors.entry_view(e) for e in qs[query.offset : query.offset + query.limit]]
    return {"items": items, "count": qs.count(), "limit": query.limit, "offset": query.offset}


@api.get("/ledger/state", response={200: StateOut, **ERRORS}, tags=["ledger"])
def ledger_state(request: HttpRequest) -> dict[str, Any]:
    """Current size and root, the latest signed checkpoint and the last verification."""
    actor = _viewer(request)
    record(actor, "ledger.view", object_type="ledger", object_id="state")
    state = selectors.ledger_state()
    run = selectors.last_verification()
    return {
        "size": state.size,
        "root": state.root.hex(),
        "hash": state.hash_name,
        "latest_checkpoint": _checkpoint_out(selectors.latest_checkpoint()),
        "last_verification": None
        if run is None
        else {
            "ok": run.ok,
            "size": run.size,
            "code": run.code,
            "first_bad_seq": run.first_bad_seq,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        },
    }


def _verification_out(run: VerificationRun) -> dict[str, Any]:
    status = selectors.verification_status(run)
    if status == VerificationStatus.INTERRUPTED:
        message = _("The verification stopped before it finished; start another.")
    elif status == VerificationStatus.DONE and not run.ok:
        message = ledger_message(run.code)
    else:
        message = ""
    return {
        "id": run.pk,
        "status": status,
        "requested_by": run.requested_by,
        "started_at": run.started_at,
        "heartbeat_at": run.heartbeat_at,
        "finished_at": run.finished_at,
        "checked": run.checked,
        "target": run.target,
        "percent": run.percent,
        "ok": run.ok if status == VerificationStatus.DONE else None,
        "size": run.size,
        "checkpoints": run.checkpoints,
        "code": run.code,
        "first_bad_seq": run.first_bad_seq,
        "message": message,
        "reason": run.message if status == VerificationStatus.DONE else "",
    }


@api.post(
    "/ledger/verify",
    response={200: VerificationOut, 202: VerificationOut, **ERRORS},
    tags=["ledger"],
)
def ledger_verify(request: HttpRequest, query: Query[VerifyQuery]) -> Status[dict[str, Any]]:
    """Recompute the whole ledger, in the background: 202 with the run, whose progress
    and verdict `GET /ledger/verify/{id}` gives. While one runs, a request joins it (the
    same run, not a new one). `?wait=true`: 200 once the verdict is in (the run this
    request started, or the one it joined)."""
    actor = _viewer(request, "ledger.verify")
    # Recorded before anything starts: if the ledger cannot be written, nothing does.
    record(actor, "ledger.verify", object_type="ledger")
    if not query.wait:
        return Status(202, _verification_out(verify_jobs.start(requested_by=actor.username).run))
    outcome = verify_jobs.run(requested_by=actor.username)
    run = outcome.run if outcome.started else verify_jobs.wait_finished(outcome.run.pk)
    return Status(200, _verification_out(run))


@api.get(
    "/ledger/verify/{run_id}", response={200: VerificationOut, **ERRORS}, tags=["ledger"]
)
def ledger_verification(request: HttpRequest, run_id: int) -> dict[str, Any]:
    """A verification's progress and, once `done`, its verdict; 404
    `verification_not_found` for an id that is none."""
    actor = _viewer(request)
    record(actor, "ledger.view", object_type="ledger", object_id=f"verification/{run_id}")
    run = selectors.verification_get(run_id=run_id)
    if run is None:
        raise NotFound(_("No such verification."), code="verification_not_found")
    return _verification_out(run)


@api.post("/ledger/checkpoints", response={201: CheckpointOut, **ERRORS}, tags=["ledger"])
def ledger_checkpoint(request: HttpRequest) -> Status[dict[str, Any] | None]:
    """Sign a checkpoint of the current head (reuses the last one if nothing changed)."""
    actor = _viewer(request)
    record(actor, "ledger.checkpoint", object_type="ledger")
    return Status(201, _checkpoint_out(selectors.checkpoint_create()))


@api.get("/ledger/checkpoints/latest", response={200: CheckpointOut, **ERRORS}, tags=["ledger"])
def ledger_checkpoint_latest(request: HttpRequest) -> dict[str, Any]:
    """The latest signed checkpoint; 404 `no_checkpoint` before the first."""
    actor = _viewer(request)
    record(actor, "ledger.view", object_type="ledger", object_id="checkpoint")
    out = _checkpoint_out(selectors.latest_checkpoint())
    if out is None:
        raise NotFound(_("No checkpoint has been made yet."), code="no_checkpoint")
    return out


@api.get("/ledger/proof/{seq}", response={200: ProofOut, **ERRORS}, tags=["ledger"])
def ledger_proof(request: HttpRequest, seq: int) -> dict[str, Any]:
    """Inclusion proof of entry `seq` against the latest checkpoint (its whole entry)."""
    actor = _viewer(request, "ledger.prove")
    record(actor, "ledger.prove", object_type="ledger_entry", object_id=str(seq))
    try:
        return selectors.inclusion(seq)
    except LedgerError as exc:
        raise NotFound(
            ledger_message("proof_unavailable"), code="proof_unavailable",
            detail={"reason": str(exc)},
        ) from exc
    except UnicodeDecodeError as exc:
        # The stored bytes were altered into something that is not even text.
        raise IntegrityFailure(
            ledger_message("entry_malformed"), code="entry_malformed",
            detail={"reason": f"entry {seq} is not UTF-8"},
        ) from exc


@api.post("/ledger/consistency", response={200: ConsistencyOut, **ERRORS}, tags=["ledger"])
def ledger_consistency(request: HttpRequest, payload: ConsistencyIn) -> dict[str, Any]:
    """Prove the current log extends an exported checkpoint; 409 `fork` if it does not.

    Errors keep the ledger's stable code; `message` is localized and `detail.reason` is
    the ledger core's own (English) account."""
    actor = _viewer(request, "ledger.consistency")
    record(actor, "ledger.consistency", object_type="ledger")
    try:
        return selectors.consistency_with(payload.checkpoint)
    except LedgerError as exc:
        code = exc.code or "ledger_error"
        error = Conflict if code in _CONFLICT_CODES else InvalidInput
        raise error(ledger_message(code), code=code, detail={"reason": str(exc)}) from exc


@api.get(
    "/clients/{client_id}/access-history", response={200: EntryPage, **ERRORS}, tags=["ledger"]
)
def client_access_history(
    request: HttpRequest, client_id: int, query: Query[HistoryQuery]
) -> dict[str, Any]:
    """Who accessed this client's data, when and why (`ledger.view_client` in the access
    matrix: the client itself, its managers, compliance, auditors, administrators). The
    read is recorded (`ledger.view_client`). To the client's own portal users `request`
    is empty: the firm's addresses and browsers are not theirs to see."""
    from baomi import policy
    from baomi.access import selectors as access
    from baomi.access.services import require_allowed

    user = request.user
    assert isinstance(user, User)  # noqa: S101
    client = client_get(actor=user, client_id=client_id)
    require_allowed(user, policy.Action.LEDGER_VIEW_CLIENT, access.client_resource(client),
                    ledger_action="ledger.view_client", object_type="client",
                    object_id=client.pk)
    # Reading who read is itself a read of the ledger, recorded before it is served.
    record(user, "ledger.view_client", object_type="client", object_id=client.pk,
           client_id=client.pk)
    limit, offset = max(1, min(query.limit, 500)), query.offset
    qs = selectors.entry_list(client_id=str(client_id))
    items = [selectors.entry_view(e) for e in qs[offset : offset + limit]]
    if user.role == Role.CLIENT:
        # The client sees who read its data, when and why; not the firm's own network
        # (its people's addresses and browsers).
        for item in items:
            item["request"] = {}
    return {"items": items, "count": qs.count(), "limit": limit, "offset": offset}
