"""PP-OCRv4 DB text detection (RapidOCR's ONNX export) on small inputs, with DB post-processing.

The model maps ``x`` [N, 3, H, W] (BGR, (x/255 − 0.5)/0.5, H and W multiples of 32) to a text
probability map [N, 1, H, W]. Its cost grows with pixels (a whole 720×1160 frame ≈ 2 s, and
RapidOCR's default upscaling made a 440×140 plate take 1.9 s, models/README.md), so callers give it small
crops and this class never upscales beyond ``max_side``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray

from recognition.base import Image
from sightline.errors import InputError, ModelError

if TYPE_CHECKING:
    import onnxruntime as ort

    from sightline.settings import Settings

__all__ = ["PpocrTextDetector", "TextBox", "db_boxes", "order_corners", "unclip_rect"]

log = logging.getLogger(__name__)

FloatArray = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class TextBox:
    """A text quadrilateral [4, 2] (clockwise from top-left, in input-image pixels) and its DB score."""

    corners: FloatArray
    score: float


def unclip_rect(rect: tuple[Sequence[float], Sequence[float], float], ratio: float) -> FloatArray:
    """Expand a min-area rectangle by DB's unclip distance d = area × ratio / perimeter.

    DB shrinks text regions by that distance in training; offsetting a rectangle outwards by d gives
    a rectangle d larger on every side (pyclipper's polygon offset, whose rounded corners
    ``minAreaRect`` would square off again), so no polygon clipping library is needed.
    """
    (cx, cy), (w, h), angle = rect
    area = w * h
    perimeter = 2.0 * (w + h)
    d = area * ratio / perimeter if perimeter > 0 else 0.0
    box = cv2.boxPoints(((cx, cy), (w + 2 * d, h + 2 * d), angle))
    return order_corners(np.asarray(box, dtype=np.float32))


def order_corners(points: FloatArray) -> FloatArray:
    """Order four points clockwise from top-left (image y grows downwards)."""
    pts = np.asarray(points, dtype=np.float32).reshape(4, 2)
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1], kind="stable")]
    tr, br = right[np.argsort(right[:, 1], kind="stable")]
    return np.stack([tl, tr, br, bl]).astype(np.float32)


def db_boxes(
    prob: FloatArray,
    *,
    thresh: float = 0.3,
    box_thresh: float = 0.5,
    unclip_ratio: float = 1.6,
    min_side: float = 3.0,
) -> list[TextBox]:
    """DB post-processing of one probability map [H, W]: binarise, contour, score, unclip.

    ``thresh`` binarises the map (lower merges neighbouring lines, higher splits characters);
    ``box_thresh`` is the mean probability inside a region to keep it (lower admits texture, higher
    loses faint text); ``unclip_ratio`` restores the border DB shrank away (PP-OCR's 1.6: smaller
    clips the first and last characters, larger takes in the plate border).
    """
    bitmap = (prob > thresh).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes: list[TextBox] = []
    h, w = prob.shape
    for contour in contours:
        if len(contour) < 3:
            continue
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < min_side:
            continue
        mask = np.zeros((h, w), dtype=np.uint8)
        cv2.fillPoly(mask, [contour.reshape(-1, 2).astype(np.int32)], 1)
        score = float(prob[mask.astype(bool)].mean()) if mask.any() else 0.0
        if score < box_thresh:
            continue
        corners = unclip_rect(rect, unclip_ratio)
        corners[:, 0] = np.clip(corners[:, 0], 0, w)
        corners[:, 1] = np.clip(corners[:, 1], 0, h)
        boxes.append(TextBox(corners, score))
    return boxes


class PpocrTextDetector:
    """Finds text quadrilaterals in small images (plate candidate crops)."""

    def __init__(
        self,
        session: ort.InferenceSession,
        *,
        max_side: int = 320,
        thresh: float = 0.3,
        box_thresh: float = 0.5,
        unclip_ratio: float = 1.6,
    ) -> None:
        inputs = session.get_inputs()
        outputs = session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"ppocr det: expected 1 input and 1 output, got {len(inputs)} and {len(outputs)}"
            )
        if len(inputs[0].shape) != 4 or inputs[0].shape[1] != 3:
            raise ModelError(f"ppocr det: expected input [N, 3, H, W], got {inputs[0].shape}")
        if len(outputs[0].shape) != 4 or outputs[0].shape[1] != 1:
            raise ModelError(f"ppocr det: expected output [N, 1, H, W], got {outputs[0].shape}")
        self._session = session
        self._input = inputs[0].name
        self._max_side = max_side
        self._thresh = thresh
        self._box_thresh = box_thresh
        self._unclip_ratio = unclip_ratio

    @classmethod
    def from_settings(cls, settings: Settings) -> PpocrTextDetector:
        """Open the prepared det model with the plate settings and warm it up once."""
        from models.paths import model_path
        from recognition.runtime import make_session

        plate = settings.recognition.plate
        session = make_session(model_path(settings.models, "ppocr_det"), settings.recognition.runtime)
        det = cls(session, max_side=plate.det_max_side, box_thresh=plate.det_box_thresh)
        det.detect(np.full((64, 192, 3), 128, dtype=np.uint8))
        return det

    def _input_size(self, h: int, w: int) -> tuple[int, int, float]:
        """Scale so the long side is at most ``max_side`` (never up), then round to multiples of 32."""
        scale = min(1.0, self._max_side / max(h, w))
        out_h = max(32, round(h * scale / 32) * 32)
        out_w = max(32, round(w * scale / 32) * 32)
        return out_h, out_w, scale

    def detect(self, image: Image) -> list[TextBox]:
        """Text boxes in ``image`` (BGR), corners in ``image`` pixels, best score first."""
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 4:
            raise InputError(f"det input must be a BGR image [H, W, 3], got shape {list(image.shape)}")
        h, w = image.shape[:2]
        in_h, in_w, _ = self._input_size(h, w)
        resized = cv2.resize(image, (in_w, in_h), interpolation=cv2.INTER_LINEAR)
        x = ((resized.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
        try:
            out: list[Any] = self._session.run(None, {self._input: np.ascontiguousarray(x)})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"ppocr det inference failed on input {list(x.shape)}: {exc}") from exc
        prob = np.asarray(out[0], dtype=np.float32)
        if prob.shape != (1, 1, in_h, in_w):
            raise ModelError(f"ppocr det: expected output [1, 1, {in_h}, {in_w}], got {list(prob.shape)}")
        boxes = db_boxes(
            prob[0, 0], thresh=self._thresh, box_thresh=self._box_thresh, unclip_ratio=self._unclip_ratio
        )
        sx, sy = w / in_w, h / in_h
        scaled = [TextBox(b.corners * np.array([sx, sy], dtype=np.float32), b.score) for b in boxes]
        return sorted(scaled, key=lambda b: -b.score)
