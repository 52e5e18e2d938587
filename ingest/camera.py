"""One camera's decode thread: connect, decode, gate on motion, queue; reconnect on any failure.

PyAV decoding releases the GIL, so one thread per camera scales to hundreds of cameras per process.
The thread never blocks on the next stage: sampled frames go into the camera's slot of a
:class:`FrameHub`, which drops the oldest frame when full and counts it. Failures move the camera
through RECONNECTING (exponential backoff with full jitter), STALLED (no frame for the stall
timeout) and DOWN (slow jittered retries after repeated failures); it never retries in a tight loop.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest.backoff import Backoff
from ingest.motion import MotionGate
from ingest.settings import IngestSettings
from ingest.sources import StreamSource
from ingest.status import CameraState, CameraStatus
from ingest.video import Frame
from sightline.errors import AuthenticationFailed, SightlineError
from sightline.redact import redact_text

__all__ = ["CameraRunner", "FrameHub", "QueuedFrame"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class QueuedFrame:
    """A sampled frame waiting for recognition, with the camera it came from."""

    camera_id: str
    frame: Frame


class FrameHub:
    """Bounded per-camera frame queues shared by many decode threads and one recognition loop.

    ``put`` never blocks: a full queue drops its oldest frame (the freshest view is worth more than
    a stale one). ``take`` returns at most one frame per camera per call, round-robin, so a busy
    camera cannot starve the others.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._queues: dict[str, deque[Frame]] = {}
        self._cond = threading.Condition()

    def put(self, camera_id: str, frame: Frame) -> bool:
        """Queue ``frame``; False when the oldest frame had to be dropped to make room."""
        with self._cond:
            q = self._queues.setdefault(camera_id, deque())
            dropped = len(q) >= self._size
            if dropped:
                q.popleft()
            q.append(frame)
            self._cond.notify()
        return not dropped

    def discard(self, camera_id: str) -> None:
        with self._cond:
            self._queues.pop(camera_id, None)

    def pending(self, camera_id: str) -> int:
        with self._cond:
            return len(self._queues.get(camera_id, ()))

    def take(self, limit: int, timeout: float) -> list[QueuedFrame]:
        """Up to ``limit`` frames, one per camera, waiting up to ``timeout`` s for the first."""
        with self._cond:
            if not any(self._queues.values()):
                self._cond.wait(timeout)
            out: list[QueuedFrame] = []
            for camera_id in list(self._queues):
                q = self._queues[camera_id]
                if q and len(out) < limit:
                    out.append(QueuedFrame(camera_id, q.popleft()))
                    # Rotate: the camera served goes to the back of the order.
                    self._queues[camera_id] = self._queues.pop(camera_id)
            return out


class CameraRunner:
    """The decode thread of one camera and its counters; the recognition loop updates the rest."""

    def __init__(
        self,
        camera_id: str,
        source_factory: Callable[[], StreamSource],
        settings: IngestSettings,
        hub: FrameHub,
        *,
        worker: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.camera_id = camera_id
        self._factory = source_factory
        self._settings = settings
        self._hub = hub
        self._worker = worker
        self._backoff = Backoff(
            settings.reconnect_base_s,
            settings.reconnect_max_s,
            down_after=settings.down_after_failures,
            down_retry_s=settings.down_retry_s,
            rng=rng,
        )
        self._motion = MotionGate(settings.motion_threshold) if settings.motion_gating else None
        self._stop = threading.Event()
        self._source: StreamSource | None = None
        self._thread = threading.Thread(target=self._run, name=f"camera-{camera_id}", daemon=True)
        self.state = CameraState.STARTING
        self.since = datetime.now(UTC)
        self.finished = False
        self.attempts = 0
        self.reconnects = 0
        self.frames_decoded = 0
        self.frames_sampled = 0
        self.frames_dropped = 0
        self.frames_skipped_motion = 0
        self.resolution_changes = 0
        # Updated by the recognition loop.
        self.frames_analysed = 0
        self.sightings = 0
        self.last_processed_wall: datetime | None = None
        self.width: int | None = None
        self.height: int | None = None
        self.last_frame_at: datetime | None = None
        self.last_error: str | None = None
        self._rate_mark = (time.monotonic(), 0, 0)
        self._rates = (0.0, 0.0)

    # -- lifetime -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop decoding and close the source; True when the thread has ended."""
        self._stop.set()
        source = self._source
        if source is not None:
            source.close()
        self._thread.join(timeout)
        self._set_state(CameraState.STOPPED)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the thread -----------------------------------------------------------------------------

    def _set_state(self, state: CameraState) -> None:
        if state is not self.state:
            log.debug("camera %s: %s -> %s", self.camera_id, self.state.value, state.value)
            self.state = state
            self.since = datetime.now(UTC)

    def _run(self) -> None:
        try:
            source = self._factory()
        except SightlineError as exc:
            self.last_error = redact_text(str(exc))
            log.warning("camera %s cannot start: %s", self.camera_id, self.last_error)
            self._set_state(CameraState.DOWN)
            return
        self._source = source
        while not self._stop.is_set():
            self._set_state(CameraState.CONNECTING if self.attempts == 0 else self.state)
            self.attempts += 1
            try:
                source.open()
                for frame in source.frames():
                    if self.state is not CameraState.STREAMING:
                        self._set_state(CameraState.STREAMING)
                        self._backoff.reset()
                    self._handle(frame, source)
                    if self._stop.is_set():
                        break
                else:
                    if source.finite and not self._stop.is_set():
                        log.info("camera %s: %s ended", self.camera_id, source.name)
                        self.frames_decoded = source.frames_decoded
                        self.finished = True
                        self._set_state(CameraState.STOPPED)
                        return
            except AuthenticationFailed as exc:
                if self._stop.is_set():
                    break
                # Wrong credentials stay wrong until someone fixes the URL: retry slowly, as DOWN.
                self._backoff.give_up()
                self._failed(redact_text(str(exc)), False)
            except SightlineError as exc:
                if self._stop.is_set():
                    break
                self._failed(redact_text(str(exc)), source.stalled)
            except Exception as exc:  # a decode thread must never die silently: log, count, retry
                if self._stop.is_set():
                    break
                log.exception("camera %s: unexpected error", self.camera_id)
                self._failed(redact_text(f"{type(exc).__name__}: {exc}"), False)
            finally:
                self.frames_decoded = source.frames_decoded
                source.close()
        self._set_state(CameraState.STOPPED)

    def _failed(self, message: str, stalled: bool) -> None:
        self.last_error = message
        self.reconnects += 1
        delay = self._backoff.failure()
        if self._backoff.down:
            state = CameraState.DOWN
        else:
            state = CameraState.STALLED if stalled else CameraState.RECONNECTING
        self._set_state(state)
        log.warning("camera %s %s: %s; retrying in %.1f s", self.camera_id, state.value, message, delay)
        self._stop.wait(delay)
        if not self._stop.is_set() and state is CameraState.STALLED:
            self._set_state(CameraState.RECONNECTING)

    def _handle(self, frame: Frame, source: StreamSource) -> None:
        self.frames_decoded = source.frames_decoded
        self.frames_sampled += 1
        self.last_frame_at = datetime.now(UTC)
        h, w = frame.image.shape[:2]
        if (w, h) != (self.width, self.height):
            if self.width is not None:
                self.resolution_changes += 1
                log.info(
                    "camera %s: resolution %sx%s -> %dx%d", self.camera_id, self.width, self.height, w, h
                )
            self.width, self.height = w, h
        if self._motion is not None and not self._motion.moved(frame.image):
            self.frames_skipped_motion += 1
            self.last_processed_wall = frame.wall
            return
        if not self._hub.put(self.camera_id, frame):
            self.frames_dropped += 1

    # -- status ---------------------------------------------------------------------------------

    def status(self) -> CameraStatus:
        """A snapshot; rates are measured since the previous snapshot (about a second ago)."""
        now = time.monotonic()
        t0, decoded0, analysed0 = self._rate_mark
        if now - t0 >= 0.5:
            dt = now - t0
            self._rates = ((self.frames_decoded - decoded0) / dt, (self.frames_analysed - analysed0) / dt)
            self._rate_mark = (now, self.frames_decoded, self.frames_analysed)
        lag = 0.0
        if self.last_processed_wall is not None:
            lag = max(0.0, (datetime.now(UTC) - self.last_processed_wall).total_seconds())
        extra = {"attempts": str(self.attempts), "resolution_changes": str(self.resolution_changes)}
        if self.finished:
            extra["ended"] = "end of file"
        return CameraStatus(
            camera_id=self.camera_id,
            state=self.state,
            since=self.since,
            worker=self._worker,
            input_fps=round(self._rates[0], 2),
            analysed_fps=round(self._rates[1], 2),
            lag_s=round(lag, 3),
            reconnects=self.reconnects,
            frames_decoded=self.frames_decoded,
            frames_analysed=self.frames_analysed,
            frames_dropped=self.frames_dropped,
            frames_skipped_motion=self.frames_skipped_motion,
            sightings=self.sightings,
            width=self.width,
            height=self.height,
            last_frame_at=self.last_frame_at,
            last_error=self.last_error,
            extra=extra,
        )
