"""``/openapi.json`` and ``/docs`` for logged-in users, when the settings do not open them to all.

The schema maps every route and parameter, so by default it is served like any other data: with a
token. ``api.open_docs = true`` gives FastAPI's own open pages instead (development, the demo).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from api.deps import PrincipalDep

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json")
def openapi(request: Request, principal: PrincipalDep) -> dict[str, Any]:
    schema: dict[str, Any] = request.app.openapi()
    return schema


@router.get("/docs")
def docs(principal: PrincipalDep) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Sightline API")
