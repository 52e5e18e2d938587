"""One request to a FastAPI app through httpx's ASGI transport (no server, no lifespan), for the API tests.

Starlette's TestClient warns about httpx and warnings are errors here, so the tests use this.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

__all__ = ["call"]


def call(app: FastAPI, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request on a fresh event loop."""

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sightline.test") as c:
            return await c.request(method, url, **kwargs)

    return asyncio.run(run())
