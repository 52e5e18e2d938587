"""The FastAPI application factory and the services it runs on.

No module-level app or settings: ``create_app(settings)`` builds one app per call, so tests and the
``serve`` command each get their own.

Lifecycle: when no :class:`Services` are given, the lifespan builds them **at startup** (the search
service first, then the recognition backends, each once) and closes them at shutdown. Startup
rather than first use because a model that is not prepared should stop ``sightline serve`` with a
clear ModelError instead of failing an investigator's first search, and because the first search
should not pay a multi-second model load. Services passed in belong to the caller, who closes them;
this is how tests share real models built once per session.

Live ingest follows the same ownership rule. An app that builds its own services and is given a
``supervisor_factory`` (``sightline serve``) builds the supervisor after the services, starts it,
hands it the store's RTSP cameras, and stops it at shutdown before the store closes. A supervisor
inside given ``Services`` belongs to the caller, who starts and stops it. An app that builds its own
services also applies the retention limit on a schedule (``api/retention.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.access import Access
from api.errors import install_error_handlers
from api.live import LiveIngestRunner, SupervisorFactory, camera_sync_loop, is_live
from api.metrics import ApiMetrics, HttpErrorCounter
from api.retention import retention_loop
from api.routers import auth, camera_status, cameras, docs, health, metrics, search, sightings
from api.services import Services
from api.uploads import FORM_OVERHEAD_BYTES, BodySizeLimit, DecodeSlots
from api.version import package_version
from ingest.status import CameraSupervisor
from sightline.settings import Settings

__all__ = ["Services", "SupervisorFactory", "create_app", "start_live_ingest"]

log = logging.getLogger(__name__)


def start_live_ingest(factory: SupervisorFactory, settings: Settings, services: Services) -> LiveIngestRunner:
    """Build and start the supervisor, then hand it every registered camera with an RTSP URL."""
    supervisor = factory(settings, services.search)
    supervisor.start()
    try:
        live = [c for c in services.search.cameras() if is_live(c)]
        for camera in live:
            supervisor.add_camera(camera)
    except BaseException:
        supervisor.stop()
        raise
    log.info("live ingest started with %d RTSP camera(s)", len(live))
    return supervisor


def create_app(
    settings: Settings,
    services: Services | None = None,
    *,
    supervisor_factory: SupervisorFactory | None = None,
) -> FastAPI:
    """An app serving ``settings``; builds its own services at startup unless ``services`` are given.

    ``supervisor_factory`` runs live ingest inside an app that builds its own services; it is
    refused together with ``services`` (their supervisor, if any, is the caller's).
    """
    if services is not None and supervisor_factory is not None:
        raise ValueError("create_app: pass a supervisor inside services, or a factory, not both")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is not None:
            yield
            return
        log.info("opening store in %s and loading models", settings.search.data_dir)
        # Model loading and migrations block: keep them off the event loop.
        built = await run_in_threadpool(Services.build, settings)
        supervisor: LiveIngestRunner | None = None
        try:
            if supervisor_factory is not None:
                supervisor = await run_in_threadpool(start_live_ingest, supervisor_factory, settings, built)
                built = dataclasses.replace(built, supervisor=supervisor)
        except BaseException:
            await run_in_threadpool(built.close)
            raise
        app.state.services = built
        app.state.access = await run_in_threadpool(Access.build, settings, built.search)
        tasks = []
        if settings.search.retention_interval_s > 0:
            tasks.append(
                asyncio.create_task(retention_loop(built.search, settings.search.retention_interval_s))
            )
        if supervisor is not None and settings.api.camera_sync_interval_s > 0:
            tasks.append(
                asyncio.create_task(
                    camera_sync_loop(supervisor, built.search, settings.api.camera_sync_interval_s)
                )
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            del app.state.services
            del app.state.access
            if supervisor is not None:
                log.info("stopping live ingest")
                await run_in_threadpool(supervisor.stop)
            log.info("closing store")
            await run_in_threadpool(built.close)

    app = FastAPI(
        title="Sightline",
        version=package_version(),
        summary="Investigative search over faces, vehicles and plates seen by cameras.",
        description=(
            "Log in with `POST /api/auth/token` and send the token as `Authorization: Bearer <token>`; "
            "every route but `/api/health` and the login needs it. What a user may do follows their "
            "role, and they see only the cameras in their scope. Every search names a case reference "
            "and a reason and is written to the audit trail with the user and the sightings returned; "
            'so is every sighting and crop read. Errors are `{"error": <class>, "detail": <message>}`.'
        ),
        lifespan=lifespan,
        # Closed unless the settings open them: api/routers/docs.py serves them to logged-in users.
        docs_url="/docs" if settings.api.open_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.api.open_docs else None,
    )
    app.state.settings = settings
    app.state.decode_slots = DecodeSlots(settings.api.max_concurrent_decodes, settings.api.decode_wait_s)
    if services is not None:
        app.state.services = services
        # Given services are ready now (tests call such an app without running its lifespan).
        app.state.access = Access.build(settings, services.search)

    def current_supervisor() -> CameraSupervisor | None:
        running: Services | None = getattr(app.state, "services", None)
        return running.supervisor if running is not None else None

    app_metrics = ApiMetrics.create(current_supervisor)
    app.state.metrics = app_metrics
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_upload_bytes + FORM_OVERHEAD_BYTES)
    # Added last, so outermost: it also counts the 413s the size limit sends itself.
    app.add_middleware(HttpErrorCounter, counter=app_metrics.http_errors)
    # The status routes come before /cameras/{camera_id} so that "status" is not taken for an id.
    for router in (
        health.router,
        auth.router,
        camera_status.router,
        cameras.router,
        search.router,
        sightings.router,
    ):
        app.include_router(router, prefix="/api")
    app.include_router(metrics.router)
    if not settings.api.open_docs:
        app.include_router(docs.router)
    return app
