"""Request metadata for audit entries, carried in a context variable.

The request-id middleware sets it once per request, so services record the IP, user
agent and request id of the request they serve without taking a request argument.
"""

from __future__ import annotations

import contextvars

from baomi.audit.services import RequestMeta

_meta: contextvars.ContextVar[RequestMeta | None] = contextvars.ContextVar(
    "baomi_request_meta", default=None
)


def set_request_meta(meta: RequestMeta | None) -> contextvars.Token[RequestMeta | None]:
    return _meta.set(meta)


def reset_request_meta(token: contextvars.Token[RequestMeta | None]) -> None:
    _meta.reset(token)


def current_request_meta() -> RequestMeta:
    return _meta.get() or RequestMeta()
