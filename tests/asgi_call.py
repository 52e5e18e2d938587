"""One request to a FastAPI app through httpx's ASGI transport (no server, no lifespan), for the API tests.

Starlette's TestClient warns about httpx and warnings are errors here, so the tests use this. Unless
told otherwise (``token=False``) or given an ``Authorization`` header, a request carries a real token
for the role its route needs (``auth_helpers.with_token``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from auth_helpers import with_token
from fastapi import FastAPI

__all__ = ["call"]


def call(app: FastAPI, method: str, url: str, *, token: bool = True, **kwargs: Any) -> httpx.Response:
    """One request on a fresh event loop."""
    if token:
        kwargs["headers"] = with_token(app, method, url, kwargs.get("headers"))

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sightline.test") as c:
            return await c.request(method, url, **kwargs)

    return asyncio.run(run())
