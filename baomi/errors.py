"""The error hierarchy every layer raises and the API renders as `{code, message, detail}`.

`code` values are part of the API contract: stable snake_case, never reworded. `message`
is translatable and shown to people; `detail` is structured data for programs (field
names, limits), never secrets or client data values.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    """The JSON error shape `{code, message, detail}` (the API's, and the error pages'
    under /api/ that Django answers before the API sees the request)."""
    return {"code": code, "message": message, "detail": detail if detail is not None else {}}


class BaomiError(Exception):
    """Base class. Subclasses set `code`, `http_status` and a default `message`."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400
    default_message: ClassVar[str | Promise] = _("The request could not be completed.")

    def __init__(
        self,
        message: str | Promise | None = None,
        *,
        code: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.message = message if message is not None else self.default_message
        if code is not None:
            self.code = code  # type: ignore[misc]  # per-instance refinement of the class code
        self.detail = detail or {}
        super().__init__(str(self.message))


class InvalidInput(BaomiError):
    code = "invalid_input"
    http_status = 400
    default_message = _("The input is not valid.")


class ValidationFailed(BaomiError):
    """One or more fields are invalid; `detail["fields"]` maps field → messages."""

    code = "validation_error"
    http_status = 422
    default_message = _("Some fields are not valid.")


class Unauthenticated(BaomiError):
    code = "unauthenticated"
    http_status = 401
    default_message = _("Sign in, or send a valid API token.")


class AccessDenied(BaomiError):
    code = "access_denied"
    http_status = 403
    default_message = _("You are not allowed to do this.")


class NotFound(BaomiError):
    code = "not_found"
    http_status = 404
    default_message = _("Not found.")


class Conflict(BaomiError):
    code = "conflict"
    http_status = 409
    default_message = _("This conflicts with data already stored.")


class ApprovalRequired(BaomiError):
    code = "approval_required"
    http_status = 409
    default_message = _("This needs an approved request first.")


class PayloadTooLarge(BaomiError):
    code = "request_too_large"
    http_status = 413
    default_message = _("The request is too large.")


class IntegrityFailure(BaomiError):
    code = "integrity_error"
    http_status = 500
    default_message = _("Stored data failed its integrity check.")
