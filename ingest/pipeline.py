"""The offline ingest path: a video file in, one sighting per tracked face or vehicle out.

Per analysed frame, :class:`~ingest.recognise.FrameRecogniser` detects faces and plates (and
vehicles, when a vehicle detector is configured) and describes vehicles; faces are embedded in
batches gathered across consecutive frames. A per-camera :class:`Tracker` groups the detections,
and every track is written to the sink the moment it ends, so a crash or a broken file keeps every
sighting finished before it. A stream that breaks mid-file ends the open tracks as sightings and is
reported in :class:`IngestReport` rather than raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ingest.recognise import Analysed, FrameRecogniser
from ingest.tracker import Tracker, TrackResult
from ingest.video import Frame, VideoSource, open_video
from recognition.base import FaceDetector, FaceEmbedder, PlateLocator, VehicleDetector, VehicleEmbedder
from search.records import NewSighting
from sightline.errors import StreamError

if TYPE_CHECKING:
    from sightline.settings import Settings

__all__ = ["IngestPipeline", "IngestReport", "ProgressCallback", "SightingSink"]

log = logging.getLogger(__name__)

#: Called after each analysed frame with (position reached in seconds, declared duration or None).
ProgressCallback = Callable[[float, float | None], None]


class SightingSink(Protocol):
    """Where finished tracks go: the store in production, a list in tests."""

    def add_sighting(self, s: NewSighting) -> int: ...


@dataclass(slots=True)
class IngestReport:
    """What one file's ingest did. ``error`` is set when the stream broke; sightings before it are kept.

    ``vehicles`` counts vehicle observations over the analysed frames, ``plates`` those of them with a
    plate read: without a vehicle detector every vehicle is found from its plate, so the two are equal.
    """

    path: str
    camera_id: str
    frames_decoded: int = 0
    frames_analysed: int = 0
    faces: int = 0
    vehicles: int = 0
    plates: int = 0
    sightings_written: int = 0
    tracks_dropped: int = 0
    error: str | None = None
    elapsed_s: float = 0.0
    sighting_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class _Pending:
    """An analysed frame waiting for its faces' batched embedding."""

    frame: Frame
    analysed: Analysed


class IngestPipeline:
    """Runs recognition on sampled frames of a file and writes one sighting per finished track.

    ``vehicle_detector`` is optional (keyword) as in :class:`FrameRecogniser`: None finds vehicles
    from their plates only.
    """

    def __init__(
        self,
        settings: Settings,
        face_detector: FaceDetector,
        face_embedder: FaceEmbedder,
        plate_locator: PlateLocator,
        vehicle_embedder: VehicleEmbedder,
        sink: SightingSink,
        *,
        vehicle_detector: VehicleDetector | None = None,
    ) -> None:
        self._settings = settings
        self._ingest = settings.ingest
        self._recogniser = FrameRecogniser(
            settings, face_detector, face_embedder, plate_locator, vehicle_embedder, vehicle_detector
        )
        self._sink = sink

    @classmethod
    def from_settings(cls, settings: Settings, sink: SightingSink) -> IngestPipeline:
        """The pipeline with the backends the settings name, built through the recognition registry."""
        b = FrameRecogniser.from_settings(settings).backends
        return cls(
            settings,
            b.face_detector,
            b.face_embedder,
            b.plate_locator,
            b.vehicle_embedder,
            sink,
            vehicle_detector=b.vehicle_detector,
        )

    def ingest_file(
        self,
        path: Path | str,
        camera_id: str,
        start_time: datetime | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Ingest one file from camera ``camera_id``; ``start_time`` is the wall-clock time of pts 0.

        A file that is no readable video, or a stream that breaks mid-file, is reported in
        ``IngestReport.error`` (after the open tracks are written) rather than raised, so one bad
        file does not stop a batch; a missing file raises NotFound.
        """
        started = time.perf_counter()
        report = IngestReport(path=str(path), camera_id=camera_id)
        tracker = Tracker(self._ingest, face_min_quality=self._settings.recognition.face.min_quality)
        try:
            source = open_video(
                path,
                start_time=start_time,
                sample_fps=self._ingest.sample_fps,
                keyframes_only=self._ingest.keyframes_only,
            )
        except StreamError as exc:
            report.error = str(exc)
            report.elapsed_s = time.perf_counter() - started
            log.warning("%s", exc)
            return report
        pending: list[_Pending] = []
        with source:
            try:
                for frame in source:
                    pending.append(self._analyse(frame, report))
                    if self._batch_ready(pending):
                        self._drain(pending, tracker, report, camera_id, source)
                    else:
                        self._write(tracker.expire(pending[0].frame.wall), report, camera_id, source)
                    report.frames_decoded = source.frames_decoded
                    if progress is not None:
                        progress(source.position_s, source.duration_s)
            except StreamError as exc:
                report.error = str(exc)
                log.warning("%s: %s; keeping the sightings of tracks seen so far", path, exc)
            finally:
                report.frames_decoded = source.frames_decoded
            self._drain(pending, tracker, report, camera_id, source)
            self._write(tracker.flush(), report, camera_id, source)
        report.tracks_dropped = tracker.tracks_dropped
        report.elapsed_s = time.perf_counter() - started
        log.info(
            "%s (%s): %d frames decoded, %d analysed, %d faces, %d vehicles, %d plates, %d sightings%s",
            path,
            camera_id,
            report.frames_decoded,
            report.frames_analysed,
            report.faces,
            report.vehicles,
            report.plates,
            report.sightings_written,
            f", stream error: {report.error}" if report.error else "",
        )
        return report

    def _batch_ready(self, pending: Sequence[_Pending]) -> bool:
        """Embed when the batch is full, when it holds as many frames as the batch has faces (bounding
        the frames kept in memory), or when the newest frame has no face: the faces in view have
        left, so the batch will not grow soon and their tracks should move on."""
        faces = sum(len(p.analysed.faces) for p in pending)
        batch = self._ingest.face_batch
        return not pending[-1].analysed.faces or faces >= batch or len(pending) >= batch

    # -- per frame ------------------------------------------------------------------------------

    def _analyse(self, frame: Frame, report: IngestReport) -> _Pending:
        """Detections of one frame; face embeddings wait for the batch."""
        report.frames_analysed += 1
        analysed = self._recogniser.analyse(frame.image, frame.wall)
        report.faces += len(analysed.faces)
        report.vehicles += len(analysed.vehicles)
        report.plates += sum(1 for v in analysed.vehicles if v.plate is not None)
        return _Pending(frame=frame, analysed=analysed)

    # -- batches and tracks ---------------------------------------------------------------------

    def _drain(
        self,
        pending: list[_Pending],
        tracker: Tracker,
        report: IngestReport,
        camera_id: str,
        source: VideoSource,
    ) -> None:
        """Embed the pending frames' faces in one call, then feed the frames to the tracker in order."""
        if not pending:
            return
        observations = self._recogniser.embed([p.analysed for p in pending])
        for p, obs in zip(pending, observations, strict=True):
            self._write(tracker.update(p.frame.wall, obs), report, camera_id, source)
        pending.clear()

    def _write(
        self, results: Sequence[TrackResult], report: IngestReport, camera_id: str, source: VideoSource
    ) -> None:
        for result in results:
            sighting = result.to_sighting(camera_id, str(source.path), self._ingest.crop_jpeg_quality)
            report.sighting_ids.append(self._sink.add_sighting(sighting))
            report.sightings_written += 1
