"""Validated value types passed between recognition stages.

Every model's raw output is converted at the edge into one of these; shape errors say what was
expected and what came.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "Box",
    "Embeddings",
    "FaceDetection",
    "PlateDetection",
    "PlateRead",
    "VehicleDetection",
]

FloatArray = NDArray[np.float32]


def _check_shape(name: str, arr: NDArray[np.generic], shape: tuple[int | None, ...]) -> None:
    ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape, strict=True))
    if not ok:
        want = "[" + ", ".join("N" if s is None else str(s) for s in shape) + "]"
        raise ValueError(f"{name}: expected shape {want}, got {list(arr.shape)}")


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in pixel coordinates of the frame it came from (x2, y2 exclusive)."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        if not (self.x2 >= self.x1 and self.y2 >= self.y1):
            raise ValueError(f"Box: x2 >= x1 and y2 >= y1 expected, got {self}")

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.width * self.height + other.width * other.height - inter
        return inter / union if union > 0 else 0.0

    def clipped(self, width: int, height: int) -> Box:
        return Box(
            min(max(self.x1, 0.0), width),
            min(max(self.y1, 0.0), height),
            min(max(self.x2, 0.0), width),
            min(max(self.y2, 0.0), height),
        )

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True, slots=True)
class FaceDetection:
    """One face: box, detector score and five landmarks (eyes, nose, mouth corners) as [5, 2] (x, y)."""

    box: Box
    score: float
    landmarks: FloatArray

    def __post_init__(self) -> None:
        _check_shape("FaceDetection.landmarks", self.landmarks, (5, 2))


@dataclass(frozen=True, slots=True)
class Embeddings:
    """A batch of L2-normalised float32 embeddings, [N, dim]."""

    vectors: FloatArray

    def __post_init__(self) -> None:
        v = self.vectors
        if v.dtype != np.float32:
            raise ValueError(f"Embeddings: expected float32, got {v.dtype}")
        _check_shape("Embeddings.vectors", v, (None, None))
        if len(v):
            norms = np.linalg.norm(v, axis=1)
            if not np.allclose(norms, 1.0, atol=1e-3):
                raise ValueError(
                    f"Embeddings: rows must be L2-normalised, norms in [{norms.min()}, {norms.max()}]"
                )

    @classmethod
    def normalised(cls, raw: NDArray[np.floating]) -> Embeddings:
        """L2-normalise raw model outputs row by row."""
        arr = np.asarray(raw, dtype=np.float32)
        if arr.ndim != 2:
            raise ValueError(f"Embeddings: expected shape [N, dim], got {list(arr.shape)}")
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        return cls(arr / np.maximum(norms, 1e-12))

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.vectors.shape[0])


@dataclass(frozen=True, slots=True)
class PlateRead:
    """A plate's text with per-character confidence and the top alternatives per position.

    ``alternatives[i]`` lists (character, probability) for position i, best first, the chosen
    character included; ``candidates`` are whole-plate readings that also satisfy the plate
    grammar, best first, the chosen text included. Search uses both to tolerate OCR look-alikes.
    """

    text: str
    char_confidences: tuple[float, ...]
    alternatives: tuple[tuple[tuple[str, float], ...], ...] = ()
    candidates: tuple[str, ...] = ()
    valid: bool = True

    def __post_init__(self) -> None:
        if len(self.char_confidences) != len(self.text):
            raise ValueError(
                f"PlateRead: {len(self.text)} characters but {len(self.char_confidences)} confidences"
            )
        if self.alternatives and len(self.alternatives) != len(self.text):
            raise ValueError(
                f"PlateRead: {len(self.text)} characters but {len(self.alternatives)} alternatives"
            )

    @property
    def confidence(self) -> float:
        """The weakest character's confidence: one bad character makes a bad read."""
        return min(self.char_confidences) if self.char_confidences else 0.0


@dataclass(frozen=True, slots=True)
class PlateDetection:
    """A plate found in a frame: its box, its four corners ([4, 2], clockwise from top-left) and read."""

    box: Box
    corners: FloatArray
    read: PlateRead
    score: float = 1.0

    def __post_init__(self) -> None:
        _check_shape("PlateDetection.corners", self.corners, (4, 2))


@dataclass(frozen=True, slots=True)
class VehicleDetection:
    """A vehicle (or its front) in a frame, with its plate when one was read."""

    box: Box
    score: float
    label: str = "vehicle"
    plate: PlateDetection | None = None
    attributes: dict[str, str] = field(default_factory=dict)
