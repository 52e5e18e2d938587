"""One protocol per model task. Backends implement these; the registry maps manifest keys to them.

Images are numpy uint8 arrays in BGR order (what OpenCV and PyAV's ``to_ndarray(format="bgr24")``
give), shape [H, W, 3].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from recognition.types import Box, Embeddings, FaceDetection, PlateDetection, PlateRead, VehicleDetection

__all__ = [
    "FaceDetector",
    "FaceEmbedder",
    "Image",
    "PlateLocator",
    "PlateReader",
    "VehicleDetector",
    "VehicleEmbedder",
]

Image = NDArray[np.uint8]


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces and their five landmarks in a frame."""

    def detect(self, image: Image) -> list[FaceDetection]: ...

    def detect_batch(self, images: Sequence[Image]) -> list[list[FaceDetection]]: ...


@runtime_checkable
class FaceEmbedder(Protocol):
    """Turns faces into L2-normalised embeddings; crops (margin or 5-point alignment) as its manifest says."""

    @property
    def dim(self) -> int: ...

    def embed(self, image: Image, faces: Sequence[FaceDetection]) -> Embeddings: ...

    def embed_many(self, items: Sequence[tuple[Image, FaceDetection]]) -> Embeddings:
        """Embed faces from several frames in batches."""
        ...


@runtime_checkable
class PlateReader(Protocol):
    """Reads the text of plate crops (already rectified to roughly 3:1 or 4:1)."""

    def read(self, crops: Sequence[Image]) -> list[PlateRead]: ...


@runtime_checkable
class PlateLocator(Protocol):
    """Finds and reads plates in a whole frame."""

    def find(self, image: Image) -> list[PlateDetection]: ...


@runtime_checkable
class VehicleDetector(Protocol):
    """Finds vehicles in a frame (user-supplied YOLO-style ONNX models)."""

    def detect(self, image: Image) -> list[VehicleDetection]: ...


@runtime_checkable
class VehicleEmbedder(Protocol):
    """Describes vehicle crops as L2-normalised vectors for appearance search."""

    @property
    def dim(self) -> int: ...

    def embed(self, image: Image, boxes: Sequence[Box]) -> Embeddings: ...
