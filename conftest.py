"""Shared fixtures: real users, clients and sessions built with the real services."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "Correct-Horse-42!"


@pytest.fixture(autouse=True)
def _need_chromium(request: pytest.FixtureRequest) -> None:
    """Browser tests (marked `browser`) skip where Debian's Chromium is missing."""
    if request.node.get_closest_marker("browser") and not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/test installs it)")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # A firm's browsers ask for Chinese; Baomi honours Accept-Language.
    return {**browser_context_args, "locale": "zh-CN"}


@pytest.fixture(autouse=True)
def _standard_rows(request: pytest.FixtureRequest) -> None:
    """Rows that data migrations create; a transactional test's flush removes them."""
    if request.node.get_closest_marker("django_db") is None:
        return
    request.getfixturevalue("transactional_db" if _is_transactional(request) else "db")
    from baomi.access.models import Purpose
    from baomi.clients.services import service_types_ensure
    from baomi.policy import DEFAULT_PURPOSES

    service_types_ensure()
    if not Purpose.objects.exists():  # as migration access/0002 leaves them
        for position, text in enumerate(DEFAULT_PURPOSES):
            Purpose.objects.get_or_create(text=text, defaults={"position": position})


def _is_transactional(request: pytest.FixtureRequest) -> bool:
    marker = request.node.get_closest_marker("django_db")
    return bool(marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))


@pytest.fixture(autouse=True)
def _no_held_refusals() -> None:
    """The door holds refusals written inside a transaction until the request ends; the
    previous test's rolled-back transaction must not leave any to this one."""
    from baomi.vault import door

    door.forget_held_refusals()


@pytest.fixture(autouse=True)
def _default_language() -> Any:
    """Each test starts in the default language (简体中文). Django's test client leaves
    the language of a test's last request active in the thread, so a test whose last
    request asked for English made the next test read English text."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _reset_axes() -> None:
    """Lockout counters live in the database; each test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _verified_session() -> Any:
    """Service calls in tests act as from a two-factor-verified session; HTTP requests
    get their real flag from `AccessContextMiddleware`, and tests of the MFA gate use
    `session_facts(mfa_verified=False)`."""
    from baomi.access import context

    previous = context.replace(context.SessionFacts(mfa_verified=True))
    yield
    context.replace(previous)


def give_agreement_and_training(user: Any, *, days: int = 365) -> None:
    """A confidentiality agreement and training in force (F23, F24), as test setup
    (rows only; the registry services have their own tests in baomi/access). The
    agreement is of the type that counts for the person's role (`gate_agreement_kind`)."""
    from datetime import timedelta

    from django.utils import timezone

    from baomi.access.models import ConfidentialityAgreement, TrainingRecord
    from baomi.access.selectors import gate_agreement_kind

    now = timezone.now()
    ConfidentialityAgreement.objects.create(
        person=user, kind=gate_agreement_kind(user.role) or "employee",
        valid_from=now - timedelta(days=30),
        valid_to=now + timedelta(days=days),
    )
    TrainingRecord.objects.create(
        person=user, course="保密培训", valid_from=now - timedelta(days=30),
        valid_to=now + timedelta(days=days),
    )


# A signed agreement scan as tests register it: a PDF by its first bytes (the registry
# tells PDFs and images by their magic, never by name), and the registry requires one.
AGREEMENT_SCAN = b"%PDF-1.4\n% signed confidentiality agreement\n"


def agreement_scan() -> dict[str, Any]:
    """The scan arguments of `services.agreement_record`."""
    return {"scan": AGREEMENT_SCAN, "scan_name": "agreement.pdf"}


def agreement_scan_b64() -> dict[str, str]:
    """The scan fields of `POST /api/v1/staff/{id}/agreements`."""
    import base64

    return {"scan_base64": base64.b64encode(AGREEMENT_SCAN).decode(),
            "scan_name": "agreement.pdf"}


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    from baomi.accounts.models import Level
    from baomi.accounts.services import department_get_or_create, user_create

    def make(
        username: str,
        role: str = "accountant",
        *,
        department: str | None = None,
        clearance: str = Level.INTERNAL,
        password: str = PASSWORD,
        compliant: bool = True,
        **kw: Any,
    ) -> Any:
        dept = department_get_or_create(name=department) if department else None
        user = user_create(
            username=username,
            password=password,
            role=role,
            department=dept,
            clearance=clearance,
            validate=False,
            **kw,
        )
        if compliant and role != "client":
            give_agreement_and_training(user)
        return user

    return make


@pytest.fixture
def make_client(db: Any) -> Callable[..., Any]:
    from baomi.clients.models import Assignment, Client
    from baomi.clients.selectors import client_can_create
    from baomi.clients.services import ClientInput, _apply, client_create

    counter = {"n": 0}

    def make(actor: Any, name: str | None = None, **kw: Any) -> Any:
        import random

        from baomi.core.demo import make_uscc

        counter["n"] += 1
        rng = random.Random(counter["n"] * 7919 + len(name or ""))
        data = ClientInput(
            name=name or f"测试企业{counter['n']}有限公司",
            uscc=kw.pop("uscc", None) or make_uscc(rng, "310115"),
            legal_representative=kw.pop("legal_representative", "张三"),
            status=kw.pop("status", "active"),
            **kw,
        )
        if client_can_create(actor):
            return client_create(actor=actor, data=data)
        # The policy lets only admins and managers create clients; for anyone else the
        # fixture sets up the client as the firm would and assigns `actor` to it.
        client = Client(created_by=actor, department_id=actor.department_id)
        services, _sealed = _apply(client, data, creating=True)
        client.save()
        if services is not None:
            client.service_types.set(services)
        Assignment.objects.create(client=client, user=actor, assigned_by=None)
        return client

    return make


def totp_now(device: Any, *, offset_steps: int = 0) -> str:
    """The TOTP code of `device` for the current (or an offset) time step."""
    from django_otp.oath import TOTP

    t = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    t.time = time.time() + offset_steps * device.step
    return f"{t.token():0{device.digits}d}"


@pytest.fixture
def totp() -> Callable[..., str]:
    return totp_now


@pytest.fixture
def enrol_totp() -> Callable[[Any], Any]:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    def enrol(user: Any) -> Any:
        return TOTPDevice.objects.create(user=user, name="test", confirmed=True)

    return enrol


def verified_client(user: Any, **kwargs: Any) -> Any:
    """A test client signed in as `user` with a second factor verified (a TOTP device is
    enrolled if needed), as after a real two-factor sign-in."""
    from django.test import Client as HttpClient
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from baomi.accounts.middleware import AUTH_STARTED, LAST_SEEN

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    c = HttpClient(**kwargs)
    c.force_login(user)
    session = c.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    # As after the page a sign-in lands on: the session policy has stamped the session,
    # so a test's first request does not write it. A request that starts background
    # work (an import) would otherwise save its session while that work's thread writes,
    # and the in-memory test database (shared cache) refuses the second writer at once
    # (SQLITE_LOCKED, a 400 from the session middleware) where a file database waits.
    now = int(time.time())
    session[AUTH_STARTED] = session[LAST_SEEN] = now
    session.save()
    return c
