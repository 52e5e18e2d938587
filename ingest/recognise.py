"""Recognition of sampled frames into tracker observations, shared by file and live ingest.

Per frame: faces are detected and scored for quality; plates are found and read; vehicles are
found by the configured vehicle detector when there is one (plates then attach to the vehicle boxes
that hold them) and otherwise from their plates alone (``ingest.vehicles``), and each is described
(colour name, appearance vector). Face embeddings wait:
:meth:`FrameRecogniser.embed` embeds the faces of many frames (of one file, or of many cameras) in
one batched call, which is what accelerators need and what keeps per-call overhead down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ingest.crops import crop, expand_box
from ingest.tracker import Observation
from ingest.vehicles import vehicle_candidates
from recognition.base import (
    FaceDetector,
    FaceEmbedder,
    Image,
    PlateLocator,
    VehicleDetector,
    VehicleEmbedder,
)
from recognition.face_quality import face_quality
from recognition.types import FaceDetection, PlateDetection
from recognition.vehicle_color import vehicle_color_name
from search.records import SightingKind

if TYPE_CHECKING:
    from sightline.settings import Settings

__all__ = ["Analysed", "FrameRecogniser", "RecognitionBackends"]


class RecognitionBackends(NamedTuple):
    """The models a :class:`FrameRecogniser` runs, in its constructor's order.

    A named tuple so callers that rebuild a recogniser elsewhere (``IngestPipeline.from_settings``)
    pass each model by name and the optional detector cannot slip into another parameter's place.
    """

    face_detector: FaceDetector
    face_embedder: FaceEmbedder
    plate_locator: PlateLocator
    vehicle_embedder: VehicleEmbedder
    vehicle_detector: VehicleDetector | None = None


@dataclass(slots=True)
class Analysed:
    """One analysed frame whose faces wait for the batched embedding."""

    image: Image
    wall: datetime
    faces: list[tuple[FaceDetection, float]]
    vehicles: list[Observation]


class FrameRecogniser:
    """The recognition models and the per-frame steps that use them.

    ``vehicle_detector`` is optional because we ship none (``recognition.user_models``): without
    it vehicles are found from their plates only, exactly as before detectors could be declared.
    """

    def __init__(
        self,
        settings: Settings,
        face_detector: FaceDetector,
        face_embedder: FaceEmbedder,
        plate_locator: PlateLocator,
        vehicle_embedder: VehicleEmbedder,
        vehicle_detector: VehicleDetector | None = None,
    ) -> None:
        self._settings = settings
        self._face_detector = face_detector
        self._face_embedder = face_embedder
        self._plate_locator = plate_locator
        self._vehicle_embedder = vehicle_embedder
        self._vehicle_detector = vehicle_detector

    @classmethod
    def from_settings(cls, settings: Settings) -> FrameRecogniser:
        """The backends the settings name, built through the recognition registry."""
        from recognition.registry import (
            build_face_detector,
            build_face_embedder,
            build_plate_locator,
            build_vehicle_detector,
            build_vehicle_embedder,
        )

        return cls(
            settings,
            build_face_detector(settings),
            build_face_embedder(settings),
            build_plate_locator(settings),
            build_vehicle_embedder(settings),
            build_vehicle_detector(settings),
        )

    @property
    def backends(self) -> RecognitionBackends:
        """The models, in constructor order (the vehicle detector last, None when not configured)."""
        return RecognitionBackends(
            self._face_detector,
            self._face_embedder,
            self._plate_locator,
            self._vehicle_embedder,
            self._vehicle_detector,
        )

    def analyse(self, image: Image, wall: datetime) -> Analysed:
        """Detections of one frame; face embeddings wait for :meth:`embed`."""
        faces = [(det, face_quality(image, det).score) for det in self._face_detector.detect(image)]
        return Analysed(
            image=image, wall=wall, faces=faces, vehicles=self._vehicles(image, wall, self._plates(image))
        )

    def embed(self, frames: Sequence[Analysed]) -> list[list[Observation]]:
        """Every frame's observations, its faces embedded in one call across all ``frames``."""
        items = [(a.image, det) for a in frames for det, _ in a.faces]
        vectors = self._face_embedder.embed_many(items).vectors if items else np.zeros((0, 0), np.float32)
        margin = self._settings.ingest.face_crop_margin
        row = 0
        out: list[list[Observation]] = []
        for a in frames:
            h, w = a.image.shape[:2]
            observations: list[Observation] = []
            for det, quality in a.faces:
                observations.append(
                    Observation(
                        kind=SightingKind.FACE,
                        box=det.box,
                        time=a.wall,
                        quality=quality,
                        crop=crop(a.image, expand_box(det.box, margin, w, h)),
                        embedding=vectors[row].astype(np.float32, copy=True),
                    )
                )
                row += 1
            observations.extend(a.vehicles)
            out.append(observations)
        return out

    def _plates(self, image: Image) -> list[PlateDetection]:
        """Plates whose mean character confidence reaches ``plate.min_confidence``."""
        keep = self._settings.recognition.plate.min_confidence
        found = self._plate_locator.find(image)
        return [p for p in found if p.read.text and float(np.mean(p.read.char_confidences)) >= keep]

    def _vehicles(self, image: Image, wall: datetime, plates: Sequence[PlateDetection]) -> list[Observation]:
        """One observation per vehicle (``ingest.vehicles`` decides its box and plate), described by
        its colour and appearance, all boxes embedded in one call."""
        detections = self._vehicle_detector.detect(image) if self._vehicle_detector is not None else None
        h, w = image.shape[:2]
        candidates = vehicle_candidates(w, h, plates, detections)
        if not candidates:
            return []
        vectors = self._vehicle_embedder.embed(image, [c.box for c in candidates]).vectors
        observations = []
        for candidate, vector in zip(candidates, vectors, strict=True):
            patch = crop(image, candidate.box)
            color, color_score = vehicle_color_name(patch)
            observations.append(
                Observation(
                    kind=SightingKind.VEHICLE,
                    box=candidate.box,
                    time=wall,
                    quality=candidate.quality,
                    crop=patch,
                    embedding=vector.astype(np.float32, copy=True),
                    plate=candidate.plate,
                    color=color,
                    color_score=color_score,
                )
            )
        return observations
