"""THE vault door: the only code that touches keys, ciphertext or protected fields.

Every read or write of protected client data goes through a function here, which in
this order

1. decides (`decide`, one function, to be replaced by the policy engine),
2. records the decision (`_record`, the seam where the audit ledger append is plugged
   in; it is called for allowed *and* refused decisions, before anything is done, and
   if it raises the action is refused: fail closed),
3. and only then unwraps keys and seals or opens data.

Views, API endpoints, services, the CLI and background jobs call these functions; none
of them imports `baomi.crypto` for client data or reads a `*_sealed` column.

Key hierarchy (docs/crypto.md, docs/vault.md): the master key (provider from
`BAOMI_KEY_PROVIDER`) wraps one key per client (`ClientKey`, scope ``client:<id>``),
plus a firm key (scope ``firm``, staff records) and the blind-index key (scope
``index``). A client key seals that client's record fields directly and wraps one data
key per document version; each data key seals one `BMS` stream in the blob store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import queue
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Union

from django.db import DatabaseError, IntegrityError, OperationalError, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from baomi import config
from baomi.access.errors import too_long
from baomi.accounts.models import LEVEL_ORDER, Level, Role, StaffStatus, User
from baomi.core.dberrors import busy, table_locked
from baomi.core.rawrows import Rows, cached_sql, fetch
from baomi.crypto import (
    DEFAULT_CHUNK_SIZE,
    DecryptionError,
    Key,
    KeyFileError,
    KeyNotAvailable,
    MasterKeyProvider,
    PassphraseProvider,
    ProviderError,
    StreamSealer,
    WrongPassphrase,
    blind_index,
    client_key_new,
    client_key_rewrap,
    client_key_unwrap,
    client_key_wrap,
    data_key_new,
    data_key_unwrap,
    data_key_wrap,
    derive_subkey,
    encode_context,
    open_bytes,
    open_file,
    open_file_iter,
    seal_bytes,
    sealed_size,
    verify_file,
    wrapped_key_id,
)
from baomi.crypto.suites import get_suite
from baomi.errors import AccessDenied, BaomiError
from baomi.policy.text import stated
from baomi.vault import normalize
from baomi.vault.blobstore import BlobMissing, BlobWriter, blob_store
from baomi.vault.errors import (
    AuditUnavailable,
    DocumentCorrupted,
    KeyDestroyed,
    MasterKeyUnavailable,
    RecordCorrupted,
    UploadRejected,
    UploadTooLarge,
)
from baomi.vault.models import ClientKey, Document, DocumentVersion

if TYPE_CHECKING:
    from baomi.clients.models import Client
    from baomi.policy import Facts

# ----------------------------------------------------------------------------------------
# Who asks, and what for
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SystemActor:
    """An operator command or job (`baomi keys …`, a migration), not a person."""

    name: str

    def __str__(self) -> str:
        return f"system:{self.name}"


Actor = Union[User, SystemActor]  # noqa: UP007  (a runtime alias, used in isinstance)


class Action(StrEnum):
    """Door actions; the values follow `baomi.policy.vocab.Action` where one exists."""

    RECORD_READ = "client.sensitive.read"
    RECORD_WRITE = "client.update"
    RECORD_SEARCH = "record.search"
    RECORD_MIGRATE = "record.migrate"  # a schema migration sealing values stored before
    STAFF_RECORD_READ = "staff.sensitive.read"
    STAFF_RECORD_WRITE = "staff.manage"
    DOCUMENT_UPLOAD = "document.upload"
    DOCUMENT_VERSION = "document.version"
    DOCUMENT_READ = "document.read"
    DOCUMENT_DOWNLOAD = "document.download"  # a watermarked copy leaves the system
    DOCUMENT_METADATA = "document.metadata"  # title, level, sizes: no decryption
    DOCUMENT_CLASSIFY = "document.classify"  # a document's label changes (no decryption)
    SEALED_FILE_WRITE = "sealed_file.write"  # governance scans under the firm key
    SEALED_FILE_READ = "sealed_file.read"
    KEY_ROTATE = "key.rotate"
    KEY_REWRAP = "key.rewrap"
    KEY_DESTROY = "key.destroy"


READ_ACTIONS: Final = frozenset(
    {Action.RECORD_READ, Action.STAFF_RECORD_READ, Action.DOCUMENT_READ, Action.DOCUMENT_DOWNLOAD}
)
WRITE_ACTIONS: Final = frozenset(
    {
        Action.RECORD_WRITE,
        Action.DOCUMENT_UPLOAD,
        Action.DOCUMENT_VERSION,
        Action.DOCUMENT_CLASSIFY,
    }
)
KEY_ACTIONS: Final = frozenset({Action.KEY_ROTATE, Action.KEY_REWRAP, Action.KEY_DESTROY})


@dataclass(frozen=True)
class Decision:
    """allow/deny with the rule that decided and a reason a person can act on."""

    allowed: bool
    rule: str
    reason: str
    code: str = "access_denied"
    obligations: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DoorEvent:
    """What the audit ledger records for one door decision (allowed or refused)."""

    actor: Actor
    action: str
    object_type: str
    object_id: str
    client_id: int | None
    purpose: str
    decision: str  # "allow" | "deny"
    reason: str
    rule: str = ""
    level: str = ""
    fields: tuple[str, ...] = ()  # protected fields opened or written: names, never values
    at: Any = field(default_factory=timezone.now)

    @property
    def actor_label(self) -> str:
        a = self.actor
        return f"user:{a.pk}" if isinstance(a, User) else str(a)


def _allow(rule: str) -> Decision:
    return Decision(True, rule, "")


def _deny(rule: str, reason: str, code: str = "access_denied") -> Decision:
    return Decision(False, rule, reason, code)


_STAFF_EDITORS: Final = frozenset({Role.ADMIN, Role.MANAGER, Role.ACCOUNTANT})

# Door actions on client data and the policy action each one is decided as; the object
# kind follows from the door's object type (documents, record field groups, a client).
_POLICY_ACTIONS: Final[dict[str, str]] = {
    Action.RECORD_READ: "client.sensitive.read",
    Action.RECORD_WRITE: "client.update",
    Action.DOCUMENT_UPLOAD: "document.upload",
    Action.DOCUMENT_VERSION: "document.version",
    Action.DOCUMENT_READ: "document.read",
    Action.DOCUMENT_DOWNLOAD: "document.download",
    Action.DOCUMENT_METADATA: "document.metadata",
    Action.DOCUMENT_CLASSIFY: "document.classify",
}
# Record field groups carry a category so client authorizations can scope them.
_RECORD_CATEGORIES: Final[dict[str, str]] = {"contact": "contact"}


def _policy_decide(
    *,
    actor: User,
    action: str,
    object_type: str,
    object_id: str,
    client_id: int,
    level: str,
    purpose: str,
    category: str,
    kind: str = "",
) -> Decision:
    """Client data: `baomi.policy.decide` on facts gathered for (actor, client).

    `kind` names the policy object kind where the door's object type does not say it:
    a document being filed (``document``, no id yet) rather than the client it goes to.
    """
    from baomi import policy
    from baomi.access import selectors as access
    from baomi.access.errors import error_code, reason_text
    from baomi.clients.models import Client

    policy_action = policy.Action(_POLICY_ACTIONS[action])
    department = None
    if actor.role == Role.MANAGER:
        department = (
            Client.objects.filter(pk=client_id).values_list("department_id", flat=True).first()
        )
    if kind:
        obj_kind = policy.ObjectKind(kind)
    elif object_type == "document":
        obj_kind = (
            policy.ObjectKind.DOCUMENT if object_id.isdigit() else policy.ObjectKind.CLIENT
        )
    elif action == Action.DOCUMENT_UPLOAD:
        obj_kind = policy.ObjectKind.CLIENT
    else:
        obj_kind = policy.ObjectKind.RECORD
        category = category or _RECORD_CATEGORIES.get(object_type, "")
    if level and level not in policy.Level._value2member_map_:
        # A label the policy does not know must not be decided as the client's (lower).
        return _deny("bad_request", _("This object has no valid classification level."))
    obj = policy.Resource(
        kind=obj_kind,
        id=int(object_id) if object_id.isdigit() else None,
        client_id=client_id,
        client_department=department,
        level=policy.Level(level or access.CLIENT_PROFILE_LEVEL),
        category=policy.Category(category) if category in policy.Category._value2member_map_
        else None,
    )
    decided = access.decide_for(actor, policy_action, obj, purpose=purpose)
    if decided.allowed:
        return Decision(True, decided.rule.value, "", obligations=frozenset(
            o.value for o in decided.obligations
        ))
    return Decision(False, decided.rule.value, reason_text(decided), error_code(decided))


def _search_decide(
    *, actor: User, object_type: str, level: str, category: str, purpose: str | None
) -> Decision:
    """A blind-index search, decided by the policy at the searched field's level.

    A match confirms a protected value, so a search is decided as a read of that field
    (`client.sensitive.read` of a record at the field's level): clearance at least the
    level, a second factor from 机密 up, an agreement and training in force, and a
    stated purpose (None only where the caller asks for none; see `search_token`). The
    search runs across clients and its results are then restricted to the clients the
    actor may see, so the probe is a record of a client the actor reaches by
    construction (as `access.selectors.gate_problems` probes): only the conditions on
    the actor, the field and the purpose decide. The role part stays the door's rule:
    administrators, managers and accountants; staff records only administrators.
    """
    from baomi import policy
    from baomi.access import selectors as access
    from baomi.access.errors import error_code, reason_text
    from baomi.policy.decide import decide_unasked

    if actor.role not in _STAFF_EDITORS or (object_type == "user" and actor.role != Role.ADMIN):
        return _deny("search", _("Your role may not search protected fields."))
    if level not in policy.Level._value2member_map_:
        return _deny("bad_request", _("This field cannot be searched."))
    gathered = access.facts_for(actor, need=frozenset({"gates"}))
    facts = policy.Facts(
        assigned_client_ids=frozenset({0}),
        agreements=gathered.agreements,
        trainings=gathered.trainings,
    )
    probe = policy.Resource(
        kind=policy.ObjectKind.RECORD,
        client_id=0,
        level=policy.Level(level),
        category=policy.Category(category)
        if category in policy.Category._value2member_map_
        else None,
    )
    who, now, config = access.policy_actor(actor), timezone.now(), access.policy_config()
    read = policy.Action.CLIENT_SENSITIVE_READ
    if purpose is None:
        decided = decide_unasked(who, read, probe, now, facts, config=config)
    else:
        decided = policy.decide(who, read, probe, purpose, now, facts, config)
    if decided.allowed:
        # The probe's reach is made up, so its allow rule says nothing: the entry keeps
        # the door's rule and the level.
        return _allow("search")
    return Decision(False, decided.rule.value, reason_text(decided), error_code(decided))


def decide(
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    client_id: int | None,
    level: str,
    purpose: str | None,
    category: str = "",
    kind: str = "",
) -> Decision:
    """The access decision for one door action.

    Client data (record fields, documents, metadata) is decided by `baomi.policy.decide`
    on facts the access selectors gather (assignments, agreements, training, client
    authorizations, approved query requests, the session's MFA and break-glass flags);
    refusals carry the policy's rule code and reasons in the active language.
    Actions outside the policy's vocabulary keep door-local rules:
    - system actors (operator commands) may only run key operations (and the migration
      actor may seal values a migration moves);
    - inactive or departed people are refused everything;
    - staff records: administrators, and each person their own;
    - sealed governance files (agreement scans): administrators and compliance;
    - searches by blind index: administrators, managers and accountants, and then the
      policy's conditions for reading the searched field (clearance, MFA, agreement,
      training, purpose: `_search_decide`); results are filtered to visible clients
      afterwards;
    - key operations: administrators and system actors.

    `purpose` is the stated purpose (`baomi.policy.text.stated`); None only for a
    search whose caller asks for none. `kind`: see `_policy_decide`.
    """
    if isinstance(actor, SystemActor):
        if action in KEY_ACTIONS or (action == Action.RECORD_MIGRATE and actor.name == "migration"):
            return _allow("system")
        return _deny("system", _("Operator commands may not read or change client content."))
    if not actor.is_active or actor.status == StaffStatus.LEFT:
        rule = "actor_departed" if actor.status == StaffStatus.LEFT else "actor_inactive"
        return _deny(rule, _("Your account is not active."))
    if action in _POLICY_ACTIONS:
        if client_id is None:
            return _deny("no_client", _("This object belongs to no client."))
        return _policy_decide(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            client_id=client_id,
            level=level,
            purpose=purpose or "",
            category=category,
            kind=kind,
        )
    if action in KEY_ACTIONS:
        if actor.role == Role.ADMIN:
            return _allow("admin")
        return _deny("key_admin", _("Only an administrator may manage encryption keys."))
    if action == Action.RECORD_SEARCH:
        return _search_decide(
            actor=actor, object_type=object_type, level=level, category=category, purpose=purpose
        )
    if action in {Action.SEALED_FILE_WRITE, Action.SEALED_FILE_READ}:
        if actor.role in {Role.ADMIN, Role.COMPLIANCE}:
            return _allow("governance")
        return _deny("governance", _("Only administrators and compliance may open this file."))
    if action in {Action.STAFF_RECORD_READ, Action.STAFF_RECORD_WRITE}:
        if actor.role != Role.ADMIN and str(actor.pk) != object_id:
            return _deny("staff_self", _("Only administrators may see other staff's data."))
        if action == Action.STAFF_RECORD_READ and not stated(purpose):
            return _deny(
                "purpose_required",
                _("State the purpose of this query (查询目的) to read data classified %(level)s.")
                % {"level": Level(level).label if level in Level.values else level},
                code="purpose_required",
            )
        return _allow("admin" if actor.role == Role.ADMIN else "self")
    return _deny("unknown_action", _("This action is not known to the vault."))


def _record(event: DoorEvent) -> int:
    """THE audit seam: append `event` to the ledger; returns its sequence number.

    Called by the door for every decision, allowed or refused, before anything is
    decrypted or written. Returns only once the event is durably recorded (or, inside a
    transaction, written in it); raises `LedgerUnavailable` to refuse the action (fail
    closed). The reason recorded is the rule code and level, never a value.
    """
    from baomi.audit.events import record

    reason = event.rule + (f" level={event.level}" if event.level else "")
    if event.fields:
        reason += " fields=" + ",".join(event.fields)
    return record(
        event.actor if isinstance(event.actor, User) else str(event.actor),
        event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        client_id=event.client_id,
        purpose=event.purpose,
        decision="allowed" if event.decision == "allow" else "refused",
        reason=reason,
    )


@dataclass(frozen=True, slots=True)
class _HeldRefusal:
    event: DoorEvent
    seq: int
    leaf_hash: bytes


_held = threading.local()
#: Refusals held per thread at most (a long-running non-request thread that never
#: flushes keeps only the newest).
_HELD_MAX: Final = 256


def _hold_refusal(event: DoorEvent, seq: int) -> None:
    """Remember a refusal written inside a transaction: the refusal usually makes that
    transaction roll back (the AccessDenied propagates out of it), and its ledger entry
    with it. `record_rolled_back_refusals` writes it again once the request is done."""
    from baomi.audit.models import LedgerEntry

    leaf = LedgerEntry.objects.filter(seq=seq).values_list("leaf_hash", flat=True).first()
    held: list[_HeldRefusal] = _held.__dict__.setdefault("items", [])
    held.append(_HeldRefusal(event, seq, bytes(leaf or b"")))
    del held[:-_HELD_MAX]


def forget_held_refusals() -> None:
    """Drop this thread's held refusals (tests: a test's rollback is not a refusal's)."""
    _held.__dict__.pop("items", None)


def record_rolled_back_refusals() -> int:
    """Record again every refusal held by this thread whose entry a rollback removed;
    returns how many. Called at the end of each request (outside its transactions), so a
    refused action inside `transaction.atomic` still leaves its refusal in the ledger.
    An entry still present (its transaction committed, or is still open) is left alone.
    Raises `LedgerUnavailable` if an entry cannot be written."""
    held: list[_HeldRefusal] = _held.__dict__.pop("items", [])
    if not held or transaction.get_connection().in_atomic_block:
        if held:
            _held.__dict__.setdefault("items", []).extend(held)
        return 0
    from baomi.audit.models import LedgerEntry

    written = 0
    for item in held:
        if not LedgerEntry.objects.filter(seq=item.seq, leaf_hash=item.leaf_hash).exists():
            _record(item.event)
            written += 1
    return written


def authorize(
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    client_id: int | None,
    level: str = "",
    purpose: str | None = "",
    category: str = "",
    fields: Sequence[str] = (),
    kind: str = "",
) -> Decision:
    """decide → record → raise on refusal. Every door operation starts here.

    `fields`: the protected fields a record read or write touches; their names (never
    their values) go into the ledger entry, so it shows what was opened.
    `purpose` is decided and recorded as stated (`baomi.policy.text.stated`: control and
    invisible format characters removed, whitespace collapsed), so a purpose of such
    characters alone is no purpose; None only for a search whose caller asks for none.
    `kind`: the policy object kind where the object type does not say it (filing).

    An allowed break-glass decision carries the `alert_compliance` and `post_review`
    obligations: the door opens the post-review item and alerts compliance before it
    returns (`baomi.access.services.break_glass_opened`).
    Raises `AccessDenied` (with the decision's code and reason, `detail.rule`) when
    refused, `ValidationFailed` (422 `purpose_too_long`, recorded without the purpose)
    for a purpose over `PURPOSE_LIMIT`, `AuditUnavailable` when the record cannot be
    written.
    """
    said = None if purpose is None else stated(purpose)
    # Refused, never cut: the limit is a query request's, so an approved purpose can
    # always be restated, and the ledger records a purpose whole.
    over = too_long("purpose", said or "")
    decision = (
        _deny(over.code, str(over.message), over.code)
        if over is not None
        else decide(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            client_id=client_id,
            level=level,
            purpose=said,
            category=category,
            kind=kind,
        )
    )
    event = DoorEvent(
        actor=actor,
        action=str(action),
        object_type=object_type,
        object_id=object_id,
        client_id=client_id,
        purpose="" if over is not None else said or "",
        decision="allow" if decision.allowed else "deny",
        reason=decision.reason,
        rule=decision.rule,
        level=level,
        fields=tuple(fields),
    )
    try:
        seq = _record(event)
    except BaomiError:
        raise
    except Exception as exc:
        raise AuditUnavailable() from exc
    if not decision.allowed:
        if transaction.get_connection().in_atomic_block:
            _hold_refusal(event, seq)
        if over is not None:
            raise over
        raise AccessDenied(decision.reason, code=decision.code, detail={"rule": decision.rule})
    if "alert_compliance" in decision.obligations and isinstance(actor, User):
        from baomi.access.context import current
        from baomi.access.services import break_glass_opened

        try:
            break_glass_opened(
                actor=actor,
                client_id=int(client_id or 0),
                document_id=int(object_id) if object_type == "document" and object_id.isdigit()
                else None,
                reason=current().break_glass_reason,
            )
        except BaomiError:
            raise
        except Exception as exc:
            raise AuditUnavailable() from exc
    return decision


# ----------------------------------------------------------------------------------------
# Master key provider and client keys
# ----------------------------------------------------------------------------------------

_lock = threading.RLock()
_provider_obj: MasterKeyProvider | None = None
# scope → (wrapped blob the key came from, key). A changed blob (rotation, rewrap) or a
# destroyed row is noticed on the next use because every use re-reads the row.
_key_cache: dict[str, tuple[bytes, Key]] = {}


def _load_provider() -> MasterKeyProvider:
    kind, options = config.master_key_options()
    try:
        if kind == "passphrase":
            path = config.master_key_path()
            passphrase = str(options.get("passphrase") or "")
            if not path.exists() and passphrase:
                suite = get_suite(config.crypto_suite()).name
                PassphraseProvider.create(passphrase, suite=suite).save_params(path)
        return config.master_key_provider()
    except WrongPassphrase as exc:
        raise MasterKeyUnavailable(
            _("Wrong master passphrase (BAOMI_MASTER_PASSPHRASE): nothing can be decrypted."),
            code="wrong_master_passphrase",
        ) from exc
    except (KeyFileError, ProviderError, ValueError) as exc:
        raise MasterKeyUnavailable(
            _("The master key cannot be loaded: %(problem)s") % {"problem": str(exc)}
        ) from exc


def master_provider(*, refresh: bool = False) -> MasterKeyProvider:
    """The configured master-key provider, loaded once per process.

    `refresh` reloads the configuration, which picks up a key that `baomi keys rotate`
    installed while this process was running. Raises `MasterKeyUnavailable`.
    """
    global _provider_obj  # noqa: PLW0603  (one provider per process)
    with _lock:
        if _provider_obj is None or refresh:
            _provider_obj = _load_provider()
        return _provider_obj


def reset_caches() -> None:
    """Forget the provider and every cached client key (tests, key operations)."""
    global _provider_obj  # noqa: PLW0603
    with _lock:
        _provider_obj = None
        _key_cache.clear()
        _index_cache.clear()


def client_scope(client_id: int) -> str:
    return f"client:{client_id}"


FIRM_SCOPE: Final = "firm"
INDEX_SCOPE: Final = "index"


def _suite() -> Any:
    try:
        return get_suite(config.crypto_suite()).name
    except ValueError as exc:
        raise MasterKeyUnavailable(
            _("Unknown BAOMI_CRYPTO_SUITE %(suite)s.") % {"suite": config.crypto_suite()}
        ) from exc


def _unwrap_client_key(scope: str, wrapped: bytes) -> Key:
    try:
        return client_key_unwrap(master_provider(), scope, wrapped)
    except KeyNotAvailable:
        pass
    except DecryptionError as exc:
        raise DocumentCorrupted(
            _("A wrapped client key failed its integrity check."), code="key_corrupted"
        ) from exc
    # The blob names a master key this process has not loaded: a rotation happened
    # since it started. Reload the configuration once and try again.
    try:
        return client_key_unwrap(master_provider(refresh=True), scope, wrapped)
    except KeyNotAvailable as exc:
        raise MasterKeyUnavailable(
            _(
                "The configured master key (id %(have)s) did not wrap this data (wrapped by "
                "%(need)s): wrong master key, or an old key was removed too early."
            )
            % {"have": master_provider().key_id.hex(), "need": wrapped_key_id(wrapped).hex()}
        ) from exc
    except DecryptionError as exc:
        raise DocumentCorrupted(
            _("A wrapped client key failed its integrity check."), code="key_corrupted"
        ) from exc


_KEY_ROWS: Final = Rows(ClientKey)
_KEY_SQL: Final = _KEY_ROWS.where_sql("scope")


def _key_row(scope: str, *, client_id: int | None, create: bool) -> ClientKey | None:
    # Read on every sealed-field and document read: a raw read (`baomi.core.rawrows`)
    # costs a fraction of compiling the ORM query. The row is read every time (never
    # cached), so a destroyed or rotated key takes effect on the very next read.
    found = fetch(cached_sql("vault.client_key", _KEY_SQL), [scope])
    row = _KEY_ROWS.load(found[0]) if found else None
    if row is None and create:
        provider = master_provider()
        key = client_key_new(_suite())
        wrapped = client_key_wrap(provider, scope, key)
        try:
            with transaction.atomic():
                row = ClientKey.objects.create(
                    scope=scope,
                    client_id=client_id,
                    wrapped=wrapped,
                    master_key_id=provider.key_id.hex(),
                    key_id=key.key_id.hex(),
                    suite=key.suite,
                )
        except IntegrityError:
            row = ClientKey.objects.get(scope=scope)
        else:
            with _lock:
                _key_cache[scope] = (wrapped, key)
    if row is not None and (row.destroyed_at is not None or row.wrapped is None):
        raise KeyDestroyed()
    return row


def _key_of(row: ClientKey) -> Key:
    wrapped = bytes(row.wrapped or b"")
    with _lock:
        cached = _key_cache.get(row.scope)
    if cached is not None and cached[0] == wrapped:
        return cached[1]
    key = _unwrap_client_key(row.scope, wrapped)
    with _lock:
        _key_cache[row.scope] = (wrapped, key)
    return key


def _scope_key(scope: str, *, client_id: int | None, create: bool) -> tuple[ClientKey, Key] | None:
    row = _key_row(scope, client_id=client_id, create=create)
    if row is None:
        return None
    return row, _key_of(row)


def _count_use(row: ClientKey, n: int) -> None:
    if n:
        ClientKey.objects.filter(pk=row.pk).update(usage_count=F("usage_count") + n)


_index_cache: dict[str, Key] = {}


def _index_key() -> Key:
    """The firm-wide blind-index key: derived from a random key wrapped by the master key
    (scope ``index``), so it works with every provider kind, HSMs included."""
    found = _scope_key(INDEX_SCOPE, client_id=None, create=True)
    assert found is not None  # noqa: S101  (create=True always returns a row)
    row, key = found
    wrapped = bytes(row.wrapped or b"")
    with _lock:
        cached = _index_cache.get(wrapped.hex())
        if cached is None:
            _index_cache.clear()
            cached = derive_subkey(key, "blind-index")
            _index_cache[wrapped.hex()] = cached
    return cached


# ----------------------------------------------------------------------------------------
# Protected record fields
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """A protected field: its level, and how it is normalized for its blind index
    (`None`: not searchable)."""

    level: Level
    max_length: int
    index: Callable[[str], str] | None = None


PROTECTED_FIELDS: Final[dict[str, dict[str, FieldSpec]]] = {
    "clients.client": {
        "notes": FieldSpec(Level.CONFIDENTIAL, 5000),
        "address": FieldSpec(Level.INTERNAL, 300),
        "bank_account": FieldSpec(Level.CONFIDENTIAL, 64, normalize.account),
        "legal_rep_id_number": FieldSpec(Level.CONFIDENTIAL, 32, normalize.id_number),
    },
    "clients.contact": {
        "mobile": FieldSpec(Level.INTERNAL, 32, normalize.phone),
        "email": FieldSpec(Level.INTERNAL, 254, normalize.email),
        "id_number": FieldSpec(Level.CONFIDENTIAL, 32, normalize.id_number),
        "address": FieldSpec(Level.INTERNAL, 300),
        "notes": FieldSpec(Level.CONFIDENTIAL, 5000),
    },
    "accounts.user": {
        "mobile": FieldSpec(Level.INTERNAL, 32, normalize.phone),
        "id_number": FieldSpec(Level.CONFIDENTIAL, 32, normalize.id_number),
    },
}


def _label(obj: models.Model) -> str:
    return obj._meta.label_lower


def _specs(label: str, fields: Iterable[str]) -> dict[str, FieldSpec]:
    known = PROTECTED_FIELDS.get(label)
    if known is None:
        raise ValueError(f"{label} has no protected fields")
    out = {}
    for name in fields:
        if name not in known:
            raise ValueError(f"{label}.{name} is not a protected field")
        out[name] = known[name]
    return out


def _owner(obj: models.Model) -> tuple[str, int | None, str, Action, Action]:
    """(key scope, client id, object type, read action, write action) of a record."""
    label = _label(obj)
    if label == "clients.client":
        return client_scope(obj.pk), obj.pk, "client", Action.RECORD_READ, Action.RECORD_WRITE
    if label == "clients.contact":
        cid = obj.client_id  # type: ignore[attr-defined]  # Contact.client_id
        return client_scope(cid), cid, "contact", Action.RECORD_READ, Action.RECORD_WRITE
    if label == "accounts.user":
        return FIRM_SCOPE, None, "staff", Action.STAFF_RECORD_READ, Action.STAFF_RECORD_WRITE
    raise ValueError(f"{label} has no protected fields")


def _field_aad(scope: str, label: str, pk: Any, name: str) -> bytes:
    return encode_context("baomi field v1", scope, label, str(pk), name)


def _max_level(specs: Iterable[FieldSpec]) -> str:
    levels = [s.level for s in specs] or [Level.INTERNAL]
    return str(max(levels, key=lambda lv: LEVEL_ORDER[lv]))


def fields_level(obj: models.Model, fields: Sequence[str]) -> str:
    """The level a read of these protected fields of `obj` is decided at (their highest)."""
    return _max_level(_specs(_label(obj), fields).values())


def _validate_values(label: str, values: Mapping[str, str | None]) -> dict[str, str]:
    from baomi.errors import ValidationFailed

    specs = _specs(label, values)
    clean: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name, raw in values.items():
        text = (raw or "").strip()
        spec = specs[name]
        if len(text) > spec.max_length:
            errors.setdefault(name, []).append(
                _("At most %(n)d characters.") % {"n": spec.max_length}
            )
        elif any(not ch.isprintable() and ch not in "\n\t" for ch in text):
            errors.setdefault(name, []).append(_("Control characters are not allowed."))
        clean[name] = text
    if errors:
        raise ValidationFailed(detail={"fields": errors})
    return clean


def record_write(
    *,
    actor: Actor,
    obj: models.Model,
    values: Mapping[str, str | None],
    purpose: str = "",
    _migrating: bool = False,
) -> None:
    """Seal `values` (logical field name → plaintext; blank clears) into `obj`'s
    ``<name>_sealed`` columns, refresh their blind indexes, and save those columns.

    Invariants: `obj` is saved (has a pk, which is bound into each value's AAD with the
    scope, model and field, so values cannot be moved between rows or columns); the
    plaintext is never stored. Ledger event: ``client.update`` / ``staff.manage``.
    Raises `AccessDenied`, `ValidationFailed`, `KeyDestroyed`, `MasterKeyUnavailable`.
    """
    if obj.pk is None:
        raise ValueError("save the record before sealing its fields")
    label = _label(obj)
    clean = _validate_values(label, values)
    specs = _specs(label, clean)
    scope, client_id, otype, _read, write = _owner(obj)
    # The write is decided at the highest level it touches: a value written, or a stored
    # value cleared. Leaving a confidential field empty on a new record touches nothing.
    touched = {
        name: spec
        for name, spec in specs.items()
        if clean[name] or getattr(obj, f"{name}_sealed", None) is not None
    }
    authorize(
        actor=actor,
        action=Action.RECORD_MIGRATE if _migrating else write,
        object_type=otype,
        object_id=str(obj.pk),
        client_id=client_id,
        level=_max_level(touched.values()),
        purpose=purpose,
        fields=tuple(touched),
    )
    found = _scope_key(scope, client_id=client_id, create=True)
    assert found is not None  # noqa: S101
    row, key = found
    update_fields: list[str] = []
    sealed = 0
    for name, text in clean.items():
        spec = specs[name]
        if text:
            value: bytes | None = seal_bytes(
                key, text.encode("utf-8"), _field_aad(scope, label, obj.pk, name)
            )
            sealed += 1
        else:
            value = None
        setattr(obj, f"{name}_sealed", value)
        update_fields.append(f"{name}_sealed")
        if spec.index is not None:
            token = _token(label, name, text, spec) if text else ""
            setattr(obj, f"{name}_bidx", token)
            update_fields.append(f"{name}_bidx")
    obj.save(update_fields=update_fields)
    _count_use(row, sealed)


def record_migrate(*, obj: models.Model, values: Mapping[str, str | None]) -> None:
    """Seal values a schema migration moves out of old plaintext columns (system actor
    ``migration``; ledger event ``record.migrate``)."""
    record_write(actor=SystemActor("migration"), obj=obj, values=values, _migrating=True)


def _token(label: str, name: str, text: str, spec: FieldSpec) -> str:
    assert spec.index is not None  # noqa: S101
    normalized = spec.index(text)
    return blind_index(_index_key(), f"{label}.{name}", normalized) if normalized else ""


def record_present(obj: models.Model, name: str) -> bool:
    """Whether a protected field holds a value (no decryption, no decision needed)."""
    _specs(_label(obj), [name])
    return getattr(obj, f"{name}_sealed", None) is not None


def record_read(
    *, actor: Actor, obj: models.Model, fields: Sequence[str], purpose: str
) -> dict[str, str]:
    """Open protected fields of one record for `actor`, for `purpose`.

    Returns field → plaintext ("" where no value is stored). Ledger event:
    ``client.sensitive.read`` / ``staff.sensitive.read`` with the purpose.
    Raises `AccessDenied` (code `purpose_required` without a purpose), `KeyDestroyed`,
    `RecordCorrupted` (a tampered or moved value), `MasterKeyUnavailable`.
    """
    label = _label(obj)
    specs = _specs(label, fields)
    scope, client_id, otype, read, _write = _owner(obj)
    authorize(
        actor=actor,
        action=read,
        object_type=otype,
        object_id=str(obj.pk),
        client_id=client_id,
        level=_max_level(specs.values()),
        purpose=purpose,
        fields=tuple(specs),
    )
    out = {name: "" for name in specs}
    stored = {n: getattr(obj, f"{n}_sealed", None) for n in specs}
    if all(v is None for v in stored.values()):
        # Nothing sealed; still refuse if the key was destroyed so that "destroyed" is
        # reported consistently.
        _key_row(scope, client_id=client_id, create=False)
        return out
    found = _scope_key(scope, client_id=client_id, create=False)
    if found is None:
        raise RecordCorrupted()
    _row, key = found
    for name, blob in stored.items():
        if blob is None:
            continue
        try:
            out[name] = open_bytes(key, bytes(blob), _field_aad(scope, label, obj.pk, name)).decode(
                "utf-8"
            )
        except (DecryptionError, UnicodeDecodeError) as exc:
            raise RecordCorrupted(detail={"field": name}) from exc
    return out


def search_token(
    *,
    actor: Actor,
    model: type[models.Model],
    field_name: str,
    value: str,
    purpose: str | None = None,
) -> str:
    """Blind-index token for an exact-match search of `model.field_name` = `value`.

    A match confirms the value, so the search is decided as a read of the field at its
    level (`spec.level`): clearance, a second factor from 机密 up, agreement and
    training, and `purpose` (F08): a blank purpose, or one that states nothing, is refused
    (`purpose_required`) for a field of 内部 and above. None means the caller asks for
    none: only the import's duplicate check (a value the importer is writing, not a
    query); every search a person makes (the API, the client list) passes theirs.
    Filter with ``<field>_bidx=token`` and then restrict to what `actor` may see.
    Returns "" for a value that normalizes to nothing. Ledger event: ``record.search``
    with the level and the purpose (the value itself is never recorded), allowed or
    refused. Raises `AccessDenied` with the policy's reason.
    """
    label = model._meta.label_lower
    spec = _specs(label, [field_name])[field_name]
    if spec.index is None:
        raise ValueError(f"{label}.{field_name} has no blind index")
    object_type = label.split(".")[1]
    authorize(
        actor=actor,
        action=Action.RECORD_SEARCH,
        object_type=object_type,
        object_id=field_name,
        client_id=None,
        level=str(spec.level),
        purpose=purpose,
        category=_RECORD_CATEGORIES.get(object_type, ""),
    )
    return _token(label, field_name, value, spec)


def search_reach(
    *,
    actor: User,
    model: type[models.Model],
    field_names: Sequence[str],
    client_ids: Iterable[int],
    purpose: str | None = None,
) -> set[int]:
    """Of `client_ids` (clients with a match for a search of `model`'s `field_names`),
    those whose every such field `actor` may read at its level: a match confirms the
    values, so it is
    shown only where reading it would be allowed (reach included: an administrator
    reads 机密 only of clients assigned to them). `search_token` decided the conditions
    on the actor and the purpose; this decides, per client, everything else, and, given
    the search's `purpose`, reads a query request grants only for the purpose it was
    approved for (`purpose_not_approved`). Records nothing: the search is recorded
    already."""
    from baomi import policy
    from baomi.access import selectors as access
    from baomi.clients.models import Client

    ids = set(client_ids)
    if not ids:
        return set()
    label = model._meta.label_lower
    levels = {policy.Level(str(spec.level)) for spec in _specs(label, field_names).values()}
    object_type = label.split(".")[1]
    category = _RECORD_CATEGORIES.get(object_type, "")
    departments = dict(Client.objects.filter(pk__in=ids).values_list("pk", "department_id"))
    facts = access.facts_for(actor)
    who, now, config = access.policy_actor(actor), timezone.now(), access.policy_config()
    said = None if purpose is None else stated(purpose)

    def readable(resource: policy.Resource) -> bool:
        read = policy.Action.CLIENT_SENSITIVE_READ
        if said is None:
            return policy.permitted(who, read, resource, facts, now, config=config)
        return policy.decide(who, read, resource, said, now, facts, config).allowed

    return {
        client_id
        for client_id, department in departments.items()
        if all(
            readable(
                policy.Resource(
                    kind=policy.ObjectKind.RECORD,
                    client_id=client_id,
                    client_department=department,
                    level=level,
                    category=policy.Category(category) if category else None,
                )
            )
            for level in levels
        )
    }


# ----------------------------------------------------------------------------------------
# Documents
# ----------------------------------------------------------------------------------------

_READ_BLOCK: Final = 1024 * 1024


def _version_object_id(uid: uuid.UUID) -> str:
    return f"document-version:{uid}"


def _document_aad(scope: str, uid: uuid.UUID) -> bytes:
    return encode_context("baomi document v1", scope, str(uid))


@dataclass
class UploadSession:
    """One file being sealed into the blob store as it arrives.

    Created by `upload_begin` (after the decision); `write` plaintext pieces, then
    `finish`; `document_upload` / `document_version_add` then decide the label it is
    filed under (`upload_file`) and attach it to a new `DocumentVersion`
    (`upload_attach`), or `abort` discards it. Holds one data key in memory, never on
    disk. `document_id`, `level` and `category` say what `upload_begin` decided: a new
    version of that document at its label, or ("" label) only the client.
    """

    client_id: int
    scope: str
    uid: uuid.UUID
    blob_key: str
    filename: str
    content_type: str
    limit: int
    _data_key: Key
    _wrapped: bytes
    _generation: int
    _writer: BlobWriter
    _sealer: StreamSealer
    _sha: Any = field(default_factory=hashlib.sha256)
    size: int = 0
    state: str = "open"
    document_id: int | None = None
    level: str = ""
    category: str = ""

    def write(self, data: bytes | memoryview) -> None:
        """Seal and store one piece of plaintext. Raises `UploadTooLarge` (and aborts)."""
        if self.state != "open":
            raise ValueError(f"upload is {self.state}")
        self.size += len(data)
        if self.size > self.limit:
            self.abort()
            raise UploadTooLarge(detail={"limit_bytes": self.limit})
        self._sha.update(data)
        write = self._writer.write
        for chunk in self._sealer.iter_update(data):
            write(chunk)

    def finish(self) -> None:
        """Seal the last chunk. Raises `UploadRejected` (code `empty_file`) if empty."""
        if self.state != "open":
            raise ValueError(f"upload is {self.state}")
        if self.size == 0:
            self.abort()
            raise UploadRejected(_("The file is empty."), code="empty_file")
        self._writer.write(self._sealer.finalize())
        self.state = "finished"

    @property
    def sha256(self) -> str:
        return str(self._sha.hexdigest())

    def abort(self) -> None:
        """Discard everything written (idempotent); a committed blob is deleted."""
        if self.state in {"aborted", "attached"}:
            return
        committed = self.state == "committed"
        self.state = "aborted"
        if committed:
            blob_store().delete(self.blob_key)
        else:
            self._writer.abort()


def upload_begin(
    *,
    actor: Actor,
    client_id: int,
    document: Document | None,
    filename: str,
    content_type: str,
    limit: int,
) -> UploadSession:
    """Decide and record an upload to `client_id` (a new document, or a new version of
    `document`), then open a sealed blob for it. Ledger event: ``document.upload`` /
    ``document.version``. Raises `AccessDenied`, `KeyDestroyed`, `MasterKeyUnavailable`.

    A new document's label is not known yet when its first byte arrives (a form may send
    the file before its level), so this decides only whether `actor` may upload to the
    client at all; the label it is filed under is decided by `upload_file` before the
    document is stored. A new version is decided here at the document's label.
    """
    authorize(
        actor=actor,
        action=Action.DOCUMENT_VERSION if document is not None else Action.DOCUMENT_UPLOAD,
        object_type="document",
        object_id=str(document.pk) if document is not None else "new",
        client_id=client_id,
        level=document.level if document is not None else "",
        category=document.category if document is not None else "",
    )
    scope = client_scope(client_id)
    found = _scope_key(scope, client_id=client_id, create=True)
    assert found is not None  # noqa: S101
    row, ckey = found
    uid = uuid.uuid4()
    data_key = data_key_new(ckey.suite)
    wrapped = data_key_wrap(ckey, scope, _version_object_id(uid), data_key)
    _count_use(row, 1)
    blob_key = f"c{client_id}/{uid.hex[:2]}/{uid.hex}.bms"
    writer = blob_store().open_writer(blob_key)
    sealer = StreamSealer(data_key, _document_aad(scope, uid), chunk_size=DEFAULT_CHUNK_SIZE)
    session = UploadSession(
        client_id=client_id,
        scope=scope,
        uid=uid,
        blob_key=blob_key,
        filename=filename,
        content_type=content_type,
        limit=limit,
        _data_key=data_key,
        _wrapped=wrapped,
        _generation=row.generation,
        _writer=writer,
        _sealer=sealer,
        document_id=document.pk if document is not None else None,
        level=document.level if document is not None else "",
        category=document.category if document is not None else "",
    )
    try:
        writer.write(sealer.header())
    except BaseException:
        session.abort()
        raise
    return session


def _higher(a: str, b: str) -> str:
    """The higher of two level codes (an unknown code counts as the highest, and the door
    then refuses it: fail closed)."""

    def rank(code: str) -> int:
        return LEVEL_ORDER[Level(code)] if code in Level.values else len(LEVEL_ORDER)

    return a if rank(a) >= rank(b) else b


def upload_file(
    *,
    actor: Actor,
    session: UploadSession,
    level: str,
    category: str,
    document: Document | None = None,
) -> None:
    """Decide and record filing `session` under `level`/`category`: as a new document of
    its client (`document` None; ledger ``document.upload``, object ``new``) or as a new
    version of `document` at that document's label (``document.version``). Call before
    anything is stored, with the label the document is stored under.

    A version already decided by `upload_begin` at this very label is not decided again;
    a document relabelled since (or a session begun for something else) is. A new
    document is decided as a document (scopes of client authorizations apply), at its
    own level and category, never at the client's. On refusal the session is aborted
    (its blob deleted) and `AccessDenied` raised; `AuditUnavailable` when the entry
    cannot be written (the session is aborted too).
    """
    if level not in Level.values:
        # Never decided at the client's level instead: the caller validates the label.
        session.abort()
        raise ValueError(f"a document is filed at a level, not {level!r}")
    if (
        document is not None
        and session.document_id == document.pk
        and (session.level, session.category) == (level, category)
    ):
        return
    try:
        authorize(
            actor=actor,
            action=Action.DOCUMENT_VERSION if document is not None else Action.DOCUMENT_UPLOAD,
            object_type="document",
            object_id=str(document.pk) if document is not None else "new",
            client_id=session.client_id,
            level=level,
            category=category,
            kind="document",
        )
    except BaseException:
        session.abort()
        raise
    session.document_id = document.pk if document is not None else None
    session.level, session.category = level, category


def document_classify_authorize(
    *, actor: Actor, document: Document, level: str, category: str
) -> Decision:
    """Decide and record relabelling `document` to `level`/`category` (no decryption);
    call before the label changes. Ledger event: ``document.classify`` (allowed or
    refused, with the rule and the level decided at).

    Decided at the higher of the current and the new level, so a relabel can neither
    take a document out from under its level's conditions (an unassigned administrator
    lowering 绝密 to 公开, then reading it) nor put one above what the actor may touch.
    The category is the current one; the new one is decided as well where the actor's
    matrix row for the action could depend on a category (query-request or
    client-authorization scopes name categories). Raises `AccessDenied` with the
    decision's reason, `AuditUnavailable`.
    """
    from baomi import policy

    categories = [document.category]
    if category != document.category and isinstance(actor, User):
        role = policy.Role(actor.role) if actor.role in policy.Role._value2member_map_ else None
        scoped = {
            policy.Req.REQUEST,
            policy.Req.ASSIGNED_REQUEST,
            policy.Req.ASSIGNED_OR_REQUEST,
            policy.Req.AUTHORIZED,
        }
        if role is None or scoped & set(policy.cells(role, policy.Action.DOCUMENT_CLASSIFY)):
            categories.append(category)
    at = _higher(document.level, level)
    for decided_category in categories:
        decision = authorize(
            actor=actor,
            action=Action.DOCUMENT_CLASSIFY,
            object_type="document",
            object_id=str(document.pk),
            client_id=document.client_id,
            level=at,
            category=decided_category,
        )
    return decision


def document_classify_levels(
    *, actor: Actor, document: Document, facts: Facts | None = None
) -> list[str]:
    """The levels `actor` may set `document` to (lowest first): those at which
    `document_classify_authorize` would allow the relabel, decided as it decides, at the
    higher of the current level and that one, on the current category.

    For pages and API answers that offer only what is allowed; it decides and records
    nothing, and the door still decides each relabel (a forged choice is refused and
    recorded). Empty when the actor may not relabel the document at all. `facts`: the
    actor's facts when the caller gathered them once for many documents (they must cover
    the document's client); else gathered for its client. The document's client is read
    for its department (`select_related("client")` spares a query per document).
    """
    from baomi import policy
    from baomi.access import selectors as access

    if not isinstance(actor, User) or document.level not in Level.values:
        return []
    if not actor.is_active or actor.status == StaffStatus.LEFT:
        return []
    if facts is None:
        facts = access.facts_for(actor, client_id=document.client_id)
    who, now, config = access.policy_actor(actor), timezone.now(), access.policy_config()
    base = access.document_resource(document)
    return [
        level
        for level in Level.values
        if policy.permitted(
            who,
            policy.Action.DOCUMENT_CLASSIFY,
            dataclasses.replace(base, level=policy.Level(_higher(document.level, level))),
            facts,
            now,
            config=config,
        )
    ]


def upload_attach(session: UploadSession, version: DocumentVersion) -> None:
    """Fill `version`'s sealed-content fields from a finished upload, save it and make
    the blob visible. Call inside the transaction that creates the version; on any
    later failure call `session.abort()` (it then deletes the blob).

    If the client key was rotated while the file was arriving, the data key is wrapped
    again under the new client key. Raises `KeyDestroyed` if it was destroyed.
    """
    if session.state != "finished":
        raise ValueError(f"upload is {session.state}")
    row = ClientKey.objects.select_for_update().filter(scope=session.scope).first()
    if row is None or row.destroyed_at is not None or row.wrapped is None:
        session.abort()
        raise KeyDestroyed()
    wrapped = session._wrapped
    if row.generation != session._generation:
        wrapped = data_key_wrap(
            _key_of(row), session.scope, _version_object_id(session.uid), session._data_key
        )
    version.uid = session.uid
    version.wrapped_data_key = wrapped
    version.blob_key = session.blob_key
    version.size = session.size
    version.sha256 = session.sha256
    version.sealed_size = sealed_size(session.size, DEFAULT_CHUNK_SIZE)
    version.content_type = session.content_type
    version.original_filename = session.filename
    version.save()
    session._writer.commit()
    session.state = "committed"


def upload_done(session: UploadSession) -> None:
    """Mark a committed upload as belonging to a committed version (abort is a no-op)."""
    if session.state == "committed":
        session.state = "attached"


#: Pieces (of 1 MiB) a download reads and decrypts ahead of the one being sent.
_AHEAD: Final = 2


def _read_ahead(pieces: Iterator[bytes], depth: int = _AHEAD) -> Iterator[bytes]:
    """Yield what `pieces` yields, produced in a helper thread up to `depth` pieces ahead.

    Reading and decrypting the next piece then overlaps sending this one: file reads,
    the AEAD and socket writes all release the GIL. An exception in the producer is
    raised here, in sequence, after the pieces before it. Closing this generator stops
    the producer and waits for it, so `pieces` (and its file) is never touched after
    this returns.
    """
    items: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[int, Any]) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for piece in pieces:
                if not put((0, piece)):
                    return
            put((1, None))
        except BaseException as exc:  # handed to the consumer
            put((2, exc))

    worker = threading.Thread(target=produce, name="baomi-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = items.get()
            if kind == 1:
                return
            if kind == 2:
                raise value
            yield value
    finally:
        stop.set()
        worker.join()
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


@dataclass
class OpenedVersion:
    """A version whose content has been verified and may be streamed (twice if need be).

    `size` is the plaintext size; `chunks()` yields the plaintext again from the blob
    (each piece authenticated; a blob changed after verification stops the stream with
    `DocumentCorrupted` and a short body, which the client sees against Content-Length);
    `copy_to(dst)` writes it to a file object.
    """

    version: DocumentVersion
    size: int
    _key: Key
    _aad: bytes

    def _open_blob(self) -> BinaryIO:
        try:
            return blob_store().get_stream(self.version.blob_key)
        except BlobMissing as exc:
            raise DocumentCorrupted(_("The stored document is missing.")) from exc

    def chunks(self, block: int = _READ_BLOCK) -> Generator[bytes, None, None]:
        src = self._open_blob()
        try:
            # Pieces of at least `block` bytes, each a fresh `bytes` (what WSGI servers
            # take): a 1 MiB chunk is decrypted straight into its piece; older blobs'
            # 64 KiB chunks are decrypted into one reused buffer and copied out once.
            # Read-ahead overlaps decrypting the next piece with sending this one.
            yield from _read_ahead(open_file_iter(src, self._key, self._aad, piece_size=block))
        except DecryptionError as exc:
            raise DocumentCorrupted() from exc
        finally:
            src.close()

    def copy_to(self, dst: BinaryIO) -> int:
        src = self._open_blob()
        try:
            return open_file(src, dst, self._key, self._aad)
        except DecryptionError as exc:
            raise DocumentCorrupted() from exc
        finally:
            src.close()


def document_open(
    *, actor: Actor, version: DocumentVersion, purpose: str, action: Action = Action.DOCUMENT_READ
) -> OpenedVersion:
    """Decide, record, then unwrap and verify one document version for reading.

    The whole sealed blob is authenticated before this returns (`verify_file`: a pass
    that discards the plaintext, split between two threads for a local blob), so a
    corrupted, truncated or swapped blob is reported as `DocumentCorrupted` and never
    served. Ledger event: ``document.read`` with the
    purpose. Raises `AccessDenied`, `KeyDestroyed`, `DocumentCorrupted`,
    `MasterKeyUnavailable`.
    """
    document = version.document
    authorize(
        actor=actor,
        action=action,
        object_type="document",
        object_id=str(document.pk),
        client_id=document.client_id,
        level=document.level,
        purpose=purpose,
        category=document.category,
    )
    scope = client_scope(document.client_id)
    opened: OpenedVersion | None = None
    for attempt in range(2):
        found = _scope_key(scope, client_id=document.client_id, create=False)
        if found is None:
            raise DocumentCorrupted(_("The client's key is missing."))
        try:
            data_key = data_key_unwrap(
                found[1], scope, _version_object_id(version.uid), bytes(version.wrapped_data_key)
            )
        except DecryptionError as exc:
            if attempt == 0:
                # A client-key rotation may have committed between reading the key and
                # the version; read both again once before calling it corruption.
                version.refresh_from_db(fields=["wrapped_data_key"])
                continue
            raise DocumentCorrupted() from exc
        opened = OpenedVersion(version, version.size, data_key, _document_aad(scope, version.uid))
        break
    assert opened is not None  # noqa: S101
    src = opened._open_blob()
    try:
        # Both cores when the blob is a local file: reads and the AEAD release the GIL.
        plain = verify_file(src, opened._key, opened._aad)
    except DecryptionError as exc:
        raise DocumentCorrupted() from exc
    finally:
        src.close()
    if plain != version.size:
        raise DocumentCorrupted()
    return opened


def document_metadata(*, actor: Actor, document: Document) -> Decision:
    """Decide and record a read of one document's metadata (title, level, versions; no
    decryption). Ledger event: ``document.metadata``. Raises `AccessDenied` (callers
    answer 404 so that a document's existence is not revealed), `AuditUnavailable`.
    """
    return authorize(
        actor=actor,
        action=Action.DOCUMENT_METADATA,
        object_type="document",
        object_id=str(document.pk),
        client_id=document.client_id,
        level=document.level,
        category=document.category,
    )


def _sealed_file_aad(obj: models.Model, name: str) -> bytes:
    return encode_context("baomi sealed file v1", FIRM_SCOPE, _label(obj), str(obj.pk), name)


def sealed_file_write(*, actor: Actor, obj: models.Model, name: str, data: bytes) -> None:
    """Seal a small governance file (a signed agreement scan) under the firm key into
    ``obj.<name>_sealed`` and save it. Ledger event: ``sealed_file.write``.
    Raises `AccessDenied`, `MasterKeyUnavailable`."""
    if obj.pk is None:
        raise ValueError("save the record before sealing a file into it")
    authorize(
        actor=actor,
        action=Action.SEALED_FILE_WRITE,
        object_type=_label(obj),
        object_id=str(obj.pk),
        client_id=None,
        level=str(Level.CONFIDENTIAL),
    )
    found = _scope_key(FIRM_SCOPE, client_id=None, create=True)
    assert found is not None  # noqa: S101  (create=True always returns a row)
    row, key = found
    setattr(obj, f"{name}_sealed", seal_bytes(key, data, _sealed_file_aad(obj, name)))
    obj.save(update_fields=[f"{name}_sealed"])
    _count_use(row, 1)


def sealed_file_read(*, actor: Actor, obj: models.Model, name: str, purpose: str) -> bytes:
    """Open a file sealed by `sealed_file_write`. Ledger event: ``sealed_file.read``.
    Raises `AccessDenied`, `RecordCorrupted`, `MasterKeyUnavailable`."""
    authorize(
        actor=actor,
        action=Action.SEALED_FILE_READ,
        object_type=_label(obj),
        object_id=str(obj.pk),
        client_id=None,
        level=str(Level.CONFIDENTIAL),
        purpose=purpose,
    )
    blob = getattr(obj, f"{name}_sealed", None)
    if blob is None:
        return b""
    found = _scope_key(FIRM_SCOPE, client_id=None, create=False)
    if found is None:
        raise RecordCorrupted()
    try:
        return open_bytes(found[1], bytes(blob), _sealed_file_aad(obj, name))
    except DecryptionError as exc:
        raise RecordCorrupted(detail={"field": name}) from exc


# ----------------------------------------------------------------------------------------
# Key operations
# ----------------------------------------------------------------------------------------


def master_rewrap_all(
    *, actor: Actor, progress: Callable[[int, int, str], None] | None = None
) -> tuple[int, int]:
    """Re-wrap every client key still wrapped by an older master key under the current
    one (online: each row is its own short transaction; readers pick up either blob).

    Resumable: rows already under the current key are skipped, so a crash or ^C can
    be followed by running it again. Returns (re-wrapped, total). Ledger event:
    ``key.rewrap`` per key. Raises `AccessDenied`, `MasterKeyUnavailable`.
    """
    provider = master_provider(refresh=True)
    current = provider.key_id.hex()
    rows = list(
        ClientKey.objects.filter(destroyed_at__isnull=True)
        .exclude(master_key_id=current)
        .values_list("pk", "scope")
    )
    done = 0
    for n, (pk, scope) in enumerate(rows, 1):
        authorize(
            actor=actor,
            action=Action.KEY_REWRAP,
            object_type="client_key",
            object_id=scope,
            client_id=None,
        )
        done += _with_retry(functools.partial(_rewrap_one, provider, pk, scope))
        if progress is not None:
            progress(n, len(rows), scope)
    return done, len(rows)


def _rewrap_one(provider: MasterKeyProvider, pk: int, scope: str) -> int:
    with transaction.atomic():
        row = ClientKey.objects.select_for_update().filter(pk=pk).first()
        if row is None or row.wrapped is None or row.destroyed_at is not None:
            return 0
        blob = bytes(row.wrapped)
        if wrapped_key_id(blob) == provider.key_id:
            return 0
        try:
            new_blob = client_key_rewrap(provider, provider, scope, blob)
        except KeyNotAvailable as exc:
            raise MasterKeyUnavailable(
                _("Client key %(scope)s was wrapped by a master key that is not configured.")
                % {"scope": scope}
            ) from exc
        row.wrapped = new_blob
        row.master_key_id = provider.key_id.hex()
        row.master_rewrapped_at = timezone.now()
        row.save(update_fields=["wrapped", "master_key_id", "master_rewrapped_at"])
        return 1


def _with_retry(step: Callable[[], int], attempts: int = 40, busy_attempts: int = 3) -> int:
    """Run one short write transaction, retrying while SQLite reports lock contention
    (an online rotation must not fail because people work meanwhile). SQLITE_LOCKED
    comes at once and is retried up to `attempts` times; SQLITE_BUSY comes only after
    the 20 s busy timeout, so it is tried at most `busy_attempts` times in all."""
    busy_left = busy_attempts
    for attempt in range(attempts):
        try:
            return step()
        except OperationalError as exc:
            if busy(exc):
                busy_left -= 1
            elif not table_locked(exc):
                raise
            if busy_left <= 0 or attempt == attempts - 1:
                raise
            time.sleep(min(0.5, 0.01 * (attempt + 1)))
    return 0


def rotation_backlog() -> int:
    """How many live client keys are still wrapped by an older master key."""
    current = master_provider(refresh=True).key_id.hex()
    return (
        ClientKey.objects.filter(destroyed_at__isnull=True).exclude(master_key_id=current).count()
    )


def _reseal_fields(obj: models.Model, old: Key, new: Key, scope: str) -> int:
    label = _label(obj)
    changed: list[str] = []
    for name in PROTECTED_FIELDS[label]:
        blob = getattr(obj, f"{name}_sealed", None)
        if blob is None:
            continue
        aad = _field_aad(scope, label, obj.pk, name)
        try:
            plain = open_bytes(old, bytes(blob), aad)
        except DecryptionError as exc:
            raise RecordCorrupted(detail={"field": name}) from exc
        setattr(obj, f"{name}_sealed", seal_bytes(new, plain, aad))
        changed.append(f"{name}_sealed")
    if changed:
        obj.save(update_fields=changed)
    return len(changed)


def client_key_rotate(*, actor: Actor, client: Client) -> dict[str, int]:
    """Replace a client's key: new key, every data key re-wrapped, every record field
    re-sealed, all in one transaction (readers see the old or the new state, never a
    mix). Documents are not re-encrypted. Returns counts. Ledger event: ``key.rotate``.
    Raises `AccessDenied`, `KeyDestroyed`, `DocumentCorrupted`, `RecordCorrupted`.
    """
    from baomi.clients.models import Contact

    scope = client_scope(client.pk)
    authorize(
        actor=actor,
        action=Action.KEY_ROTATE,
        object_type="client_key",
        object_id=scope,
        client_id=client.pk,
    )
    _key_row(scope, client_id=client.pk, create=True)
    with transaction.atomic():
        row = ClientKey.objects.select_for_update().get(scope=scope)
        if row.destroyed_at is not None or row.wrapped is None:
            raise KeyDestroyed()
        old = _key_of(row)
        new = client_key_new(_suite())
        versions = 0
        for version in DocumentVersion.objects.filter(document__client_id=client.pk).only(
            "pk", "uid", "wrapped_data_key"
        ):
            oid = _version_object_id(version.uid)
            try:
                dk = data_key_unwrap(old, scope, oid, bytes(version.wrapped_data_key))
            except DecryptionError as exc:
                raise DocumentCorrupted() from exc
            version.wrapped_data_key = data_key_wrap(new, scope, oid, dk)
            version.save(update_fields=["wrapped_data_key"])
            versions += 1
        client.refresh_from_db()
        fields = _reseal_fields(client, old, new, scope)
        for contact in Contact.objects.filter(client_id=client.pk):
            fields += _reseal_fields(contact, old, new, scope)
        provider = master_provider()
        row.wrapped = client_key_wrap(provider, scope, new)
        row.master_key_id = provider.key_id.hex()
        row.key_id = new.key_id.hex()
        row.suite = new.suite
        row.generation += 1
        row.rotated_at = timezone.now()
        row.usage_count = versions + fields
        row.save()
    with _lock:
        _key_cache.pop(scope, None)
    return {"data_keys": versions, "fields": fields, "generation": row.generation}


def client_key_destroy(*, actor: Actor, client: Client) -> ClientKey:
    """Crypto-shred a client: delete its wrapped key, so every document and protected
    field of the client becomes unreadable, everywhere, for good. Later reads and
    writes raise `KeyDestroyed`; no new key is ever created for the client.

    Ledger event: ``key.destroy``. Raises `AccessDenied`.
    """
    scope = client_scope(client.pk)
    authorize(
        actor=actor,
        action=Action.KEY_DESTROY,
        object_type="client_key",
        object_id=scope,
        client_id=client.pk,
    )
    now = timezone.now()
    sqlite = transaction.get_connection().vendor == "sqlite"
    before = _secure_delete_get() if sqlite else 0
    try:
        with transaction.atomic():
            if sqlite:
                # Zero the freed bytes of the deleted key in the database file, and once
                # committed move the pages into it and empty the WAL (server processes
                # keep the WAL file: baomi/core/walkeeper.py), so no page image of the old
                # key row outlives the destruction in SQLite's files.
                _secure_delete_set(1)
                transaction.on_commit(_truncate_wal)
            row, _created = ClientKey.objects.select_for_update().get_or_create(
                scope=scope,
                defaults={
                    "client": client, "suite": _suite(), "wrapped": None, "destroyed_at": now
                },
            )
            if row.destroyed_at is None:
                row.wrapped = None
                row.destroyed_at = now
                row.save(update_fields=["wrapped", "destroyed_at"])
            # The data keys are useless without the client key; remove them as well so no
            # copy of this database can be combined with an old copy of the key row.
            DocumentVersion.objects.filter(document__client_id=client.pk).update(
                wrapped_data_key=b""
            )
    finally:
        if sqlite:
            # The setting acts as rows are changed (above); the connection lives on for
            # later requests (CONN_MAX_AGE) and gets back the setting it had (builds with
            # SQLITE_SECURE_DELETE, Debian's among them, start with it on). A connection
            # too broken to reset reports the original error.
            with contextlib.suppress(DatabaseError):
                _secure_delete_set(before)
    with _lock:
        _key_cache.pop(scope, None)
    return row


def _secure_delete_get() -> int:
    with transaction.get_connection().cursor() as cursor:
        cursor.execute("PRAGMA secure_delete")
        return int(cursor.fetchone()[0])


def _secure_delete_set(value: int) -> None:
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(f"PRAGMA secure_delete={int(value)}")


def _truncate_wal() -> None:
    try:
        with transaction.get_connection().cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except OperationalError:  # readers kept it from completing: the next one will
        pass


def key_status() -> list[dict[str, Any]]:
    """One row per key: scope, suite, key id, master key id, ages, usage, state (no
    decision: metadata only)."""
    now = timezone.now()
    current = ""
    try:
        current = master_provider(refresh=True).key_id.hex()
    except MasterKeyUnavailable:
        current = ""
    out: list[dict[str, Any]] = []
    for row in ClientKey.objects.order_by("id"):
        since = row.rotated_at or row.created_at
        out.append(
            {
                "scope": row.scope,
                "suite": row.suite,
                "key_id": row.key_id,
                "master_key_id": row.master_key_id,
                "needs_rewrap": bool(current) and row.master_key_id != current,
                "age_days": (now - since).days,
                "created_at": row.created_at,
                "rotated_at": row.rotated_at,
                "generation": row.generation,
                "usage_count": row.usage_count,
                "destroyed_at": row.destroyed_at,
            }
        )
    return out
