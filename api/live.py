"""The API's side of live ingest: which URLs it accepts, and keeping the supervisor in step.

Routes write a camera change to the store first and then tell the supervisor, so a request the
store refuses never reaches running streams; when the supervisor refuses an added camera the store
write is undone, so the registry and the running set stay the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from ingest.status import CameraSupervisor
from search.camera_import import StreamKind, classify_stream_url
from search.records import Camera, NewSighting
from search.services import SearchService
from sightline.errors import InputError, NotFound
from sightline.settings import Settings

__all__ = [
    "LiveIngestRunner",
    "SharedSink",
    "SupervisorFactory",
    "build_live_ingest",
    "check_api_stream_url",
    "is_live",
    "restart_if_url_changed",
    "stop_stream",
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
