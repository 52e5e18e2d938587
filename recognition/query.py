"""The face of a query photo: what an investigator uploads is embedded the same way everywhere."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from recognition.base import FaceDetector, FaceEmbedder, Image
from recognition.types import FaceDetection
from sightline.errors import ImageDecodeError, NoFaceFound
from sightline.settings import Settings

__all__ = ["QueryFaceEmbedder", "largest_face"]


def largest_face(faces: list[FaceDetection]) -> FaceDetection:
    """The face with the largest box: in a query photo the subject is the closest face."""
    return max(faces, key=lambda f: f.box.width * f.box.height)


class QueryFaceEmbedder:
    """Detects the largest face of a photo and embeds it; NoFaceFound says why when there is none."""

    def __init__(self, detector: FaceDetector, embedder: FaceEmbedder, min_face_px: int) -> None:
        self.detector = detector
        self.embedder = embedder
        self._min_face_px = min_face_px

    @classmethod
    def from_settings(cls, settings: Settings) -> QueryFaceEmbedder:
        from recognition.registry import build_face_detector, build_face_embedder

        return cls(
            build_face_detector(settings),
            build_face_embedder(settings),
            settings.recognition.face.min_face_px,
        )

    def embed(self, image: Image) -> NDArray[np.float32]:
        faces = self.detector.detect(image)
        if not faces:
            height, width = image.shape[:2]
            raise NoFaceFound(
                f"no face found in the {width}x{height} photo; faces smaller than "
                f"{self._min_face_px} px or strongly turned are not detected"
            )
        vectors = self.embedder.embed(image, [largest_face(faces)]).vectors
        return np.asarray(vectors[0], dtype=np.float32)

    def embed_file(self, path: Path) -> NDArray[np.float32]:
        raw = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if raw is None:
            raise ImageDecodeError(f"cannot read image {path}")
        return self.embed(np.asarray(raw, dtype=np.uint8))
