"""Sign-in with password then TOTP, sign-out, and two-factor enrolment."""

from __future__ import annotations

import io
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth import authenticate, login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from baomi import policy
from baomi.access.services import refusal_of
from baomi.accounts import selectors, services
from baomi.accounts.forms import LoginForm, OtpForm, StaffForm
from baomi.accounts.models import Department, User
from baomi.accounts.security import normalize_username
from baomi.audit.events import record
from baomi.audit.services import LedgerUnavailable
from baomi.core.http import actor_of
from baomi.core.views import error_403
from baomi.errors import AccessDenied, BaomiError, Conflict, NotFound, ValidationFailed

PENDING_USER = "_baomi_pending_user"
PENDING_BACKEND = "_baomi_pending_backend"
PENDING_NEXT = "_baomi_pending_next"
ENROL_DEVICE = "_baomi_enrol_device"


def _safe_next(request: HttpRequest, target: str | None) -> str:
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


def lockout_response(
    request: HttpRequest, credentials: Any = None, *args: Any, **kw: Any
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: a localized page instead of axes' plain text."""
    form = LoginForm(request.POST or None)
    record(
        _attempted_actor(request.POST.get("username", "")),
        "auth.login",
        decision="refused",
        reason="locked_out",
    )
    return render(
        request,
        "accounts/login.html",
        {
            "form": form,
            "error": _(
                "Too many failed sign-in attempts. This account is locked for a while; "
                "ask an administrator if you need access now."
            ),
        },
        status=429,
    )


def _attempted_actor(raw: str) -> str:
    # Record the account name only when it exists: a password typed into the username
    # field must not end up in the ledger.
    name = normalize_username(raw)
    return name if name and User.objects.filter(username=name).exists() else "unknown-user"


def _ledger_refusal(request: HttpRequest, template: str, form: Any) -> HttpResponse:
    return render(
        request,
        template,
        {"form": form, "error": str(LedgerUnavailable.default_message)},
        status=503,
    )


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.method == "GET":
        return redirect("core:dashboard")
    form = LoginForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        user = authenticate(
            request,
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
        )
        if isinstance(user, User):
            next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
            device = services.totp_device_for(user)
            try:
                record(user, "auth.login" if device is None else "auth.password_ok")
            except LedgerUnavailable:
                return _ledger_refusal(request, "accounts/login.html", form)
            if device is None:
                login(request, user)
                if user.requires_mfa:
                    messages.info(
                        request, _("Your role requires two-factor authentication. Set it up now.")
                    )
                    return redirect("accounts:mfa_setup")
                return HttpResponseRedirect(next_url)
            # Password accepted; the session is only a pending one until the TOTP step.
            request.session.cycle_key()
            request.session[PENDING_USER] = user.pk
            request.session[PENDING_BACKEND] = getattr(user, "backend", "")
            request.session[PENDING_NEXT] = next_url
            return redirect("accounts:otp")
        record(
            _attempted_actor(form.cleaned_data["username"]),
            "auth.login",
            decision="refused",
            reason="wrong_credentials",
        )
        error = _("Wrong username or password.")
    elif request.method == "POST":
        error = _("Enter your username and password.")
    status = 400 if error else 200
    return render(
        request,
        "accounts/login.html",
        {"form": form, "error": error, "next": request.GET.get("next", "")},
        status=status,
    )


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def otp_view(request: HttpRequest) -> HttpResponse:
    user_id = request.session.get(PENDING_USER)
    user = User.objects.filter(pk=user_id, is_active=True).first() if user_id else None
    if user is None:
        return redirect("accounts:login")
    form = OtpForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["otp_token"].strip().replace(" ", "")
        device = services.totp_device_for(user)
        ok = False
        if device is not None and code.isdigit() and device.verify_is_allowed()[0]:
            ok = bool(device.verify_token(code))
        used_recovery = False
        if not ok and not code.isdigit():
            # Recorded by the service, with the code's use, when it is valid.
            used_recovery = ok = services.recovery_code_use(user=user, code=code)
        elif ok:
            record(user, "auth.2fa", reason="totp")
        if not ok:
            record(user, "auth.2fa", decision="refused", reason="wrong_code")
        if ok and device is not None:
            next_url = request.session.get(PENDING_NEXT, "/")
            backend = request.session.get(PENDING_BACKEND) or None
            for key in (PENDING_USER, PENDING_BACKEND, PENDING_NEXT):
                request.session.pop(key, None)
            login(request, user, backend=backend)
            otp_login(request, device)
            if used_recovery:
                messages.warning(
                    request, _("You signed in with a recovery code; it cannot be used again.")
                )
            return HttpResponseRedirect(_safe_next(request, next_url))
        error = _("The code is wrong, expired or already used.")
    elif request.method == "POST":
        error = _("Enter the verification code.")
    return render(
        request, "accounts/otp.html", {"form": form, "error": error}, status=400 if error else 200
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    # logout() flushes the server-side session row, not just the cookie.
    services.logout_recorded(request)
    messages.success(request, _("You have signed out."))
    return redirect("accounts:login")


@login_required
@never_cache
def security_view(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    return render(
        request,
        "accounts/security.html",
        {
            "device": services.totp_device_for(actor),
            "recovery_left": actor.recovery_codes.filter(used_at__isnull=True).count(),
            "nav": "security",
        },
    )


def _enrol_device(request: HttpRequest, actor: User) -> TOTPDevice:
    device_id = request.session.get(ENROL_DEVICE)
    device = TOTPDevice.objects.filter(pk=device_id, user=actor, confirmed=False).first()
    if device is None:
        device = services.totp_enrolment_start(user=actor)
        request.session[ENROL_DEVICE] = device.pk
    return device


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_setup_view(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    existing = services.totp_device_for(actor)
    if existing is not None and not actor.is_verified():  # type: ignore[attr-defined]  # OTPMiddleware
        # Only a session verified with the current device may replace it.
        services.logout_recorded(request, reason="mfa_reverify")
        return redirect("accounts:login")
    device = _enrol_device(request, actor)
    form = OtpForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.totp_enrolment_confirm(
                user=actor, device=device, code=form.cleaned_data["otp_token"]
            )
        except ValidationFailed:
            error = _("The code is wrong or has expired.")
        else:
            request.session.pop(ENROL_DEVICE, None)
            device.refresh_from_db()
            otp_login(request, device)
            messages.success(request, _("Two-factor authentication is on."))
            return render(
                request, "accounts/recovery_codes.html", {"codes": codes, "nav": "security"}
            )
    return render(
        request,
        "accounts/mfa_setup.html",
        {"form": form, "error": error, "secret": _b32(device), "nav": "security"},
        status=400 if error else 200,
    )


def _b32(device: TOTPDevice) -> str:
    import base64

    return base64.b32encode(device.bin_key).decode().rstrip("=")


@login_required
@never_cache
def mfa_qr_view(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    device = _enrol_device(request, actor)
    buf = io.BytesIO()
    segno.make(device.config_url, error="m").save(buf, kind="svg", scale=5, border=2)
    response = HttpResponse(buf.getvalue(), content_type="image/svg+xml")
    response["Cache-Control"] = "no-store"
    return response


# --- Staff accounts with sealed personal data ------------------------------------------


def _staff_input(form: StaffForm) -> services.StaffInput:
    data = form.cleaned_data
    sealed = form.sealed_changes()
    return services.StaffInput(
        display_name=data.get("display_name") or "",
        email=data.get("email") or "",
        role=data["role"],
        department=data.get("department") or "",
        post=data.get("post") or "",
        clearance=data["clearance"],
        mobile=sealed.get("mobile"),
        id_number=sealed.get("id_number"),
    )


def _staff_page(
    request: HttpRequest,
    form: StaffForm,
    *,
    person: User | None,
    shown: dict[str, str | None],
    purpose: str = "",
    refused: str = "",
) -> HttpResponse:
    status = 400 if form.is_bound and form.errors else 200
    return render(
        request,
        "accounts/staff_form.html",
        {
            "form": form,
            "person": person,
            "sealed_rows": form.sealed_rows(shown),
            "revealed": any(v for v in shown.values()),
            "retype": form.is_bound and bool(form.errors) and form.sealed_typed(),
            "purpose": purpose,
            "reveal_refused": refused,
            "departments": Department.objects.order_by("name").values_list("name", flat=True),
            "nav": "staff",
        },
        status=status,
    )


def _service_errors(form: StaffForm, exc: BaomiError) -> None:
    fields = exc.detail.get("fields") if isinstance(exc.detail, dict) else None
    if fields:
        form.add_service_errors(fields)
    else:
        form.add_error(None, str(exc.message))


@login_required
@never_cache
@sensitive_post_parameters("password", "mobile", "id_number")
@require_http_methods(["GET", "POST"])
def staff_create_view(request: HttpRequest) -> HttpResponse:
    """New staff account (`staff.manage`), with its mobile and ID number sealed by the
    vault door under the firm key."""
    actor = actor_of(request)
    denial = refusal_of(actor, policy.Action.STAFF_MANAGE, None, ledger_action="staff.create",
                         object_type="user")
    if denial is not None:
        return error_403(request, denial)
    form = StaffForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            person = services.staff_create(
                actor=actor,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                data=_staff_input(form),
            )
        except (ValidationFailed, Conflict, AccessDenied) as exc:
            _service_errors(form, exc)
        else:
            messages.success(
                request, _("Staff account %(name)s created.") % {"name": person.username}
            )
            return redirect("core:staff_list")
    return _staff_page(request, form, person=None, shown={})


@login_required
@never_cache
@sensitive_post_parameters("mobile", "id_number")
@require_http_methods(["GET", "POST"])
def staff_edit_view(request: HttpRequest, user_id: int) -> HttpResponse:
    """Edit a staff account (`staff.manage`). The sealed mobile and ID number are masked;
    `?purpose=…` reveals the stored values through the vault door (a recorded read,
    refused without a purpose)."""
    actor = actor_of(request)
    denial = refusal_of(actor, policy.Action.STAFF_MANAGE, None, ledger_action="staff.update",
                         object_type="user", object_id=user_id)
    if denial is not None:
        return error_403(request, denial)
    try:
        person = selectors.staff_get(actor=actor, user_id=user_id)
    except NotFound as exc:
        raise Http404 from exc
    initial = {
        "display_name": person.display_name,
        "email": person.email,
        "role": person.role,
        "department": person.department.name if person.department else "",
        "post": person.post,
        "clearance": person.clearance,
    }
    form = StaffForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            services.staff_update(actor=actor, user=person, data=_staff_input(form))
        except (ValidationFailed, Conflict, AccessDenied) as exc:
            _service_errors(form, exc)
            person.refresh_from_db()
        else:
            messages.success(request, _("Changes saved."))
            return redirect("accounts:staff_edit", user_id=person.pk)
    purpose = request.GET.get("purpose", "").strip() if request.method == "GET" else ""
    shown, refused = _staff_sealed(actor, person, purpose)
    return _staff_page(
        request, form, person=person, shown=shown, purpose=purpose, refused=refused
    )


def _staff_sealed(actor: User, person: User, purpose: str) -> tuple[dict[str, str | None], str]:
    """The sealed fields' state: None (stored, masked), "" (none), or the value opened
    through the vault door for `purpose`; a refusal keeps them masked with its reason."""
    from baomi.vault import door

    fields = services.STAFF_SEALED_FIELDS
    if purpose:
        try:
            opened = door.record_read(actor=actor, obj=person, fields=fields, purpose=purpose)
        except BaomiError as exc:
            refused = str(exc.message)
        else:
            return {f: opened.get(f, "") for f in fields}, ""
    else:
        refused = ""
    return {f: None if door.record_present(person, f) else "" for f in fields}, refused
