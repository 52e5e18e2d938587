"""A live-ingest worker: many cameras, one recognition loop, sightings sent to the supervisor.

Each camera decodes in its own thread (:class:`~ingest.camera.CameraRunner`) into a bounded
:class:`~ingest.camera.FrameHub`. One recognition loop per worker takes at most one frame per camera
per round, detects in each, embeds the faces of the whole round in one batched call (across
cameras), and feeds each camera's own tracker. Finished tracks become :class:`NewSighting`\\ s that
go to the supervisor through ``emit``; the worker writes nothing itself (one writer owns the index
files), so a killed worker loses only its open tracks, never a written sighting.

A frame-size change (camera reconfigured, or a new stream after reconnecting) ends the camera's open
tracks and starts a fresh tracker: boxes from two resolutions cannot be associated.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.queues import Queue
from typing import TYPE_CHECKING, Any

from ingest.camera import CameraRunner, FrameHub, QueuedFrame
from ingest.memory import release_free_memory
from ingest.recognise import Analysed, FrameRecogniser
from ingest.sources import StreamSource, open_source
from ingest.status import CameraStatus
from ingest.tracker import Tracker, TrackResult
from search.records import NewSighting
from sightline.redact import redact_url

if TYPE_CHECKING:
    from sightline.settings import Settings

__all__ = [
    "CameraWorker",
    "Event",
    "RecogniserFactory",
    "SightingEvent",
    "StatusEvent",
    "WorkerStopped",
    "build_recogniser",
    "worker_main",
]

log = logging.getLogger(__name__)

#: Builds the recognition models inside the worker process; must be a module-level function so the
#: 'spawn' start method can pickle it.
RecogniserFactory = Callable[["Settings"], FrameRecogniser]
#: Builds a camera's source from its URL.
SourceFactory = Callable[[str], StreamSource]


@dataclass(frozen=True, slots=True)
class SightingEvent:
    worker: int
    camera_id: str
    sighting: NewSighting


@dataclass(frozen=True, slots=True)
class StatusEvent:
    worker: int
    status: CameraStatus


@dataclass(frozen=True, slots=True)
class WorkerStopped:
    worker: int
    error: str | None = None


Event = SightingEvent | StatusEvent | WorkerStopped


def build_recogniser(settings: Settings) -> FrameRecogniser:
    """The recognition backends the settings name (the default recogniser factory)."""
    return FrameRecogniser.from_settings(settings)


@dataclass(slots=True)
class _Camera:
    runner: CameraRunner
    tracker: Tracker
    size: tuple[int, int] | None = None
    source_name: str = ""


class CameraWorker:
    """The cameras of one worker and its recognition loop; usable in-process (tests) or in a worker
    process (:func:`worker_main`). ``emit`` receives every event and must not block for long."""

    def __init__(
        self,
        index: int,
        settings: Settings,
        recogniser: FrameRecogniser,
        emit: Callable[[Event], None],
        source_factory: SourceFactory | None = None,
    ) -> None:
        self.index = index
        self._settings = settings
        self._ingest = settings.ingest
        self._recogniser = recogniser
        self._emit = emit
        self._source_factory = source_factory or (lambda url: open_source(url, settings.ingest))
        self._hub = FrameHub(settings.ingest.queue_size)
        self._cameras: dict[str, _Camera] = {}
        self._lock = threading.Lock()
        self._last_status = 0.0
        self._last_trim = time.monotonic()

    @property
    def camera_ids(self) -> list[str]:
        with self._lock:
            return list(self._cameras)

    def runner(self, camera_id: str) -> CameraRunner:
        with self._lock:
            return self._cameras[camera_id].runner

    # -- cameras in and out ---------------------------------------------------------------------

    def add(self, camera_id: str, url: str) -> None:
        """Start decoding a camera (a camera already here is restarted with the new URL)."""
        if camera_id in self.camera_ids:
            self.remove(camera_id)
        runner = CameraRunner(
            camera_id, lambda: self._source_factory(url), self._ingest, self._hub, worker=self.index
        )
        camera = _Camera(runner=runner, tracker=self._new_tracker(), source_name=redact_url(url))
        with self._lock:
            self._cameras[camera_id] = camera
        runner.start()
        log.info("worker %d: camera %s added (%s)", self.index, camera_id, camera.source_name)

    def remove(self, camera_id: str) -> None:
        """Stop a camera: join its thread, close its decoder, write its open tracks."""
        with self._lock:
            camera = self._cameras.pop(camera_id, None)
        if camera is None:
            return
        if not camera.runner.stop():
            log.warning("worker %d: camera %s decode thread did not stop in time", self.index, camera_id)
        self._hub.discard(camera_id)
        self._send(camera_id, camera, camera.tracker.flush())
        self._emit(StatusEvent(self.index, camera.runner.status()))
        log.info("worker %d: camera %s removed", self.index, camera_id)

    def stop(self) -> None:
        for camera_id in self.camera_ids:
            self.remove(camera_id)

    # -- the recognition loop -------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Recognise until ``stop`` is set; a failing step is logged and the loop goes on."""
        while not stop.is_set():
            try:
                self.step(timeout=0.1)
            except Exception:  # the top of the worker loop: log, keep the other cameras going
                log.exception("worker %d: recognition step failed", self.index)
                time.sleep(0.1)

    def step(self, timeout: float = 0.1) -> int:
        """One round: recognise up to one queued frame per camera (at most ``ingest.round_frames``,
        round-robin across cameras); returns frames analysed."""
        limit = max(1, min(len(self._cameras), self._ingest.round_frames))
        batch = self._hub.take(limit=limit, timeout=timeout)
        analysed: list[tuple[str, _Camera, Analysed]] = []
        for item in batch:
            camera = self._camera_for(item)
            if camera is not None:
                analysed.append(
                    (item.camera_id, camera, self._recogniser.analyse(item.frame.image, item.frame.wall))
                )
        if analysed:
            observations = self._recogniser.embed([a for _, _, a in analysed])
            for (camera_id, camera, a), obs in zip(analysed, observations, strict=True):
                self._send(camera_id, camera, camera.tracker.update(a.wall, obs))
                camera.runner.frames_analysed += 1
                camera.runner.last_processed_wall = a.wall
        self._housekeeping()
        return len(analysed)

    def _camera_for(self, item: QueuedFrame) -> _Camera | None:
        with self._lock:
            camera = self._cameras.get(item.camera_id)
        if camera is None:
            return None
        h, w = item.frame.image.shape[:2]
        if camera.size is not None and camera.size != (w, h):
            log.info("worker %d: camera %s changed size; ending its open tracks", self.index, item.camera_id)
            self._send(item.camera_id, camera, camera.tracker.flush())
            camera.tracker = self._new_tracker()
        camera.size = (w, h)
        return camera

    def _housekeeping(self) -> None:
        """End tracks past their gap, flush cameras whose file ended, send statuses when due."""
        with self._lock:
            cameras = list(self._cameras.items())
        for camera_id, camera in cameras:
            runner = camera.runner
            if runner.finished and self._hub.pending(camera_id) == 0 and camera.tracker.open_tracks:
                self._send(camera_id, camera, camera.tracker.flush())
            elif runner.last_processed_wall is not None:
                self._send(camera_id, camera, camera.tracker.expire(runner.last_processed_wall))
        now = time.monotonic()
        if now - self._last_status >= self._ingest.status_interval_s:
            self._last_status = now
            for _, camera in cameras:
                self._emit(StatusEvent(self.index, camera.runner.status()))
        trim_every = self._ingest.memory_trim_interval_s
        if trim_every > 0 and now - self._last_trim >= trim_every:
            self._last_trim = now
            release_free_memory()

    def _send(self, camera_id: str, camera: _Camera, results: list[TrackResult]) -> None:
        for result in results:
            sighting = result.to_sighting(camera_id, camera.source_name, self._ingest.crop_jpeg_quality)
            self._emit(SightingEvent(self.index, camera_id, sighting))
            camera.runner.sightings += 1

    def _new_tracker(self) -> Tracker:
        return Tracker(self._ingest, face_min_quality=self._settings.recognition.face.min_quality)


def _commands(worker: CameraWorker, commands: Queue[Any], stop: threading.Event) -> None:
    while not stop.is_set():
        command = commands.get()
        kind = command[0]
        if kind == "add":
            worker.add(command[1], command[2])
        elif kind == "remove":
            worker.remove(command[1])
        elif kind == "stop":
            stop.set()
        else:
            log.error("worker %d: unknown command %r", worker.index, kind)


def worker_main(
    index: int,
    settings: Settings,
    commands: Queue[Any],
    events: Queue[Any],
    recogniser_factory: RecogniserFactory = build_recogniser,
) -> None:
    """Entry point of a worker process: build the models, then serve commands until told to stop.

    Commands: ``("add", camera_id, url)``, ``("remove", camera_id)``, ``("stop",)``.
    """
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s worker {index} %(name)s %(levelname)s %(message)s"
    )
    try:
        recogniser = recogniser_factory(settings)
    except Exception as exc:  # reported to the supervisor, which restarts the worker with backoff
        log.exception("worker %d: cannot build the recognition models", index)
        events.put(WorkerStopped(index, f"cannot build the recognition models: {exc}"))
        raise SystemExit(1) from exc
    worker = CameraWorker(index, settings, recogniser, events.put)
    stop = threading.Event()
    listener = threading.Thread(target=_commands, args=(worker, commands, stop), daemon=True)
    listener.start()
    worker.run(stop)
    worker.stop()
    events.put(WorkerStopped(index))
