"""The FastAPI application factory and the services it runs on.

No module-level app or settings: ``create_app(settings)`` builds one app per call, so tests and the
``serve`` command each get their own.

Lifecycle: when no :class:`Services` are given, the lifespan builds them **at startup** (the search
service first, then the recognition backends, each once) and closes them at shutdown. Startup
rather than first use because a model that is not prepared should stop ``sightline serve`` with a
clear ModelError instead of failing an investigator's first search, and because the first search
should not pay a multi-second model load. Services passed in belong to the caller, who closes them;
this is how tests share real models built once per session.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.errors import install_error_handlers
from api.routers import cameras, health, search, sightings
from api.services import Services
from api.uploads import FORM_OVERHEAD_BYTES, BodySizeLimit
from api.version import package_version
from sightline.settings import Settings

__all__ = ["Services", "create_app"]

log = logging.getLogger(__name__)


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """An app serving ``settings``; builds its own services at startup unless ``services`` are given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is not None:
            yield
            return
        log.info("opening store in %s and loading models", settings.search.data_dir)
        # Model loading and migrations block: keep them off the event loop.
        built = await run_in_threadpool(Services.build, settings)
        app.state.services = built
        try:
            yield
        finally:
            log.info("closing store")
            await run_in_threadpool(built.close)
            del app.state.services

    app = FastAPI(
        title="Sightline",
        version=package_version(),
        summary="Investigative search over faces, vehicles and plates seen by cameras.",
        description=(
            "Every search names a case reference and a reason and is written to an append-only audit "
            "log with the actor (`X-Sightline-User` header) and the sightings returned. Errors are "
            '`{"error": <class>, "detail": <message>}`.'
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    if services is not None:
        app.state.services = services
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_upload_bytes + FORM_OVERHEAD_BYTES)
    for router in (health.router, cameras.router, search.router, sightings.router):
        app.include_router(router, prefix="/api")
    return app
