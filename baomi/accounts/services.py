"""Writes for accounts: users, sessions, API tokens and two-factor devices.

Every function takes keyword-only arguments and runs in a transaction. Functions that
end access (deactivation, revocation) act immediately: sessions are deleted server-side
and tokens are revoked in the same transaction as the status change.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from baomi.accounts.models import (
    NOT_STAFF_ROLES,
    ApiToken,
    Department,
    EndedSession,
    Level,
    RecoveryCode,
    Role,
    StaffStatus,
    User,
    UserSession,
)
from baomi.accounts.security import normalize_username
from baomi.audit.events import record
from baomi.core.rawrows import Rows, cached_sql, fetch
from baomi.errors import AccessDenied, Conflict, InvalidInput, NotFound, ValidationFailed
from baomi.vault.validate import checked_sealed

TOKEN_PREFIX = "bm_"  # noqa: S105  (a public prefix, not a secret)
RECOVERY_CODE_COUNT = 10


def _field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(detail={"fields": {field: [message]}})


# Characters no name, e-mail address, department or post holds: control characters (Cc:
# NUL, which PostgreSQL cannot store in text, escapes, newlines), invisible format
# characters (Cf: zero-width, bidirectional overrides), lone surrogates (Cs: no encoding
# holds them) and line or paragraph separators.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _has_control(text: str) -> bool:
    return not text.isprintable() and any(
        unicodedata.category(ch) in _CONTROL_CATEGORIES for ch in text
    )


def check_staff_text(**values: str | None) -> None:
    """Refuse profile text (None: not given) holding control or invisible characters
    (`_CONTROL_CATEGORIES`), before anything is looked up or written: ValidationFailed
    naming each such field."""
    errors = {
        name: [_("Control characters are not allowed.")]
        for name, value in values.items()
        if value and _has_control(value)
    }
    if errors:
        raise ValidationFailed(detail={"fields": errors})


def user_create(
    *,
    username: str,
    password: str | None,
    role: str,
    display_name: str = "",
    email: str = "",
    department: Department | None = None,
    post: str = "",
    clearance: str = Level.INTERNAL,
    portal_client_id: int | None = None,
    validate: bool = True,
    actor: User | str = "system",
) -> User:
    """Create a user with a normalized username. Raises ValidationFailed / Conflict.

    Ledger: `staff.create` (role and clearance in the reason), in the same transaction.
    """
    name = normalize_username(username)
    if not name or len(name) > 150 or any(ch.isspace() or not ch.isprintable() for ch in name):
        raise _field_error("username", _("Enter a username without spaces."))
    if role not in Role.values:
        raise _field_error("role", _("Unknown role."))
    if clearance not in Level.values:
        raise _field_error("clearance", _("Unknown classification level."))
    check_staff_text(display_name=display_name, email=email, post=post)
    if role == Role.CLIENT and portal_client_id is None:
        raise _field_error("portal_client", _("A client user must belong to a client company."))
    user = User(
        username=name,
        role=role,
        display_name=display_name.strip(),
        email=email.strip(),
        department=department,
        post=post.strip(),
        clearance=clearance,
        portal_client_id=portal_client_id,
        is_staff=False,
        is_superuser=False,
    )
    if password is None:
        user.set_unusable_password()
    else:
        if validate:
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise ValidationFailed(detail={"fields": {"password": list(exc.messages)}}) from exc
        user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            record(actor, "staff.create", object_type="user", object_id=user.pk,
                   client_id=portal_client_id,
                   reason=f"role={user.role} clearance={user.clearance}")
    except IntegrityError as exc:
        raise Conflict(_("This username is already taken."), code="username_taken") from exc
    return user


def user_update(
    *,
    user: User,
    display_name: str | None = None,
    email: str | None = None,
    department: Department | None = None,
    post: str | None = None,
    role: str | None = None,
    clearance: str | None = None,
    clear_department: bool = False,
    actor: User | str = "system",
    skip_unchanged: bool = False,
) -> User:
    """Update profile fields of a staff member (None: unchanged; `clear_department`
    takes the person out of their department; `skip_unchanged`: write and record nothing
    when no field changes). Raises ValidationFailed.

    Ledger: `staff.update`; a role, clearance or department change is a permission
    change and names old and new values in the reason. A new role, or moving someone
    out of a department they had, is a transfer (调岗): callers go through
    `staff_change` (or `baomi.access.services.staff_transfer`), which ends their grants
    first.
    """
    check_staff_text(display_name=display_name, email=email, post=post)
    before = (user.role, user.clearance, user.department_id)
    profile = (user.display_name, user.email, user.post)
    if role is not None:
        if role not in Role.values:
            raise _field_error("role", _("Unknown role."))
        user.role = role
    if clearance is not None:
        if clearance not in Level.values:
            raise _field_error("clearance", _("Unknown classification level."))
        user.clearance = clearance
    if display_name is not None:
        user.display_name = display_name.strip()
    if email is not None:
        user.email = email.strip()
    if post is not None:
        user.post = post.strip()
    if department is not None:
        user.department = department
    elif clear_department:
        user.department = None
    changes = [
        f"{name}:{old}->{new}"
        for name, old, new in zip(
            ("role", "clearance", "department"),
            before,
            (user.role, user.clearance, user.department_id),
            strict=True,
        )
        if old != new
    ]
    if skip_unchanged and not changes and profile == (user.display_name, user.email,
                                                      user.post):
        return user
    # Only the fields this call sets are written: `user` may have been loaded before
    # another request changed the row (a departure sets is_active, status and left_at),
    # and writing the whole row back would undo that.
    fields = [name for name, value in (("role", role), ("clearance", clearance),
                                       ("display_name", display_name), ("email", email),
                                       ("post", post)) if value is not None]
    if department is not None or clear_department:
        fields.append("department")
    with transaction.atomic():
        if fields:
            user.save(update_fields=fields)
        record(
            actor,
            "permission.change" if changes else "staff.update",
            object_type="user",
            object_id=user.pk,
            reason=" ".join(changes),
        )
    return user


def logout_recorded(request: HttpRequest, *, reason: str = "") -> None:
    """End the request's session and record `auth.logout` (`reason`: why the system
    ended it; empty when the user signed out).

    The session ends even when the entry cannot be written: taking access away is never
    refused. The `LedgerUnavailable` still propagates, so the request reports the failure.
    """
    user = request.user
    try:
        if user.is_authenticated:
            record(user, "auth.logout", reason=reason)
    finally:
        logout(request)


def session_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def sessions_end_for_user(*, user: User, reason: str = "ended") -> int:
    """Delete every server-side session of `user`; returns how many were ended.

    Each is remembered (`EndedSession`, by its key's hash, with `reason`) until it would
    have expired, so that a request still carrying it is refused as such
    (`ended_session_refusal`)."""
    now = timezone.now()
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    UserSession.objects.filter(user=user).delete()
    EndedSession.objects.filter(
        ended_at__lt=now - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    ).delete()
    EndedSession.objects.bulk_create(
        [EndedSession(key_hash=session_key_hash(k), user=user, reason=reason[:20], ended_at=now)
         for k in keys],
        ignore_conflicts=True,
    )
    return len(keys)


def ended_session_refusal(session_key: str) -> EndedSession | None:
    """If `session_key` (a cookie's) belongs to a session the firm ended, record the
    refused use (`auth.session`, reason ``session_ended:<why>``) and return it; it is
    said once: the record is then forgotten (the cookie is replaced on the next page)."""
    if not session_key or len(session_key) > 64:
        return None
    # Looked up outside a transaction: on SQLite a transaction takes the write lock, and
    # nearly every cookie looked up here is simply unknown.
    ended = (EndedSession.objects.select_related("user")
             .filter(key_hash=session_key_hash(session_key)).first())
    if ended is None:
        return None
    with transaction.atomic():
        # Whoever deletes it records it: two requests with the same cookie record once.
        if EndedSession.objects.filter(pk=ended.pk).delete()[0]:
            record(ended.user, "auth.session", object_type="user", object_id=ended.user_id,
                   decision="refused", reason=f"session_ended:{ended.reason}")
    return ended


def user_deactivate(
    *, user: User, now: datetime | None = None, left: bool = False, actor: User | str = "system"
) -> User:
    """Deactivate a user: sessions ended and tokens revoked in the same transaction.

    With `left=True` the person is also marked as having left the firm (离职). Access
    review items waiting for them pass to compliance
    (`baomi.access.services.reviews_reviewer_gone`): nobody else could decide them.
    Ledger: `staff.deactivate` (reason `left` or `deactivated`).
    """
    from baomi.access.services import reviews_reviewer_gone

    now = now or timezone.now()
    with transaction.atomic():
        record(actor, "staff.deactivate", object_type="user", object_id=user.pk,
               reason="left" if left else "deactivated")
        # Written as stored now, not as `user` was loaded: a plain deactivation must not
        # turn a departure made meanwhile back into an active status.
        fields = ["is_active"]
        user.is_active = False
        if left:
            user.status = StaffStatus.LEFT
            user.left_at = now
            fields += ["status", "left_at"]
        user.save(update_fields=fields)
        user.refresh_from_db(fields=["status", "left_at"])
        tokens_revoke_for_user(user=user, actor=actor, reason="left" if left else "deactivated",
                               now=now)
        sessions_end_for_user(user=user, reason="left" if left else "deactivated")
        reviews_reviewer_gone(actor=actor, user=user)
    return user


def reactivate_check(*, user: User, actor: User | str = "system") -> None:
    """Refuse (recorded) reactivating a member of a deactivated partner organisation:
    409 ``partner_inactive``. The organisation's end ended their account; it comes back
    only after the organisation does."""
    org = user.partner_org
    if org is not None and not type(org).objects.filter(pk=org.pk, active=True).exists():
        record(actor, "staff.reactivate", object_type="user", object_id=user.pk,
               decision="refused", reason="partner_inactive")
        raise Conflict(_("This person's partner organisation has been deactivated; "
                         "reactivate the organisation first."), code="partner_inactive")


def tokens_revoke_for_user(*, user: User, actor: User | str, reason: str,
                           now: datetime | None = None) -> int:
    """Revoke every live API token of `user`, each recorded (``token.revoke``, its public
    prefix, `reason`), in the caller's transaction. Returns how many."""
    tokens = list(ApiToken.objects.select_for_update()
                  .filter(user=user, revoked_at__isnull=True).only("pk", "prefix"))
    ApiToken.objects.filter(pk__in=[t.pk for t in tokens]).update(
        revoked_at=now or timezone.now())
    for token in tokens:
        record(actor, "token.revoke", object_type="api_token", object_id=token.prefix,
               reason=reason)
    return len(tokens)


def user_reactivate(*, user: User, actor: User | str = "system") -> User:
    """Reactivate a user (refused as `reactivate_check` says). Ledger: `staff.reactivate`."""
    reactivate_check(user=user, actor=actor)
    user.is_active = True
    user.status = StaffStatus.ACTIVE
    user.left_at = None
    with transaction.atomic():
        user.save(update_fields=["is_active", "status", "left_at"])
        record(actor, "staff.reactivate", object_type="user", object_id=user.pk)
    return user


def session_track(*, user: User, session_key: str, ip: str | None, user_agent: str) -> None:
    """Remember that `session_key` belongs to `user` (called at login)."""
    UserSession.objects.update_or_create(
        session_key=session_key,
        defaults={"user": user, "ip": ip or None, "user_agent": user_agent[:300]},
    )


def session_forget(*, session_key: str | None) -> None:
    if session_key:
        UserSession.objects.filter(session_key=session_key).delete()


# --- API tokens -----------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str  # shown once, never stored


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(
    *,
    user: User,
    name: str = "",
    expires_days: int | None = None,
    now: datetime | None = None,
    actor: User | str = "system",
) -> IssuedToken:
    """Issue an API token for `user`. The plaintext is returned once and never stored.

    Ledger: `token.create` with the token's public prefix as object id.
    """
    if not user.is_active or user.status == StaffStatus.LEFT:
        raise InvalidInput(
            _("Tokens cannot be issued to a deactivated user."), code="user_inactive"
        )
    days = settings.API_TOKEN_DEFAULT_DAYS if expires_days is None else expires_days
    if days < 0 or days > 3650:
        raise _field_error("expires", _("Expiry must be between 0 and 3650 days."))
    now = now or timezone.now()
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name.strip()[:100],
            prefix=prefix,
            secret_hash=_hash_secret(secret),
            created_at=now,
            expires_at=(now + timedelta(days=days)) if days else None,
        )
        record(actor, "token.create", object_type="api_token", object_id=prefix,
               reason=f"for={user.username} days={days}")
    return IssuedToken(token=token, plaintext=f"{TOKEN_PREFIX}{prefix}_{secret}")


_TOKEN_ROWS = Rows(ApiToken)
_USER_ROWS = Rows(User)


def _token_sql(db: BaseDatabaseWrapper) -> str:
    q = db.ops.quote_name
    return (
        f"SELECT {_TOKEN_ROWS.columns('t', db)}, {_USER_ROWS.columns('u', db)} "  # noqa: S608  (names from the models' meta)
        f"FROM {q(_TOKEN_ROWS.table)} t JOIN {q(_USER_ROWS.table)} u "
        f"ON u.{q(_USER_ROWS.pk_column)} = t.{q('user_id')} WHERE t.{q('prefix')} = %s"
    )


def _token_with_user(prefix: str) -> ApiToken | None:
    """The token with this public prefix and its user, in one raw read (every API
    request authenticates, and compiling the ORM query cost more than running it)."""
    rows = fetch(cached_sql("token_with_user", _token_sql), [prefix])
    if not rows:
        return None
    token = _TOKEN_ROWS.load(rows[0])
    token.user = _USER_ROWS.load(rows[0], _TOKEN_ROWS.width)
    return token


def token_authenticate(*, raw: str, now: datetime | None = None) -> User | None:
    """The active user a bearer token belongs to, or None for forged/expired/revoked."""
    return token_check(raw=raw, now=now).user


@dataclass(frozen=True)
class TokenCheck:
    """The outcome of a bearer token check. `user` is set only when it is accepted;
    `refusal` says why not (`malformed`, `unknown`, `forged`, `revoked`, `expired`,
    `user_left`, `user_inactive`); `owner` is the username a well-formed token's public
    prefix belongs to (for the ledger; never the secret)."""

    user: User | None
    refusal: str = ""
    prefix: str = ""
    owner: str = ""


def token_check(*, raw: str, now: datetime | None = None) -> TokenCheck:
    """Check a bearer token and say why it is refused (see `TokenCheck`)."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return TokenCheck(None, "malformed")
    prefix, sep, secret = raw[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not prefix or not secret or len(prefix) > 32:
        return TokenCheck(None, "malformed")
    token = _token_with_user(prefix)
    if token is None:
        return TokenCheck(None, "unknown", prefix)
    user = token.user
    if not hmac.compare_digest(token.secret_hash, _hash_secret(secret)):
        return TokenCheck(None, "forged", prefix, user.username)
    now = now or timezone.now()
    if token.revoked_at is not None:
        return TokenCheck(None, "revoked", prefix, user.username)
    if not token.is_usable(now):
        return TokenCheck(None, "expired", prefix, user.username)
    if user.status == StaffStatus.LEFT:
        return TokenCheck(None, "user_left", prefix, user.username)
    if not user.is_active:
        return TokenCheck(None, "user_inactive", prefix, user.username)
    # Record use at most once a minute to keep token auth cheap.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return TokenCheck(user, "", prefix, user.username)


def token_revoke(
    *, prefix: str, now: datetime | None = None, actor: User | str = "system"
) -> ApiToken:
    """Revoke a token by its public prefix (the part after `bm_`). Raises NotFound.

    Ledger: `token.revoke`.
    """
    clean = prefix.removeprefix(TOKEN_PREFIX).split("_", 1)[0]
    token = ApiToken.objects.filter(prefix=clean).first()
    if token is None:
        raise NotFound(_("No such token."), code="token_not_found")
    if token.revoked_at is None:
        token.revoked_at = now or timezone.now()
        with transaction.atomic():
            token.save(update_fields=["revoked_at"])
            record(actor, "token.revoke", object_type="api_token", object_id=token.prefix)
    return token


# --- Two-factor -----------------------------------------------------------------------


def totp_device_for(user: User) -> TOTPDevice | None:
    """The user's confirmed TOTP device, if enrolled."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def totp_enrolment_start(*, user: User) -> TOTPDevice:
    """Create (or reuse) an unconfirmed TOTP device for QR enrolment."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="TOTP", confirmed=False)


def totp_enrolment_confirm(*, user: User, device: TOTPDevice, code: str) -> list[str]:
    """Confirm enrolment with a first code; returns fresh recovery codes (shown once).

    Ledger: `auth.2fa_enrolled`, in the same transaction: if it cannot be written, the
    old device and recovery codes stay as they were.
    """
    if device.user_id != user.pk or not device.verify_token(code.strip()):
        raise _field_error("otp_token", _("The code is wrong or has expired."))
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = recovery_codes_regenerate(user=user)
        record(user, "auth.2fa_enrolled", object_type="user", object_id=user.pk)
    return codes


def _recovery_hash(user: User, code: str) -> str:
    normalized = code.strip().replace("-", "").replace(" ", "").upper()
    return hmac.new(
        settings.SECRET_KEY.encode(), f"{user.pk}:{normalized}".encode(), hashlib.sha256
    ).hexdigest()


def recovery_codes_regenerate(*, user: User) -> list[str]:
    """Replace the user's recovery codes; returns the plaintext codes once."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    codes = [
        "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(2))
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(user=user, code_hash=_recovery_hash(user, c)) for c in codes]
    )
    return codes


def recovery_code_use(*, user: User, code: str) -> bool:
    """Consume a recovery code; True if it was valid and unused.

    Ledger: a valid code writes `auth.2fa` (reason `recovery_code`) in the same
    transaction, so a code is never used up by a sign-in the ledger refused. A wrong
    code writes nothing here: the caller records the refusal.
    """
    with transaction.atomic():
        updated = RecoveryCode.objects.filter(
            user=user, code_hash=_recovery_hash(user, code), used_at__isnull=True
        ).update(used_at=timezone.now())
        if updated == 1:
            record(user, "auth.2fa", reason="recovery_code")
    return updated == 1


def department_get_or_create(*, name: str, actor: User | str = "system") -> Department:
    """The department called `name`, created if there is none. Departments bound
    managers' reach (a manager manages their department's clients), so a new one is a
    permission change: ``department.create`` is recorded in the same transaction, and
    nothing is created if the entry cannot be written. Raises ValidationFailed for a
    blank name."""
    clean = name.strip()
    if not clean:
        raise _field_error("department", _("This field is required."))
    check_staff_text(department=clean)
    existing = Department.objects.filter(name=clean).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            dept = Department.objects.create(name=clean)
            record(actor, "department.create", object_type="department", object_id=dept.pk)
    except IntegrityError:
        # Created meanwhile by another request, which recorded it.
        return Department.objects.get(name=clean)
    return dept


# --- Staff records with sealed personal data -------------------------------------------

STAFF_SEALED_FIELDS = ("mobile", "id_number")


@dataclass
class StaffInput:
    """Profile fields a staff create/update sets. `mobile` and `id_number` are sealed by
    the vault door under the firm key: `None` leaves them unchanged, "" clears them."""

    display_name: str = ""
    email: str = ""
    role: str = Role.ACCOUNTANT
    department: str = ""
    post: str = ""
    clearance: str = Level.INTERNAL
    mobile: str | None = None
    id_number: str | None = None

    def sealed_values(self) -> dict[str, str]:
        return {
            name: value
            for name in STAFF_SEALED_FIELDS
            if (value := getattr(self, name)) is not None
        }


def _staff_personal_values(data: StaffInput) -> dict[str, str | None]:
    """The sealed values to write, normalized as the staff form normalizes them (mobile
    as 11 digits, ID number upper-case); raises ValidationFailed for a mobile or ID
    number the form would refuse, so no caller can store one."""
    errors: dict[str, list[str]] = {}
    values = checked_sealed(data.sealed_values(), errors)
    if errors:
        raise ValidationFailed(detail={"fields": errors})
    return values


def _staff_personal_write(actor: User, user: User, values: dict[str, str | None]) -> None:
    from baomi.vault import door

    if values:
        door.record_write(actor=actor, obj=user, values=values)


def staff_create(*, actor: User, username: str, password: str, data: StaffInput) -> User:
    """Create a staff account with its sealed personal data, in one transaction.

    Ledger: `staff.create`, and `staff.manage` (the vault door's decision, allowed or
    refused) when a mobile or ID number is given. Raises ValidationFailed, Conflict,
    AccessDenied (the door refuses the sealed write: nothing is created).
    """
    check_staff_text(display_name=data.display_name, email=data.email,
                     department=data.department, post=data.post)
    personal = _staff_personal_values(data)
    with transaction.atomic():
        dept = (department_get_or_create(name=data.department, actor=actor)
                if data.department.strip() else None)
        user = user_create(
            username=username,
            password=password,
            role=data.role,
            display_name=data.display_name,
            email=data.email,
            department=dept,
            post=data.post,
            clearance=data.clearance,
            actor=actor,
        )
        _staff_personal_write(actor, user, personal)
    return user


def staff_update(*, actor: User, user: User, data: StaffInput) -> User:
    """Update a staff account's profile and sealed personal data from the staff page, in
    one transaction (`staff_change`; a blank department removes the person from theirs).
    Raises ValidationFailed, AccessDenied.
    """
    personal = _staff_personal_values(data)
    return staff_change(
        actor=actor,
        user=user,
        display_name=data.display_name,
        email=data.email,
        role=data.role,
        department=data.department,
        post=data.post,
        clearance=data.clearance,
        personal=personal,
    )


def staff_change(
    *,
    actor: User,
    user: User,
    display_name: str | None = None,
    email: str | None = None,
    role: str | None = None,
    department: str | None = None,
    post: str | None = None,
    clearance: str | None = None,
    personal: dict[str, str | None] | None = None,
) -> User:
    """Change a staff account, for the staff page (`staff_update`) and
    ``PATCH /api/v1/staff/{id}`` alike. None leaves a field unchanged; `department` is
    a name ("" takes the person out of theirs; a new name creates the department).

    A change of post is a transfer (调岗) wherever it is made: a new role, or leaving a
    department the person had (`is_transfer`), goes through
    `baomi.access.services.staff_transfer`, which ends their assignments, query requests,
    authorizations, tokens and sessions at once. Otherwise a role or grant could be
    changed while the access given for the old post carried on. Nobody changes their own
    role (an administrator cannot demote the last one by accident) or clearance (403
    ``self_action``, recorded as ``permission.change`` refused) or transfers themselves;
    the transfer is decided before the transaction, so that a refusal's entry stays and
    no department is created for it. Staff are not moved into the client or partner
    role (`NOT_STAFF_ROLES`), and text with control characters is refused
    (`check_staff_text`) before anything is looked up. Ledger: `staff.update` or
    `permission.change`, ``staff.transfer`` and its entries, ``department.create``, and
    `staff.manage` for the sealed fields written (`personal`). Raises ValidationFailed,
    AccessDenied.
    """
    if role is not None and role != user.role and user.pk == actor.pk:
        raise _field_error("role", _("You cannot change your own role."))
    if role is not None and role not in Role.values:
        raise _field_error("role", _("Unknown role."))
    if role is not None and role != user.role and role in NOT_STAFF_ROLES:
        raise _field_error("role", _("Staff cannot be moved into the client or partner role."))
    if clearance is not None and clearance != user.clearance and user.pk == actor.pk:
        # As with the role: nobody raises (or lowers) their own clearance.
        message = _("You cannot change your own clearance.")
        record(actor, "permission.change", object_type="user", object_id=user.pk,
               decision="refused", reason="self")
        raise AccessDenied(message, code="self_action",
                           detail={"fields": {"clearance": [message]}})
    check_staff_text(display_name=display_name, email=email, department=department, post=post)
    name = None if department is None else department.strip()[:100]
    transfer = is_transfer(user, department=name, role=role)
    if transfer:
        from baomi.access.services import staff_manage_check

        # Decided before the transaction below, so that a refusal's entry stays.
        staff_manage_check(actor=actor, user=user, ledger_action="staff.transfer")
    with transaction.atomic():
        if name is None:
            dept = user.department
        else:
            dept = department_get_or_create(name=name, actor=actor) if name else None
        if transfer:
            from baomi.access.services import staff_transfer

            staff_transfer(actor=actor, user=user, department=dept, post=post or "", role=role)
        user_update(
            user=user,
            display_name=display_name,
            email=email,
            department=dept,
            clear_department=dept is None,
            post=post,
            role=role,
            clearance=clearance,
            actor=actor,
            # After a transfer, whose `permission.change` recorded the move, an edit
            # that changes nothing more writes no second, empty entry.
            skip_unchanged=transfer,
        )
        _staff_personal_write(actor, user, personal or {})
    return user


def is_transfer(user: User, *, department: str | None = None, role: str | None = None) -> bool:
    """Whether changing `user` to the department named `department` ("" for none, None:
    unchanged) and to `role` (None: unchanged) is a transfer (调岗): they leave a
    department they had, or their role changes. Giving a first department to someone
    without one only sets it."""
    if role is not None and role != user.role:
        return True
    current = user.department.name if user.department is not None else None
    return department is not None and current is not None and department.strip() != current
