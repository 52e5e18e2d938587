"""Face quality: sharp, large, frontal faces score above blurred, small or turned ones."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from recognition.base import Image
from recognition.face_quality import face_quality
from recognition.mtcnn import MtcnnDetector
from recognition.types import Box, FaceDetection
from sightline.settings import Settings


def _astronaut() -> Image:
    return np.asarray(cv2.cvtColor(np.asarray(data.astronaut()), cv2.COLOR_RGB2BGR), dtype=np.uint8)


@pytest.fixture(scope="module")
def detector(base_settings: Settings) -> MtcnnDetector:
    return MtcnnDetector.from_settings(base_settings)


def _best(detector: MtcnnDetector, image: Image) -> FaceDetection:
    faces = detector.detect(image)
    assert len(faces) == 1
    return faces[0]


def test_sharp_face_scores_high(detector: MtcnnDetector, base_settings: Settings) -> None:
    img = _astronaut()
    q = face_quality(img, _best(detector, img))
    assert 0 <= q.score <= 1
    assert q.score > 0.8
    assert q.score > base_settings.recognition.face.min_quality
    assert q.size > 80 and abs(q.yaw) < 0.2 and abs(q.roll_deg) < 10


def test_blur_lowers_quality_monotonically(detector: MtcnnDetector, base_settings: Settings) -> None:
    img = _astronaut()
    scores, sharpness = [], []
    for sigma in (0, 2, 3):
        blurred = img if sigma == 0 else np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), dtype=np.uint8)
        q = face_quality(blurred, _best(detector, blurred))
        scores.append(q.score)
        sharpness.append(q.sharpness)
    assert sharpness[0] > sharpness[1] > sharpness[2]
    assert scores[0] > scores[1] > scores[2]
    assert scores[2] < base_settings.recognition.face.min_quality


def test_small_face_scores_lower(detector: MtcnnDetector) -> None:
    """The same face at 5/16 scale (~28 px, below the default detector minimum) scores lower."""
    img = _astronaut()
    big = _best(detector, img)
    k = 160 / 512
    small = np.asarray(cv2.resize(img, (160, 160), interpolation=cv2.INTER_AREA), dtype=np.uint8)
    b = big.box
    det = FaceDetection(Box(b.x1 * k, b.y1 * k, b.x2 * k, b.y2 * k), big.score, big.landmarks * k)
    small_q = face_quality(small, det)
    assert small_q.size < 40
    assert small_q.score < face_quality(img, big).score * 0.5


_FRONTAL = np.array([[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]], np.float32)


@pytest.mark.parametrize(
    ("nose_shift", "roll", "yaw_range", "roll_range"),
    [
        (0, 0, (-0.05, 0.05), (-1, 1)),
        (10, 0, (0.45, 0.55), (-1, 1)),  # nose half-way to the right eye: strongly turned
        (-16, 0, (-0.85, -0.75), (-1, 1)),
        (0, 30, (-0.05, 0.05), (29, 31)),  # in-plane roll does not read as yaw
    ],
)
def test_pose_from_landmarks(
    nose_shift: float, roll: float, yaw_range: tuple[float, float], roll_range: tuple[float, float]
) -> None:
    img = _astronaut()
    pts = _FRONTAL.copy()
    pts[2, 0] += nose_shift
    angle = np.radians(roll)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    pts = ((pts - 60) @ rot.T + 60).astype(np.float32)
    det = FaceDetection(Box(20, 20, 120, 120), 0.99, pts)
    q = face_quality(img, det)
    assert yaw_range[0] <= q.yaw <= yaw_range[1]
    assert roll_range[0] <= q.roll_deg <= roll_range[1]


def test_turned_face_scores_lower() -> None:
    img = _astronaut()
    turned = _FRONTAL.copy()
    turned[2, 0] += 14
    box = Box(180, 60, 268, 174)
    frontal_q = face_quality(img, FaceDetection(box, 0.99, _FRONTAL + np.float32([180, 60])))
    turned_q = face_quality(img, FaceDetection(box, 0.99, turned + np.float32([180, 60])))
    assert turned_q.score < frontal_q.score * 0.5
