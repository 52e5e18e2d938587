"""Sightings as they pass from ingest to the store, and as searches return them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from recognition.types import Box, PlateRead

__all__ = ["NewSighting", "SightingKind"]


class SightingKind(StrEnum):
    """What a sighting is of. A vehicle sighting carries its plate read when one was made."""

    FACE = "face"
    VEHICLE = "vehicle"


@dataclass(frozen=True, slots=True)
class NewSighting:
    """One track's summary, written once when the track ends: best crop, its embedding, time span.

    ``embedding`` is L2-normalised float32 (face: FaceNet 512-d; vehicle: appearance descriptor),
    or None when no embedding could be made (a plate-only vehicle sighting).
    """

    kind: SightingKind
    camera_id: str
    first_seen: datetime
    last_seen: datetime
    box: Box
    quality: float
    crop_jpeg: bytes
    embedding: NDArray[np.float32] | None = None
    plate: PlateRead | None = None
    color: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        if self.first_seen.tzinfo is None or self.last_seen.tzinfo is None:
            raise ValueError("NewSighting: times must be timezone-aware (UTC)")
        if self.last_seen < self.first_seen:
            raise ValueError("NewSighting: last_seen before first_seen")
        if self.embedding is not None and (self.embedding.ndim != 1 or self.embedding.dtype != np.float32):
            raise ValueError(f"NewSighting: embedding must be 1-d float32, got {self.embedding.shape} {self.embedding.dtype}")
