"""Request-scoped plumbing shared by every view."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from baomi.audit.context import reset_request_meta, set_request_meta
from baomi.audit.services import RequestMeta
from baomi.errors import BaomiError

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Give every request an id (kept from a well-formed `X-Request-ID`, else new).

    The id is echoed in the response and recorded with audit events, so an operator
    can tie a user's report to the server's records.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from baomi.vault.door import record_rolled_back_refusals

        self.get_response = get_response
        self._refusals = record_rolled_back_refusals

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]  # request annotation
        token = set_request_meta(RequestMeta.from_request(request))
        try:
            response = self.get_response(request)
            # A refusal recorded inside a transaction that then rolled back is written
            # again here, outside it (the refusal must stay in the ledger).
            self._refusals()
        finally:
            reset_request_meta(token)
        response["X-Request-ID"] = request_id
        return response


class BaomiErrorMiddleware:
    """Render a `BaomiError` raised by a web view as a localized error page.

    The API renders the same errors as JSON itself; this covers server-rendered pages,
    e.g. a refusal because the audit ledger could not be written (fail closed).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, BaomiError) or request.path.startswith("/api/"):
            return None
        return baomi_error_response(request, exception)


def baomi_error_response(request: HttpRequest, exc: BaomiError) -> HttpResponse:
    """`exc` as the client expects it: JSON `{code, message, detail}` under /api/, else
    the localized error page. For errors raised outside a view (by a middleware)."""
    from django.http import JsonResponse
    from django.shortcuts import render

    from baomi.errors import error_body

    if request.path.startswith("/api/"):
        return JsonResponse(error_body(exc.code, str(exc.message), exc.detail),
                            status=exc.http_status)
    return render(request, "errors/baomi_error.html",
                  {"message": exc.message, "code": exc.code}, status=exc.http_status)
