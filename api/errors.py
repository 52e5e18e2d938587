"""The one handler that maps the SightlineError tree (sightline/errors.py) to HTTP statuses.

    InputError      422  the caller can fix the request
      PatternError  400  a malformed plate pattern; the message says what is wrong
      UploadTooLarge 413
      NoFaceFound   422
      ImageDecodeError 422
    NotFound        404
    StoreError      503  the store or index is unavailable; retrying may help
    ModelError      503  a model is not prepared or cannot load
    ServiceUnavailable 503  e.g. camera status in a process without live ingest
    anything else   500

Every error body is ``{"error": <class name>, "detail": <message>}``; FastAPI's own request
validation errors use the same shape (``error`` = "InputError") so clients parse one format.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sightline.errors import (
    InputError,
    ModelError,
    NotFound,
    PatternError,
    ServiceUnavailable,
    SightlineError,
    StoreError,
    UploadTooLarge,
)

__all__ = ["error_body", "install_error_handlers", "status_for"]

log = logging.getLogger(__name__)

# Most specific first: the first class the error is an instance of decides.
_STATUS: tuple[tuple[type[SightlineError], int], ...] = (
    (PatternError, 400),
    (UploadTooLarge, 413),
    (InputError, 422),
    (NotFound, 404),
    (StoreError, 503),
    (ModelError, 503),
    (ServiceUnavailable, 503),
)


def status_for(exc: SightlineError) -> int:
    """The HTTP status for an error of the tree."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(error: str, detail: str) -> dict[str, str]:
    """The JSON body of every error response."""
    return {"error": error, "detail": detail}


async def _sightline_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SightlineError)
    status = status_for(exc)
    if status >= 500:
        log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    else:
        log.info("%s %s refused (%d): %s", request.method, request.url.path, status, exc)
    return JSONResponse(error_body(type(exc).__name__, str(exc)), status_code=status)


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
    log.exception("%s %s crashed", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("InternalError", "internal error; see the server log"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(SightlineError, _sightline_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
