"""Per-camera status of live ingest, and the supervisor interface the API and metrics read.

A status is a snapshot: worker processes send theirs to the supervisor, which keeps the latest per
camera; the API returns them and the Prometheus collector turns them into gauges and counters at
scrape time, so no metric lives in a global.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from search.records import Camera

__all__ = ["CameraState", "CameraStatus", "CameraSupervisor"]


class CameraState(StrEnum):
    """Where a camera is in its life.

    STARTING → CONNECTING → STREAMING; a failure goes to RECONNECTING (exponential backoff with
    jitter), no frame for the stall timeout to STALLED (then RECONNECTING); a camera that keeps
    failing goes DOWN and is retried slowly; STOPPED once removed or at shutdown.
    """

    STARTING = "starting"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    STALLED = "stalled"
    DOWN = "down"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """A snapshot of one camera. Counters are totals since the camera was added."""

    camera_id: str
    state: CameraState
    since: datetime
    worker: int | None = None
    input_fps: float = 0.0
    analysed_fps: float = 0.0
    lag_s: float = 0.0
    reconnects: int = 0
    frames_decoded: int = 0
    frames_analysed: int = 0
    frames_dropped: int = 0
    frames_skipped_motion: int = 0
    sightings: int = 0
    width: int | None = None
    height: int | None = None
    last_frame_at: datetime | None = None
    last_error: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class CameraSupervisor(Protocol):
    """What the API needs from live ingest: cameras in and out while running, and their status."""

    def add_camera(self, camera: Camera) -> None: ...

    def remove_camera(self, camera_id: str) -> None: ...

    def status(self, camera_id: str) -> CameraStatus:
        """NotFound when the camera is not being ingested."""
        ...

    def statuses(self) -> list[CameraStatus]: ...
