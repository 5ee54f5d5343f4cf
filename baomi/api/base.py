"""The one NinjaAPI instance, its authentication and its error rendering.

Every error leaves the API as JSON `{code, message, detail}` with a stable `code`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer, SessionAuth
from pydantic import Field

from baomi import __version__
from baomi.accounts.models import StaffStatus, User
from baomi.accounts.services import token_check
from baomi.audit.events import record
from baomi.errors import BaomiError, error_body


class BearerTokenAuth(HttpBearer):
    """`Authorization: Bearer bm_…` tokens issued by `baomi token create`."""

    openapi_description = "API token from `baomi token create USERNAME`."

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        check = token_check(raw=token)
        user = check.user
        if user is None:
            # A forged, expired or revoked token is an access decision too. Only a token
            # whose secret matched (revoked, expired, its owner gone) is its owner's
            # act; a wrong secret is anyone's, so it names the owner only in the reason.
            genuine = check.refusal not in ("malformed", "unknown", "forged")
            reason = f"invalid_token:{check.refusal}"
            if check.owner and not genuine:
                reason += f" owner={check.owner}"
            record(check.owner if genuine else "unknown-token", "auth.token",
                   object_type="api_token", object_id=check.prefix, decision="refused",
                   reason=reason)
            request.baomi_token_refusal = check.refusal  # type: ignore[attr-defined]  # for _auth_error
        if user is not None:
            from baomi.access.context import mark_token_request

            request.user = user
            request.auth_method = "token"  # type: ignore[attr-defined]  # request annotation
            mark_token_request()
        return user


class VerifiedSessionAuth(SessionAuth):
    """Browser session with CSRF; users who must use 2FA need a verified session."""

    openapi_description = "Browser session cookie (CSRF token required for writes)."

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = request.user
        if not isinstance(user, User) or not user.is_authenticated:
            return None
        if user.status == StaffStatus.LEFT:
            return None
        if user.requires_mfa and not user.is_verified():  # type: ignore[attr-defined]  # OTPMiddleware
            return None
        request.auth_method = "session"  # type: ignore[attr-defined]  # request annotation
        return user


class ErrorOut(Schema):
    """Every API error: a stable code, a localized message and structured detail."""

    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="Human-readable, localized message.")
    detail: dict[str, object] = Field(default_factory=dict)


# Declared on every endpoint: any of them may be refused (403/404), fail validation
# (422), or fail closed when the audit ledger cannot be written (503).
ERRORS: dict[int, type[ErrorOut]] = {
    c: ErrorOut for c in (400, 401, 403, 404, 409, 410, 413, 422, 500, 503)
}


def typed_text(limit: int, *, default: Any = ..., description: str = "") -> Any:
    """A typed purpose, reason or note. Its limit is documented (`maxLength`) and checked
    by the service on the stated text (`baomi.policy.text`): a longer one is refused with
    its own code and a localized message (422 `purpose_too_long`, `reason_too_long`,
    `note_too_long`), not pydantic's generic one."""
    return Field(default, description=description or None, json_schema_extra={"maxLength": limit})


def _validation_detail(errors: list[dict[str, Any]]) -> dict[str, Any]:
    fields: dict[str, list[str]] = {}
    for err in errors:
        loc = [str(part) for part in err.get("loc", []) if part not in ("body", "payload")]
        name = ".".join(loc) or "body"
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "extra_forbidden":
            msg = _("Unknown field.")
        elif err.get("type") == "json_invalid":
            msg = _("Malformed JSON.")
        fields.setdefault(name, []).append(msg)
    return {"fields": fields}


_SURROGATE = re.compile("[\ud800-\udfff]")


class UnicodeTextError(ValueError):
    """A JSON body whose text holds a lone surrogate (JSON's `\\ud800` escape, not valid
    Unicode): no database stores it, so the body is refused as a whole (400
    `malformed_text`, by `_http_error`: ninja wraps parser errors) before any handler."""


class _Parser(Parser):
    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = super().parse_body(request)
        stack: list[Any] = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                if _SURROGATE.search(item):
                    raise UnicodeTextError()
            elif isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        return data


api = NinjaAPI(
    parser=_Parser(),
    title="Baomi API",
    version=__version__,
    description="Baomi (保密) REST API. Errors are JSON `{code, message, detail}`.",
    urls_namespace="api",
    auth=[BearerTokenAuth(), VerifiedSessionAuth()],
    openapi_url="/openapi.json",
    docs_url="/docs",
)


@api.exception_handler(BaomiError)
def _baomi_error(request: HttpRequest, exc: BaomiError) -> HttpResponse:
    return api.create_response(
        request, error_body(exc.code, str(exc.message), exc.detail), status=exc.http_status
    )


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    detail = _validation_detail(exc.errors)
    malformed = any(err.get("type") == "json_invalid" for err in exc.errors)
    if malformed:
        return api.create_response(
            request,
            error_body("malformed_json", _("The request body is not valid JSON."), detail),
            status=400,
        )
    return api.create_response(
        request,
        error_body("validation_error", _("Some fields are not valid."), detail),
        status=422,
    )


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    # The holder of a real token learns why it no longer works; a made-up or garbled one
    # gets the general answer (nothing about which prefixes exist).
    refusal = getattr(request, "baomi_token_refusal", "")
    message = _TOKEN_REFUSALS.get(refusal)
    if message is None:
        body = error_body("unauthenticated", _("Sign in, or send a valid API token."))
    else:
        body = error_body("token_refused", str(message), {"reason": refusal})
    return api.create_response(request, body, status=401)


_TOKEN_REFUSALS = {
    "revoked": _lazy("This API token has been revoked."),
    "expired": _lazy("This API token has expired."),
    "user_left": _lazy("This API token's owner has left the firm."),
    "user_inactive": _lazy("This API token's owner has been deactivated."),
}


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeTextError):
        body = error_body(
            "malformed_text", _("The request body holds text that is not valid Unicode.")
        )
    elif exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        body = error_body("malformed_json", _("The request body is not valid JSON."))
    else:
        codes = {
            400: "bad_request",
            403: "access_denied",
            404: "not_found",
            405: "method_not_allowed",
            413: "request_too_large",
            429: "too_many_requests",
        }
        body = error_body(codes.get(exc.status_code, "error"), str(exc))
    return api.create_response(request, body, status=exc.status_code)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, error_body("not_found", _("Not found.")), status=404)


@api.exception_handler(PermissionDenied)
def _denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(
        request, error_body("access_denied", _("You are not allowed to do this.")), status=403
    )


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return api.create_response(
        request,
        error_body("request_too_large", _("The request body is too large.")),
        status=413,
    )


@api.exception_handler(json.JSONDecodeError)
def _bad_json(request: HttpRequest, exc: json.JSONDecodeError) -> HttpResponse:
    return api.create_response(
        request, error_body("malformed_json", _("The request body is not valid JSON.")), status=400
    )
