"""The session facts a decision needs but a service is not given: MFA and break-glass.

`AccessContextMiddleware` sets `mfa_verified` once per request from the session
(`request.user.is_verified()`, i.e. signed in with a second factor); API token requests
are not second-factor sessions. Outside a request (CLI, jobs) nothing is set and the
flag reads False, so confidential data needs an explicit, verified session: fail closed.

Break-glass is set only around one emergency read by `baomi.access.services.break_glass_read`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class SessionFacts:
    mfa_verified: bool = False
    break_glass_reason: str = ""


_facts: contextvars.ContextVar[SessionFacts] = contextvars.ContextVar(
    "baomi_access_session", default=SessionFacts()  # noqa: B039  (frozen: immutable)
)


def current() -> SessionFacts:
    return _facts.get()


@contextmanager
def session_facts(*, mfa_verified: bool | None = None, break_glass_reason: str | None = None
                  ) -> Iterator[SessionFacts]:
    """Run a block with these session facts (unchanged ones keep their value)."""
    now = _facts.get()
    new = SessionFacts(
        mfa_verified=now.mfa_verified if mfa_verified is None else mfa_verified,
        break_glass_reason=now.break_glass_reason
        if break_glass_reason is None
        else break_glass_reason,
    )
    token = _facts.set(new)
    try:
        yield new
    finally:
        _facts.reset(token)


def replace(facts: SessionFacts) -> SessionFacts:
    """Set the session facts of the current context; returns the previous ones (for
    code whose set-up and tear-down may run in different contexts, e.g. test fixtures)."""
    previous = _facts.get()
    _facts.set(facts)
    return previous


def mark_token_request() -> None:
    """An API token authenticated this request: it is not a second-factor session,
    whatever session cookie came with it (the middleware restores the value after)."""
    _facts.set(SessionFacts(mfa_verified=False))


def request_mfa_verified(request: HttpRequest) -> bool:
    """True for a browser session signed in with a second factor (never for tokens)."""
    if getattr(request, "auth_method", "") == "token":
        return False
    user = getattr(request, "user", None)
    verified = getattr(user, "is_verified", None)
    return bool(callable(verified) and verified())


class AccessContextMiddleware:
    """Set the session facts for the request (after `OTPMiddleware`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _facts.set(SessionFacts(mfa_verified=request_mfa_verified(request)))
        try:
            return self.get_response(request)
        finally:
            _facts.reset(token)
