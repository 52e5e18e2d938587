"""How useful a detected face is for recognition: size, sharpness, pose and detector confidence.

A track keeps its best face, and faces below ``FaceSettings.min_quality`` are not stored: small,
blurred or turned faces give embeddings that match the wrong people. The score is cheap (one
Laplacian on a 64x64 patch), so it can run on every detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from recognition.base import Image
from recognition.types import FaceDetection

__all__ = [
    "FULL_SHARPNESS",
    "FULL_SIZE_PX",
    "MAX_YAW",
    "MIN_SHARPNESS",
    "MIN_SIZE_PX",
    "FaceQuality",
    "face_quality",
]

MIN_SIZE_PX = 24.0
"""Faces with a shorter side at or below this score 0: FaceNet sees them upscaled ~7x, mostly blur."""

FULL_SIZE_PX = 80.0
"""Faces this big or bigger get the full size factor. Raising it favours close-ups in track
summaries at the cost of scoring ordinary CCTV faces lower."""

MIN_SHARPNESS = 20.0
"""Variance of the Laplacian (face resized to 64x64 grey) at or below which the sharpness factor is 0."""

FULL_SHARPNESS = 150.0
"""Variance of the Laplacian that counts as fully sharp. Measured: LFW portraits 130-730, the skimage
astronaut ~1000; a Gaussian blur of sigma 2 drops them to 40-70, sigma 3 to 20-30. Raising it
penalises soft but usable faces (LFW's JPEGs); lowering it lets motion-blurred faces through."""

MAX_YAW = 1.0
"""Nose offset from the eye midpoint, in half eye distances, at which the pose factor reaches 0
(about a profile view; LFW's turned faces sit at 0.2-0.45). Lowering it prefers frontal faces
more strongly; raising it keeps more profile faces, which FaceNet matches poorly."""

_PATCH = 64


@dataclass(frozen=True, slots=True)
class FaceQuality:
    """Quality measures of one face.

    ``size``: shorter box side in pixels. ``sharpness``: variance of the Laplacian of the face at a
    fixed 64x64 scale. ``yaw``: nose offset from the eye midpoint in half eye distances, signed (0
    frontal, +-1 about profile). ``roll_deg``: eye-line angle. ``detector_score``: the detector's
    confidence. ``score``: the product of the size, sharpness and pose factors and the detector
    score, in [0, 1]; a product so that any one bad property makes a bad face.
    """

    size: float
    sharpness: float
    yaw: float
    roll_deg: float
    detector_score: float
    score: float


def _ramp(value: float, low: float, high: float) -> float:
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def face_quality(image: Image, det: FaceDetection) -> FaceQuality:
    """Measure one detected face in its BGR frame."""
    box = det.box.clipped(image.shape[1], image.shape[0])
    size = min(box.width, box.height)
    x1, y1, x2, y2 = int(box.x1), int(box.y1), int(np.ceil(box.x2)), int(np.ceil(box.y2))
    sharpness = 0.0
    if x2 > x1 and y2 > y1:
        grey = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
        patch = cv2.resize(grey, (_PATCH, _PATCH), interpolation=cv2.INTER_AREA)
        sharpness = float(cv2.Laplacian(patch, cv2.CV_64F).var())

    pts = det.landmarks.astype(np.float64)
    left_eye, right_eye, nose = pts[0], pts[1], pts[2]
    eye_vec = right_eye - left_eye
    eye_dist = float(np.hypot(*eye_vec))
    roll_deg = float(np.degrees(np.arctan2(eye_vec[1], eye_vec[0])))
    if eye_dist > 1e-6:
        # Project the nose offset onto the eye line so in-plane roll does not read as yaw.
        offset = float(np.dot(nose - (left_eye + right_eye) / 2, eye_vec / eye_dist))
        yaw = offset / (eye_dist / 2)
    else:
        yaw = 1.0

    score = (
        _ramp(size, MIN_SIZE_PX, FULL_SIZE_PX)
        * _ramp(sharpness, MIN_SHARPNESS, FULL_SHARPNESS)
        * float(np.clip(1.0 - abs(yaw) / MAX_YAW, 0.0, 1.0))
        * float(np.clip(det.score, 0.0, 1.0))
    )
    return FaceQuality(
        size=size,
        sharpness=sharpness,
        yaw=yaw,
        roll_deg=roll_deg,
        detector_score=float(det.score),
        score=score,
    )
