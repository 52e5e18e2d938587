"""Live ingest: worker processes for many cameras, one sighting writer, status, restarts.

:class:`LiveIngest` starts ``ingest.workers`` worker processes (the 'spawn' start method: safe with
threads and onnxruntime), assigns each camera to a worker by a stable hash of its id (crc32 modulo
the worker count: the same camera always lands on the same worker, so a restarted worker takes its
cameras back with no rebalancing, and no shared state is needed to place one), relays cameras added
and removed while running, and writes every sighting the workers send through one sink in one
writer thread (the FAISS index files expect one writer).

A watchdog thread restarts a worker that dies, after a jittered exponential backoff (reset once a
worker has run for a minute), and hands its cameras back. Counters in a camera's status are totals
since the camera was added, carried across worker restarts; a restart counts as a reconnect.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing as mp
import queue
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from ingest.backoff import Backoff
from ingest.pipeline import SightingSink
from ingest.status import CameraState, CameraStatus
from ingest.worker import (
    RecogniserFactory,
    SightingEvent,
    StatusEvent,
    WorkerStopped,
    build_recogniser,
    worker_main,
)
from search.records import Camera
from sightline.errors import InputError, NotFound, SightlineError

if TYPE_CHECKING:
    from multiprocessing.context import SpawnProcess
    from multiprocessing.queues import Queue

    from sightline.settings import Settings

__all__ = ["LiveIngest", "SinkFactory", "shard_of"]

log = logging.getLogger(__name__)

#: Builds the sink in the writer thread (an SQLite connection belongs to the thread that opened it).
SinkFactory = Callable[[], SightingSink]

#: A worker that ran this long before dying restarts after the base delay again.
_HEALTHY_RUN_S = 60.0
_COUNTERS = ("frames_decoded", "frames_analysed", "frames_dropped", "frames_skipped_motion", "reconnects")


def shard_of(camera_id: str, workers: int) -> int:
    """The worker of a camera: stable across runs and restarts (crc32 of the id)."""
    return zlib.crc32(camera_id.encode("utf-8")) % workers


@dataclasses.dataclass(slots=True)
class _Worker:
    index: int
    process: SpawnProcess | None = None
    commands: Queue[Any] | None = None
    started: float = 0.0
    restart_at: float | None = None
    restarts: int = 0
    backoff: Backoff | None = None


class LiveIngest:
    """Implements :class:`ingest.status.CameraSupervisor`; use as a context manager or start/stop."""

    def __init__(
        self,
        settings: Settings,
        sink_factory: SinkFactory,
        *,
        recogniser_factory: RecogniserFactory = build_recogniser,
        restart_base_s: float = 1.0,
        restart_max_s: float = 30.0,
    ) -> None:
        self._settings = settings
        self._sink_factory = sink_factory
        self._recogniser_factory = recogniser_factory
        self._ctx = mp.get_context("spawn")
        self._events: Queue[Any] = self._ctx.Queue()
        self._workers = [
            _Worker(i, backoff=Backoff(restart_base_s, restart_max_s, down_after=1_000_000))
            for i in range(settings.ingest.workers)
        ]
        self._lock = threading.RLock()
        self._cameras: dict[str, Camera] = {}
        self._status: dict[str, CameraStatus] = {}
        self._base: dict[str, dict[str, int]] = {}
        self._written: dict[str, int] = {}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running = False
        self.sightings_written = 0
        self.write_errors = 0

    # -- lifetime -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        for w in self._workers:
            self._spawn(w)
        for target, name in ((self._write_loop, "ingest-writer"), (self._watch_loop, "ingest-watchdog")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("live ingest started: %d workers", len(self._workers))

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every camera (their open tracks are written), then the workers and the writer."""
        if not self._running:
            return
        self._stopping.set()
        with self._lock:
            workers = list(self._workers)
        for w in workers:
            if w.commands is not None and w.process is not None and w.process.is_alive():
                w.commands.put(("stop",))
        deadline = time.monotonic() + timeout
        for w in workers:
            if w.process is not None:
                w.process.join(max(0.1, deadline - time.monotonic()))
                if w.process.is_alive():
                    log.warning("worker %d did not stop in time; terminating it", w.index)
                    w.process.terminate()
                    w.process.join(2.0)
        self._events.put(None)  # the writer drains what the workers sent, then ends
        for thread in self._threads:
            thread.join(timeout)
        self._running = False
        with self._lock:
            for camera_id, st in self._status.items():
                self._status[camera_id] = dataclasses.replace(
                    st, state=CameraState.STOPPED, since=datetime.now(UTC)
                )
        log.info("live ingest stopped: %d sightings written", self.sightings_written)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- CameraSupervisor -----------------------------------------------------------------------

    def add_camera(self, camera: Camera) -> None:
        """Start ingesting ``camera`` (its URL is required); an existing id is restarted."""
        if not camera.url:
            raise InputError(f"camera {camera.id}: a live camera needs a URL")
        worker = shard_of(camera.id, len(self._workers))
        with self._lock:
            self._cameras[camera.id] = camera
            self._base.setdefault(camera.id, dict.fromkeys(_COUNTERS, 0))
            self._written.setdefault(camera.id, 0)
            self._status[camera.id] = CameraStatus(
                camera_id=camera.id, state=CameraState.STARTING, since=datetime.now(UTC), worker=worker
            )
            commands = self._workers[worker].commands
        if commands is not None:
            commands.put(("add", camera.id, camera.url))

    def remove_camera(self, camera_id: str) -> None:
        """Stop ingesting a camera; NotFound when it is not being ingested."""
        with self._lock:
            if camera_id not in self._cameras:
                raise NotFound(f"camera {camera_id} is not being ingested")
            del self._cameras[camera_id]
            self._status.pop(camera_id, None)
            self._base.pop(camera_id, None)
            self._written.pop(camera_id, None)
            commands = self._workers[shard_of(camera_id, len(self._workers))].commands
        if commands is not None:
            commands.put(("remove", camera_id))

    def status(self, camera_id: str) -> CameraStatus:
        with self._lock:
            try:
                return self._status[camera_id]
            except KeyError:
                raise NotFound(f"camera {camera_id} is not being ingested") from None

    def statuses(self) -> list[CameraStatus]:
        with self._lock:
            return sorted(self._status.values(), key=lambda s: s.camera_id)

    @property
    def restarts(self) -> dict[int, int]:
        """Restarts per worker index since start."""
        with self._lock:
            return {w.index: w.restarts for w in self._workers}

    def worker_pid(self, index: int) -> int | None:
        with self._lock:
            process = self._workers[index].process
        return process.pid if process is not None and process.is_alive() else None

    # -- workers --------------------------------------------------------------------------------

    def _spawn(self, w: _Worker) -> None:
        commands: Queue[Any] = self._ctx.Queue()
        process = self._ctx.Process(
            target=worker_main,
            args=(w.index, self._settings, commands, self._events, self._recogniser_factory),
            name=f"sightline-ingest-{w.index}",
            daemon=True,
        )
        process.start()
        with self._lock:
            w.process, w.commands, w.started, w.restart_at = process, commands, time.monotonic(), None
            mine = [c for c in self._cameras.values() if shard_of(c.id, len(self._workers)) == w.index]
        for camera in mine:
            commands.put(("add", camera.id, camera.url))
        log.info("worker %d started (pid %s) with %d cameras", w.index, process.pid, len(mine))

    def _watch_loop(self) -> None:
        while not self._stopping.wait(0.2):
            for w in self._workers:
                process = w.process
                if process is None or self._stopping.is_set():
                    continue
                if w.restart_at is None and not process.is_alive():
                    self._worker_died(w, process.exitcode)
                elif w.restart_at is not None and time.monotonic() >= w.restart_at:
                    with self._lock:
                        w.restarts += 1
                    self._spawn(w)

    def _worker_died(self, w: _Worker, exitcode: int | None) -> None:
        assert w.backoff is not None
        if time.monotonic() - w.started >= _HEALTHY_RUN_S:
            w.backoff.reset()
        delay = w.backoff.failure()
        message = f"worker {w.index} exited with code {exitcode}; restarting in {delay:.1f} s"
        log.error("%s", message)
        now = datetime.now(UTC)
        with self._lock:
            w.restart_at = time.monotonic() + delay
            for camera_id, st in self._status.items():
                if st.worker != w.index:
                    continue
                base = self._base[camera_id]
                if st.state is not CameraState.STARTING:
                    # Fold the dead worker's counters into the camera's totals.
                    for name in _COUNTERS:
                        base[name] = getattr(st, name)
                    base["reconnects"] += 1
                self._status[camera_id] = dataclasses.replace(
                    st,
                    state=CameraState.RECONNECTING,
                    since=now,
                    last_error=message,
                    reconnects=base["reconnects"],
                )

    # -- the writer -----------------------------------------------------------------------------

    def _write_loop(self) -> None:
        try:
            sink = self._sink_factory()
        except SightlineError:
            log.exception("cannot open the sighting sink; live ingest writes nothing")
            raise
        try:
            while True:
                try:
                    event = self._events.get(timeout=0.5)
                except queue.Empty:
                    continue
                if event is None:
                    break
                self._handle(event, sink)
        finally:
            close = getattr(sink, "close", None)
            if callable(close):
                close()

    def _handle(self, event: Any, sink: SightingSink) -> None:
        if isinstance(event, SightingEvent):
            try:
                sink.add_sighting(event.sighting)
            except SightlineError:
                self.write_errors += 1
                log.exception("camera %s: sighting not written", event.camera_id)
                return
            self.sightings_written += 1
            with self._lock:
                if event.camera_id in self._written:
                    self._written[event.camera_id] += 1
        elif isinstance(event, StatusEvent):
            self._merge(event)
        elif isinstance(event, WorkerStopped) and event.error:
            log.error("worker %d stopped: %s", event.worker, event.error)

    def _merge(self, event: StatusEvent) -> None:
        """Keep the latest status per camera, with totals carried over worker restarts."""
        st = event.status
        with self._lock:
            if (
                st.camera_id not in self._cameras
                or shard_of(st.camera_id, len(self._workers)) != event.worker
            ):
                return
            base = self._base[st.camera_id]
            totals = {name: getattr(st, name) + base[name] for name in _COUNTERS}
            extra = dict(st.extra)
            extra["worker_restarts"] = str(self._workers[event.worker].restarts)
            self._status[st.camera_id] = dataclasses.replace(
                st, sightings=self._written[st.camera_id], extra=extra, **totals
            )
