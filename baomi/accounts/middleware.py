"""Session policy: idle and absolute timeouts, and mandatory two-factor."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from baomi.accounts.models import StaffStatus, User
from baomi.accounts.services import ended_session_refusal, logout_recorded
from baomi.core.middleware import baomi_error_response
from baomi.errors import BaomiError

AUTH_STARTED = "_baomi_auth_started"
LAST_SEEN = "_baomi_last_seen"
# Refresh the idle timestamp at most this often, so a busy page does not write the
# session row on every request.
_TOUCH_EVERY = 30

# Paths a password-authenticated user who still must enrol in 2FA may use.
_MFA_EXEMPT_PREFIXES = ("/accounts/", "/static/", "/i18n/", "/healthz")


class SessionPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if isinstance(user, User) and user.is_authenticated:
            response = self._enforce(request, user)
            if response is not None:
                return response
        elif (settings.SESSION_COOKIE_NAME in request.COOKIES
              and "HTTP_AUTHORIZATION" not in request.META):  # a token request stands alone
            response = self._ended(request)
            if response is not None:
                return response
        return self.get_response(request)

    def _ended(self, request: HttpRequest) -> HttpResponse | None:
        """A cookie of a session the firm ended (the person left, was transferred or
        deactivated): refused with the reason and recorded, once. A sign-in that still
        carries the old cookie is recorded the same way and then goes ahead."""
        try:
            ended = ended_session_refusal(request.COOKIES[settings.SESSION_COOKIE_NAME])
        except BaomiError as exc:
            return baomi_error_response(request, exc)
        if ended is None or request.path == settings.LOGIN_URL_PATH:
            return None
        message = (_("Your access has ended because you left the firm.")
                   if ended.reason == "left" else
                   _("Your session was ended by the firm. Please sign in again."))
        if request.path.startswith("/api/"):
            return JsonResponse({"code": "session_ended", "message": message,
                                 "detail": {"reason": ended.reason}}, status=401)
        return self._signed_out(request, message)

    def _enforce(self, request: HttpRequest, user: User) -> HttpResponse | None:
        now = int(time.time())
        session = request.session
        started = session.get(AUTH_STARTED)
        last_seen = session.get(LAST_SEEN)
        expired = False
        if started is None:
            session[AUTH_STARTED] = now
        elif now - int(started) > settings.SESSION_ABSOLUTE_SECONDS:
            expired = True
        if last_seen is not None and now - int(last_seen) > settings.SESSION_IDLE_SECONDS:
            expired = True
        if expired or user.status == StaffStatus.LEFT:
            left = user.status == StaffStatus.LEFT
            try:
                logout_recorded(request, reason="left" if left else "expired")
            except BaomiError as exc:  # the session has ended all the same
                return baomi_error_response(request, exc)
            return self._signed_out(request, _("Your session has expired. Please sign in again."))
        if last_seen is None or now - int(last_seen) > _TOUCH_EVERY:
            session[LAST_SEEN] = now
        if (
            user.requires_mfa
            and not user.is_verified()  # type: ignore[attr-defined]  # set by OTPMiddleware
            and not request.path.startswith(_MFA_EXEMPT_PREFIXES)
            and not request.path.startswith("/api/")
        ):
            return redirect("accounts:mfa_setup")
        return None

    @staticmethod
    def _signed_out(request: HttpRequest, message: str) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"code": "session_expired", "message": message, "detail": {}}, status=401
            )
        messages.warning(request, message)
        return redirect(f"{settings.LOGIN_URL_PATH}?next={quote(request.path)}")
