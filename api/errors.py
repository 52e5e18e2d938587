"""The one handler that maps the SightlineError tree (sightline/errors.py) to HTTP statuses.

    InputError      422  the caller can fix the request
      PatternError  400  a malformed plate pattern; the message says what is wrong
      UploadTooLarge 413
      NoFaceFound   422
      ImageDecodeError 422
    Unauthenticated 401  with ``WWW-Authenticate: Bearer``
    PermissionDenied 403 the role may not do this
    NotFound        404  also whatever lies outside the caller's camera scope
    StoreError      503  the store or index is unavailable; retrying may help
    ModelError      503  a model is not prepared or cannot load
    ServiceUnavailable 503  e.g. camera status in a process without live ingest
    Overloaded      503  with ``Retry-After``: e.g. every image decode slot is busy
    anything else   500

Every error body is ``{"error": <class name>, "detail": <message>}``; FastAPI's own request
validation errors use the same shape (``error`` = "InputError") so clients parse one format.

What a body may say: a 4xx message is written for the caller (what to fix) and is returned with any
URL credentials redacted. A 5xx message is written for the operator and may quote a SQL statement,
a file path or a driver's message (a review found ``since=0001-01-01T00:00:00+14:00`` returning the
store's SQL), so it stays in the server log and the body says only what failed; the exceptions are
ServiceUnavailable and Overloaded, whose messages are ours and say what the client can do. Every
logged message is redacted and escaped (one log call is one log line, whatever a client sent).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from search.audit_text import printable
from sightline.errors import (
    InputError,
    ModelError,
    NotFound,
    Overloaded,
    PatternError,
    PermissionDenied,
    ServiceUnavailable,
    SightlineError,
    StoreError,
    Unauthenticated,
    UploadTooLarge,
)
from sightline.redact import redact_text

__all__ = ["error_body", "install_error_handlers", "public_detail", "status_for"]

log = logging.getLogger(__name__)

# Most specific first: the first class the error is an instance of decides.
_STATUS: tuple[tuple[type[SightlineError], int], ...] = (
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (PatternError, 400),
    (UploadTooLarge, 413),
    (InputError, 422),
    (NotFound, 404),
    (StoreError, 503),
    (ModelError, 503),
    (ServiceUnavailable, 503),
    (Overloaded, 503),
)

# 5xx errors whose messages our own code writes for clients: no SQL, paths or driver text.
_PUBLIC_5XX: tuple[type[SightlineError], ...] = (ServiceUnavailable, Overloaded)

# What the body of any other 5xx says; the first class the error is an instance of decides.
_GENERIC_5XX: tuple[tuple[type[SightlineError], str], ...] = (
    (StoreError, "the store or the index failed; retrying may help (details in the server log)"),
    (ModelError, "a recognition model is unavailable (details in the server log)"),
)
_INTERNAL = "internal error; see the server log"

RETRY_AFTER_S = 1
"""``Retry-After`` of an Overloaded answer: a decode takes tens of milliseconds, so a slot frees soon."""


def status_for(exc: SightlineError) -> int:
    """The HTTP status for an error of the tree."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(error: str, detail: str) -> dict[str, str]:
    """The JSON body of every error response."""
    return {"error": error, "detail": detail}


def public_detail(exc: SightlineError) -> str:
    """What the response body says about ``exc`` (see the module docstring): never SQL or paths."""
    if status_for(exc) < 500 or isinstance(exc, _PUBLIC_5XX):
        return redact_text(str(exc))
    for cls, detail in _GENERIC_5XX:
        if isinstance(exc, cls):
            return detail
    return _INTERNAL


def _loggable(text: str) -> str:
    """``text`` redacted and escaped for a log line: a client's newline cannot forge a log entry."""
    return printable(redact_text(text))


async def _sightline_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SightlineError)
    status = status_for(exc)
    path, message = _loggable(request.url.path), _loggable(str(exc))
    if status >= 500:
        log.error("%s %s failed: %s: %s", request.method, path, type(exc).__name__, message)
    else:
        log.info("%s %s refused (%d): %s", request.method, path, status, message)
    headers: dict[str, str] | None = None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, Overloaded):
        headers = {"Retry-After": str(RETRY_AFTER_S)}
    return JSONResponse(
        error_body(type(exc).__name__, public_detail(exc)), status_code=status, headers=headers
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "header", "path"))
        parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg", "invalid")))
    return JSONResponse(error_body("InputError", "; ".join(parts)), status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        error_body("HTTPException", str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The message of an unexpected error may hold paths or data: log it, do not return it.
    log.exception("%s %s crashed", request.method, _loggable(request.url.path), exc_info=exc)
    return JSONResponse(error_body("InternalError", "internal error; see the server log"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(SightlineError, _sightline_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
