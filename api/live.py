"""The API's side of live ingest: which URLs it accepts, and keeping the supervisor in step.

Routes write a camera change to the store first and then tell the supervisor, so a request the
store refuses never reaches running streams; when the supervisor refuses an added camera the store
write is undone, so the registry and the running set stay the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from ingest.status import CameraSupervisor
from search.camera_import import StreamKind, classify_stream_url
from search.records import Camera, NewSighting
from search.services import SearchService
from sightline.errors import InputError, NotFound, SightlineError
from sightline.redact import redact_text
from sightline.settings import Settings

__all__ = [
    "LiveIngestRunner",
    "SharedSink",
    "SupervisorFactory",
    "build_live_ingest",
    "camera_sync_loop",
    "check_api_stream_url",
    "is_live",
    "restart_if_url_changed",
    "stop_stream",
    "sync_cameras",
]

log = logging.getLogger(__name__)


class LiveIngestRunner(CameraSupervisor, Protocol):
    """A supervisor the app owns: the lifespan starts it before serving and stops it at shutdown."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


SupervisorFactory = Callable[[Settings, SearchService], LiveIngestRunner]
"""Builds the live-ingest supervisor, writing into the app's search service (``sightline serve``)."""


class SharedSink:
    """The app's search service as live ingest's sighting sink, without handing over its lifetime.

    Sharing the one service (rather than opening a second one on the same data directory) keeps one
    writer of the index files and lets searches find a sighting as soon as it is written. It has
    no ``close``: the supervisor's writer closes a sink that has one, and the app closes the service.
    """

    def __init__(self, service: SearchService) -> None:
        self._service = service

    def add_sighting(self, s: NewSighting) -> int:
        return self._service.add_sighting(s)


def build_live_ingest(settings: Settings, service: SearchService) -> LiveIngestRunner:
    """The production supervisor: ``ingest.workers`` worker processes writing into ``service``."""
    from ingest.supervisor import LiveIngest  # multiprocessing and the worker code: only when serving

    return LiveIngest(settings, lambda: SharedSink(service))


def check_api_stream_url(url: str | None) -> None:
    """InputError unless ``url`` is None or rtsp(s)://: the API never opens files on the server."""
    if url is None:
        return
    try:
        kind = classify_stream_url(url)
    except InputError as exc:
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme in ("http", "https"):
            raise InputError(
                f"url: not an RTSP URL ({scheme}://); cameras added through the API stream over "
                "rtsp:// or rtsps://"
            ) from exc
        raise InputError(
            f"url: {exc}; cameras added through the API stream over rtsp:// or rtsps://"
        ) from exc
    if kind is StreamKind.FILE:
        raise InputError(
            "url: file sources (file:// or a path) are for the CLI and replay only "
            "(sightline cameras import, sightline ingest); the API accepts rtsp:// or rtsps://"
        )


def is_live(camera: Camera) -> bool:
    """Whether live ingest streams this camera (an rtsp(s) URL)."""
    if camera.url is None:
        return False
    try:
        return classify_stream_url(camera.url) is StreamKind.LIVE
    except InputError:
        return False


def stop_stream(supervisor: CameraSupervisor, camera_id: str) -> None:
    """Remove a camera from live ingest; one the supervisor does not run is already stopped."""
    try:
        supervisor.remove_camera(camera_id)
    except NotFound:
        log.debug("camera %s was not being ingested live", camera_id)


def restart_if_url_changed(supervisor: CameraSupervisor, before: Camera, after: Camera) -> None:
    """Restart a camera's stream when its URL changed; other fields leave the stream alone."""
    if before.url == after.url:
        return
    if is_live(before):
        stop_stream(supervisor, before.id)
    if is_live(after):
        supervisor.add_camera(after)
    log.info("camera %s: stream URL changed, live ingest updated", after.id)


def sync_cameras(supervisor: CameraSupervisor, cameras: list[Camera]) -> tuple[list[str], list[str]]:
    """Start registered RTSP cameras that live ingest does not run, stop those no longer registered.

    The API starts and stops cameras itself; this catches changes made by another process, such as
    `sightline cameras import` while the server runs. A URL changed that way takes effect through
    the API (PUT) or at the next start. Returns (started, stopped) camera ids; a camera that cannot
    be started is logged and tried again at the next sync.
    """
    running = {s.camera_id for s in supervisor.statuses()}
    wanted = {c.id: c for c in cameras if is_live(c)}
    started: list[str] = []
    stopped: list[str] = []
    for camera_id in sorted(running - set(wanted)):
        stop_stream(supervisor, camera_id)
        stopped.append(camera_id)
    for camera_id in sorted(set(wanted) - running):
        try:
            supervisor.add_camera(wanted[camera_id])
        except SightlineError as exc:
            log.warning("camera %s could not be started: %s", camera_id, redact_text(str(exc)))
            continue
        started.append(camera_id)
    if started or stopped:
        log.info("camera registry sync: started %s, stopped %s", started or "none", stopped or "none")
    return started, stopped


async def camera_sync_loop(supervisor: CameraSupervisor, service: SearchService, interval_s: float) -> None:
    """:func:`sync_cameras` every ``interval_s`` seconds until cancelled; a failed sync is logged."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await run_in_threadpool(lambda: sync_cameras(supervisor, service.cameras()))
        except Exception:  # keep the server up: the next sync tries again
            log.exception("camera registry sync failed")
